#include "model/transformer_block.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>

namespace asl::model {
namespace {

torch::nn::Conv1d pointwise_conv(int64_t in, int64_t out) {
  torch::nn::Conv1d conv(torch::nn::Conv1dOptions(in, out, 1));
  torch::NoGradGuard no_grad;
  conv->bias.zero_();
  return conv;
}

}  // namespace

TransformerBlockImpl::TransformerBlockImpl(const TransformerBlockOptions& options)
    : torch::nn::Module("TransformerBlock"), options_(options) {
  const int64_t C = options.n_embd;
  ln1 = register_module("ln1", ChannelLayerNorm(C));
  ln2 = register_module("ln2", ChannelLayerNorm(C));
  AttentionOptions attention;
  attention.n_embd = C;
  attention.n_head = options.n_head;
  attention.stride = options.stride;
  attention.window_size = options.window_size;
  attention.attn_pdrop = options.attn_pdrop;
  attention.proj_pdrop = options.proj_pdrop;
  attn = register_module("attn", MaskedMHCA(attention));
  const int64_t hidden = 4 * C;
  mlp = register_module(
      "mlp", torch::nn::Sequential(pointwise_conv(C, hidden), torch::nn::GELU(),
                                   torch::nn::Dropout(options.proj_pdrop),
                                   pointwise_conv(hidden, C),
                                   torch::nn::Dropout(options.proj_pdrop)));
  if (options.stride == 1) {
    channel_attn =
        register_module("channel_attn", ChannelBlock(C, options.n_head, options.path_pdrop));
  }
  if (options.path_pdrop > 0.0) {
    drop_path_attn =
        register_module("drop_path_attn", AffineDropPath(C, options.path_pdrop));
    drop_path_mlp = register_module("drop_path_mlp", AffineDropPath(C, options.path_pdrop));
  }
}

at::Tensor TransformerBlockImpl::apply_drop_path(AffineDropPath& module, const at::Tensor& x) {
  return module ? module->forward(x) : x;
}

Masked TransformerBlockImpl::forward(const at::Tensor& x, const at::Tensor& mask) {
  const at::Tensor y = ln1->forward(x);
  auto [out, out_mask] = attn->forward(y, mask);
  const at::Tensor out_mask_float = out_mask.to(out.scalar_type());

  const int64_t s = options_.stride;
  const at::Tensor skip = s > 1 ? at::max_pool1d(x, {s + 1}, {s}, {(s + 1) / 2}) : x;
  out = skip * out_mask_float + apply_drop_path(drop_path_attn, out);
  out = out + apply_drop_path(drop_path_mlp, mlp->forward(ln2->forward(out)) * out_mask_float);

  if (channel_attn) {
    const double alpha = options_.t_c_alpha;
    out = alpha * out + (1.0 - alpha) * channel_attn->forward(y);
  }
  return {out, out_mask};
}

}  // namespace asl::model
