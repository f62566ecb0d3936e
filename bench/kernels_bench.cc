#include "bench/kernels_bench.h"

#include <torch/torch.h>

#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>

#include "cluster/make_communicator.h"
#include "core/config.h"
#include "core/fs.h"
#include "infer/nms.h"
#include "kernels/batched_nms.h"
#include "kernels/torch_bridge.h"
#include "model/asl_model.h"
#include "model/attention.h"
#include "model/losses.h"

namespace asl::bench {
namespace {

void sync(const at::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

// Median seconds of `fn` over `repeat` runs after one warm-up, the device's queue included.
double time_it(const at::Device& device, int repeat, const std::function<void()>& fn) {
  fn();
  std::vector<double> runs;
  for (int i = 0; i < repeat; ++i) {
    sync(device);
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    sync(device);
    runs.push_back(seconds_since(t0));
  }
  return median(runs);
}

}  // namespace

std::string run_kernels_bench(const Options& o, const std::string& config_path,
                              const std::vector<std::string>& overrides) {
  const config::Config cfg = config_path.empty() ? config::Config{}
                                                 : config::load_config(config_path, overrides);
  const at::Device device(cluster::resolve_device(cfg.dist.device, cfg.dist.backend));
  const bool cuda_kernels = device.is_cuda() && kernels::built_with_cuda_kernels();
  const auto opts = torch::TensorOptions().device(device);
  nlohmann::json out;
  out["date"] = today();
  out["device"] = device.str();
  out["kernels"] = cuda_kernels ? "CUDA" : "CPU reference";
  std::printf("asl bench kernels on %s (%s), median of %d; baseline = what the kernel replaces\n",
              device.str().c_str(), cuda_kernels ? "CUDA kernels" : "CPU reference loops",
              o.repeat);
  std::printf("  %-34s %12s %12s %9s\n", "operation", "baseline ms", "kernel ms", "speed-up");
  const auto row = [&](const std::string& name, double base, double fused) {
    std::printf("  %-34s %12.3f %12.3f %8.2fx\n", name.c_str(), base * 1e3, fused * 1e3, base / fused);
    out["rows"].push_back({{"operation", name}, {"baseline_s", base}, {"kernel_s", fused},
                           {"speedup", base / fused}});
  };
  torch::manual_seed(0);

  {  // Focal loss, forward and backward, on a baseline batch's points x classes.
    const torch::Tensor z = torch::randn({2 * 4092, 110}, opts).requires_grad_(true);
    const torch::Tensor y = (torch::rand({2 * 4092, 110}, opts) > 0.99).to(torch::kFloat);
    const auto run = [&](bool fused) {
      const torch::Tensor l = fused ? kernels::fused_focal_loss(z, y, 0.25, 2.0)
                                    : model::sigmoid_focal_loss(z, y, 0.25, 2.0);
      l.sum().backward();
    };
    row("focal loss fwd+bwd [8184, 110]", time_it(device, o.repeat, [&] { run(false); }),
        time_it(device, o.repeat, [&] { run(true); }));
  }
  {  // Centre-DIoU at the positives.
    const torch::Tensor p = (torch::rand({20000, 2}, opts) * 10 + 0.1).requires_grad_(true);
    const torch::Tensor g = torch::rand({20000, 2}, opts) * 10 + 0.1;
    const auto run = [&](bool fused) {
      const torch::Tensor l = fused ? kernels::fused_diou_loss(p, g, 1e-8)
                                    : model::ctr_diou_loss_1d(p, g);
      l.sum().backward();
    };
    row("DIoU loss fwd+bwd [20000, 2]", time_it(device, o.repeat, [&] { run(false); }),
        time_it(device, o.repeat, [&] { run(true); }));
  }
  {  // Local-window attention of one block (window 19, 4 heads of 96 over 2304 steps).
    const torch::Tensor q = torch::randn({2, 4, 2304, 96}, opts).requires_grad_(true);
    const torch::Tensor k = torch::randn({2, 4, 2304, 96}, opts).requires_grad_(true);
    const torch::Tensor v = torch::randn({2, 4, 2304, 96}, opts).requires_grad_(true);
    const torch::Tensor mask = torch::ones({2, 1, 2304}, opts.dtype(torch::kBool));
    const auto run = [&](bool fused) {
      const torch::Tensor a = fused ? kernels::fused_local_attention(q, k, v, mask, 19)
                                    : model::local_window_attention(q, k, v, mask, 19, 0.0, false);
      a.sum().backward();
    };
    row("local attention fwd+bwd w19", time_it(device, o.repeat, [&] { run(false); }),
        time_it(device, o.repeat, [&] { run(true); }));
  }
  {  // The model EMA over every tensor of the configured model.
    std::vector<torch::Tensor> averages, values;
    if (!config_path.empty()) {
      model::PtTransformer net(cfg);
      net->to(device);
      for (const auto& p : net->parameters()) values.push_back(p.detach());
    } else {  // no CONFIG: 250 tensors of 100,000 values
      for (int i = 0; i < 250; ++i) values.push_back(torch::randn({100000}, opts));
    }
    for (const auto& v : values) averages.push_back(v.clone());
    torch::NoGradGuard no_grad;
    const double base = time_it(device, o.repeat, [&] {
      for (size_t i = 0; i < averages.size(); ++i)
        averages[i].copy_(0.999 * averages[i] + (1.0 - 0.999) * values[i]);
    });
    const double fused =
        time_it(device, o.repeat, [&] { kernels::fused_ema_update(averages, values, 0.999); });
    row("EMA update, " + std::to_string(averages.size()) + " tensors", base, fused);
  }
  {  // Multi-class soft-NMS of 8 Ego4D-shaped clips (the NMS benchmark's, 110 classes).
    std::mt19937_64 rng(100);
    std::vector<std::vector<infer::Segment>> clips;
    for (int c = 0; c < 8; ++c) clips.push_back(bench::ego4d_shaped_candidates(rng));
    infer::NmsOptions nms;
    nms.sigma = 0.5f;
    nms.min_score = 0.001f;
    nms.max_seg_num = 2000;
    const double base = time_it(at::Device(at::kCPU), o.repeat, [&] {
      for (const auto& c : clips) (void)infer::batched_nms(c, nms);
    });
    const kernels::GroupNmsFn run = kernels::group_nms_for(device);
    const double fused =
        time_it(at::Device(at::kCPU), o.repeat, [&] { (void)kernels::batched_nms_clips(clips, nms, run); });
    row("soft-NMS, 8 Ego4D-shaped clips", base, fused);
  }
  const std::string text = out.dump(2);
  if (!o.json_out.empty()) write_file_atomic(o.json_out, text + "\n");
  return text;
}

}  // namespace asl::bench
