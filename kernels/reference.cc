// The CPU reference of every kernel: the shared bodies in one plain loop, and NMS written as
// the CUDA kernels do it (all decays of a pass at once, then the pass's compaction).
#include <algorithm>
#include <numeric>
#include <utility>

#include "kernels/launch.h"
#include "kernels/loss_math.h"
#include "kernels/nms_math.h"

namespace asl::kernels::cpu {

void focal_loss(const float* z, const float* y, int64_t n, float alpha, float gamma,
                float* loss, float* grad) {
  for (int64_t i = 0; i < n; ++i) {
    const FocalTerms<float> t = focal_terms(z[i], y[i], alpha, gamma);
    loss[i] = t.loss;
    grad[i] = t.grad;
  }
}

void diou_loss(const float* pred, const float* target, int64_t n, float eps, float* loss,
               float* grad) {
  for (int64_t i = 0; i < n; ++i) {
    const DiouTerms<float> t =
        diou_terms(pred[2 * i], pred[2 * i + 1], target[2 * i], target[2 * i + 1], eps);
    loss[i] = t.loss;
    grad[2 * i] = t.grad_left;
    grad[2 * i + 1] = t.grad_right;
  }
}

void local_attention_forward(const float* q, const float* k, const float* v,
                             const uint8_t* valid, const LocalAttentionShape& s, float* out) {
  const int64_t head = s.length * s.dim;
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads; ++h) {
      const int64_t off = (b * s.heads + h) * head;
      for (int64_t t = 0; t < s.length; ++t)
        local_attention_row(q + off, k + off, v + off, valid + b * s.length, s, t, out + off);
    }
}

void local_attention_backward(const float* q, const float* k, const float* v,
                              const uint8_t* valid, const LocalAttentionShape& s,
                              const float* dout, float* dq, float* dk, float* dv) {
  const int64_t head = s.length * s.dim, total = s.batch * s.heads * head;
  std::fill(dk, dk + total, 0.f);
  std::fill(dv, dv + total, 0.f);
  const auto add = [](float* where, float value) { *where += value; };
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads; ++h) {
      const int64_t off = (b * s.heads + h) * head;
      for (int64_t t = 0; t < s.length; ++t)
        local_attention_row_backward(q + off, k + off, v + off, valid + b * s.length, s, t,
                                     dout + off, dq + off, dk + off, dv + off, add);
    }
}

void ema_update(const EmaSpan* spans, int64_t count, float decay, float one_minus_decay) {
  for (int64_t s = 0; s < count; ++s)
    for (int64_t i = 0; i < spans[s].n; ++i)
      spans[s].average[i] = ema_step(spans[s].average[i], spans[s].value[i], decay,
                                     one_minus_decay);
}

namespace {

struct Work {
  float* start;
  float* end;
  float* score;
  float* length;
  void move(int64_t to, int64_t from) {
    start[to] = start[from];
    end[to] = end[from];
    score[to] = score[from];
    length[to] = length[from];
  }
  void swap(int64_t a, int64_t b) {
    std::swap(start[a], start[b]);
    std::swap(end[a], end[b]);
    std::swap(score[a], score[b]);
    std::swap(length[a], length[b]);
  }
};

// Gaussian soft-NMS of one group in place; returns how many were emitted (into out*).
int64_t soft_group(Work w, int64_t n, const GroupNmsOptions& o, float* out_start,
                   float* out_end, float* out_score) {
  std::vector<uint8_t> dead(n);
  int64_t emitted = 0;
  for (int64_t i = 0; i < n; ++i) {
    // The first position holding the maximum (the kernel: a block-wide reduction).
    int64_t best = i;
    for (int64_t pos = i + 1; pos < n; ++pos)
      if (w.score[pos] > w.score[best]) best = pos;
    w.swap(i, best);
    out_start[emitted] = w.start[i];
    out_end[emitted] = w.end[i];
    out_score[emitted] = w.score[i];
    ++emitted;
    // Every remaining segment decays once per pass, whatever position it ends up in.
    int64_t alive = 0;
    for (int64_t pos = i + 1; pos < n; ++pos) {
      const float iou =
          nms_overlap(w.start[i], w.end[i], w.length[i], w.start[pos], w.end[pos], w.length[pos]);
      w.score[pos] *= soft_nms_weight(iou, o.sigma);
      dead[pos] = w.score[pos] < o.min_score;
      alive += !dead[pos];
    }
    // The extension fills each dropped position with the last segment still there. The
    // outcome: the k-th hole below the new end gets the k-th surviving segment counted
    // from the back (the kernel pairs them with warp ballots).
    const int64_t new_n = i + 1 + alive;
    int64_t src = n - 1;
    for (int64_t hole = i + 1; hole < new_n; ++hole) {
      if (!dead[hole]) continue;
      while (dead[src]) --src;
      w.move(hole, src);
      dead[hole] = 0;
      --src;
    }
    n = new_n;
  }
  return emitted;
}

// Greedy NMS of one group: positions by descending score (ties: input order).
int64_t hard_group(const float* start, const float* end, const float* score, int64_t n,
                   const GroupNmsOptions& o, float* out_start, float* out_end,
                   float* out_score) {
  // The kernel finds each position's rank by counting; a stable sort is the same order.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return score[a] > score[b]; });
  std::vector<uint8_t> selected(n, 1);
  for (int64_t ri = 0; ri < n; ++ri) {
    if (!selected[ri]) continue;
    const int64_t i = order[ri];
    const float li = nms_length(start[i], end[i]);
    for (int64_t rj = ri + 1; rj < n; ++rj) {
      if (!selected[rj]) continue;
      const int64_t j = order[rj];
      if (nms_overlap(start[i], end[i], li, start[j], end[j], nms_length(start[j], end[j])) >=
          o.iou_threshold)
        selected[rj] = 0;
    }
  }
  int64_t kept = 0;
  for (int64_t r = 0; r < n; ++r) {
    if (!selected[r]) continue;
    out_start[kept] = start[order[r]];
    out_end[kept] = end[order[r]];
    out_score[kept] = score[order[r]];
    ++kept;
  }
  return kept;
}

}  // namespace

void group_nms(const SegmentGroups& g, const GroupNmsOptions& o, GroupNmsResult& r) {
  const int64_t total = g.size();
  r.start.assign(total, 0.f);
  r.end.assign(total, 0.f);
  r.score.assign(total, 0.f);
  r.count.assign(g.num_groups(), 0);
  std::vector<float> start = g.start, end = g.end, score = g.score, length(total);
  for (int64_t k = 0; k < total; ++k) length[k] = nms_length(start[k], end[k]);
  for (int64_t grp = 0; grp < g.num_groups(); ++grp) {
    const int64_t base = g.offsets[grp], n = g.offsets[grp + 1] - base;
    float* os = r.start.data() + base;
    float* oe = r.end.data() + base;
    float* osc = r.score.data() + base;
    r.count[grp] = o.method == GroupNmsMethod::kSoft
                       ? soft_group({start.data() + base, end.data() + base,
                                     score.data() + base, length.data() + base},
                                    n, o, os, oe, osc)
                       : hard_group(g.start.data() + base, g.end.data() + base,
                                    g.score.data() + base, n, o, os, oe, osc);
  }
}

}  // namespace asl::kernels::cpu
