// The whole network: sizes of the committed configs, forward and backward passes,
// initial values, train/eval behaviour, the level-0 / XLNet wiring, the fpn neck and
// the parameter summary.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/summary.h"
#include "network_fixtures.h"

namespace asl::model {
namespace {

using testing::cached_model;
using testing::length_mask;
using testing::load;
using testing::max_abs_diff;

int64_t trainable_values(PtTransformer& model) {
  int64_t n = 0;
  for (const auto& p : model->parameters()) {
    if (p.requires_grad()) n += p.numel();
  }
  return n;
}

const std::set<std::string> kGaussians = {"mu",           "sigma",          "mu_reg_left",
                                          "sigma_reg_left", "mu_reg_right", "sigma_reg_right"};

TEST(NetworkSize, BaselineHasTheReferencesLiveValueCount) {
  PtTransformer model = cached_model("ego4d_asl.yaml");
  EXPECT_EQ(trainable_values(model), 222065422);  // live values only (docs/model.md)
}

TEST(NetworkSize, DemoHasTheReferencesLiveValueCount) {
  PtTransformer model = cached_model("demo.yaml");
  EXPECT_EQ(trainable_values(model), 1314240);
}

TEST(NetworkSize, SummaryListsTheTreeAndTheTotal) {
  const ParameterSummary s = summarize_parameters(load("demo.yaml"));
  EXPECT_EQ(s.trainable, 1314240);
  EXPECT_NE(s.text.find("trainable values: 1,314,240"), std::string::npos) << s.text;
  EXPECT_NE(s.text.find("backbone (ConvTransformerBackbone)"), std::string::npos) << s.text;
  EXPECT_NE(s.text.find("xlnet (XLNetModel)"), std::string::npos) << s.text;
  EXPECT_NE(s.text.find("mu [8, 1]"), std::string::npos) << s.text;
}

// Every committed config builds; a forward pass gives the documented shapes and a
// backward pass reaches every parameter except the Gaussians (used by the targets only):
// nothing dead is built.
void forward_backward(const std::string& name, int64_t B, int64_t T) {
  SCOPED_TRACE(name);
  PtTransformer model = cached_model(name);
  model->train();
  const config::ModelConfig& cfg = model->config();
  int64_t channels = 0;
  for (int64_t d : cfg.input_dim.values) channels += d;
  torch::manual_seed(1);
  const at::Tensor feats = torch::randn({B, channels, T});
  std::vector<int64_t> lengths(static_cast<std::size_t>(B), T);
  lengths.back() = T * 3 / 4;
  const at::Tensor mask = length_mask(lengths, T);

  model->zero_grad();
  at::Tensor query, query_mask;
  if (cfg.text_dim > 0) {  // the NLQ network: tokens of two lengths
    query = torch::randn({B, cfg.text_dim, 7});
    std::vector<int64_t> tokens(static_cast<std::size_t>(B), 7);
    tokens.back() = 3;
    query_mask = length_mask(tokens, 7);
  }
  const NetworkOutputs out = model->forward(feats, mask, query, query_mask);
  const auto strides = cfg.fpn_strides();
  ASSERT_EQ(out.cls_logits.size(), strides.size());
  at::Tensor loss = torch::zeros({});
  for (std::size_t l = 0; l < strides.size(); ++l) {
    const int64_t Tl = T / strides[l];
    EXPECT_EQ(out.cls_logits[l].sizes(), (std::vector<int64_t>{B, Tl, cfg.num_classes}));
    EXPECT_EQ(out.offsets[l].sizes(), (std::vector<int64_t>{B, Tl, 2}));
    EXPECT_EQ(out.masks[l].sizes(), (std::vector<int64_t>{B, Tl}));
    EXPECT_EQ(out.masks[l].scalar_type(), torch::kBool);
    EXPECT_EQ(out.points[l].sizes(), (std::vector<int64_t>{Tl, 4}));
    EXPECT_TRUE(torch::isfinite(out.cls_logits[l]).all().item<bool>());
    loss = loss + out.cls_logits[l].sum() + out.offsets[l].sum();
  }
  loss.backward();
  for (const auto& p : model->named_parameters()) {
    if (kGaussians.count(p.key())) {
      EXPECT_FALSE(p.value().grad().defined()) << p.key();
    } else {
      ASSERT_TRUE(p.value().grad().defined()) << p.key() << " got no gradient";
      EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
    }
  }
  model->zero_grad();
}

// T is the smallest length every strided level divides (2^(#branch blocks)).
TEST(EveryConfig, BaselineRunsForwardAndBackward) { forward_backward("ego4d_asl.yaml", 1, 512); }
TEST(EveryConfig, TwoStreamAslRunsForwardAndBackward) {
  forward_backward("ego4d_asl_internvideo_egovlp.yaml", 1, 512);
}
TEST(EveryConfig, ActionFormerRunsForwardAndBackward) {
  forward_backward("ego4d_actionformer.yaml", 1, 128);
}
TEST(EveryConfig, DemoRunsForwardAndBackward) { forward_backward("demo.yaml", 2, 64); }
TEST(EveryConfig, NlqDemoRunsForwardAndBackward) { forward_backward("nlq_demo.yaml", 2, 64); }
TEST(EveryConfig, NlqBaselineRunsForwardAndBackward) {
  forward_backward("ego4d_asl_nlq.yaml", 1, 512);
}

TEST(EveryConfig, AllCommittedConfigsAreCovered) {
  const std::set<std::string> covered = {"ego4d_asl.yaml", "ego4d_asl_internvideo_egovlp.yaml",
                                         "ego4d_actionformer.yaml", "demo.yaml",
                                         "nlq_demo.yaml", "ego4d_asl_nlq.yaml"};
  for (const auto& entry : std::filesystem::directory_iterator(testing::config_path(""))) {
    if (entry.path().extension() == ".yaml") {
      EXPECT_TRUE(covered.count(entry.path().filename().string())) << entry.path();
    }
  }
}

TEST(NetworkInit, LikeTheReference) {
  PtTransformer model = cached_model("demo.yaml");
  EXPECT_TRUE(torch::equal(model->mu(), torch::zeros({8, 1})));
  EXPECT_TRUE(torch::equal(model->sigma(), torch::ones({8, 1})));
  EXPECT_TRUE(torch::equal(model->mu_reg_left(), torch::full({8, 1}, -0.5)));
  EXPECT_TRUE(torch::equal(model->sigma_reg_left(), torch::ones({8, 1})));
  EXPECT_TRUE(torch::equal(model->mu_reg_right(), torch::full({8, 1}, 0.5)));
  EXPECT_TRUE(torch::equal(model->sigma_reg_right(), torch::ones({8, 1})));
  const float prior = static_cast<float>(-std::log((1 - 0.01) / 0.01));
  for (const auto& p : model->named_parameters()) {
    const std::string& n = p.key();
    const at::Tensor v = p.value().detach();
    if (n == "cls_head.cls_head.conv.bias") {
      EXPECT_TRUE(torch::equal(v, torch::full({8}, prior))) << n;
    } else if (n.size() > 5 && n.compare(n.size() - 5, 5, ".bias") == 0 &&
               n.find("xlnet") == std::string::npos) {
      EXPECT_EQ(v.abs().sum().item<double>(), 0.0) << n;  // convs, linears, LayerNorms
    } else if (n.find("reg_head.scale.") == 0) {
      EXPECT_EQ(v.item<float>(), 1.0f) << n;
    } else if (n.find("drop_path") != std::string::npos) {
      EXPECT_TRUE(torch::equal(v, torch::full_like(v, 1e-4f))) << n;
    }
  }
}

config::Config demo_without_dropout() {
  config::Config cfg = load("demo.yaml");
  cfg.model.train_cfg.dropout = 0.0;
  cfg.model.train_cfg.droppath = 0.0;
  cfg.model.xl.dropout = 0.0;
  return cfg;
}

TEST(NetworkModes, DropoutAndDropPathActInTrainingOnly) {
  PtTransformer model = cached_model("demo.yaml");
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({2, 96, 64});
  const at::Tensor mask = length_mask({64, 40}, 64);
  model->eval();
  const NetworkOutputs e1 = model->forward(x, mask), e2 = model->forward(x, mask);
  model->train();
  const NetworkOutputs t1 = model->forward(x, mask), t2 = model->forward(x, mask);
  model->eval();
  EXPECT_TRUE(torch::equal(e1.cls_logits[0], e2.cls_logits[0]));
  EXPECT_FALSE(torch::equal(t1.cls_logits[0], t2.cls_logits[0]));
  EXPECT_FALSE(torch::equal(t1.cls_logits[0], e1.cls_logits[0]));

  // With every rate at zero, training computes what evaluation does.
  torch::manual_seed(0);
  PtTransformer plain(demo_without_dropout());
  for (const auto& p : plain->named_parameters()) {
    EXPECT_EQ(p.key().find("drop_path"), std::string::npos) << p.key();
  }
  plain->train();
  const NetworkOutputs a = plain->forward(x, mask);
  plain->eval();
  const NetworkOutputs b = plain->forward(x, mask);
  for (std::size_t l = 0; l < a.cls_logits.size(); ++l) {
    EXPECT_TRUE(torch::equal(a.cls_logits[l], b.cls_logits[l])) << l;
    EXPECT_TRUE(torch::equal(a.offsets[l], b.offsets[l])) << l;
  }
}

TEST(NetworkWiring, XLNetFeedsTheBranchWhileLevelZeroKeepsTheStemOutput) {
  PtTransformer model = cached_model("demo.yaml");
  model->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({2, 96, 64});
  const at::Tensor mask = length_mask({64, 50}, 64);
  const std::vector<Masked> levels = model->backbone->forward(x, mask);
  ASSERT_EQ(levels.size(), 6u);
  const at::Tensor after_xl = model->backbone->xlnet->forward(levels[0].x, levels[0].mask);
  EXPECT_FALSE(torch::allclose(after_xl, levels[0].x));
  auto* branch0 = model->backbone->branch[0]->as<TransformerBlockImpl>();
  const Masked level1 = branch0->forward(after_xl, levels[0].mask);
  EXPECT_TRUE(torch::equal(level1.x, levels[1].x));
  EXPECT_TRUE(torch::equal(level1.mask, levels[1].mask));
}

TEST(NetworkWiring, WithoutXLNetStemBlockZeroRunsAgainBeforeTheBranch) {
  config::Config cfg = load("demo.yaml");
  cfg.model.use_xl = false;
  torch::manual_seed(0);
  PtTransformer model(cfg);
  for (const auto& p : model->named_parameters()) {
    EXPECT_EQ(p.key().find("xlnet"), std::string::npos) << p.key();
  }
  model->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({2, 96, 64});
  const at::Tensor mask = length_mask({64, 50}, 64);
  const std::vector<Masked> levels = model->backbone->forward(x, mask);
  auto* stem0 = model->backbone->stem[0]->as<TransformerBlockImpl>();
  auto* branch0 = model->backbone->branch[0]->as<TransformerBlockImpl>();
  const Masked again = stem0->forward(levels[0].x, levels[0].mask);
  EXPECT_TRUE(torch::equal(branch0->forward(again.x, again.mask).x, levels[1].x));
}

TEST(PositionEncoding, CutInTrainingResizedAtEvaluationForLongInputs) {
  PtTransformer model = cached_model("demo.yaml");  // max_seq_len 256, 96 channels
  auto& backbone = *model->backbone;
  const at::Tensor table = sinusoid_encoding(256, 96) / std::pow(96.0, 0.5);
  model->train();
  EXPECT_TRUE(torch::equal(backbone.position_encoding(100, torch::kFloat), table.slice(2, 0, 100)));
  EXPECT_THROW(backbone.position_encoding(257, torch::kFloat), Error);
  model->eval();
  EXPECT_TRUE(torch::equal(backbone.position_encoding(100, torch::kFloat), table.slice(2, 0, 100)));
  EXPECT_TRUE(torch::equal(backbone.position_encoding(256, torch::kFloat), table));
  // Linear, align_corners=False: step i of 512 reads (i + 0.5) / 2 - 0.5 of the table.
  const at::Tensor pe = backbone.position_encoding(512, torch::kDouble);
  const at::Tensor t = table.to(torch::kDouble);
  for (int64_t i : {0, 1, 2, 3, 255, 300, 510, 511}) {
    const double src = std::max((i + 0.5) / 2 - 0.5, 0.0);
    const auto lo = static_cast<int64_t>(src);
    const int64_t hi = std::min<int64_t>(lo + 1, 255);
    const double w = src - lo;
    const at::Tensor expected = t[0].select(1, lo) * (1 - w) + t[0].select(1, hi) * w;
    EXPECT_LT(max_abs_diff(pe[0].select(1, i), expected), 1e-7) << i;
  }
  // The whole backbone accepts the long input at evaluation.
  torch::NoGradGuard no_grad;
  EXPECT_EQ(backbone.forward(torch::randn({1, 96, 512}), length_mask({500}, 512))[0].x.size(2), 512);
}

TEST(NetworkConfig, ShapesAndErrors) {
  config::Config cfg = load("demo.yaml");
  cfg.model.fpn_dim = 64;
  try {
    PtTransformer model(cfg);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.fpn_dim"), std::string::npos) << e.what();
  }
  PtTransformer model = cached_model("demo.yaml");
  EXPECT_THROW(model->forward(torch::randn({1, 96, 48}), length_mask({48}, 48)), Error);
  const auto pts = model->points(64);
  ASSERT_EQ(pts.size(), 6u);
  EXPECT_EQ(pts[5].sizes(), (std::vector<int64_t>{2, 4}));
  EXPECT_TRUE(torch::equal(pts[5], torch::tensor({0.f, 32.f, 10000.f, 32.f, 32.f, 32.f, 10000.f, 32.f})
                                       .view({2, 4})));
}

TEST(NetworkPrecision, RunsInDouble) {
  torch::manual_seed(0);
  PtTransformer model(load("demo.yaml"));
  model->to(torch::kDouble);
  model->eval();
  torch::NoGradGuard no_grad;
  const NetworkOutputs out =
      model->forward(torch::randn({1, 96, 64}, torch::kDouble), length_mask({60}, 64));
  EXPECT_EQ(out.cls_logits[0].scalar_type(), torch::kDouble);
  EXPECT_EQ(out.points[0].scalar_type(), torch::kDouble);
}

// The fpn neck against its definition: 1x1 laterals, a top-down sum with nearest
// upsampling, a depthwise k=3 convolution, each masked, then a LayerNorm.
TEST(FpnNeck, TopDownPathwayMatchesItsDefinition) {
  config::Config cfg = load("demo.yaml");
  cfg.model.fpn_type = "fpn";
  cfg.model.fpn_dim = 32;
  cfg.model.backbone_arch = {2, 2, 2};
  torch::manual_seed(0);
  Neck neck(cfg.model);
  neck->to(torch::kDouble);
  auto params = neck->named_parameters();
  {
    torch::NoGradGuard no_grad;
    for (auto& p : params) p.value().add_(torch::randn_like(p.value()) * 0.1);
  }
  EXPECT_EQ(params["lateral_convs.0.conv.weight"].sizes(), (std::vector<int64_t>{32, 96, 1}));
  EXPECT_EQ(params["fpn_convs.2.conv.weight"].sizes(), (std::vector<int64_t>{32, 1, 3}));
  EXPECT_FALSE(params.contains("fpn_convs.0.conv.bias"));  // LayerNorm follows
  EXPECT_TRUE(params.contains("fpn_norms.2.weight"));

  torch::NoGradGuard no_grad;
  std::vector<Masked> levels;
  for (int64_t l = 0; l < 3; ++l) {
    const int64_t T = 16 >> l;
    levels.push_back({torch::randn({2, 96, T}, torch::kDouble),
                      length_mask({T, (11 + (1 << l) - 1) >> l}, T)});
  }
  const std::vector<Masked> out = neck->forward(levels);
  ASSERT_EQ(out.size(), 3u);
  std::vector<at::Tensor> lat;
  for (int64_t l = 0; l < 3; ++l) {
    const std::string s = std::to_string(l);
    lat.push_back(torch::conv1d(levels[l].x, params["lateral_convs." + s + ".conv.weight"]) *
                  levels[l].mask);
  }
  for (int64_t l = 2; l > 0; --l) lat[l - 1] = lat[l - 1] + lat[l].repeat_interleave(2, 2);
  for (int64_t l = 0; l < 3; ++l) {
    const std::string s = std::to_string(l);
    at::Tensor y = torch::conv1d(lat[l], params["fpn_convs." + s + ".conv.weight"], {}, 1, 1, 1, 32) *
                   levels[l].mask;
    const at::Tensor mu = y.mean(1, true);
    const at::Tensor var = (y - mu).pow(2).mean(1, true);
    y = (y - mu) / (var + 1e-5).sqrt() * params["fpn_norms." + s + ".weight"] +
        params["fpn_norms." + s + ".bias"];
    EXPECT_LT(max_abs_diff(out[l].x, y), 1e-10) << l;
    EXPECT_TRUE(torch::equal(out[l].mask, levels[l].mask));
  }
}

TEST(FpnNeck, FullNetworkRunsForwardAndBackward) {
  config::Config cfg = load("demo.yaml");
  cfg.model.fpn_type = "fpn";
  torch::manual_seed(0);
  PtTransformer model(cfg);
  const NetworkOutputs out = model->forward(torch::randn({2, 96, 64}), length_mask({64, 33}, 64));
  at::Tensor loss = torch::zeros({});
  for (const auto& t : out.cls_logits) loss = loss + t.sum();
  loss.backward();
  for (const auto& p : model->named_parameters()) {
    if (!kGaussians.count(p.key()) && p.key().find("reg_head") == std::string::npos) {
      EXPECT_TRUE(p.value().grad().defined()) << p.key();
    }
  }
}

}  // namespace
}  // namespace asl::model
