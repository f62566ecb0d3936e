// Row bodies of the local-window masked attention (ActionFormer's LocalMaskedMHCA with
// n_mha_win_size = 2w + 1): query t of one (batch, head) sees keys t − w … t + w inside the
// sequence; a padded key gets −1e4 added to its score, a padded query's row is zero.
// Tensors are contiguous [B, N, T, D] (q, k, v, out) and the mask [B, T].
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/hd.h"

namespace asl::kernels {

// Bands wider than this are refused at launch (the configs use 9 to 65).
constexpr int kMaxAttentionBand = 129;

struct LocalAttentionShape {
  int64_t batch, heads, length, dim;
  int half_window;  // w
  float scale;      // applied to q before the product, as the module does
};

// The softmax weights of row t: p[o] for key t − w + o (0 outside the sequence). Returns
// false for a padded query (its row is all zero).
template <typename T>
ASL_HD bool attention_weights(const T* q_row, const T* k_head, const uint8_t* valid_b,
                              const LocalAttentionShape& s, int64_t t, T* p) {
  const int band = 2 * s.half_window + 1;
  if (!valid_b[t]) {
    for (int o = 0; o < band; ++o) p[o] = T(0);
    return false;
  }
  T top = -INFINITY;
  for (int o = 0; o < band; ++o) {
    const int64_t key = t - s.half_window + o;
    if (key < 0 || key >= s.length) {
      p[o] = -INFINITY;
      continue;
    }
    T dot = T(0);
    const T* k_row = k_head + key * s.dim;
    for (int64_t d = 0; d < s.dim; ++d) dot += (q_row[d] * T(s.scale)) * k_row[d];
    p[o] = dot + (valid_b[key] ? T(0) : T(-1e4));
    top = hd_max(top, p[o]);
  }
  T total = T(0);
  for (int o = 0; o < band; ++o) {
    using std::exp;
    p[o] = p[o] == -INFINITY ? T(0) : exp(p[o] - top);
    total += p[o];
  }
  for (int o = 0; o < band; ++o) p[o] /= total;
  return true;
}

// out[t] = Σ_o p[o]·v[t − w + o] for one (batch, head, t).
template <typename T>
ASL_HD void local_attention_row(const T* q_head, const T* k_head, const T* v_head,
                                const uint8_t* valid_b, const LocalAttentionShape& s, int64_t t,
                                T* out_head) {
  T p[kMaxAttentionBand];
  const int band = 2 * s.half_window + 1;
  T* out = out_head + t * s.dim;
  for (int64_t d = 0; d < s.dim; ++d) out[d] = T(0);
  if (!attention_weights(q_head + t * s.dim, k_head, valid_b, s, t, p)) return;
  for (int o = 0; o < band; ++o) {
    const int64_t key = t - s.half_window + o;
    if (p[o] == T(0)) continue;
    const T* v_row = v_head + key * s.dim;
    for (int64_t d = 0; d < s.dim; ++d) out[d] += p[o] * v_row[d];
  }
}

// The gradients of row t: dq[t] is written; dk and dv of the row's keys are accumulated with
// `add` (atomicAdd on the GPU, += on the CPU), so they must start at zero.
template <typename T, typename Add>
ASL_HD void local_attention_row_backward(const T* q_head, const T* k_head, const T* v_head,
                                         const uint8_t* valid_b, const LocalAttentionShape& s,
                                         int64_t t, const T* dout_head, T* dq_head, T* dk_head,
                                         T* dv_head, Add add) {
  T p[kMaxAttentionBand];
  T dp[kMaxAttentionBand];
  const int band = 2 * s.half_window + 1;
  const T* q = q_head + t * s.dim;
  const T* dout = dout_head + t * s.dim;
  T* dq = dq_head + t * s.dim;
  for (int64_t d = 0; d < s.dim; ++d) dq[d] = T(0);
  if (!attention_weights(q, k_head, valid_b, s, t, p)) return;
  // dp[o] = dout·v[key]; the softmax's backward: ds[o] = p[o](dp[o] − Σ p·dp).
  T weighted = T(0);
  for (int o = 0; o < band; ++o) {
    const int64_t key = t - s.half_window + o;
    dp[o] = T(0);
    if (key < 0 || key >= s.length) continue;
    const T* v_row = v_head + key * s.dim;
    for (int64_t d = 0; d < s.dim; ++d) dp[o] += dout[d] * v_row[d];
    weighted += p[o] * dp[o];
  }
  for (int o = 0; o < band; ++o) {
    const int64_t key = t - s.half_window + o;
    if (key < 0 || key >= s.length) continue;
    const T ds = p[o] * (dp[o] - weighted) * T(s.scale);
    const T* k_row = k_head + key * s.dim;
    T* dk_row = dk_head + key * s.dim;
    T* dv_row = dv_head + key * s.dim;
    for (int64_t d = 0; d < s.dim; ++d) {
      dq[d] += ds * k_row[d];
      add(dk_row + d, ds * q[d]);
      add(dv_row + d, p[o] * dout[d]);
    }
  }
}

}  // namespace asl::kernels
