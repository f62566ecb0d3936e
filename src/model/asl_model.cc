#include "model/asl_model.h"

#include <string>

#include "core/error.h"

namespace asl::model {

PtTransformerImpl::PtTransformerImpl(const config::Config& cfg) : PtTransformerImpl(cfg.model) {}

PtTransformerImpl::PtTransformerImpl(const config::ModelConfig& cfg)
    : torch::nn::Module("PtTransformer"), cfg_(cfg), points_(cfg) {
  if (cfg.backbone_type != "convTransformer") {
    throw Error("model.backbone_type", "only convTransformer is supported, got '" +
                                           cfg.backbone_type + "'");
  }
  const int64_t C = cfg.num_classes;
  // Registered first, like the reference's own parameters (they lead its state dict).
  mu_ = register_parameter("mu", torch::zeros({C, 1}));
  sigma_ = register_parameter("sigma", torch::ones({C, 1}));
  mu_reg_left_ = register_parameter("mu_reg_left", -torch::ones({C, 1}) * 0.5);
  sigma_reg_left_ = register_parameter("sigma_reg_left", torch::ones({C, 1}));
  mu_reg_right_ = register_parameter("mu_reg_right", torch::ones({C, 1}) * 0.5);
  sigma_reg_right_ = register_parameter("sigma_reg_right", torch::ones({C, 1}));

  backbone = register_module("backbone", ConvTransformerBackbone(cfg));
  neck = register_module("neck", Neck(cfg));

  HeadOptions head;
  head.input_dim = cfg.fpn_dim;
  head.feat_dim = cfg.head_dim;
  head.num_layers = cfg.head_num_layers;
  head.kernel_size = cfg.head_kernel_size;
  head.with_ln = cfg.head_with_ln;
  cls_head = register_module("cls_head", ClsHead(head, C, cfg.train_cfg.cls_prior_prob,
                                                 cfg.train_cfg.head_empty_cls));
  reg_head = register_module("reg_head", RegHead(head, num_levels()));

  if (cfg.text_dim > 0) {  // NLQ (docs/nlq.md)
    text_proj = register_module("text_proj", MaskedConv1D(cfg.text_dim, cfg.n_embd(), 1));
    text_norm = register_module("text_norm", ChannelLayerNorm(cfg.n_embd()));
    cls_film = register_module("cls_film", Film(cfg.n_embd(), cfg.fpn_dim));
  }
}

TextTokens PtTransformerImpl::embed_text(const at::Tensor& query, const at::Tensor& query_mask) {
  if (!text_proj) return {};
  if (!query.defined() || query.dim() != 3 || query.size(1) != cfg_.text_dim ||
      !query_mask.defined() || query_mask.dim() != 3 || query_mask.size(0) != query.size(0) ||
      query_mask.size(2) != query.size(2)) {
    throw Error("model", "the ASL_NLQ network takes query tokens [B, " +
                             std::to_string(cfg_.text_dim) + ", L] with a mask [B, 1, L]",
                "give each sample its query's text features (dataset.text_dim)");
  }
  const at::Tensor mask = query_mask.scalar_type() == at::kBool ? query_mask : query_mask.to(at::kBool);
  const Masked projected = text_proj->forward(query, mask);
  return {text_norm->forward(projected.x) * mask.to(projected.x.scalar_type()), mask};
}

NetworkOutputs PtTransformerImpl::forward(const at::Tensor& feats, const at::Tensor& masks,
                                          const at::Tensor& query, const at::Tensor& query_mask) {
  if (feats.dim() != 3 || masks.dim() != 3 || masks.size(1) != 1 ||
      masks.size(0) != feats.size(0) || masks.size(2) != feats.size(2)) {
    throw Error("model", "expected feats [B,C,T] and masks [B,1,T], got " +
                             std::to_string(feats.dim()) + "-d feats and " +
                             std::to_string(masks.dim()) + "-d masks of other sizes");
  }
  const at::Tensor mask = masks.scalar_type() == at::kBool ? masks : masks.to(at::kBool);
  const TextTokens text = embed_text(query, query_mask);
  const std::vector<Masked> fpn = neck->forward(backbone->forward(feats, mask, text));

  NetworkOutputs out;
  const std::vector<at::Tensor> offsets = reg_head->forward(fpn);
  const std::vector<at::Tensor> logits =
      cls_film ? cls_head->forward(cls_film->forward(fpn, sentence_vector(text)))
               : cls_head->forward(fpn);
  std::vector<int64_t> lengths;
  for (std::size_t l = 0; l < fpn.size(); ++l) {
    out.cls_logits.push_back(logits[l].permute({0, 2, 1}));
    out.offsets.push_back(offsets[l].permute({0, 2, 1}));
    out.masks.push_back(fpn[l].mask.squeeze(1));
    lengths.push_back(fpn[l].x.size(2));
  }
  out.points = points_.points(lengths, fpn.front().x.options());
  return out;
}

std::vector<at::Tensor> PtTransformerImpl::points(int64_t T) const {
  std::vector<int64_t> lengths;
  for (int64_t s : points_.strides()) lengths.push_back(T / s);
  return points_.points(lengths, mu_.options().requires_grad(false));
}

}  // namespace asl::model
