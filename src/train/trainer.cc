#include "train/trainer.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <type_traits>
#include <unordered_map>

#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "data/loader.h"
#include "data/sharding.h"
#include "model/kernel_hooks.h"
#include "model/native_checkpoint.h"
#include "monitor/train_metrics.h"
#include "cluster/communicator.h"
#include "cluster/gradient_buckets.h"
#include "cluster/make_communicator.h"
#include "train/checkpoint.h"
#include "train/stop_signal.h"

namespace asl::train {
namespace {

constexpr const char* kStepLog = "steps.jsonl";

// LibTorch keys optimizer state by the parameter's TensorImpl: 1.x as its address printed
// to a string (c10::guts::to_string), 2.x as the pointer itself.
template <class StateMap>
typename StateMap::key_type state_key(const at::Tensor& p) {
  using Key = typename StateMap::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << p.unsafeGetTensorImpl();
    return s.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

using OptimizerState = std::decay_t<decltype(std::declval<torch::optim::AdamW&>().state())>;

// A copy of t on `device` (never an alias of t).
at::Tensor copy_on(const at::Tensor& t, at::Device device) {
  return t.device() == device ? t.detach().clone() : t.detach().to(device);
}

// Checkpoints hold CPU tensors, whatever device trained: they load anywhere.
at::Tensor host_copy(const at::Tensor& t) { return copy_on(t, at::Device(at::kCPU)); }

model::NamedTensors cloned(const std::vector<std::pair<std::string, at::Tensor>>& values) {
  model::NamedTensors out;
  for (const auto& [name, t] : values) out.emplace_back(name, host_copy(t));
  return out;
}

// Half-written checkpoints of a killed run (AtomicFile's ".NAME.tmp.PID.N"): never read, and
// as large as a checkpoint, so a resumed run removes them.
void remove_stale_temporaries(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 1 && name[0] == '.' && name.find(".ckpt.tmp.") != std::string::npos) {
      spdlog::info("removing {}, left by an interrupted checkpoint write", name);
      std::filesystem::remove(e.path(), ec);
    }
  }
}

}  // namespace

std::string default_output_dir(const config::Config& cfg, const std::string& config_path) {
  std::string stem = config_path.substr(config_path.find_last_of('/') + 1);
  stem = stem.substr(0, stem.find_last_of('.'));
  return join_path(cfg.output_folder, stem);
}

Trainer::Trainer(const config::Config& cfg, std::shared_ptr<const data::ClipAnnotations> annotations,
                 std::shared_ptr<data::FeatureSource> source, TrainerOptions options)
    : cfg_(cfg), options_(std::move(options)) {
  if (options_.output_dir.empty()) throw Error("--output", "no output folder given");
  comm_ = options_.comm;
  if (comm_) {
    rank_ = comm_->rank();
    world_ = comm_->size();
  }
  // The reference's fix_random_seed, before the model draws its initial weights.
  torch::manual_seed(static_cast<uint64_t>(cfg_.init_rand_seed));
  model::PtTransformer net(cfg_);

  const bool fixed_shard = cfg_.dist.sharding == "fixed";
  auto dataset = std::make_shared<const data::Ego4dDataset>(cfg_, /*is_training=*/true,
                                                            cfg_.train_split, annotations, source);
  data::ShardOptions so;  // the loader's shard plan, for the epoch's length and the cache
  so.num_samples = dataset->size();
  so.batch_size = cfg_.loader.batch_size;
  so.shuffle = true;
  so.drop_last = true;
  so.seed = static_cast<uint64_t>(cfg_.init_rand_seed);
  so.rank = rank_;
  so.world_size = world_;
  so.fixed = fixed_shard;
  if (cfg_.store.in_memory) {
    // The clips this rank will ever read: its part with fixed sharding; every clip of the
    // split otherwise (each epoch's permutation hands a rank other clips).
    std::vector<const data::Clip*> held;
    if (fixed_shard) {
      for (int64_t i : data::fixed_part(so)) held.push_back(&dataset->clip(i));
    } else {
      held = dataset->clips();
      if (world_ > 1) {
        spdlog::warn("store.in_memory with dist.sharding: epoch holds the whole train split "
                     "on every rank; dist.sharding: fixed holds only each rank's part");
      }
    }
    dataset = std::make_shared<const data::Ego4dDataset>(
        cfg_, /*is_training=*/true, cfg_.train_split, std::move(annotations),
        data::make_memory_source(std::move(source), held));
  }
  const std::string device = cluster::resolve_device(cfg_.dist.device, cfg_.dist.backend);
  data::LoaderOptions lo;
  // On a GPU the workers collate into pinned memory, so the step's copies run asynchronously.
  lo.pin_memory = device.rfind("cuda", 0) == 0;
  lo.batch_size = so.batch_size;
  lo.num_workers = static_cast<int>(cfg_.loader.num_workers);
  lo.prefetch = static_cast<int>(cfg_.loader.prefetch);
  lo.shuffle = so.shuffle;
  lo.drop_last = so.drop_last;
  lo.seed = so.seed;
  lo.rank = rank_;
  lo.world_size = world_;
  lo.fixed_shard = fixed_shard;
  loader_ = std::make_unique<data::DataLoader>(dataset, lo, net->config().max_div_factor());
  {
    // Batches per epoch: the same for every epoch and every rank.
    const int64_t n = static_cast<int64_t>(data::plan_shard(so).indices.size());
    iterations_per_epoch_ = (n + lo.batch_size - 1) / lo.batch_size;
  }
  if (iterations_per_epoch_ <= 0) {
    // Under fixed sharding each rank's part must hold a batch: n / N >= b, the same condition.
    throw Error("train_split", "the split has " + std::to_string(dataset->size()) +
                                   " clips, fewer than one global batch of " +
                                   std::to_string(lo.batch_size * world_) + " (" +
                                   std::to_string(world_) + " ranks x loader.batch_size " +
                                   std::to_string(lo.batch_size) + ")",
                "check train_split and dataset.json_file, or lower loader.batch_size");
  }
  total_epochs_ = cfg_.opt.epochs + cfg_.opt.warmup_epochs;

  if (!options_.init.empty()) {
    // Starting weights (fine-tuning, imported reference weights); EMA starts from them.
    model::assign_weights(*net, model::read_native_weights(options_.init).model);
  }
  // Initial weights are drawn on the CPU (as the reference builds its model before moving
  // it), then the model moves to this rank's device; optimizer and EMA are made there.
  net->to(at::Device(device));
  if (device != "cpu") spdlog::info("training on {}; {}", device, model::kernel_hooks().status);
  step_ = std::make_unique<TrainStep>(cfg_, net, iterations_per_epoch_);
  if (world_ > 1) {
    buckets_ = std::make_unique<cluster::GradientBuckets>(net->parameters(), *comm_,
                                                          cfg_.dist.bucket_mb);
    if (cfg_.dist.overlap) buckets_->attach_hooks();
    step_->set_data_parallel(comm_, buckets_.get());
    spdlog::info("data-parallel over {} ranks ({}): global batch {}, {} gradient buckets of {} MB",
                 world_, comm_->name(), lo.batch_size * world_, buckets_->num_buckets(),
                 cfg_.dist.bucket_mb);
  }

  make_dirs(options_.output_dir);
  const std::string resume = agree_on_resume_path();
  if (!resume.empty()) {
    if (is_root()) remove_stale_temporaries(options_.output_dir);
    restore_everywhere(resume);
  }
  if (world_ > 1) broadcast_state();
  metrics_ = monitor::TrainMetrics::create();
  if (metrics_) metrics_->record_epoch(epoch_);
}

std::string Trainer::agree_on_resume_path() {
  // "path:<file>", "none" or "error:<message>", decided on rank 0 alone: a rank with another
  // view of the output folder (a node-local disk, a relative path in another directory) then
  // still resumes the file rank 0 chose, or fails with the others.
  std::string decision = "none";
  if (is_root()) {
    try {
      if (options_.resume == "auto") {
        const auto found = find_resume_checkpoint(options_.output_dir);
        if (found) {
          decision = "path:" + *found;
        } else {
          spdlog::info("--resume auto: no checkpoint in {}, starting from scratch",
                       options_.output_dir);
        }
      } else if (!options_.resume.empty()) {
        decision = "path:" + options_.resume;
      } else if (path_exists(join_path(options_.output_dir, kLastCheckpoint))) {
        throw Error(options_.output_dir, "already holds a training run (last.ckpt)",
                    "continue it with --resume auto, or choose another --output");
      }
    } catch (const std::exception& e) {
      decision = std::string("error:") + e.what();
    }
  }
  if (world_ > 1) decision = comm_->allgather_bytes(decision).front();
  if (decision.rfind("error:", 0) == 0) throw Error(decision.substr(6));
  return decision.rfind("path:", 0) == 0 ? decision.substr(5) : "";
}

void Trainer::restore_everywhere(const std::string& path) {
  if (world_ <= 1) {
    restore(path);
    return;
  }
  // Each rank reports "ok <state>" or "error <message>"; every rank sees every report, so
  // every rank stops alike (never one rank waiting in a collective the others left).
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  std::string report;
  try {
    restore(path);
    report = "ok epoch " + std::to_string(epoch_) + ", step " + std::to_string(global_step_) +
             ", batch " + std::to_string(position_) + " of the epoch, schedule step " +
             std::to_string(step_->schedule().step_count()) + ", " +
             std::to_string(std::filesystem::file_size(path)) + " bytes";
  } catch (const std::exception& e) {
    report = std::string("error ") + e.what();
  }
  const std::vector<std::string> all = comm_->allgather_bytes(report + "\n" + host);
  const auto state = [](const std::string& r) { return r.substr(0, r.find('\n')); };
  const auto where = [&](size_t r) {
    return "rank " + std::to_string(r) + " (" + all[r].substr(all[r].find('\n') + 1) + ")";
  };
  for (size_t r = 0; r < all.size(); ++r) {
    if (state(all[r]).rfind("error ", 0) == 0) {
      throw Error("--resume", where(r) + " cannot resume from " + path + ": " + state(all[r]).substr(6),
                  "give every rank the same view of the output folder (a shared file system, "
                  "an absolute --output)");
    }
  }
  for (size_t r = 1; r < all.size(); ++r) {
    if (state(all[r]) != state(all[0])) {
      throw Error("--resume", "the ranks read different training states from " + path + ": " +
                                  where(0) + " " + state(all[0]).substr(3) + "; " + where(r) +
                                  " " + state(all[r]).substr(3),
                  "give every rank the same view of the output folder (a shared file system, "
                  "an absolute --output)");
    }
  }
}

void Trainer::wait_for_root(const std::string& what) {
  if (world_ <= 1) return;
  if (!is_root()) spdlog::info("waiting for rank 0 {} (up to dist.root_timeout_s = {} s)", what,
                               cfg_.dist.root_timeout_s);
  comm_->barrier_within(cfg_.dist.root_timeout_s, "waiting for rank 0 " + what);
}

bool Trainer::stop_agreed() {
  if (world_ <= 1 || comm_ == nullptr) return stop_requested();
  for (const std::string& flag : comm_->allgather_bytes(stop_requested() ? "1" : "0")) {
    if (flag == "1") return true;
  }
  return false;
}

Interrupted Trainer::stopped_during(const std::string& phase) const {
  return Interrupted("training stopped by a signal during " + phase + " of epoch " +
                    std::to_string(epoch_) + ", after it finished; " +
                    join_path(options_.output_dir, kLastCheckpoint) + " holds epoch " +
                    std::to_string(epoch_) +
                    (epoch_ < total_epochs_ ? " (continue with --resume auto)" : " (training is complete)"));
}

void Trainer::broadcast_state() {
  // Every rank built the same model from the same seed and read the same checkpoint; the
  // broadcast makes "identical" a guarantee rather than an assumption.
  torch::NoGradGuard no_grad;
  auto& net = step_->model();
  for (auto& p : net->parameters()) {
    at::Tensor t = p.detach();
    comm_->broadcast(t, 0);
  }
  for (auto& b : net->buffers()) {
    at::Tensor t = b.detach();
    comm_->broadcast(t, 0);
  }
  for (const auto& [name, value] : step_->ema().values()) {
    at::Tensor t = value;
    comm_->broadcast(t, 0);
  }
}

Trainer::~Trainer() = default;

void Trainer::restore(const std::string& path) {
  const TrainingCheckpoint c = read_checkpoint(path);
  check_same_architecture(path, c.config_yaml, cfg_);
  if (c.loader_seed != cfg_.init_rand_seed) {
    spdlog::warn("{}: trained with init_rand_seed {}, this config has {}; batches will differ",
                 path, c.loader_seed, cfg_.init_rand_seed);
  }
  model::PtTransformer& net = step_->model();
  try {
    model::assign_weights(*net, c.model);
  } catch (const Error& e) {
    throw Error(path, std::string("does not fit this model: ") + e.what(),
                "resume with the config it was trained with");
  }
  {
    torch::NoGradGuard no_grad;
    std::unordered_map<std::string, const at::Tensor*> buffers;
    for (const auto& [name, t] : c.buffers) buffers.emplace(name, &t);
    for (auto& b : net->named_buffers()) {
      const auto it = buffers.find(b.key());
      if (it != buffers.end()) b.value().copy_(*it->second);
    }
  }
  // EMA: parameters then buffers, in the model's order.
  std::unordered_map<std::string, const at::Tensor*> ema;
  for (const auto& [name, t] : c.model_ema) ema.emplace(name, &t);
  for (const auto& [name, t] : c.ema_buffers) ema.emplace(name, &t);
  model::NamedTensors ema_values;
  for (const auto& [name, current] : step_->ema().values()) {
    const auto it = ema.find(name);
    if (it == ema.end()) throw Error(path, "no EMA weights for " + name, "use another checkpoint");
    ema_values.emplace_back(name, *it->second);
  }
  step_->ema().load(ema_values);

  auto& optimizer = step_->optimizer();
  const auto params = net->named_parameters();
  for (const AdamParamState& s : c.optimizer) {
    const at::Tensor* p = params.find(s.name);
    if (!p) throw Error(path, "optimizer state for " + s.name + ", which is not a parameter");
    if (!s.exp_avg.sizes().equals(p->sizes()) || !s.exp_avg_sq.sizes().equals(p->sizes())) {
      throw Error(path, "optimizer state of " + s.name + " has the wrong shape",
                  "resume with the config it was trained with");
    }
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->step(s.step);
    state->exp_avg(copy_on(s.exp_avg, p->device()));
    state->exp_avg_sq(copy_on(s.exp_avg_sq, p->device()));
    optimizer.state()[state_key<OptimizerState>(*p)] = std::move(state);
  }
  step_->schedule().restore(c.schedule_step, c.schedule_lr);
  step_->normalizer() = model::LossNormalizer(c.loss_normalizer);
  const int64_t saved_world = c.rng_cpu_ranks.empty() ? 1 : static_cast<int64_t>(c.rng_cpu_ranks.size());
  if (c.loader_position != 0 && saved_world != world_) {
    throw Error(path, "was written inside an epoch by " + std::to_string(saved_world) +
                          " ranks; this job has " + std::to_string(world_),
                "resume with the same number of ranks, or from an epoch_NNNN.ckpt");
  }
  if (c.loader_position != 0) {
    // The rest of the epoch is only the same batches under the same sharding.
    const std::string saved = stored_config_value(c.config_yaml, "dist.sharding").value_or("epoch");
    if (saved != cfg_.dist.sharding) {
      throw Error(path, "was written inside an epoch with dist.sharding: " + saved +
                            "; this config has " + cfg_.dist.sharding,
                  "resume with dist.sharding: " + saved + ", or from an epoch_NNNN.ckpt");
    }
  }
  at::Tensor rng = c.rng_cpu;
  if (saved_world == world_ && static_cast<size_t>(rank_) < c.rng_cpu_ranks.size()) {
    rng = c.rng_cpu_ranks[static_cast<size_t>(rank_)];
  } else if (saved_world != world_) {
    spdlog::warn("{}: written by {} ranks, resumed by {}: dropout draws differ from an "
                 "uninterrupted run", path, saved_world, world_);
  }
  if (rng.defined()) {
    at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle: same state
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng);
  }
  epoch_ = c.epoch;
  global_step_ = c.global_step;
  position_ = c.loader_position;
  resumed_from_ = path;
  spdlog::info("resumed from {} (epoch {}, step {}{})", path, epoch_, global_step_,
               position_ ? ", " + std::to_string(position_) + " batches into the epoch" : "");
}

void Trainer::truncate_step_log() {
  // Steps after the checkpoint (a run killed mid-epoch) are run again: drop their lines.
  const std::string path = join_path(options_.output_dir, kStepLog);
  if (!path_exists(path)) return;
  std::istringstream in(read_file(path));
  std::string kept, line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (nlohmann::json::parse(line).at("step").get<int64_t>() >= global_step_) break;
    } catch (const nlohmann::json::exception&) {
      break;  // a torn last line
    }
    kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

void Trainer::save_checkpoint(bool epoch_end) {
  // Every rank's generator state, gathered to rank 0 (a collective: all ranks are here).
  const at::Tensor own_rng = at::detail::getDefaultCPUGenerator().get_state();
  std::vector<at::Tensor> rng_ranks{own_rng};
  if (world_ > 1) {
    const std::string mine(static_cast<const char*>(own_rng.data_ptr()),
                           static_cast<size_t>(own_rng.numel()));
    rng_ranks.clear();
    for (const std::string& bytes : comm_->allgather_bytes(mine)) {
      at::Tensor t = at::empty({static_cast<int64_t>(bytes.size())}, at::kByte);
      std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
      rng_ranks.push_back(t);
    }
  }
  if (!is_root()) return;
  TrainingCheckpoint c;
  auto& net = step_->model();
  for (const auto& p : net->named_parameters()) c.model.emplace_back(p.key(), host_copy(p.value()));
  for (const auto& b : net->named_buffers()) c.buffers.emplace_back(b.key(), host_copy(b.value()));
  const auto params = net->named_parameters();
  for (const auto& [name, t] : cloned(step_->ema().values())) {
    (params.contains(name) ? c.model_ema : c.ema_buffers).emplace_back(name, t);
  }
  auto& optimizer = step_->optimizer();
  for (const auto& p : params) {
    const auto it = optimizer.state().find(state_key<OptimizerState>(p.value()));
    if (it == optimizer.state().end()) continue;  // never had a gradient
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    c.optimizer.push_back({p.key(), s.step(), host_copy(s.exp_avg()), host_copy(s.exp_avg_sq())});
  }
  c.epoch = epoch_;
  c.global_step = global_step_;
  c.schedule_step = step_->schedule().step_count();
  c.schedule_lr = step_->schedule().lr();
  c.loss_normalizer = step_->normalizer().value();
  c.rng_cpu = rng_ranks.front();
  c.rng_cpu_ranks = rng_ranks;
  c.loader_seed = cfg_.init_rand_seed;
  c.loader_position = position_;
  c.config_yaml = config::to_yaml(cfg_);

  // last.ckpt every epoch; epoch_NNNN.ckpt every `every_epochs` and at the end, as a hard
  // link of last.ckpt (no second write), then the newest `keep` are kept.
  const std::string last = join_path(options_.output_dir, kLastCheckpoint);
  const auto write_start = std::chrono::steady_clock::now();
  write_checkpoint(last, c);
  if (metrics_) {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(last, ec);
    metrics_->record_checkpoint(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count(),
        ec ? 0 : static_cast<int64_t>(bytes));
  }
  if (!epoch_end) return;
  const bool due = (cfg_.checkpoint.every_epochs > 0 && epoch_ % cfg_.checkpoint.every_epochs == 0) ||
                   epoch_ == total_epochs_;
  if (due) {
    const std::string target = join_path(options_.output_dir, epoch_checkpoint_name(epoch_));
    const std::string temp = target + ".link";
    std::remove(temp.c_str());
    if (::link(last.c_str(), temp.c_str()) == 0 && std::rename(temp.c_str(), target.c_str()) == 0) {
      // linked
    } else {
      std::remove(temp.c_str());
      write_checkpoint(target, c);
    }
    for (const std::string& name : rotate_checkpoints(options_.output_dir, cfg_.checkpoint.keep)) {
      spdlog::debug("removed old checkpoint {}", name);
    }
  }
}

void Trainer::run() {
  std::unique_ptr<AppendFile> log;
  if (is_root()) {
    write_file_atomic(join_path(options_.output_dir, "config.yaml"), config::to_yaml(cfg_));
    if (resumed_from_.empty()) {
      write_file_atomic(join_path(options_.output_dir, kStepLog), "");
    } else {
      truncate_step_log();
    }
    log = std::make_unique<AppendFile>(join_path(options_.output_dir, kStepLog));
  }

  const int64_t total_steps = total_epochs_ * iterations_per_epoch_;
  spdlog::info("training {} epochs x {} iterations, from epoch {} -> {}", total_epochs_,
               iterations_per_epoch_, epoch_, options_.output_dir);
  Progress progress("train", is_root() ? total_steps - global_step_ : 0, "steps");
  int64_t epochs_this_run = 0, steps_this_run = 0;
  const auto run_start = std::chrono::steady_clock::now();
  bool first_epoch = true;
  while (epoch_ < total_epochs_) {
    loader_->start_epoch(epoch_, position_);
    if (first_epoch && world_ > 1) {
      // The shard assignment, once per rank: which clips this rank reads this epoch.
      const auto& plan = loader_->plan();
      std::string head;
      for (size_t i = 0; i < plan.indices.size() && i < 6; ++i) {
        head += (i ? "," : "") + std::to_string(plan.indices[i]);
      }
      spdlog::info("shard of epoch {} ({} sharding): {} clips in {} batches (dataset indices "
                   "{}{})", epoch_, cfg_.dist.sharding, plan.indices.size(), loader_->num_batches(), head,
                   plan.indices.size() > 6 ? ",..." : "");
    }
    first_epoch = false;
    double last_wait = 0, loss_sum = 0;
    int64_t steps = 0;
    auto t_prev = std::chrono::steady_clock::now();
    while (auto batch = loader_->next()) {
      const StepResult r = step_->run(*batch, stop_requested());
      const auto now = std::chrono::steady_clock::now();
      const double elapsed = std::chrono::duration<double>(now - t_prev).count();
      t_prev = now;
      const double wait = loader_->wait_seconds();
      const double data_wait = wait - last_wait;
      last_wait = wait;
      nlohmann::json line = {{"step", global_step_},
                             {"epoch", epoch_},
                             {"lr", r.lr},
                             {"cls_loss", r.cls_loss},
                             {"reg_loss", r.reg_loss},
                             {"al_loss", r.al_loss},
                             {"final_loss", r.final_loss},
                             {"grad_norm", r.grad_norm},
                             {"num_pos", r.num_pos},
                             {"loss_normalizer", r.loss_normalizer},
                             {"samples_per_s", elapsed > 0 ? batch->items.size() * world_ / elapsed : 0.0},
                             {"data_wait_s", data_wait}};
      if (r.nonfinite) line["skipped"] = true;
      if (r.overflow) {  // opt.amp fp16: an expected event, the loss scale adapts
        line["skipped"] = true;
        line["overflow"] = true;
      }
      if (is_root()) {
        try {
          log->append(line.dump() + "\n");
        } catch (const Error& e) {  // a full disk: say so now (the checkpoint would fail next)
          throw Error(std::string(e.what()) + "; step " + std::to_string(global_step_) +
                      " was not logged (free space on the output folder's disk, then --resume auto)");
        }
      }
      ++global_step_;
      ++position_;
      ++steps;
      ++steps_this_run;
      loss_sum += r.final_loss;
      if (is_root()) progress.advance();
      if (metrics_) {
        monitor::StepSample m;
        m.steps_done = global_step_;
        m.epoch = epoch_;
        m.progress = total_steps > 0 ? static_cast<double>(global_step_) / total_steps : 1.0;
        const double run_s = std::chrono::duration<double>(now - run_start).count();
        m.eta_s = run_s / steps_this_run * static_cast<double>(total_steps - global_step_);
        m.lr = r.lr;
        m.cls_loss = r.cls_loss;
        m.reg_loss = r.reg_loss;
        m.al_loss = r.al_loss;
        m.final_loss = r.final_loss;
        m.grad_norm = r.grad_norm;
        m.loss_normalizer = r.loss_normalizer;
        m.positives = r.num_pos;
        m.samples = static_cast<int64_t>(batch->items.size());
        m.step_s = elapsed;
        m.data_wait_s = data_wait;
        m.forward_s = r.times.forward_loss;
        m.backward_s = r.times.backward;
        m.allreduce_wait_s = r.times.allreduce_wait;
        m.optimizer_s = r.times.clip + r.times.optimizer + r.times.ema;
        m.unix_time_s = std::chrono::duration<double>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
        metrics_->record_step(m);
      }
      if (r.nonfinite) {
        const bool stop = cfg_.train_cfg.on_nonfinite == "stop";
        if (metrics_) metrics_->record_nonfinite(stop);
        const std::string what = "step " + std::to_string(global_step_ - 1) + " (epoch " +
                                 std::to_string(epoch_ + 1) + "): final_loss " +
                                 std::to_string(r.final_loss) + ", grad_norm " +
                                 std::to_string(r.grad_norm);
        if (stop) {
          progress.finish();
          throw Error("train_cfg.on_nonfinite", "stop: a NaN/Inf at " + what +
                          "; the update was not applied",
                      "lower opt.learning_rate or set train_cfg.clip_grad_l2norm, check the "
                      "features with asl inspect STORE --verify, then --resume auto from the "
                      "last checkpoint");
        }
        if (is_root()) spdlog::warn("NaN/Inf at {}: update skipped (train_cfg.on_nonfinite: skip)", what);
      }
      if (r.stop) {
        save_checkpoint(/*epoch_end=*/false);
        wait_for_root("to write the checkpoint of the stop");
        progress.finish();
        throw Interrupted("training stopped by a signal at epoch " + std::to_string(epoch_ + 1) +
                          ", step " + std::to_string(global_step_) + "; " +
                          join_path(options_.output_dir, kLastCheckpoint) +
                          " holds this step (continue with --resume auto)");
      }
    }
    ++epoch_;
    position_ = 0;
    save_checkpoint(/*epoch_end=*/true);
    wait_for_root("to write the checkpoint of epoch " + std::to_string(epoch_));
    if (metrics_) metrics_->record_epoch(epoch_);
    if (is_root()) {
      spdlog::info("epoch {}/{}: {} steps, mean final_loss {:.4f}, lr {:.3g}, data wait {:.1f} s",
                   epoch_, total_epochs_, steps, steps ? loss_sum / steps : 0.0,
                   step_->schedule().lr(), last_wait);
    }
    // A signal during these phases finds no step to stop after (or only minutes later).
    if (stop_agreed()) {
      progress.finish();
      throw stopped_during("the checkpoint write");
    }
    if (epoch_end_hook_) {
      epoch_end_hook_({epoch_, total_epochs_, global_step_,
                       join_path(options_.output_dir, kLastCheckpoint), &step_->ema()});
      wait_for_root("to score the validation of epoch " + std::to_string(epoch_));
      if (stop_agreed()) {
        progress.finish();
        throw stopped_during("the validation");
      }
    }
    if (options_.stop_after_epochs > 0 && ++epochs_this_run >= options_.stop_after_epochs) break;
  }
  progress.finish();
}

}  // namespace asl::train
