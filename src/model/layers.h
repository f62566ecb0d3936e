// Small building blocks of the ASL network (reference libs/modeling/blocks.py), each
// registered under the reference's state-dict names: MaskedConv1D (`conv.weight`),
// the channel LayerNorm (`weight`, `bias` of shape [1,C,1]), Scale (`scale`, a scalar)
// and AffineDropPath (`scale` [1,C,1]).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace asl::model {

// A feature map [B,C,T] with its validity mask [B,1,T] (bool), as the reference's
// blocks pass them along.
struct Masked {
  at::Tensor x;
  at::Tensor mask;
};

// Conv1d with padding kernel/2 whose output is multiplied by the mask, the mask being
// downsampled by taking every stride-th step (the reference's nearest interpolation).
// The bias, when present, starts at zero.
class MaskedConv1DImpl : public torch::nn::Module {
 public:
  MaskedConv1DImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                   int64_t stride = 1, int64_t groups = 1, bool bias = true);
  Masked forward(const at::Tensor& x, const at::Tensor& mask);

  torch::nn::Conv1d conv{nullptr};

 private:
  int64_t stride_;
};
TORCH_MODULE(MaskedConv1D);

// LayerNorm over the channels of a [B,C,T] tensor (biased variance, eps 1e-5), with the
// reference's operation order so float results match it.
class ChannelLayerNormImpl : public torch::nn::Module {
 public:
  explicit ChannelLayerNormImpl(int64_t num_channels, double eps = 1e-5);
  at::Tensor forward(const at::Tensor& x);

  at::Tensor weight, bias;

 private:
  double eps_;
};
TORCH_MODULE(ChannelLayerNorm);

// A learnable scalar multiplying the regression outputs of one pyramid level.
class ScaleImpl : public torch::nn::Module {
 public:
  explicit ScaleImpl(double init_value = 1.0);
  at::Tensor forward(const at::Tensor& x);

  at::Tensor scale;
};
TORCH_MODULE(Scale);

// Stochastic depth per sample (training only): each sample is kept with probability
// 1 - p and then divided by 1 - p, as floor(1 - p + U[0,1)).
at::Tensor drop_path(const at::Tensor& x, double drop_prob, bool training);

// DropPath after a learnable per-channel scale (init 1e-4).
class AffineDropPathImpl : public torch::nn::Module {
 public:
  AffineDropPathImpl(int64_t num_dim, double drop_prob, double init_scale_value = 1e-4);
  at::Tensor forward(const at::Tensor& x);

  at::Tensor scale;

 private:
  double drop_prob_;
};
TORCH_MODULE(AffineDropPath);

// Dropout that is a no-op outside training and at p = 0 (no random numbers drawn).
at::Tensor maybe_dropout(const at::Tensor& x, double p, bool training);

// The reference's sinusoid table [1, d_hid, n_position] in float32: sin for even
// channels, cos for odd, angle t / 10000^(2*floor(c/2)/d_hid), computed in double and
// rounded once (as numpy then torch.FloatTensor do).
at::Tensor sinusoid_encoding(int64_t n_position, int64_t d_hid);

}  // namespace asl::model
