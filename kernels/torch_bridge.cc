#include "kernels/torch_bridge.h"

#include <torch/torch.h>

#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "kernels/batched_nms.h"
#include "kernels/launch.h"
#include "model/kernel_hooks.h"

// One switch picks the implementation of every call below: the CUDA entry point for CUDA
// tensors (launched on the default stream, the one LibTorch uses unless told otherwise),
// the CPU reference otherwise.
#if ASL_KERNELS_HAVE_CUDA
#define ASL_DISPATCH(on_cuda, fn, ...) \
  ((on_cuda) ? cuda::fn(__VA_ARGS__) : cpu::fn(__VA_ARGS__))
#else
#define ASL_DISPATCH(on_cuda, fn, ...) \
  ((on_cuda) ? no_cuda(#fn) : cpu::fn(__VA_ARGS__))
#endif

namespace asl::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

[[maybe_unused]] void no_cuda(const char* what) {
  throw Error(std::string("kernel ") + what, "this build has no CUDA kernels",
              "build with nvcc and a CUDA LibTorch (kernels/README.md)");
}

at::Tensor as_float(const at::Tensor& t) { return t.to(at::kFloat).contiguous(); }

class FocalFunction : public torch::autograd::Function<FocalFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& logits,
                            const at::Tensor& targets, double alpha, double gamma) {
    const at::Tensor z = as_float(logits), y = as_float(targets);
    at::Tensor loss = at::empty_like(z), grad = at::empty_like(z);
    ASL_DISPATCH(z.is_cuda(), focal_loss, z.data_ptr<float>(), y.data_ptr<float>(), z.numel(),
                 static_cast<float>(alpha), static_cast<float>(gamma), loss.data_ptr<float>(),
                 grad.data_ptr<float>());
    ctx->save_for_backward({grad});
    ctx->saved_data["dtype"] = static_cast<int64_t>(logits.scalar_type());
    return loss;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const at::Tensor grad = ctx->get_saved_variables()[0];
    const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {(grad_out[0] * grad).to(dtype), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

class DiouFunction : public torch::autograd::Function<DiouFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& pred,
                            const at::Tensor& target, double eps) {
    const at::Tensor p = as_float(pred), g = as_float(target);
    at::Tensor loss = at::empty({p.size(0)}, p.options()), grad = at::empty_like(p);
    ASL_DISPATCH(p.is_cuda(), diou_loss, p.data_ptr<float>(), g.data_ptr<float>(), p.size(0),
                 static_cast<float>(eps), loss.data_ptr<float>(), grad.data_ptr<float>());
    ctx->save_for_backward({grad});
    ctx->saved_data["dtype"] = static_cast<int64_t>(pred.scalar_type());
    return loss;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const at::Tensor grad = ctx->get_saved_variables()[0];
    const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {(grad_out[0].unsqueeze(1) * grad).to(dtype), at::Tensor(), at::Tensor()};
  }
};

LocalAttentionShape shape_of(const at::Tensor& q, int64_t window_size) {
  LocalAttentionShape s;
  s.batch = q.size(0);
  s.heads = q.size(1);
  s.length = q.size(2);
  s.dim = q.size(3);
  s.half_window = static_cast<int>(window_size / 2);
  s.scale = 1.f;  // q comes scaled
  return s;
}

class LocalAttentionFunction : public torch::autograd::Function<LocalAttentionFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q_in, const at::Tensor& k_in,
                            const at::Tensor& v_in, const at::Tensor& kv_mask,
                            int64_t window_size) {
    if (q_in.dim() != 4 || !q_in.sizes().equals(k_in.sizes()) ||
        !q_in.sizes().equals(v_in.sizes()))
      throw Error("kernel local_attention", "q, k and v must be [B, N, T, D] alike");
    if (window_size < 3 || window_size % 2 == 0 || window_size > kMaxAttentionBand)
      throw Error("kernel local_attention",
                  "window " + std::to_string(window_size) + " is not odd in 3.." +
                      std::to_string(kMaxAttentionBand));
    const at::Tensor q = as_float(q_in), k = as_float(k_in), v = as_float(v_in);
    const at::Tensor valid =
        kv_mask.reshape({q.size(0), q.size(2)}).to(at::kByte).contiguous();
    const LocalAttentionShape s = shape_of(q, window_size);
    at::Tensor out = at::empty_like(q);
    ASL_DISPATCH(q.is_cuda(), local_attention_forward, q.data_ptr<float>(), k.data_ptr<float>(),
                 v.data_ptr<float>(), valid.data_ptr<uint8_t>(), s, out.data_ptr<float>());
    ctx->save_for_backward({q, k, v, valid});
    ctx->saved_data["window"] = window_size;
    ctx->saved_data["dtype"] = static_cast<int64_t>(q_in.scalar_type());
    return out.to(q_in.scalar_type());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &valid = saved[3];
    const LocalAttentionShape s = shape_of(q, ctx->saved_data["window"].toInt());
    const at::Tensor dout = as_float(grad_out[0]);
    at::Tensor dq = at::empty_like(q), dk = at::empty_like(k), dv = at::empty_like(v);
    ASL_DISPATCH(q.is_cuda(), local_attention_backward, q.data_ptr<float>(), k.data_ptr<float>(),
                 v.data_ptr<float>(), valid.data_ptr<uint8_t>(), s, dout.data_ptr<float>(),
                 dq.data_ptr<float>(), dk.data_ptr<float>(), dv.data_ptr<float>());
    const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {dq.to(dtype), dk.to(dtype), dv.to(dtype), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor fused_focal_loss(const at::Tensor& logits, const at::Tensor& targets, double alpha,
                            double gamma) {
  return FocalFunction::apply(logits, targets, alpha, gamma);
}

at::Tensor fused_diou_loss(const at::Tensor& pred, const at::Tensor& target, double eps) {
  if (pred.dim() != 2 || pred.size(1) != 2 || !pred.sizes().equals(target.sizes()))
    throw Error("ctr_diou_loss_1d", "offsets must both be [N, 2]");
  return DiouFunction::apply(pred, target, eps);
}

at::Tensor fused_local_attention(const at::Tensor& q_scaled, const at::Tensor& k,
                                 const at::Tensor& v, const at::Tensor& kv_mask,
                                 int64_t window_size) {
  return LocalAttentionFunction::apply(q_scaled, k, v, kv_mask, window_size);
}

void fused_ema_update(const std::vector<at::Tensor>& averages,
                      const std::vector<at::Tensor>& values, double decay) {
  if (averages.size() != values.size())
    throw Error("model EMA", "averages and values differ in number");
  if (averages.empty()) return;
  std::vector<EmaSpan> spans;
  spans.reserve(averages.size());
  const bool on_cuda = averages.front().is_cuda();
  for (size_t i = 0; i < averages.size(); ++i) {
    const at::Tensor &a = averages[i], &v = values[i];
    if (a.scalar_type() != at::kFloat || v.scalar_type() != at::kFloat || !a.is_contiguous() ||
        !v.is_contiguous() || a.numel() != v.numel() || a.is_cuda() != on_cuda ||
        v.is_cuda() != on_cuda)
      throw Error("model EMA", "the fused update takes contiguous float32 tensors of one device");
    spans.push_back({a.data_ptr<float>(), v.data_ptr<float>(), a.numel()});
  }
  // The reference's scalars: decay and (1. - decay), each computed in double.
  ASL_DISPATCH(on_cuda, ema_update, spans.data(), static_cast<int64_t>(spans.size()),
               static_cast<float>(decay), static_cast<float>(1.0 - decay));
}

GroupNmsFn group_nms_for(const at::Device& device) {
#if ASL_KERNELS_HAVE_CUDA
  if (device.is_cuda())
    return [](const SegmentGroups& g, const GroupNmsOptions& o, GroupNmsResult& r) {
      cuda::group_nms(g, o, r);
    };
#endif
  (void)device;
  return cpu::group_nms;
}

bool built_with_cuda_kernels() { return ASL_KERNELS_HAVE_CUDA != 0; }

std::string install_cuda_hooks() {
  model::KernelHooks& hooks = model::kernel_hooks();
  const char* env = std::getenv("ASL_KERNELS");
  if (env && std::strcmp(env, "off") == 0)
    return hooks.status = "fused CUDA kernels: off (ASL_KERNELS=off)";
#if ASL_KERNELS_HAVE_CUDA
  if (!cuda::device_available()) return hooks.status = "fused CUDA kernels: not used (no CUDA device)";
  hooks.focal_loss = fused_focal_loss;
  hooks.diou_loss = fused_diou_loss;
  hooks.local_attention = fused_local_attention;
  hooks.ema_update = fused_ema_update;
  hooks.batched_nms = [](const std::vector<std::vector<infer::Segment>>& clips,
                         const infer::NmsOptions& options) {
    return batched_nms_clips(clips, options, group_nms_for(at::Device(at::kCUDA)));
  };
  return hooks.status = "fused CUDA kernels: on (focal, DIoU, local attention, EMA, NMS)";
#else
  return hooks.status = "fused CUDA kernels: not in this build";
#endif
}

}  // namespace asl::kernels
