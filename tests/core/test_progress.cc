// Progress lines: the text with rate and ETA, the same on a terminal and in a log.
#include <gtest/gtest.h>

#include "core/progress.h"

namespace asl {
namespace {

TEST(Progress, DescribesShareRateAndEta) {
  // 120 of 400 in 60 s: 2 per second, 280 left -> 140 s.
  EXPECT_EQ(Progress::describe("train", 120, 400, "steps", 60.0),
            "train: 120/400 steps (30%), 2.00 steps/s, ETA 2m20s");
  // Hours, and an unknown total (no share, no ETA).
  EXPECT_EQ(Progress::describe("pack", 1, 10000, "clips", 1.0),
            "pack: 1/10000 clips (0%), 1.00 clips/s, ETA 2h46m");
  EXPECT_EQ(Progress::describe("synth", 50, 0, "clips", 10.0), "synth: 50 clips, 5.00 clips/s");
  // Nothing done yet: no rate, so no ETA.
  EXPECT_EQ(Progress::describe("inference", 0, 8, "clips", 0.0),
            "inference: 0/8 clips (0%), 0.00 clips/s, ETA ?");
}

}  // namespace
}  // namespace asl
