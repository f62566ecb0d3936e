// The learning-rate schedule and the model EMA against the reference's values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "train/ema.h"
#include "train/schedule.h"

namespace asl::train {
namespace {

config::OptConfig opt_config() {
  config::OptConfig o;
  o.learning_rate = 1e-4;
  o.epochs = 10;
  o.warmup_epochs = 5;
  return o;
}

TEST(LrSchedule, MatchesTheReferenceChainableForm) {
  // reference: LinearWarmupCosineAnnealingLR(AdamW(lr=1e-4), 15, 45) stepped per iteration
  // (3 iterations per epoch, 5 warm-up + 10 epochs); values printed by Python.
  LrSchedule s(opt_config(), 3);
  std::vector<double> lrs;
  for (int i = 0; i < 46; ++i) {
    lrs.push_back(s.lr());
    s.step();
  }
  EXPECT_EQ(lrs[0], 0.0);
  EXPECT_EQ(lrs[1], 7.1428571428571436e-06);
  EXPECT_EQ(lrs[2], 1.4285714285714287e-05);
  EXPECT_EQ(lrs[14], 0.00010000000000000003);
  EXPECT_EQ(lrs[15], 0.0001);
  EXPECT_EQ(lrs[16], 9.972612215893683e-05);
  EXPECT_DOUBLE_EQ(lrs[30], 5.000500000000001e-05);
  EXPECT_DOUBLE_EQ(lrs[44], 2.838778410631714e-07);
  EXPECT_DOUBLE_EQ(lrs[45], 1e-08);
}

TEST(LrSchedule, CosinePartEqualsTheClosedForm) {
  LrSchedule s(opt_config(), 7);
  const double w = 35, m = 105, base = 1e-4, eta = 1e-8;
  for (int i = 0; i <= 105; ++i) {
    if (i > w) {
      const double closed = eta + 0.5 * (base - eta) * (1 + std::cos(M_PI * (i - w) / (m - w)));
      EXPECT_NEAR(s.lr(), closed, 1e-15) << i;
    } else if (i > 0 && i < w) {
      EXPECT_NEAR(s.lr(), i * base / (w - 1), 1e-18) << i;
    }
    s.step();
  }
}

TEST(ModelEma, UpdatesLikeTheReference) {
  torch::nn::Linear lin(3, 2);
  ModelEma ema(*lin, 0.9);
  const at::Tensor w0 = lin->weight.detach().clone();
  {
    torch::NoGradGuard g;
    lin->weight.add_(1.0);
  }
  ema.update(*lin);
  // e = 0.9 * w0 + 0.1 * (w0 + 1), in float32 as the reference's tensor ops
  const at::Tensor expected = 0.9 * w0 + (1.0 - 0.9) * (w0 + 1.0);
  EXPECT_TRUE(torch::equal(ema.values()[0].second, expected));
  EXPECT_EQ(ema.values()[0].first, "weight");
  torch::nn::Linear other(3, 2);
  ema.copy_to(*other);
  EXPECT_TRUE(torch::equal(other->weight, expected));
}

}  // namespace
}  // namespace asl::train
