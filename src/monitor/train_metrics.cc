#include "monitor/train_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "monitor/exporter.h"

namespace asl::monitor {
namespace {

using prometheus::Labels;

// Bucket bounds in seconds, 100 us to 2 min: a demo step on a CPU (~0.1 s), a baseline step
// (~1 s on a GPU, ~20 s on a CPU) and a data wait (often < 1 ms) all land inside.
const prometheus::Histogram::BucketBoundaries& time_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
      0.25,   0.5,     1,      2.5,   5,      10,    25,   60,    120};
  return b;
}

// Checkpoint writes: a demo model (~10 ms) to a baseline one on a slow file system (minutes).
const prometheus::Histogram::BucketBoundaries& write_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{0.01, 0.05, 0.1, 0.25, 0.5, 1,
                                                         2.5,  5,    10,  30,   60,  300};
  return b;
}

Labels common(const Exporter& e, const Labels& extra = {}) {
  Labels l(e.common_labels().begin(), e.common_labels().end());
  for (const auto& [k, v] : extra) l[k] = v;
  return l;
}

prometheus::Gauge& gauge(Exporter& e, const char* name, const char* help, const Labels& extra = {}) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(e.registry()).Add(common(e, extra));
}

prometheus::Counter& counter(Exporter& e, const char* name, const char* help,
                             const Labels& extra = {}) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(e.registry()).Add(common(e, extra));
}

prometheus::Histogram& histogram(Exporter& e, const char* name, const char* help,
                                 const prometheus::Histogram::BucketBoundaries& buckets) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(e.registry()).Add(common(e),
                                                                                      buckets);
}

}  // namespace

struct TrainMetrics::Handles {
  prometheus::Gauge *step, *epoch, *progress, *eta, *lr, *cls, *reg, *al, *final_loss, *grad_norm,
      *normalizer, *positives, *samples_per_s, *last_step_time, *checkpoint_bytes;
  prometheus::Counter *samples, *steps, *skipped, *stopped, *checkpoints;
  prometheus::Histogram *step_s, *data_wait_s, *forward_s, *backward_s, *allreduce_wait_s,
      *optimizer_s, *checkpoint_s;
};

TrainMetrics::TrainMetrics(std::unique_ptr<Handles> h) : h_(std::move(h)) {}
TrainMetrics::~TrainMetrics() = default;

std::unique_ptr<TrainMetrics> TrainMetrics::create() {
  Exporter* e = Exporter::current();
  if (e == nullptr) return nullptr;
  auto h = std::make_unique<Handles>();
  h->step = &gauge(*e, "asl_train_step", "Optimizer steps completed (the global step).");
  h->epoch = &gauge(*e, "asl_train_epoch", "Epochs completed.");
  h->progress = &gauge(*e, "asl_train_progress_ratio", "Steps completed / steps of the run.");
  h->eta = &gauge(*e, "asl_train_eta_seconds", "Estimated seconds to the last step.");
  h->lr = &gauge(*e, "asl_train_learning_rate", "Learning rate of the last step.");
  const char* loss_help = "Losses of the last step (sums over ranks).";
  h->cls = &gauge(*e, "asl_train_loss", loss_help, {{"loss", "cls"}});
  h->reg = &gauge(*e, "asl_train_loss", loss_help, {{"loss", "reg"}});
  h->al = &gauge(*e, "asl_train_loss", loss_help, {{"loss", "al"}});
  h->final_loss = &gauge(*e, "asl_train_loss", loss_help, {{"loss", "final"}});
  h->grad_norm = &gauge(*e, "asl_train_grad_norm", "Global L2 norm of the gradients before clipping.");
  h->normalizer = &gauge(*e, "asl_train_loss_normalizer", "The loss normalizer (EMA of positives).");
  h->positives = &gauge(*e, "asl_train_positives", "Positive points of the last global batch.");
  h->samples_per_s = &gauge(*e, "asl_train_samples_per_second",
                            "This rank's samples over the last step's wall time.");
  h->last_step_time = &gauge(*e, "asl_train_last_step_timestamp_seconds",
                             "Unix time of the last completed step.");
  h->samples = &counter(*e, "asl_train_samples_total", "Samples this rank trained on.");
  h->steps = &counter(*e, "asl_train_steps_total", "Steps this process ran.");
  const char* nonfinite_help = "Steps whose loss or gradient norm was NaN or Inf.";
  h->skipped = &counter(*e, "asl_train_nonfinite_steps_total", nonfinite_help, {{"action", "skipped"}});
  h->stopped = &counter(*e, "asl_train_nonfinite_steps_total", nonfinite_help, {{"action", "stopped"}});
  h->step_s = &histogram(*e, "asl_train_step_seconds", "Wall time of a step, data wait included.",
                         time_buckets());
  h->data_wait_s = &histogram(*e, "asl_train_data_wait_seconds", "Time a step waited for its batch.",
                              time_buckets());
  h->forward_s = &histogram(*e, "asl_train_forward_seconds", "Forward pass, targets and losses.",
                            time_buckets());
  h->backward_s = &histogram(*e, "asl_train_backward_seconds",
                             "Backward pass, all-reduce wait included.", time_buckets());
  h->allreduce_wait_s = &histogram(*e, "asl_train_allreduce_wait_seconds",
                                   "Time after the backward pass spent waiting for gradient buckets.",
                                   time_buckets());
  h->optimizer_s = &histogram(*e, "asl_train_optimizer_seconds",
                              "Clipping, AdamW, schedule and EMA.", time_buckets());
  h->checkpoint_s = &histogram(*e, "asl_checkpoint_write_seconds", "Writing a checkpoint.",
                               write_buckets());
  h->checkpoint_bytes = &gauge(*e, "asl_checkpoint_bytes", "Size of the last checkpoint written.");
  h->checkpoints = &counter(*e, "asl_checkpoint_writes_total", "Checkpoints written.");
  return std::unique_ptr<TrainMetrics>(new TrainMetrics(std::move(h)));
}

void TrainMetrics::record_step(const StepSample& s) {
  Handles& h = *h_;
  h.lr->Set(s.lr);
  h.cls->Set(s.cls_loss);
  h.reg->Set(s.reg_loss);
  h.al->Set(s.al_loss);
  h.final_loss->Set(s.final_loss);
  h.grad_norm->Set(s.grad_norm);
  h.normalizer->Set(s.loss_normalizer);
  h.positives->Set(static_cast<double>(s.positives));
  h.samples_per_s->Set(s.step_s > 0 ? static_cast<double>(s.samples) / s.step_s : 0.0);
  h.samples->Increment(static_cast<double>(s.samples));
  h.steps->Increment();
  h.step_s->Observe(s.step_s);
  h.data_wait_s->Observe(s.data_wait_s);
  h.forward_s->Observe(s.forward_s);
  h.backward_s->Observe(s.backward_s);
  h.allreduce_wait_s->Observe(s.allreduce_wait_s);
  h.optimizer_s->Observe(s.optimizer_s);
  h.progress->Set(s.progress);
  h.eta->Set(s.eta_s);
  h.last_step_time->Set(s.unix_time_s);
  // Last: a scrape that sees this step's number also sees its losses (set above) in all but
  // the rare scrape that lands between the two stores.
  h.step->Set(static_cast<double>(s.steps_done));
}

void TrainMetrics::record_epoch(int64_t epochs_done) { h_->epoch->Set(static_cast<double>(epochs_done)); }

void TrainMetrics::record_nonfinite(bool stopped) {
  (stopped ? h_->stopped : h_->skipped)->Increment();
}

void TrainMetrics::record_checkpoint(double seconds, int64_t bytes) {
  h_->checkpoint_s->Observe(seconds);
  h_->checkpoint_bytes->Set(static_cast<double>(bytes));
  h_->checkpoints->Increment();
}

void record_validation(const ValidationSample& s) {
  Exporter* e = Exporter::current();
  if (e == nullptr) return;
  // Once per epoch: creating (or finding) the handles here costs nothing that matters.
  gauge(*e, "asl_validation_epoch", "Epoch of the last validation.", {{"split", s.split}})
      .Set(static_cast<double>(s.epoch));
  for (const auto& [tiou, value] : s.map) {
    gauge(*e, "asl_validation_map_ratio", "Detection mAP at a tIoU.", {{"split", s.split}, {"tiou", tiou}})
        .Set(value);
  }
  if (s.nlq) {
    gauge(*e, "asl_validation_mean_r1_ratio", "NLQ mean of Rank@1 over the IoU thresholds.",
          {{"split", s.split}})
        .Set(s.mean_r1);
    gauge(*e, "asl_validation_miou_ratio", "NLQ mean IoU of the first window.", {{"split", s.split}})
        .Set(s.miou);
  } else {
    gauge(*e, "asl_validation_average_map_ratio", "Mean of the mAPs over tIoU.", {{"split", s.split}})
        .Set(s.average_map);
  }
  for (const auto& [key, value] : s.recall) {
    gauge(*e, "asl_validation_recall_ratio", "Recall@k at a tIoU.",
          {{"split", s.split}, {"k", std::to_string(key.first)}, {"tiou", key.second}})
        .Set(value);
  }
}

struct InferMetrics::Handles {
  prometheus::Counter* clips;
  prometheus::Gauge *planned, *progress, *rate, *eta;
};

InferMetrics::InferMetrics(std::unique_ptr<Handles> h) : h_(std::move(h)) {}
InferMetrics::~InferMetrics() = default;

std::unique_ptr<InferMetrics> InferMetrics::create(const std::string& split) {
  Exporter* e = Exporter::current();
  if (e == nullptr) return nullptr;
  auto h = std::make_unique<Handles>();
  const Labels l{{"split", split}};
  h->clips = &counter(*e, "asl_infer_clips_total", "Clips this rank inferred.", l);
  h->planned = &gauge(*e, "asl_infer_clips_planned", "Clips this rank infers in the current pass.", l);
  h->progress = &gauge(*e, "asl_infer_progress_ratio", "Done / planned of the current pass.", l);
  h->rate = &gauge(*e, "asl_infer_clips_per_second", "This rank's rate over the current pass.", l);
  h->eta = &gauge(*e, "asl_infer_eta_seconds", "Seconds to the end of the current pass.", l);
  return std::unique_ptr<InferMetrics>(new InferMetrics(std::move(h)));
}

void InferMetrics::start(int64_t planned) {
  planned_ = planned;
  done_ = 0;
  h_->planned->Set(static_cast<double>(planned));
  h_->progress->Set(planned > 0 ? 0.0 : 1.0);
  h_->rate->Set(0);
  h_->eta->Set(0);
}

void InferMetrics::advance(int64_t clips, double elapsed_s) {
  done_ += clips;
  h_->clips->Increment(static_cast<double>(clips));
  const double rate = elapsed_s > 0 ? static_cast<double>(done_) / elapsed_s : 0.0;
  h_->progress->Set(planned_ > 0 ? static_cast<double>(done_) / static_cast<double>(planned_) : 1.0);
  h_->rate->Set(rate);
  h_->eta->Set(rate > 0 ? static_cast<double>(planned_ - done_) / rate : 0.0);
}

}  // namespace asl::monitor
