// Mixed precision (opt.amp): the autocast scope, the float16 loss scaler, and a bf16
// training run on the CPU against the same run in float32.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <ATen/autocast_mode.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "common/test_util.h"
#include "common/wave_source.h"
#include "core/fs.h"
#include "data/dataset_fixtures.h"
#include "train/precision.h"
#include "train/trainer.h"

namespace asl::train {
namespace {

using asl::testing::WaveSource;

TEST(Autocast, BFloat16OnTheCpuInsideTheScopeOnly) {
  const at::Tensor a = torch::randn({4, 8});
  const at::Tensor b = torch::randn({8, 3});
  {
    const AutocastScope scope(c10::DeviceType::CPU, at::kBFloat16);
    EXPECT_EQ(torch::mm(a, b).scalar_type(), at::kBFloat16);
    {
      const AutocastScope off(c10::DeviceType::CPU, at::kFloat);  // "off" changes nothing
      EXPECT_EQ(torch::mm(a, b).scalar_type(), at::kBFloat16);
    }
  }
  EXPECT_EQ(torch::mm(a, b).scalar_type(), at::kFloat);
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
}

TEST(Autocast, AmpNamesAndTheirTypes) {
  EXPECT_EQ(amp_dtype("off"), at::kFloat);
  EXPECT_EQ(amp_dtype("bf16"), at::kBFloat16);
  EXPECT_EQ(amp_dtype("fp16"), at::kHalf);
  EXPECT_HAS(asl::testing::error_of([] { amp_dtype("fp8"); }), "opt.amp");
}

TEST(LossScaler, UnscalesFindsOverflowHalvesAndGrows) {
  LossScaler scaler(1024.0, /*growth_interval=*/3);
  at::Tensor w = torch::zeros({3}, torch::requires_grad());
  at::Tensor unused = torch::zeros({2}, torch::requires_grad());  // no gradient: skipped
  (w * torch::tensor({1.0f, 2.0f, 3.0f})).sum().mul(scaler.scale()).backward();
  EXPECT_TRUE(scaler.unscale({w, unused}));
  EXPECT_TRUE(w.grad().allclose(torch::tensor({1.0f, 2.0f, 3.0f})));

  w.mutable_grad() = torch::tensor({1.0f, INFINITY, 0.0f});
  EXPECT_FALSE(scaler.unscale({w}));
  scaler.update(/*found_inf=*/true);
  EXPECT_EQ(scaler.scale(), 512.0);
  scaler.update(false);
  scaler.update(false);
  EXPECT_EQ(scaler.scale(), 512.0);
  scaler.update(false);  // the third clean step in a row
  EXPECT_EQ(scaler.scale(), 1024.0);
  scaler.update(false);
  scaler.update(true);  // an overflow resets the count
  scaler.update(false);
  scaler.update(false);
  EXPECT_EQ(scaler.scale(), 512.0);
}

config::Config tiny_config(const std::string& amp) {
  return config::load_config(std::string(ASL_SOURCE_DIR) + "/tests/model/golden/config.yaml",
                             {"loader.batch_size=2", "loader.num_workers=0", "opt.epochs=1",
                              "opt.warmup_epochs=1", "init_rand_seed=7", "dist.device=cpu",
                              "opt.amp=" + amp});
}

std::vector<nlohmann::json> train_steps(const std::string& amp) {
  const std::string dir = ::testing::TempDir() + "/asl_precision_" + amp;
  std::filesystem::remove_all(dir);
  TrainerOptions o;
  o.output_dir = dir;
  o.stop_after_epochs = 1;
  Trainer t(tiny_config(amp), data::testing::make_clips(12, WaveSource::kSteps / 1.875, 1.875),
            std::make_shared<WaveSource>(), o);
  t.run();
  for (const auto& p : t.step().model()->parameters()) {
    EXPECT_EQ(p.scalar_type(), at::kFloat);  // the weights stay float32
  }
  std::vector<nlohmann::json> out;
  std::istringstream in(read_file(dir + "/steps.jsonl"));
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// bf16 autocast changes the numbers (the forward ran in bfloat16) but not by much: the first
// step's losses, before any update, within bfloat16's few per cent of float32's.
TEST(Amp, BFloat16TrainsOnTheCpuCloseToFloat32) {
  const auto fp32 = train_steps("off");
  const auto bf16 = train_steps("bf16");
  ASSERT_EQ(fp32.size(), 4u);
  ASSERT_EQ(bf16.size(), 4u);
  for (const auto& s : bf16) {
    EXPECT_FALSE(s.value("skipped", false)) << s.dump();
    EXPECT_TRUE(std::isfinite(s["final_loss"].get<double>())) << s.dump();
  }
  for (const char* key : {"cls_loss", "reg_loss", "final_loss"}) {
    const double a = fp32[0][key].get<double>(), b = bf16[0][key].get<double>();
    EXPECT_NEAR(b, a, 0.05 * std::abs(a)) << key;
  }
  EXPECT_NE(fp32[0]["final_loss"].get<double>(), bf16[0]["final_loss"].get<double>());
  EXPECT_EQ(fp32[0]["num_pos"], bf16[0]["num_pos"]);  // the targets do not depend on it
}

TEST(Amp, Float16NeedsACudaDevice) {
  const std::string dir = ::testing::TempDir() + "/asl_precision_fp16";
  std::filesystem::remove_all(dir);
  TrainerOptions o;
  o.output_dir = dir;
  const std::string e = asl::testing::error_of([&] {
    Trainer t(tiny_config("fp16"), data::testing::make_clips(12, WaveSource::kSteps / 1.875, 1.875),
              std::make_shared<WaveSource>(), o);
  });
  EXPECT_HAS(e, "opt.amp: fp16 needs a CUDA device");
  EXPECT_HAS(e, "use opt.amp: bf16");
}

TEST(Amp, UnknownValueIsRefusedAtLoad) {
  EXPECT_HAS(asl::testing::error_of([] { tiny_config("half"); }), "opt.amp");
}

}  // namespace
}  // namespace asl::train
