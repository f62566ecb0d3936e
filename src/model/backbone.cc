#include "model/backbone.h"

#include <torch/nn/functional/upsampling.h>
#include <torch/nn/modules/linear.h>

#include <cmath>
#include <string>

#include "core/error.h"

namespace asl::model {

ConvTransformerBackboneImpl::ConvTransformerBackboneImpl(const config::ModelConfig& cfg)
    : torch::nn::Module("ConvTransformerBackbone"),
      use_abs_pe_(cfg.use_abs_pe),
      use_xl_(cfg.use_xl),
      max_len_(cfg.max_seq_len) {
  const std::vector<int64_t>& arch = cfg.backbone_arch;
  if (arch.size() != 3) throw Error("model.backbone_arch", "needs 3 numbers (embedding, stem, branch)");
  if (!cfg.use_xl && arch[1] == 0 && arch[2] > 0) {
    throw Error("model.use_xl",
                "without the XLNet layer the reference re-applies stem block 0 before the "
                "branch, so backbone_arch[1] must be at least 1");
  }
  const int64_t n_embd = cfg.n_embd();
  input_dims_ = cfg.input_dim.values;
  int64_t n_in = 0;
  for (int64_t d : input_dims_) n_in += d;

  // A list of input widths (even of one) means one projection per stream.
  if (cfg.input_dim.is_list) {
    if (!cfg.embd_dim.is_list || input_dims_.size() != cfg.embd_dim.size()) {
      throw Error("model.embd_dim", "one projection width per input stream is needed (" +
                                        std::to_string(input_dims_.size()) + " streams, " +
                                        std::to_string(cfg.embd_dim.size()) + " widths)");
    }
    proj = register_module("proj", torch::nn::ModuleList());
    for (std::size_t i = 0; i < input_dims_.size(); ++i) {
      proj_.push_back(MaskedConv1D(input_dims_[i], cfg.embd_dim.values[i], 1));
      proj->push_back(proj_.back());
    }
    n_in = n_embd;
  } else {
    input_dims_ = {n_in};
  }

  // The table is computed once in float32 like the reference's buffer.
  if (use_abs_pe_) pos_embd_ = sinusoid_encoding(max_len_, n_embd) / std::pow(double(n_embd), 0.5);

  embd = register_module("embd", torch::nn::ModuleList());
  embd_norm = register_module("embd_norm", torch::nn::ModuleList());
  for (int64_t i = 0; i < arch[0]; ++i) {
    embd_.push_back(MaskedConv1D(i == 0 ? n_in : n_embd, n_embd, cfg.embd_kernel_size, 1, 1,
                                 /*bias=*/!cfg.embd_with_ln));
    embd->push_back(embd_.back());
    if (cfg.embd_with_ln) {
      embd_norm_.push_back(ChannelLayerNorm(n_embd));
      embd_norm->push_back(embd_norm_.back());
    } else {
      embd_norm_.push_back(ChannelLayerNorm(nullptr));
      embd_norm->push_back(torch::nn::Identity());
    }
  }

  const std::vector<int64_t> windows = cfg.mha_win_sizes();
  TransformerBlockOptions block;
  block.n_embd = n_embd;
  block.n_head = cfg.n_head;
  block.attn_pdrop = 0.0;  // hard-coded in the reference
  block.proj_pdrop = cfg.train_cfg.dropout;
  block.path_pdrop = cfg.train_cfg.droppath;
  block.t_c_alpha = cfg.train_cfg.t_c_alpha;

  stem = register_module("stem", torch::nn::ModuleList());
  block.stride = 1;
  block.window_size = windows.at(0);
  for (int64_t i = 0; i < arch[1]; ++i) {
    stem_.push_back(TransformerBlock(block));
    stem->push_back(stem_.back());
  }
  branch = register_module("branch", torch::nn::ModuleList());
  block.stride = cfg.scale_factor;
  for (int64_t i = 0; i < arch[2]; ++i) {
    block.window_size = windows.at(static_cast<std::size_t>(1 + i));
    branch_.push_back(TransformerBlock(block));
    branch->push_back(branch_.back());
  }

  if (use_xl_) {
    XLNetOptions xl;
    xl.d_model = n_embd;
    xl.n_head = cfg.xl.n_head.value_or(0);
    xl.d_head = cfg.xl.d_head.value_or(0);
    xl.d_inner = cfg.xl.d_inner.value_or(0);
    xl.dropout = cfg.xl.dropout;
    xl.layer_norm_eps = cfg.xl.layer_norm_eps;
    if (xl.n_head * xl.d_head != n_embd || xl.d_inner <= 0) {
      throw Error("model.xl", "n_head x d_head must equal the embedding width " +
                                  std::to_string(n_embd) + " and d_inner be positive");
    }
    xlnet = register_module("xlnet", XLNetModel(xl));
  }

  // NLQ: one cross-attention block per pyramid level (after the stem, after each branch block).
  if (cfg.text_dim > 0) {
    fusion = register_module("fusion", torch::nn::ModuleList());
    for (int64_t i = 0; i <= arch[2]; ++i) {
      fusion_.push_back(CrossAttentionBlock(n_embd, cfg.n_head, 0.0, cfg.train_cfg.dropout));
      fusion->push_back(fusion_.back());
    }
  }
}

at::Tensor ConvTransformerBackboneImpl::position_encoding(int64_t T,
                                                          const at::TensorOptions& options) const {
  at::Tensor pe = pos_embd_.to(options.device(), options.dtype().toScalarType());
  if (is_training()) {
    if (T > max_len_) {
      throw Error("model", "training input of " + std::to_string(T) +
                               " steps is longer than max_seq_len " + std::to_string(max_len_),
                  "crop or resize training inputs to dataset.max_seq_len");
    }
  } else if (T >= max_len_) {
    namespace F = torch::nn::functional;
    pe = F::interpolate(pe, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{T})
                                .mode(torch::kLinear)
                                .align_corners(false));
  }
  return pe.slice(2, 0, T);
}

std::vector<Masked> ConvTransformerBackboneImpl::forward(const at::Tensor& feats,
                                                         const at::Tensor& input_mask,
                                                         const TextTokens& text) {
  if (!fusion_.empty() && !text.x.defined()) {
    throw Error("model", "the ASL_NLQ network needs the query's text features",
                "give each sample its query tokens (dataset.text_dim > 0)");
  }
  auto fuse = [&](std::size_t level, const at::Tensor& x, const at::Tensor& mask) {
    return fusion_.empty() ? x : fusion_[level]->forward(x, mask, text);
  };
  at::Tensor x = feats;
  at::Tensor mask = input_mask;
  if (!proj_.empty()) {
    const std::vector<at::Tensor> streams = feats.split_with_sizes(input_dims_, 1);
    std::vector<at::Tensor> projected;
    for (std::size_t i = 0; i < proj_.size(); ++i) {
      projected.push_back(proj_[i]->forward(streams[i], mask).x);
    }
    x = at::cat(projected, 1);
  }
  const int64_t T = x.size(2);

  // Padded positions leave the embedding as ReLU(LN bias), not zero (kept: the next
  // convolution reads them at the boundary, as in the reference).
  for (std::size_t i = 0; i < embd_.size(); ++i) {
    auto out = embd_[i]->forward(x, mask);
    x = embd_norm_[i] ? embd_norm_[i]->forward(out.x) : out.x;
    x = at::relu(x);
    mask = out.mask;
  }

  if (use_abs_pe_) x = x + position_encoding(T, x.options()) * mask.to(x.scalar_type());

  for (auto& block : stem_) {
    auto out = block->forward(x, mask);
    x = out.x;
    mask = out.mask;
  }

  x = fuse(0, x, mask);
  std::vector<Masked> levels;
  levels.push_back({x, mask});
  for (std::size_t i = 0; i < branch_.size(); ++i) {
    if (i == 0) {
      // Level 0 keeps the features before this step.
      if (use_xl_) {
        x = xlnet->forward(x, mask);
      } else {
        auto out = stem_[0]->forward(x, mask);  // the reference re-applies stem block 0
        x = out.x;
        mask = out.mask;
      }
    }
    auto out = branch_[i]->forward(x, mask);
    x = fuse(i + 1, out.x, out.mask);
    mask = out.mask;
    levels.push_back({x, mask});
  }
  return levels;
}

}  // namespace asl::model
