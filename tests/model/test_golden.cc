// Parity with the reference: the C++ model, loaded with the weights of
// tests/model/golden/reference.pth.tar, run on the inputs of golden.pt, must reproduce the
// reference's per-level outputs, targets, losses (relative 1e-5) and gradients (1e-4).
// make_golden.py (its README) tells how the files were made; docs/parity.md the results.
//
// Relative error of a tensor: max |actual − expected| / max(max |expected|, floor), in
// double. The floor only matters for tensors that are zero in exact arithmetic: outputs use
// 1e-6; gradients use 1e-4 × the largest gradient of the model, because the gradients of
// the attention key biases (key.bias, key_norm.bias) are exactly zero in exact arithmetic
// (a bias shared by all keys shifts every score of a query equally, and softmax ignores
// that), so the reference's values there (~1e-11) are round-off.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/config.h"
#include "model/asl_model.h"
#include "model/import.h"
#include "model/losses.h"
#include "model/state_dict.h"
#include "model/targets.h"
#include "model/transformer_block.h"

namespace asl::model {
namespace {

const std::string kGolden = std::string(ASL_SOURCE_DIR) + "/tests/model/golden/";
constexpr double kOutputTol = 1e-5;
constexpr double kGradTol = 1e-4;
constexpr double kOutputFloor = 1e-6;

double rel_error(const at::Tensor& actual, const at::Tensor& expected, double floor) {
  EXPECT_EQ(actual.sizes(), expected.sizes());
  if (actual.sizes() != expected.sizes()) return 1e30;
  if (expected.numel() == 0) return 0;
  const at::Tensor a = actual.detach().to(at::kDouble), e = expected.detach().to(at::kDouble);
  const double scale = std::max(e.abs().max().item<double>(), floor);
  return (a - e).abs().max().item<double>() / scale;
}

// Tracks the worst relative error of a group of comparisons and prints it.
struct Worst {
  explicit Worst(std::string w) : what(std::move(w)) {}
  std::string what;
  double error = 0;
  std::string where;
  void add(const std::string& name, double e) {
    if (e >= error) {
      error = e;
      where = name;
    }
  }
  ~Worst() { std::printf("[ golden   ] %-28s max rel. error %.2e (%s)\n", what.c_str(), error, where.c_str()); }
};

// Everything the tests compare, computed once: the model with the golden weights, run on
// the golden inputs in eval mode, its targets, losses and gradients.
struct GoldenRun {
  config::Config cfg;
  std::map<std::string, at::Tensor> golden;
  PtTransformer model{nullptr};
  NetworkOutputs out;
  BatchTargets targets;
  LossValues losses;
  std::vector<at::Tensor> segments, labels;

  const at::Tensor& g(const std::string& name) const {
    const auto it = golden.find(name);
    if (it == golden.end()) throw std::runtime_error("golden.pt has no " + name);
    return it->second;
  }
};

GoldenRun& run() {
  static const std::unique_ptr<GoldenRun> r = [] {
    auto r = std::make_unique<GoldenRun>();
    r->cfg = config::load_config(kGolden + "config.yaml");
    for (auto& [name, t] : read_tensor_dict(kGolden + "golden.pt")) r->golden.emplace(name, t);
    torch::manual_seed(0);
    r->model = PtTransformer(r->cfg);
    const TorchFile ckpt(kGolden + "reference.pth.tar");
    const MappedWeights w = map_reference_weights(ckpt, *ckpt.root().get("state_dict"), "state_dict",
                                                  *r->model, r->cfg.model.use_xl);
    assign_weights(*r->model, w.live);
    r->model->eval();  // dropout and drop path off, as in the reference run

    r->out = r->model->forward(r->g("input.feats"), r->g("input.masks").unsqueeze(1));
    for (int b = 0; b < 2; ++b) {
      r->segments.push_back(r->g("input.segments." + std::to_string(b)));
      r->labels.push_back(r->g("input.labels." + std::to_string(b)));
    }
    const int64_t classes = r->cfg.model.num_classes;
    const ActionSensitivity gauss{r->model->mu(),          r->model->sigma(),
                                  r->model->mu_reg_left(),  r->model->sigma_reg_left(),
                                  r->model->mu_reg_right(), r->model->sigma_reg_right()};
    const BatchTargets t = label_points(r->out.points, r->segments, r->labels, gauss,
                                        target_options(r->cfg.train_cfg, classes));
    // A copy for the comparison: the reference's losses overwrite the weights of negatives.
    r->targets = {t.cls.clone(), t.reg.clone(), t.w_cls.detach().clone(),
                  t.w_left.detach().clone(), t.w_right.detach().clone()};
    LossNormalizer norm(r->cfg.train_cfg.init_loss_norm);
    r->losses = compute_losses(r->out, t, r->labels, norm, loss_options(r->cfg.train_cfg, classes));
    r->model->zero_grad();
    r->losses.final_loss.backward();
    return r;
  }();
  return *r;
}

TEST(Golden, LiveParametersAreTheReferences) {
  GoldenRun& r = run();
  std::set<std::string> reference_live;
  for (const auto& [name, t] : r.golden) {
    if (name.rfind("grad.", 0) == 0) reference_live.insert(name.substr(5));
  }
  std::set<std::string> ours;
  int64_t values = 0;
  for (const auto& p : r.model->named_parameters()) {
    ours.insert(p.key());
    values += p.value().numel();
    EXPECT_EQ(p.value().sizes(), r.g("grad." + p.key()).sizes()) << p.key();
  }
  EXPECT_EQ(ours, reference_live);
  EXPECT_EQ(values, 120969);  // make_golden.py's count of live values
}

TEST(Golden, PerLevelOutputs) {
  GoldenRun& r = run();
  ASSERT_EQ(r.out.cls_logits.size(), 4u);
  Worst worst("per-level outputs");
  for (size_t l = 0; l < r.out.cls_logits.size(); ++l) {
    const std::string s = std::to_string(l);
    const double e_cls = rel_error(r.out.cls_logits[l], r.g("out.cls_logits." + s), kOutputFloor);
    const double e_off = rel_error(r.out.offsets[l], r.g("out.offsets." + s), kOutputFloor);
    EXPECT_LE(e_cls, kOutputTol) << "cls_logits level " << l;
    EXPECT_LE(e_off, kOutputTol) << "offsets level " << l;
    worst.add("cls_logits." + s, e_cls);
    worst.add("offsets." + s, e_off);
    EXPECT_TRUE(r.out.masks[l].equal(r.g("out.masks." + s))) << "masks level " << l;
    EXPECT_TRUE(r.out.points[l].equal(r.g("out.points." + s))) << "points level " << l;
  }
}

// The same, stage by stage, to tell where a difference starts.
TEST(Golden, BackboneStagesAndNeck) {
  GoldenRun& r = run();
  torch::NoGradGuard no_grad;
  const at::Tensor mask = r.g("input.masks").unsqueeze(1);
  Worst worst("backbone stages and neck");
  auto check = [&](const std::string& name, const at::Tensor& actual, const at::Tensor& expected) {
    const double e = rel_error(actual, expected, kOutputFloor);
    EXPECT_LE(e, kOutputTol) << name;
    worst.add(name, e);
  };

  // stem blocks alone, from the reference's embedding output (PE included)
  at::Tensor x = r.g("backbone.embd_out");
  for (const auto& block : *r.model->backbone->stem) x = block->as<TransformerBlockImpl>()->forward(x, mask).x;
  check("stem", x, r.g("backbone.feats.0"));
  // XLNet alone, from the reference's level-0 features (reference layout [B,T,C])
  check("xlnet", r.model->backbone->xlnet->forward(r.g("backbone.feats.0"), mask),
        r.g("backbone.xlnet_out").permute({0, 2, 1}));

  const std::vector<Masked> levels = r.model->backbone->forward(r.g("input.feats"), mask);
  ASSERT_EQ(levels.size(), 4u);
  for (size_t l = 0; l < levels.size(); ++l) {
    check("backbone.feats." + std::to_string(l), levels[l].x, r.g("backbone.feats." + std::to_string(l)));
  }
  const std::vector<Masked> necked = r.model->neck->forward(levels);
  for (size_t l = 0; l < necked.size(); ++l) {
    check("neck.feats." + std::to_string(l), necked[l].x, r.g("neck.feats." + std::to_string(l)));
  }
}

TEST(Golden, Targets) {
  GoldenRun& r = run();
  Worst worst("targets");
  for (int b = 0; b < 2; ++b) {
    const std::string s = std::to_string(b);
    EXPECT_TRUE(r.targets.cls[b].equal(r.g("target.cls." + s))) << "cls targets of clip " << b;
    const std::pair<const char*, at::Tensor> parts[] = {
        {"offsets", r.targets.reg[b]},        {"weight_cls", r.targets.w_cls[b]},
        {"weight_left", r.targets.w_left[b]}, {"weight_right", r.targets.w_right[b]}};
    for (const auto& [name, actual] : parts) {
      const double e = rel_error(actual, r.g(std::string("target.") + name + "." + s), kOutputFloor);
      EXPECT_LE(e, kOutputTol) << name << " of clip " << b;
      worst.add(std::string(name) + "." + s, e);
    }
  }
}

TEST(Golden, Losses) {
  GoldenRun& r = run();
  Worst worst("losses");
  const std::pair<const char*, at::Tensor> losses[] = {{"cls", r.losses.cls_loss},
                                                       {"reg", r.losses.reg_loss},
                                                       {"al", r.losses.al_loss},
                                                       {"final", r.losses.final_loss}};
  for (const auto& [name, actual] : losses) {
    const double e = rel_error(actual, r.g(std::string("loss.") + name), kOutputFloor);
    EXPECT_LE(e, kOutputTol) << name << "_loss";
    worst.add(name, e);
  }
  EXPECT_EQ(r.losses.num_pos, r.g("loss.num_pos").item<int64_t>());
  EXPECT_NEAR(r.losses.normalizer, r.g("loss.normalizer").item<double>(), 1e-12);
}

TEST(Golden, Gradients) {
  GoldenRun& r = run();
  double largest = 0;
  for (const auto& [name, t] : r.golden) {
    if (name.rfind("grad.", 0) == 0) largest = std::max(largest, t.abs().max().item<double>());
  }
  const double floor = 1e-4 * largest;
  Worst worst("gradients");
  Worst nonzero("gradients above the floor");  // compared at their own scale
  for (const auto& p : r.model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key() << " got no gradient";
    const at::Tensor& expected = r.g("grad." + p.key());
    const double e = rel_error(p.value().grad(), expected, floor);
    EXPECT_LE(e, kGradTol) << p.key();
    worst.add(p.key(), e);
    if (expected.abs().max().item<double>() >= floor) nonzero.add(p.key(), e);
  }
}

}  // namespace
}  // namespace asl::model
