#include "infer/predict.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/progress.h"
#include "data/loader.h"
#include "cluster/make_communicator.h"
#include "infer/decode.h"
#include "infer/distributed.h"
#include "model/asl_model.h"
#include "model/native_checkpoint.h"
#include "monitor/train_metrics.h"

namespace asl::infer {

namespace {

std::vector<std::string> names_by_id(const data::ClipAnnotations& annotations) {
  std::vector<std::string> names;
  for (const auto& [name, id] : annotations.label_dict()) {
    if (id < 0) continue;
    if (static_cast<size_t>(id) >= names.size()) names.resize(static_cast<size_t>(id) + 1);
    names[static_cast<size_t>(id)] = name;
  }
  return names;
}

}  // namespace

Predictor::Predictor(const config::Config& cfg,
                     std::shared_ptr<const data::ClipAnnotations> annotations,
                     std::vector<std::string> split,
                     std::shared_ptr<data::FeatureSource> source)
    : cfg_(cfg),
      dataset_(cfg, /*is_training=*/false, split, annotations,
               source ? std::move(source) : data::make_feature_source(cfg)),
      net_(cfg),
      class_names_(names_by_id(*annotations)),
      device_(cluster::resolve_device(cfg.dist.device, cfg.dist.backend)) {
  for (const auto& s : split) split_name_ += (split_name_.empty() ? "" : "+") + s;
  net_->to(device_);
  net_->eval();
}

eval::PredictionList Predictor::run(const std::vector<int64_t>& indices) {
  std::vector<int64_t> order = indices;
  if (order.empty()) {
    for (int64_t i = 0; i < dataset_.size(); ++i) order.push_back(i);
  }
  net_->eval();
  torch::NoGradGuard no_grad;
  eval::PredictionList out;
  out.reserve(order.size());
  Progress progress("inference", static_cast<int64_t>(order.size()), "clips");
  const auto metrics = monitor::InferMetrics::create(split_name_);
  if (metrics) metrics->start(static_cast<int64_t>(order.size()));
  const auto start = std::chrono::steady_clock::now();
  for (const int64_t i : order) {
    data::PyRandom rng(0);  // evaluation draws nothing
    data::VideoItem item = dataset_.get(i, rng);
    ClipTiming timing;
    timing.fps = item.fps;
    timing.duration = item.duration;
    timing.feat_stride = item.feat_stride;
    timing.num_frames = item.feat_num_frames;
    const data::Batch batch = data::collate({item}, {}, false, cfg_.dataset.max_seq_len,
                                            net_->config().max_div_factor());
    // detect() reads the outputs on the CPU.
    auto to_device = [&](const at::Tensor& t) { return t.defined() ? t.to(device_) : t; };
    const std::vector<Segment> segs =
        detect(net_->forward(to_device(batch.feats), to_device(batch.masks),
                             to_device(batch.query), to_device(batch.query_mask)),
               timing, cfg_.test_cfg);
    eval::ClipPredictions clip;
    clip.clip_id = item.clip_id;
    clip.predictions.reserve(segs.size());
    for (const Segment& s : segs) {
      const bool named = s.label >= 0 && static_cast<size_t>(s.label) < class_names_.size() &&
                         !class_names_[static_cast<size_t>(s.label)].empty();
      clip.predictions.push_back(
          {named ? class_names_[static_cast<size_t>(s.label)] : std::to_string(s.label),
           static_cast<double>(s.score), static_cast<double>(s.start),
           static_cast<double>(s.end)});
    }
    out.push_back(std::move(clip));
    progress.advance();
    if (metrics) {
      metrics->advance(1, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  progress.finish();
  return out;
}

eval::PredictionList predict_split(const config::Config& cfg,
                                   std::shared_ptr<const data::ClipAnnotations> annotations,
                                   const PredictOptions& options) {
  Predictor predictor(cfg, annotations, options.split);
  if (predictor.size() == 0) {
    std::string names;
    for (const auto& s : options.split) names += (names.empty() ? "" : ", ") + s;
    throw Error("--split", "no clips of split '" + names + "' in " + cfg.dataset.json_file,
                "name a subset the annotations have (train, val, test)");
  }
  const model::NativeWeights weights = model::read_native_weights(options.checkpoint);
  const bool ema = options.use_ema && !weights.model_ema.empty();
  try {
    model::assign_weights(*predictor.model(), ema ? weights.model_ema : weights.model);
  } catch (const Error& e) {
    throw Error(options.checkpoint, std::string("does not fit this config's model: ") + e.what(),
                "evaluate with the config it was trained with");
  }
  spdlog::info("evaluating {} clips with the {} weights of {}", predictor.size(),
               ema ? "EMA" : "model", options.checkpoint);
  return predict_sharded(predictor, options.comm);
}

std::string predictions_json(const eval::PredictionList& predictions) {
  nlohmann::ordered_json results = nlohmann::ordered_json::object();
  for (const auto& clip : predictions) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& p : clip.predictions) {
      list.push_back({{"label", p.label}, {"score", p.score}, {"segment", {p.start, p.end}}});
    }
    results[clip.clip_id] = std::move(list);
  }
  nlohmann::ordered_json file = {{"version", "1.0"},
                                 {"challenge", "ego4d_moment_queries"},
                                 {"detect_results", results},
                                 {"retrieve_results", results}};
  return file.dump() + "\n";
}

}  // namespace asl::infer
