// The kernels as LibTorch operations (kernels/torch_bridge.h), here on CPU tensors (the
// reference loop behind the same autograd functions the GPU uses), and the hooks' rules.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

#include "core/error.h"
#include "kernels/torch_bridge.h"
#include "model/attention.h"
#include "model/kernel_hooks.h"
#include "model/losses.h"

namespace asl::kernels {
namespace {

TEST(TorchBridge, FusedLossesMatchTheModelsLossesWithGradients) {
  torch::manual_seed(21);
  const torch::Tensor z = (torch::randn({64, 110}) * 3).requires_grad_(true);
  const torch::Tensor y = (torch::rand({64, 110}) > 0.95).to(torch::kFloat);
  const torch::Tensor want = model::sigmoid_focal_loss(z, y, 0.25, 2.0);
  const torch::Tensor got = fused_focal_loss(z, y, 0.25, 2.0);
  EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-6));
  const torch::Tensor w = torch::rand({64, 110});
  EXPECT_TRUE(torch::allclose(torch::autograd::grad({(got * w).sum()}, {z})[0],
                              torch::autograd::grad({(want * w).sum()}, {z})[0], 1e-4, 1e-6));

  const torch::Tensor pred = (torch::rand({300, 2}) * 5 + 0.1).requires_grad_(true);
  const torch::Tensor target = torch::rand({300, 2}) * 5 + 0.1;
  const torch::Tensor dwant = model::ctr_diou_loss_1d(pred, target);
  const torch::Tensor dgot = fused_diou_loss(pred, target, 1e-8);
  EXPECT_TRUE(torch::allclose(dgot, dwant, 1e-5, 1e-6));
  const torch::Tensor dw = torch::rand({300});
  EXPECT_TRUE(torch::allclose(torch::autograd::grad({(dgot * dw).sum()}, {pred})[0],
                              torch::autograd::grad({(dwant * dw).sum()}, {pred})[0], 1e-4, 1e-6));
}

TEST(TorchBridge, FusedLocalAttentionMatchesTheModelWithGradientsAndKeepsTheDtype) {
  torch::manual_seed(22);
  const torch::Tensor q = torch::randn({2, 4, 50, 16}).requires_grad_(true);
  const torch::Tensor k = torch::randn({2, 4, 50, 16}).requires_grad_(true);
  const torch::Tensor v = torch::randn({2, 4, 50, 16}).requires_grad_(true);
  torch::Tensor mask = torch::ones({2, 1, 50}, torch::kBool);
  mask.index_put_({0, 0, torch::indexing::Slice(41, 50)}, false);
  const torch::Tensor want = model::local_window_attention(q * 0.25, k, v, mask, 9, 0.0, false);
  const torch::Tensor got = fused_local_attention(q * 0.25, k, v, mask, 9);
  EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-6));
  const auto gw = torch::autograd::grad({want.square().sum()}, {q, k, v});
  const auto gg = torch::autograd::grad({got.square().sum()}, {q, k, v});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(torch::allclose(gg[i], gw[i], 1e-4, 1e-5)) << i;

  const torch::Tensor half = fused_local_attention(q.detach().to(torch::kBFloat16), k.detach(),
                                                   v.detach(), mask, 9);
  EXPECT_EQ(half.scalar_type(), torch::kBFloat16);
  EXPECT_THROW(fused_local_attention(q, k, v, mask, 4), Error);
}

TEST(TorchBridge, FusedEmaIsBitExactWithTheReferenceOps) {
  torch::manual_seed(23);
  std::vector<torch::Tensor> averages = {torch::randn({4000}), torch::randn({7, 3})};
  const std::vector<torch::Tensor> values = {torch::randn({4000}), torch::randn({7, 3})};
  std::vector<torch::Tensor> expected;
  for (size_t i = 0; i < 2; ++i) expected.push_back(0.999 * averages[i] + (1.0 - 0.999) * values[i]);
  fused_ema_update(averages, values, 0.999);
  for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(torch::equal(averages[i], expected[i])) << i;
  EXPECT_THROW(fused_ema_update({torch::zeros({3}, torch::kDouble)}, {torch::zeros({3})}, 0.9),
               Error);
}

TEST(TorchBridge, HooksServeOnlyCudaTensorsAndTheSwitchTurnsThemOff) {
  model::KernelHooks saved = model::kernel_hooks();
  int calls = 0;
  model::kernel_hooks().focal_loss = [&calls](const at::Tensor& z, const at::Tensor& y, double a,
                                               double g) {
    ++calls;
    return fused_focal_loss(z, y, a, g);
  };
  (void)model::sigmoid_focal_loss(torch::zeros({3}), torch::zeros({3}));
  EXPECT_EQ(calls, 0);  // a CPU tensor keeps the LibTorch formulation
  model::kernel_hooks() = saved;

  setenv("ASL_KERNELS", "off", 1);
  EXPECT_EQ(install_cuda_hooks(), "fused CUDA kernels: off (ASL_KERNELS=off)");
  unsetenv("ASL_KERNELS");
  EXPECT_FALSE(model::kernel_hooks().focal_loss);
  const std::string status = install_cuda_hooks();
  if (!built_with_cuda_kernels()) {
    EXPECT_EQ(status, "fused CUDA kernels: not in this build");
    EXPECT_FALSE(model::kernel_hooks().local_attention);
  }
  EXPECT_EQ(model::kernel_hooks().status, status);
  model::kernel_hooks() = saved;
}

}  // namespace
}  // namespace asl::kernels
