// The reference's parameter groups (src/train/optimizer.h) on the real module tree.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <set>

#include "model/asl_model.h"
#include "train/optimizer.h"

namespace asl::train {
namespace {

bool has(const std::vector<std::string>& v, const std::string& name) {
  return std::find(v.begin(), v.end(), name) != v.end();
}

TEST(ParamGroups, FollowTheReferenceRules) {
  const config::Config cfg = config::load_config(std::string(ASL_SOURCE_DIR) + "/configs/demo.yaml");
  model::PtTransformer net(cfg);
  const ParamGroups g = make_param_groups(*net);
  // group 0 of the reference: conv / linear weights, XLNet projections
  for (const char* n : {"backbone.embd.0.conv.weight", "backbone.proj.1.conv.weight",
                        "backbone.stem.0.attn.query.weight", "backbone.branch.2.mlp.0.weight",
                        "backbone.stem.1.channel_attn.attn.qkv.weight",
                        "backbone.xlnet.layer.0.rel_attn.q", "backbone.xlnet.layer.0.rel_attn.r",
                        "backbone.xlnet.layer.0.ff.layer_1.weight", "cls_head.head.0.conv.weight",
                        "reg_head.offset_head.conv.weight"}) {
    EXPECT_TRUE(has(g.decay_names, n)) << n;
  }
  // group 2 ("neither" set, decayed too): ChannelBlock nn.LayerNorm weights and mu / sigma
  for (const char* n : {"backbone.stem.0.channel_attn.norm2.weight", "mu", "sigma",
                        "mu_reg_left", "sigma_reg_right"}) {
    EXPECT_TRUE(has(g.decay_names, n)) << n;
  }
  // group 1: biases, channel LayerNorms, XLNet layer norms, Scale / AffineDropPath
  for (const char* n : {"backbone.embd_norm.0.weight", "backbone.embd_norm.0.bias",
                        "backbone.stem.0.ln1.weight", "backbone.stem.0.attn.query_norm.weight",
                        "backbone.stem.0.channel_attn.norm2.bias",
                        "backbone.xlnet.layer.0.rel_attn.layer_norm.weight",
                        "backbone.xlnet.layer.0.rel_attn.r_w_bias",
                        "backbone.xlnet.layer.0.ff.layer_1.bias",
                        "backbone.stem.0.drop_path_attn.scale", "reg_head.scale.3.scale",
                        "cls_head.cls_head.conv.bias"}) {
    EXPECT_TRUE(has(g.no_decay_names, n)) << n;
  }
  // every parameter exactly once
  std::set<std::string> all(g.decay_names.begin(), g.decay_names.end());
  for (const auto& n : g.no_decay_names) EXPECT_TRUE(all.insert(n).second) << n << " in both groups";
  EXPECT_EQ(all.size(), net->named_parameters().size());
}

TEST(Optimizer, AdamWGroupsCarryTheirWeightDecay) {
  const config::Config cfg = config::load_config(std::string(ASL_SOURCE_DIR) + "/configs/demo.yaml");
  model::PtTransformer net(cfg);
  auto opt = make_optimizer(*net, cfg.opt);
  ASSERT_EQ(opt->param_groups().size(), 2u);
  EXPECT_DOUBLE_EQ(static_cast<torch::optim::AdamWOptions&>(opt->param_groups()[0].options()).weight_decay(), 0.05);
  EXPECT_DOUBLE_EQ(static_cast<torch::optim::AdamWOptions&>(opt->param_groups()[1].options()).weight_decay(), 0.0);
  set_learning_rate(*opt, 3e-5);
  for (auto& g : opt->param_groups()) {
    EXPECT_DOUBLE_EQ(static_cast<torch::optim::AdamWOptions&>(g.options()).lr(), 3e-5);
  }
}

}  // namespace
}  // namespace asl::train
