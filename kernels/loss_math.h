// Element bodies of the fused losses: the sigmoid focal loss with soft targets and the
// centre-DIoU regression loss, forward and the gradient with respect to the prediction.
// The gradients follow the derivative rules LibTorch's autograd applies to the unfused
// formulas (model/losses.cc), ties of min/max included (the gradient is split in half).
#pragma once

#include <cmath>

#include "kernels/hd.h"

namespace asl::kernels {

// α_t·(1 − p_t)^γ·BCEWithLogits(z, y); α < 0 leaves out α_t.
template <typename T>
struct FocalTerms {
  T loss;
  T grad;  // d loss / d z
};

template <typename T>
ASL_HD FocalTerms<T> focal_terms(T z, T y, T alpha, T gamma) {
  using std::exp;
  using std::log1p;
  using std::pow;
  const T one = T(1);
  const T e = exp(-(z < T(0) ? -z : z));
  const T p = z >= T(0) ? one / (one + e) : e / (one + e);  // sigmoid without overflow
  const T ce = (z > T(0) ? z : T(0)) - z * y + log1p(e);
  const T m = one - (p * y + (one - p) * (one - y));  // 1 − p_t
  const T m_pow = pow(m, gamma);
  // d m/d z = −p(1 − p)(2y − 1); d m^γ/d m = γ m^(γ−1) (0 at m = 0 for γ > 1, as autograd).
  const T dm = -(p * (one - p)) * (T(2) * y - one);
  const T dm_pow = gamma == T(0) ? T(0) : gamma * pow(m, gamma - one);
  const T a_t = alpha >= T(0) ? y * alpha + (one - y) * (one - alpha) : one;
  return {a_t * ce * m_pow, a_t * ((p - y) * m_pow + ce * dm_pow * dm)};
}

// Offsets (left, right) ≥ 0 of the prediction p and the target g around a shared centre.
template <typename T>
struct DiouTerms {
  T loss;
  T grad_left;   // d loss / d p_left
  T grad_right;  // d loss / d p_right
};

// d min(a, b)/d a: 1, 0, or ½ on a tie (LibTorch's rule); likewise for max.
template <typename T>
ASL_HD T min_grad(T a, T b) { return a < b ? T(1) : (a == b ? T(0.5) : T(0)); }
template <typename T>
ASL_HD T max_grad(T a, T b) { return a > b ? T(1) : (a == b ? T(0.5) : T(0)); }

template <typename T>
ASL_HD DiouTerms<T> diou_terms(T lp, T rp, T lg, T rg, T eps) {
  const T inter = hd_min(rp, rg) + hd_min(lp, lg);
  const T uni = (lp + rp) + (lg + rg) - inter;
  const T u = hd_max(uni, eps);
  const T iou = inter / u;
  const T enclosing = hd_max(lp, lg) + hd_max(rp, rg);
  const T c = hd_max(enclosing, eps);
  const T rho = (rp - lp - rg + lg) * T(0.5);
  const T ratio = rho / c;
  const T loss = T(1) - iou + ratio * ratio;

  // Chain rule through each intermediate, in the order autograd visits them.
  const T d_inter_l = min_grad(lp, lg), d_inter_r = min_grad(rp, rg);
  const T d_u = uni >= eps ? T(1) : T(0);  // clamp_min passes the gradient where x ≥ min
  const T d_c = enclosing >= eps ? T(1) : T(0);
  const T diou_dinter = T(1) / u, diou_du = -inter / (u * u);
  const T dratio_drho = T(1) / c, dratio_dc = -rho / (c * c);
  const T two_ratio = T(2) * ratio;
  const T dl_iou_l = diou_dinter * d_inter_l + diou_du * d_u * (T(1) - d_inter_l);
  const T dl_iou_r = diou_dinter * d_inter_r + diou_du * d_u * (T(1) - d_inter_r);
  const T dl_ratio_l = dratio_drho * T(-0.5) + dratio_dc * d_c * max_grad(lp, lg);
  const T dl_ratio_r = dratio_drho * T(0.5) + dratio_dc * d_c * max_grad(rp, rg);
  return {loss, -dl_iou_l + two_ratio * dl_ratio_l, -dl_iou_r + two_ratio * dl_ratio_r};
}

// The model EMA update e ← decay·e + (1 − decay)·θ, in the order of the reference's ops;
// both factors come rounded from double, as the scalars of `decay * e + (1. - decay) * m` are.
template <typename T>
ASL_HD T ema_step(T average, T value, T decay, T one_minus_decay) {
  return average * decay + one_minus_decay * value;
}

}  // namespace asl::kernels
