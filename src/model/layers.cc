#include "model/layers.h"

#include <torch/nn/init.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"

namespace asl::model {

MaskedConv1DImpl::MaskedConv1DImpl(int64_t in_channels, int64_t out_channels,
                                   int64_t kernel_size, int64_t stride, int64_t groups,
                                   bool bias)
    : torch::nn::Module("MaskedConv1D"), stride_(stride) {
  if (kernel_size % 2 != 1) {
    throw Error("model", "MaskedConv1D needs an odd kernel size, got " +
                             std::to_string(kernel_size));
  }
  conv = register_module(
      "conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(in_channels, out_channels, kernel_size)
                                    .stride(stride)
                                    .padding(kernel_size / 2)
                                    .groups(groups)
                                    .bias(bias)));
  if (bias) {
    torch::NoGradGuard no_grad;
    conv->bias.zero_();
  }
}

Masked MaskedConv1DImpl::forward(const at::Tensor& x, const at::Tensor& mask) {
  const int64_t T = x.size(2);
  if (T % stride_ != 0) {
    throw Error("model", "a strided layer got " + std::to_string(T) +
                             " steps, not a multiple of its stride " + std::to_string(stride_),
                "pad inputs to a multiple of the model's max_div_factor");
  }
  const at::Tensor out_conv = conv->forward(x);
  // Nearest-neighbour downsampling of the mask by an integer factor keeps every
  // stride-th step.
  const at::Tensor out_mask =
      stride_ > 1 ? mask.slice(/*dim=*/2, 0, T, stride_) : mask;
  return {out_conv * out_mask.to(x.scalar_type()), out_mask};
}

ChannelLayerNormImpl::ChannelLayerNormImpl(int64_t num_channels, double eps)
    : torch::nn::Module("LayerNorm"), eps_(eps) {
  weight = register_parameter("weight", torch::ones({1, num_channels, 1}));
  bias = register_parameter("bias", torch::zeros({1, num_channels, 1}));
}

at::Tensor ChannelLayerNormImpl::forward(const at::Tensor& x) {
  const at::Tensor mu = x.mean({1}, /*keepdim=*/true);
  const at::Tensor res_x = x - mu;
  const at::Tensor sigma = res_x.pow(2).mean({1}, /*keepdim=*/true);
  at::Tensor out = res_x / at::sqrt(sigma + eps_);
  return out * weight + bias;
}

ScaleImpl::ScaleImpl(double init_value) : torch::nn::Module("Scale") {
  scale = register_parameter("scale", torch::tensor(static_cast<float>(init_value)));
}

at::Tensor ScaleImpl::forward(const at::Tensor& x) { return x * scale; }

at::Tensor drop_path(const at::Tensor& x, double drop_prob, bool training) {
  if (drop_prob == 0.0 || !training) return x;
  const double keep_prob = 1.0 - drop_prob;
  std::vector<int64_t> shape(static_cast<std::size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  const at::Tensor keep = (at::rand(shape, x.options()) + keep_prob).floor_();
  return x.div(keep_prob) * keep;
}

AffineDropPathImpl::AffineDropPathImpl(int64_t num_dim, double drop_prob,
                                       double init_scale_value)
    : torch::nn::Module("AffineDropPath"), drop_prob_(drop_prob) {
  scale = register_parameter("scale", init_scale_value * torch::ones({1, num_dim, 1}));
}

at::Tensor AffineDropPathImpl::forward(const at::Tensor& x) {
  return drop_path(scale * x, drop_prob_, is_training());
}

at::Tensor maybe_dropout(const at::Tensor& x, double p, bool training) {
  if (p == 0.0 || !training) return x;
  return at::dropout(x, p, training);
}

at::Tensor sinusoid_encoding(int64_t n_position, int64_t d_hid) {
  at::Tensor table = at::empty({n_position, d_hid}, at::kDouble);
  auto t = table.accessor<double, 2>();
  for (int64_t pos = 0; pos < n_position; ++pos) {
    for (int64_t c = 0; c < d_hid; ++c) {
      const double angle = static_cast<double>(pos) /
                           std::pow(10000.0, 2.0 * static_cast<double>(c / 2) /
                                                 static_cast<double>(d_hid));
      t[pos][c] = c % 2 == 0 ? std::sin(angle) : std::cos(angle);
    }
  }
  return table.to(at::kFloat).unsqueeze(0).transpose(1, 2);
}

}  // namespace asl::model
