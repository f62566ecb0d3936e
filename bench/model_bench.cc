#include "bench/model_bench.h"

#include <sys/resource.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "bench/bench.h"
#include "core/error.h"
#include "core/fs.h"
#include "cluster/make_communicator.h"
#include "core/torch_runtime.h"
#include "data/loader.h"
#include "infer/decode.h"
#include "infer/nms.h"
#include "train/precision.h"
#include "train/step.h"

namespace asl::train {
namespace {

using bench::median;

double peak_rss_mb() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;  // kB on Linux
}

// A clip of `length` valid steps (of max_seq_len) with a few actions, Ego4D-like lengths.
data::VideoItem synthetic_clip(const config::Config& cfg, int64_t length, int64_t index) {
  const int64_t channels = [&] {
    int64_t c = 0;
    for (int64_t d : cfg.dataset.input_dim.values) c += d;
    return c;
  }();
  data::VideoItem item;
  item.clip_id = "bench-" + std::to_string(index);
  item.feats = torch::randn({channels, length});
  // NLQ (docs/nlq.md): one answer window and a query of 12 tokens.
  if (cfg.is_nlq()) item.query = torch::randn({cfg.dataset.text_dim, 12});
  const int64_t n = cfg.is_nlq() ? 1 : 5;
  std::vector<float> segs;
  std::vector<int64_t> labels;
  for (int64_t k = 0; k < n; ++k) {
    const double start = (k + 0.5) * length / (n + 1.0);
    const double len = std::max(2.0, length / 40.0 * (k + 1));
    segs.push_back(static_cast<float>(start));
    segs.push_back(static_cast<float>(std::min<double>(start + len, length)));
    labels.push_back((index * 7 + k * 3) % cfg.dataset.num_classes);
  }
  item.segments = torch::tensor(segs).reshape({n, 2});
  item.labels = torch::tensor(labels, torch::kInt64);
  return item;
}

// Waits for the GPU's queued work, so that wall-clock times cover it (no-op on the CPU).
void sync(const at::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index() < 0 ? -1 : device.index());
}

double seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::string run_model_bench(const ModelBenchOptions& o) {
  const config::Config cfg = config::load_config(o.config, o.overrides);
  set_torch_threads(o.threads);
  torch::manual_seed(0);
  const int64_t T = cfg.dataset.max_seq_len;
  const int64_t B = cfg.loader.batch_size;
  model::PtTransformer net(cfg);
  // dist.device: auto picks the GPU where the build and the machine have one.
  const at::Device device(cluster::resolve_device(cfg.dist.device, cfg.dist.backend));
  net->to(device);
  const int gpu = device.is_cuda() ? std::max<int>(0, device.index()) : -1;
  if (gpu >= 0) reset_cuda_peak(gpu);
  nlohmann::json out;
  out["device"] = device.str();
  out["amp"] = cfg.opt.amp;
  out["config"] = o.config;
  out["threads"] = o.threads;
  out["batch_size"] = o.what == "train" ? B : 1;
  out["max_seq_len"] = T;
  out["libtorch"] = torch_runtime().version;

  std::printf("asl bench %s: %s on %s (amp %s), batch %lld, T %lld, %d threads, median of %d "
              "(+%d warm-up)\n",
              o.what.c_str(), o.config.c_str(), device.str().c_str(), cfg.opt.amp.c_str(),
              static_cast<long long>(o.what == "train" ? B : 1), static_cast<long long>(T),
              o.threads, o.repeat, o.warmup);
  if (o.what == "train") {
    std::vector<data::VideoItem> items;
    for (int64_t b = 0; b < B; ++b) items.push_back(synthetic_clip(cfg, b == 0 ? T : T * 9 / 10, b));
    const data::Batch batch = data::collate(items, {}, true, T, net->config().max_div_factor());
    TrainStep step(cfg, net, /*iterations_per_epoch=*/100);
    std::vector<double> fwd, bwd, clip, opt, ema, total;
    for (int i = 0; i < o.warmup + o.repeat; ++i) {
      sync(device);
      const auto t0 = std::chrono::steady_clock::now();
      const StepResult r = step.run(batch);
      sync(device);
      const double wall = seconds(t0);
      if (i < o.warmup) continue;
      fwd.push_back(r.times.forward_loss);
      bwd.push_back(r.times.backward);
      clip.push_back(r.times.clip);
      opt.push_back(r.times.optimizer);
      ema.push_back(r.times.ema);
      // On a GPU the parts are host times of queued work; the total waits for the device.
      total.push_back(device.is_cuda() ? wall : r.times.total());
    }
    if (!o.profile_out.empty()) {
      const torch::autograd::profiler::RecordProfile profile(o.profile_out);
      step.run(batch);
    }
    const double step_wo_ema = median(total) - median(ema);
    std::printf("  forward+loss   %8.3f s\n  backward       %8.3f s\n  clip           %8.3f s\n"
                "  AdamW+schedule %8.3f s\n  EMA update     %8.3f s\n  step (no EMA)  %8.3f s\n"
                "  step total     %8.3f s\n  peak memory    %8.0f MB\n",
                median(fwd), median(bwd), median(clip), median(opt), median(ema), step_wo_ema,
                median(total), peak_rss_mb());
    out["forward_loss_s"] = median(fwd);
    out["backward_s"] = median(bwd);
    out["clip_s"] = median(clip);
    out["optimizer_s"] = median(opt);
    out["ema_s"] = median(ema);
    out["step_without_ema_s"] = step_wo_ema;
    out["step_s"] = median(total);
  } else if (o.what == "infer") {
    net->eval();
    torch::NoGradGuard no_grad;
    data::Batch batch =
        data::collate({synthetic_clip(cfg, T * 9 / 10, 0)}, {}, false, T, net->config().max_div_factor());
    batch.feats = batch.feats.to(device);
    batch.masks = batch.masks.to(device);
    if (batch.query.defined()) {
      batch.query = batch.query.to(device);
      batch.query_mask = batch.query_mask.to(device);
    }
    // An Ego4D clip: 480 s at 1.875 features/s resized to max_seq_len.
    infer::ClipTiming clip;
    clip.fps = 1.875;
    clip.duration = 480.0;
    clip.feat_stride = clip.num_frames = 900.0 / static_cast<double>(T);
    const infer::NmsOptions nms = infer::nms_options_from(cfg.test_cfg);
    std::vector<double> network, decode, suppress, total;
    size_t kept = 0, candidates = 0;
    for (int i = 0; i < o.warmup + o.repeat; ++i) {
      sync(device);
      auto t0 = std::chrono::steady_clock::now();
      model::NetworkOutputs outputs;
      {
        // As training computes (opt.amp); LibTorch autocasts the CPU to bfloat16 only.
        const at::ScalarType dtype = amp_dtype(cfg.opt.amp);
        const AutocastScope autocast(
            device.type(), device.is_cuda() || dtype == at::kBFloat16 ? dtype : at::kFloat);
        outputs = net->forward(batch.feats, batch.masks, batch.query, batch.query_mask);
      }
      sync(device);
      const double t_net = seconds(t0);
      t0 = std::chrono::steady_clock::now();
      std::vector<infer::Segment> segs = infer::decode_candidates(outputs, cfg.test_cfg);
      const double t_dec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      candidates = segs.size();
      t0 = std::chrono::steady_clock::now();
      segs = infer::suppress(segs, nms, device.is_cuda());
      infer::grid_to_seconds(segs, clip);
      const double t_nms = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      kept = segs.size();
      if (i < o.warmup) continue;
      network.push_back(t_net);
      decode.push_back(t_dec);
      suppress.push_back(t_nms);
      total.push_back(t_net + t_dec + t_nms);
    }
    if (!o.profile_out.empty()) {
      const torch::autograd::profiler::RecordProfile profile(o.profile_out);
      net->forward(batch.feats, batch.masks, batch.query, batch.query_mask);
    }
    std::printf("  network        %8.3f s\n  decoding       %8.3f s (%zu candidates)\n"
                "  NMS, seconds   %8.3f s (%zu kept)\n  per clip       %8.3f s\n"
                "  peak memory    %8.0f MB\n",
                median(network), median(decode), candidates, median(suppress), kept, median(total),
                peak_rss_mb());
    out["network_s"] = median(network);
    out["decode_s"] = median(decode);
    out["nms_s"] = median(suppress);
    out["per_clip_s"] = median(total);
  } else {
    throw Error("--what", "'" + o.what + "' is not a model benchmark", "use train or infer");
  }
  out["peak_rss_mb"] = peak_rss_mb();
  int64_t peak = 0;
  if (gpu >= 0 && cuda_peak_allocated(gpu, &peak)) {
    out["peak_gpu_mb"] = static_cast<double>(peak) / (1024.0 * 1024.0);
    std::printf("  peak GPU memory %7.0f MB (LibTorch's allocator)\n", out["peak_gpu_mb"].get<double>());
  }
  const std::string text = out.dump(2);
  if (!o.json_out.empty()) write_file_atomic(o.json_out, text + "\n");
  return text;
}

}  // namespace asl::train
