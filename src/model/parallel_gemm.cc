#include "model/parallel_gemm.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <vector>

namespace asl::model {
namespace {

// Below this many multiply-adds (about 40 us on one core) the split does not pay.
constexpr int64_t kMinMultiplyAdds = int64_t{1} << 22;

// OpenBLAS's own threads; 1 for a BLAS without OpenBLAS's entry point.
int blas_threads() {
  using Getter = int (*)();
  static const Getter getter =
      reinterpret_cast<Getter>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return getter ? getter() : 1;
}

bool splittable(const at::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.layout() == at::kStrided;
}

// out[i] = a[i] @ b[i] (+ bias) for a [B,M,K], b [B,K,N], in items of one batch entry,
// or of a block of its rows when there are few entries. Threads claim items one at a time
// from a shared counter: a thread that the machine's load holds back takes fewer items
// instead of holding up the product.
at::Tensor gemm_in_blocks(const at::Tensor& a, const at::Tensor& b, const at::Tensor& bias,
                          int64_t threads) {
  const int64_t batch = a.size(0), M = a.size(1);
  // About 4 items per thread, blocks of at least kMinRows rows (smaller ones lose speed).
  constexpr int64_t kMinRows = 64;
  const int64_t wanted = (4 * threads + batch - 1) / batch;
  const int64_t row_blocks =
      batch >= 4 * threads ? 1 : std::max<int64_t>(1, std::min(wanted, M / kMinRows));
  const int64_t items = batch * row_blocks;
  at::Tensor out = at::empty({batch, M, b.size(2)}, a.options());
  std::atomic<int64_t> next{0};
  at::parallel_for(0, std::min(threads, items), 1, [&](int64_t, int64_t) {
    // Grad mode is per thread, and on in the OpenMP workers: the caller's no-grad mode
    // here too (out= products refuse operands that require grad, i.e. parameters).
    const c10::NoGradGuard no_grad;
    for (int64_t item = next++; item < items; item = next++) {
      const int64_t i = item / row_blocks, block = item % row_blocks;
      const int64_t r0 = M * block / row_blocks, r1 = M * (block + 1) / row_blocks;
      at::Tensor out_rows = out[i].narrow(0, r0, r1 - r0);
      const at::Tensor a_rows = a[i].narrow(0, r0, r1 - r0);
      if (bias.defined()) {
        at::addmm_out(out_rows, bias, a_rows, b[i]);
      } else {
        at::mm_out(out_rows, a_rows, b[i]);
      }
    }
  });
  return out;
}

}  // namespace

bool splits_matrix_products(int64_t multiply_adds) {
  return !c10::GradMode::is_enabled() && attention_in_blocks(multiply_adds);
}

at::Tensor split_matmul(const at::Tensor& a, const at::Tensor& b, int64_t threads) {
  const bool handled = a.dim() >= 2 && b.dim() >= 2 && (b.dim() == 2 || a.dim() == b.dim()) &&
                       a.size(-1) == b.size(-2) &&
                       (b.dim() == 2 || a.sizes().slice(0, a.dim() - 2) ==
                                            b.sizes().slice(0, b.dim() - 2)) &&
                       splittable(a) && splittable(b) && a.numel() > 0 && b.numel() > 0;
  if (!handled) return at::matmul(a, b);
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  std::vector<int64_t> out_sizes = a.sizes().vec();
  out_sizes.back() = N;
  // With one matrix b, all rows of a form one product (at::matmul folds them likewise).
  const at::Tensor a3 = b.dim() == 2 ? a.reshape({1, -1, K}) : a.reshape({-1, M, K});
  const at::Tensor b3 = b.dim() == 2 ? b.unsqueeze(0) : b.reshape({-1, K, N});
  return gemm_in_blocks(a3, b3, at::Tensor(), threads).view(out_sizes);
}

at::Tensor split_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                        int64_t threads) {
  const bool handled =
      x.dim() >= 2 && weight.dim() == 2 && x.size(-1) == weight.size(1) && splittable(x) &&
      splittable(weight) && x.numel() > 0 && weight.numel() > 0 &&
      (!bias.defined() || (splittable(bias) && bias.dim() == 1 && bias.size(0) == weight.size(0)));
  if (!handled) return at::linear(x, weight, bias);
  std::vector<int64_t> out_sizes = x.sizes().vec();
  out_sizes.back() = weight.size(0);
  return gemm_in_blocks(x.reshape({1, -1, x.size(-1)}), weight.t().unsqueeze(0), bias, threads)
      .view(out_sizes);
}

namespace {

// Rows per item: a block of scores of kRows x T floats (256 KB at T = 1024) fits in L2.
constexpr int64_t kRows = 64;

bool attention_handled(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  return q.dim() == 4 && splittable(q) && splittable(k) && splittable(v) &&
         k.sizes() == q.sizes() && v.sizes() == q.sizes() && q.numel() > 0;
}

// 0 for valid keys, -inf for padded ones: [B, T].
at::Tensor key_bias_of(const at::Tensor& key_valid, const at::Tensor& like) {
  const int64_t B = like.size(0), T = like.size(2);
  return at::zeros({B, T}, like.options())
      .masked_fill(at::logical_not(key_valid.reshape({B, T})),
                   -std::numeric_limits<float>::infinity());
}

// The forward pass on contiguous q [B,n,T,d], kt [B,n,d,T], v [B,n,T,d] (values already
// masked); also the log-sum-exp of every row of scores, [B,n,T], when `lse` is defined.
at::Tensor attention_forward(const at::Tensor& q, const at::Tensor& kt, const at::Tensor& v,
                             const at::Tensor& bias, const at::Tensor& lse, int64_t threads) {
  const int64_t B = q.size(0), heads = q.size(1), T = q.size(2), d = q.size(3);
  at::Tensor out = at::empty({B, heads, T, d}, q.options());
  const int64_t blocks = (T + kRows - 1) / kRows;
  const int64_t items = B * heads * blocks;
  std::atomic<int64_t> next{0};
  at::parallel_for(0, std::min(threads, items), 1, [&](int64_t, int64_t) {
    const c10::NoGradGuard no_grad;
    at::Tensor scores = at::empty({kRows, T}, q.options());
    at::Tensor weights = at::empty({kRows, T}, q.options());
    for (int64_t item = next++; item < items; item = next++) {
      const int64_t bh = item / blocks, r0 = (item % blocks) * kRows;
      const int64_t b = bh / heads, h = bh % heads, rows = std::min(kRows, T - r0);
      at::Tensor s = scores.narrow(0, 0, rows);
      at::Tensor w = weights.narrow(0, 0, rows);
      at::addmm_out(s, bias[b], q[b][h].narrow(0, r0, rows), kt[b][h]);
      if (lse.defined()) {
        // Training: the weights from the log-sum-exp the backward recomputes them from.
        at::Tensor l = lse[b][h].narrow(0, r0, rows);
        at::logsumexp_out(l, s, {1});
        at::sub_out(w, s, l.unsqueeze(1)).exp_();
      } else {
        at::_softmax_out(w, s, /*dim=*/1, /*half_to_float=*/false);
      }
      at::Tensor o = out[b][h].narrow(0, r0, rows);
      at::mm_out(o, w, v[b][h]);
    }
  });
  return out;
}

// Training: the forward above, and a backward that recomputes each block's weights from
// the saved log-sum-exp instead of keeping the [B,n,T,T] weights, as flash attention does:
// with P = softmax(S), dV = Pᵀ dO, dS = P ∘ (dO Vᵀ − rowsum(dO ∘ O)), dQ = dS K, dK = dSᵀ Q.
// Each (entry, head) is one item (its dK and dV sum over all row blocks).
struct BlockedAttentionFunction : torch::autograd::Function<BlockedAttentionFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q,
                            const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias,
                            int64_t threads) {
    const at::Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
    const at::Tensor lse = at::empty({q.size(0), q.size(1), q.size(2)}, q.options());
    const at::Tensor out = attention_forward(qc, kc.transpose(2, 3).contiguous(), vc, bias, lse, threads);
    ctx->save_for_backward({qc, kc, vc, bias, out, lse});
    ctx->saved_data["threads"] = threads;
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &bias = saved[3];
    const at::Tensor &out = saved[4], &lse = saved[5];
    const int64_t threads = ctx->saved_data["threads"].toInt();
    const at::Tensor dout = grads[0].contiguous();
    const int64_t B = q.size(0), heads = q.size(1), T = q.size(2);
    at::Tensor dq = at::empty_like(q), dk = at::zeros_like(k), dv = at::zeros_like(v);
    const at::Tensor delta = (dout * out).sum(-1);  // rowsum(dO ∘ O), [B,n,T]
    const int64_t items = B * heads;
    std::atomic<int64_t> next{0};
    at::parallel_for(0, std::min(threads, items), 1, [&](int64_t, int64_t) {
      const c10::NoGradGuard no_grad;
      at::Tensor p_buf = at::empty({kRows, T}, q.options());
      at::Tensor dp_buf = at::empty({kRows, T}, q.options());
      for (int64_t item = next++; item < items; item = next++) {
        const int64_t b = item / heads, h = item % heads;
        const at::Tensor qh = q[b][h], kh = k[b][h], vh = v[b][h], doh = dout[b][h];
        at::Tensor dkh = dk[b][h], dvh = dv[b][h];
        for (int64_t r0 = 0; r0 < T; r0 += kRows) {
          const int64_t rows = std::min(kRows, T - r0);
          at::Tensor p = p_buf.narrow(0, 0, rows), dp = dp_buf.narrow(0, 0, rows);
          const at::Tensor q_blk = qh.narrow(0, r0, rows), do_blk = doh.narrow(0, r0, rows);
          at::addmm_out(p, bias[b], q_blk, kh.t());
          p.sub_(lse[b][h].narrow(0, r0, rows).unsqueeze(1)).exp_();  // the softmax weights
          dvh.addmm_(p.t(), do_blk);
          at::mm_out(dp, do_blk, vh.t());
          dp.sub_(delta[b][h].narrow(0, r0, rows).unsqueeze(1)).mul_(p);  // dS
          at::Tensor dq_blk = dq[b][h].narrow(0, r0, rows);
          at::mm_out(dq_blk, dp, kh);
          dkh.addmm_(dp.t(), q_blk);
        }
      }
    });
    return {dq, dk, dv, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool attention_in_blocks(int64_t multiply_adds) {
  return multiply_adds >= kMinMultiplyAdds && at::get_num_threads() > 1 &&
         !at::in_parallel_region() && blas_threads() == 1;
}

at::Tensor blocked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& key_valid, int64_t threads) {
  if (!attention_handled(q, k, v)) return at::Tensor();
  // Keys masked out: -inf before the softmax and zero values (as the plain formulation).
  const at::Tensor bias = key_bias_of(key_valid, q);
  const at::Tensor vm = v * key_valid.reshape({q.size(0), 1, q.size(2), 1}).to(v.scalar_type());
  if (c10::GradMode::is_enabled() &&
      (q.requires_grad() || k.requires_grad() || vm.requires_grad())) {
    return BlockedAttentionFunction::apply(q, k, vm, bias, threads);
  }
  const c10::NoGradGuard no_grad;
  return attention_forward(q.contiguous(), k.transpose(2, 3).contiguous(), vm.contiguous(), bias,
                           at::Tensor(), threads);
}

at::Tensor parallel_matmul(const at::Tensor& a, const at::Tensor& b) {
  const int64_t multiply_adds = b.dim() >= 2 ? a.numel() * b.size(-1) : 0;
  return splits_matrix_products(multiply_adds) ? split_matmul(a, b, at::get_num_threads())
                                               : at::matmul(a, b);
}

at::Tensor parallel_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const int64_t multiply_adds = weight.dim() == 2 ? x.numel() * weight.size(0) : 0;
  return splits_matrix_products(multiply_adds)
             ? split_linear(x, weight, bias, at::get_num_threads())
             : at::linear(x, weight, bias);
}

}  // namespace asl::model
