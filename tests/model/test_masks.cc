// Mask behaviour (docs/model.md, "Quirks kept for fidelity"): where the reference is
// mask-invariant, changing padded inputs changes no valid output (bit for bit); where it
// leaks, the leak is exactly the documented one and no other.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <string>
#include <vector>

#include "model/backbone.h"
#include "model/transformer_block.h"
#include "model/xlnet.h"
#include "network_fixtures.h"

namespace asl::model {
namespace {

using testing::length_mask;
using testing::load;

// Replaces the steps [from, to) of sample b by other random values.
at::Tensor perturb(const at::Tensor& x, int64_t b, int64_t from, int64_t to) {
  at::Tensor y = x.clone();
  y[b].slice(1, from, to) = torch::randn_like(y[b].slice(1, from, to)) * 5;
  return y;
}

// The same for the steps [from, T).
at::Tensor perturb_from(const at::Tensor& x, int64_t b, int64_t from) {
  return perturb(x, b, from, x.size(2));
}

// True when every valid step of every level has the same logits and offsets.
bool same_valid_outputs(const NetworkOutputs& a, const NetworkOutputs& b) {
  for (std::size_t l = 0; l < a.cls_logits.size(); ++l) {
    const at::Tensor m = a.masks[l];
    if (!torch::equal(a.cls_logits[l].index({m}), b.cls_logits[l].index({m})) ||
        !torch::equal(a.offsets[l].index({m}), b.offsets[l].index({m}))) {
      return false;
    }
  }
  return true;
}

// The demo network, small enough to run often, with random LayerNorm and bias values
// so that padded positions carry non-trivial values.
PtTransformer small_model(const config::Config& cfg) {
  torch::manual_seed(0);
  PtTransformer model(cfg);
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters()) {
    if (p.key().find("bias") != std::string::npos || p.key().find("norm") != std::string::npos) {
      p.value().add_(torch::randn_like(p.value()) * 0.2);
    }
  }
  model->eval();
  return model;
}

TEST(MaskInvariance, SeveralStreamsIgnorePaddedInputsBitForBit) {
  // The 1x1 projections mask their outputs, so padded inputs never reach the network.
  PtTransformer model = small_model(load("demo.yaml"));
  torch::NoGradGuard no_grad;
  torch::manual_seed(1);
  const int64_t T = 64;
  const at::Tensor x = torch::randn({2, 96, T});
  const at::Tensor mask = length_mask({T, 37}, T);
  const NetworkOutputs a = model->forward(x, mask);
  const NetworkOutputs b = model->forward(perturb_from(x, 1, 37), mask);
  EXPECT_TRUE(same_valid_outputs(a, b));
  // Heads output exactly zero at padded positions.
  for (std::size_t l = 0; l < a.cls_logits.size(); ++l) {
    const at::Tensor pad = a.masks[l].logical_not();
    EXPECT_EQ(a.cls_logits[l].index({pad}).abs().sum().item<double>(), 0.0);
    EXPECT_EQ(a.offsets[l].index({pad}).abs().sum().item<double>(), 0.0);
  }
}

TEST(MaskInvariance, OneStreamLeaksOnlyTheFirstPaddedStepThroughTheEmbedding) {
  // Without projections the first embedding convolution (kernel 3) reads the first
  // padded input step at the last valid step, as in the reference; later padded
  // steps never reach a valid output.
  config::Config cfg = load("demo.yaml");
  cfg.model.input_dim = config::IntList(96);
  cfg.model.embd_dim = config::IntList(96);
  PtTransformer model = small_model(cfg);
  EXPECT_FALSE(model->backbone->proj);
  torch::NoGradGuard no_grad;
  torch::manual_seed(2);
  const int64_t T = 64, len = 37;
  const at::Tensor x = torch::randn({2, 96, T});
  const at::Tensor mask = length_mask({T, len}, T);
  const NetworkOutputs a = model->forward(x, mask);
  EXPECT_TRUE(same_valid_outputs(a, model->forward(perturb_from(x, 1, len + 1), mask)));
  EXPECT_FALSE(same_valid_outputs(a, model->forward(perturb_from(x, 1, len), mask)));
}

TEST(MaskLeaks, EmbeddingLeavesReluOfTheLayerNormBiasAtPaddedSteps) {
  config::Config cfg = load("demo.yaml");
  cfg.model.backbone_arch = {2, 0, 0};
  cfg.model.use_xl = false;
  torch::manual_seed(3);
  ConvTransformerBackbone backbone(cfg.model);
  backbone->eval();
  torch::NoGradGuard no_grad;
  auto params = backbone->named_parameters();
  params["embd_norm.1.bias"].normal_();
  const at::Tensor mask = length_mask({32, 20}, 32);
  const std::vector<Masked> levels = backbone->forward(torch::randn({2, 96, 32}), mask);
  ASSERT_EQ(levels.size(), 1u);
  const at::Tensor expected = params["embd_norm.1.bias"].view({96, 1}).relu().expand({96, 12});
  EXPECT_TRUE(torch::equal(levels[0].x[1].slice(1, 20), expected));
  EXPECT_GT(expected.abs().sum().item<double>(), 0.0);
}

TransformerBlockOptions block_options(int64_t stride, double alpha) {
  TransformerBlockOptions o;
  o.n_embd = 16;
  o.n_head = 2;
  o.stride = stride;
  o.proj_pdrop = 0.1;
  o.path_pdrop = 0.1;
  o.t_c_alpha = alpha;
  return o;
}

TransformerBlock random_block(const TransformerBlockOptions& o) {
  torch::manual_seed(4);
  TransformerBlock blk(o);
  blk->to(torch::kDouble);
  torch::NoGradGuard no_grad;
  for (auto& p : blk->parameters()) p.add_(torch::randn_like(p) * 0.1);
  blk->eval();
  return blk;
}

TEST(MaskLeaks, StemBlockPaddedOutputIsTheChannelAttentionShare) {
  TransformerBlock blk = random_block(block_options(1, 0.8));
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({2, 16, 12}, torch::kDouble);
  const at::Tensor mask = length_mask({12, 7}, 12);
  const at::Tensor out = blk->forward(x, mask).x;
  const at::Tensor share = (1 - 0.8) * blk->channel_attn->forward(blk->ln1->forward(x));
  EXPECT_TRUE(torch::allclose(out[1].slice(1, 7), share[1].slice(1, 7), 0, 1e-14));
  EXPECT_GT(share[1].slice(1, 7).abs().min().item<double>(), 0.0);
}

TEST(MaskLeaks, StemBlockValidOutputsReadPaddedStepsThroughChannelAttentionOnly) {
  const at::Tensor x = torch::randn({2, 16, 12}, torch::kDouble);
  const at::Tensor mask = length_mask({12, 7}, 12);
  torch::NoGradGuard no_grad;
  // Far padded steps (beyond the depthwise kernels' reach) change valid outputs through
  // the channel attention's sums over all steps...
  TransformerBlock mixed = random_block(block_options(1, 0.8));
  const at::Tensor a = mixed->forward(x, mask).x[1].slice(1, 0, 7);
  const at::Tensor b = mixed->forward(perturb_from(x, 1, 8), mask).x[1].slice(1, 0, 7);
  EXPECT_GT((a - b).abs().max().item<double>(), 1e-6);
  // ...and nothing else: without the channel share (alpha = 1) they change nothing.
  TransformerBlock pure = random_block(block_options(1, 1.0));
  EXPECT_TRUE(torch::equal(pure->forward(x, mask).x[1].slice(1, 0, 7),
                           pure->forward(perturb_from(x, 1, 8), mask).x[1].slice(1, 0, 7)));
}

TEST(MaskLeaks, BranchBlockReadsOnlyTheFirstPaddedStep) {
  // Max-pool skip and depthwise convolutions (kernel 3, stride 2) read one step past
  // the last valid one; attention masks padded keys and values.
  TransformerBlock blk = random_block(block_options(2, 0.8));
  EXPECT_FALSE(blk->channel_attn);
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({2, 16, 16}, torch::kDouble);
  const int64_t len = 7;  // valid outputs 0..3; output 3 reads steps 5, 6, 7
  const at::Tensor mask = length_mask({16, len}, 16);
  const at::Tensor a = blk->forward(x, mask).x[1].slice(1, 0, 4);
  EXPECT_TRUE(torch::equal(a, blk->forward(perturb_from(x, 1, len + 1), mask).x[1].slice(1, 0, 4)));
  EXPECT_FALSE(torch::equal(a, blk->forward(perturb_from(x, 1, len), mask).x[1].slice(1, 0, 4)));
}

TEST(MaskLeaks, XLNetValidOutputsIgnorePaddedStepsWhichStillSeeValidOnes) {
  XLNetOptions o;
  o.d_model = 16;
  o.n_head = 2;
  o.d_head = 8;
  o.d_inner = 32;
  torch::manual_seed(5);
  XLNetModel xl(o);
  xl->to(torch::kDouble);
  xl->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({2, 16, 10}, torch::kDouble);
  const at::Tensor mask = length_mask({10, 6}, 10);
  const at::Tensor a = xl->forward(x, mask);
  const at::Tensor b = xl->forward(perturb_from(x, 1, 6), mask);
  EXPECT_LT((a[1].slice(1, 0, 6) - b[1].slice(1, 0, 6)).abs().max().item<double>(), 1e-12);
  // Padded steps are not masked on output and see the valid keys: changing only the
  // valid steps changes them.
  const at::Tensor c = xl->forward(perturb(x, 1, 0, 6), mask);
  EXPECT_GT((a[1].slice(1, 6) - c[1].slice(1, 6)).abs().max().item<double>(), 1e-6);
  EXPECT_GT(a[1].slice(1, 6).abs().min().item<double>(), 0.0);
}

}  // namespace
}  // namespace asl::model
