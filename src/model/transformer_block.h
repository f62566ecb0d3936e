// ASL's pre-LN TransformerBlock (reference blocks.py TransformerBlock):
//
//   y   = LN1(x) ; a, m_s = MHCA(y, m)                 (stride s downsamples q, k, v)
//   z   = Pool(x) * m_s + AffineDropPath(a)              Pool = identity or MaxPool(s+1, s)
//   z   = z + AffineDropPath(MLP(LN2(z)) * m_s)          MLP = 1x1 C->4C, GELU, Dropout,
//                                                               1x1 4C->C, Dropout
//   s=1: z = alpha z + (1 - alpha) ChannelBlock(y)      alpha = t_c_alpha (no mask: padded
//                                                        positions become non-zero)
//
// Names: ln1, ln2, attn.*, mlp.0, mlp.3, channel_attn.* (stride-1 blocks only; the
// reference also builds it in strided blocks but never calls it), drop_path_attn.scale,
// drop_path_mlp.scale (only when path_pdrop > 0, else identities without parameters).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

#include "model/attention.h"
#include "model/channel_block.h"
#include "model/layers.h"

namespace asl::model {

struct TransformerBlockOptions {
  int64_t n_embd = 0;
  int64_t n_head = 1;
  int64_t stride = 1;
  int64_t window_size = -1;
  double attn_pdrop = 0.0;
  double proj_pdrop = 0.0;
  double path_pdrop = 0.0;
  double t_c_alpha = 0.8;
};

class TransformerBlockImpl : public torch::nn::Module {
 public:
  explicit TransformerBlockImpl(const TransformerBlockOptions& options);
  Masked forward(const at::Tensor& x, const at::Tensor& mask);

  ChannelLayerNorm ln1{nullptr}, ln2{nullptr};
  MaskedMHCA attn{nullptr};
  torch::nn::Sequential mlp{nullptr};
  ChannelBlock channel_attn{nullptr};              // null in strided blocks
  AffineDropPath drop_path_attn{nullptr}, drop_path_mlp{nullptr};  // null at path_pdrop 0

 private:
  at::Tensor apply_drop_path(AffineDropPath& module, const at::Tensor& x);

  TransformerBlockOptions options_;
};
TORCH_MODULE(TransformerBlock);

}  // namespace asl::model
