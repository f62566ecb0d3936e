#include "model/neck.h"

#include <torch/nn/functional/upsampling.h>
#include <torch/nn/modules/linear.h>

#include <string>

#include "core/error.h"

namespace asl::model {

NeckImpl::NeckImpl(const config::ModelConfig& cfg)
    : torch::nn::Module(cfg.fpn_type == "fpn" ? "FPN1D" : "FPNIdentity"),
      fpn_(cfg.fpn_type == "fpn"),
      start_level_(cfg.fpn_start_level),
      scale_factor_(static_cast<double>(cfg.scale_factor)) {
  if (cfg.fpn_type != "fpn" && cfg.fpn_type != "identity") {
    throw Error("model.fpn_type", "unknown neck '" + cfg.fpn_type + "'", "use identity or fpn");
  }
  const int64_t n_embd = cfg.n_embd(), out = cfg.fpn_dim;
  const int64_t levels = static_cast<int64_t>(cfg.backbone_arch.at(2)) + 1;
  if (start_level_ < 0 || start_level_ >= levels) {
    throw Error("model.fpn_start_level", "must be in [0, " + std::to_string(levels) + ")");
  }
  if (!fpn_ && out != n_embd) {
    throw Error("model.fpn_dim", "the identity neck needs fpn_dim equal to the embedding width " +
                                     std::to_string(n_embd) + ", got " + std::to_string(out),
                "set model.fpn_dim to " + std::to_string(n_embd) + " or use fpn_type: fpn");
  }
  if (fpn_) {
    lateral_convs = register_module("lateral_convs", torch::nn::ModuleList());
    fpn_convs = register_module("fpn_convs", torch::nn::ModuleList());
  }
  fpn_norms = register_module("fpn_norms", torch::nn::ModuleList());
  for (int64_t i = start_level_; i < levels; ++i) {
    if (fpn_) {
      lateral_.push_back(MaskedConv1D(n_embd, out, 1, 1, 1, /*bias=*/!cfg.fpn_with_ln));
      lateral_convs->push_back(lateral_.back());
      smooth_.push_back(MaskedConv1D(out, out, 3, 1, /*groups=*/out, /*bias=*/!cfg.fpn_with_ln));
      fpn_convs->push_back(smooth_.back());
    }
    if (cfg.fpn_with_ln) {
      norms_.push_back(ChannelLayerNorm(out));
      fpn_norms->push_back(norms_.back());
    } else {
      norms_.push_back(ChannelLayerNorm(nullptr));
      fpn_norms->push_back(torch::nn::Identity());
    }
  }
}

std::vector<Masked> NeckImpl::forward(const std::vector<Masked>& levels) {
  const std::size_t first = static_cast<std::size_t>(start_level_);
  const std::size_t n = norms_.size();
  if (levels.size() != first + n) {
    throw Error("model", "the neck expects " + std::to_string(first + n) + " levels, got " +
                             std::to_string(levels.size()));
  }
  std::vector<Masked> out;
  if (!fpn_) {
    for (std::size_t i = 0; i < n; ++i) {
      const Masked& level = levels[first + i];
      out.push_back({norms_[i] ? norms_[i]->forward(level.x) : level.x, level.mask});
    }
    return out;
  }

  std::vector<at::Tensor> laterals;
  for (std::size_t i = 0; i < n; ++i) {
    laterals.push_back(lateral_[i]->forward(levels[first + i].x, levels[first + i].mask).x);
  }
  namespace F = torch::nn::functional;
  for (std::size_t i = n - 1; i > 0; --i) {
    laterals[i - 1] = laterals[i - 1] +
                      F::interpolate(laterals[i], F::InterpolateFuncOptions()
                                                      .scale_factor(std::vector<double>{scale_factor_})
                                                      .mode(torch::kNearest));
  }
  for (std::size_t i = 0; i < n; ++i) {
    auto smoothed = smooth_[i]->forward(laterals[i], levels[first + i].mask);
    out.push_back({norms_[i] ? norms_[i]->forward(smoothed.x) : smoothed.x, smoothed.mask});
  }
  return out;
}

}  // namespace asl::model
