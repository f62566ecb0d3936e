// Model EMA (the reference's ModelEma, decay 0.999, no warm-up): after every step each
// parameter's average e <- decay*e + (1-decay)*theta, computed with the same tensor ops as the
// reference so the averages agree bit for bit. Evaluation and checkpoints use these weights.
#pragma once

#include <torch/nn/module.h>

#include <string>
#include <utility>
#include <vector>

namespace asl::train {

class ModelEma {
 public:
  explicit ModelEma(const torch::nn::Module& model, double decay = 0.999);

  void update(const torch::nn::Module& model);
  // Copies the averages into a model of the same architecture (for evaluation).
  void copy_to(torch::nn::Module& model) const;
  // Replaces the averages (a resumed checkpoint).
  void load(const std::vector<std::pair<std::string, at::Tensor>>& values);

  const std::vector<std::pair<std::string, at::Tensor>>& values() const { return values_; }
  double decay() const { return decay_; }

 private:
  std::vector<std::pair<std::string, at::Tensor>> values_;  // name -> average (no grad)
  double decay_;
};

}  // namespace asl::train
