// Batched 1-D NMS: one thread block per group (one clip and class). Soft-NMS keeps the
// extension's sequential semantics exactly (kernels/reference.cc explains the formulation):
// per pass a block-wide first-maximum, the decay of all remaining segments in parallel, then
// warp 0 pairs the dropped positions with the survivors from the back using ballots.
#include <climits>
#include <vector>

#include "kernels/cuda/check.cuh"
#include "kernels/launch.h"
#include "kernels/nms_math.h"

namespace asl::kernels::cuda {
namespace {

constexpr int kBlock = 256;

struct Arrays {
  float* start;
  float* end;
  float* score;
  float* length;
  uint8_t* flag;  // soft: dropped in this pass; hard: still selected
  int* order;     // hard: position of rank r
  float* out_start;
  float* out_end;
  float* out_score;
  int64_t* count;
};

// The first position of the largest score in [from, n) (block-wide; every thread gets it).
__device__ int first_max(const float* score, int from, int n, float* red_s, int* red_p) {
  float best = -INFINITY;
  int pos = INT_MAX;
  for (int p = from + threadIdx.x; p < n; p += blockDim.x)
    if (pos == INT_MAX || score[p] > best) {  // strided: earlier p of this thread come first
      best = score[p];
      pos = p;
    }
  red_s[threadIdx.x] = best;
  red_p[threadIdx.x] = pos;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      const float s = red_s[threadIdx.x + half];
      const int p = red_p[threadIdx.x + half];
      if (p != INT_MAX && (red_p[threadIdx.x] == INT_MAX || s > red_s[threadIdx.x] ||
                           (s == red_s[threadIdx.x] && p < red_p[threadIdx.x]))) {
        red_s[threadIdx.x] = s;
        red_p[threadIdx.x] = p;
      }
    }
    __syncthreads();
  }
  const int result = red_p[0];
  __syncthreads();
  return result;
}

__device__ void move(const Arrays& a, int to, int from) {
  a.start[to] = a.start[from];
  a.end[to] = a.end[from];
  a.score[to] = a.score[from];
  a.length[to] = a.length[from];
}

__global__ void soft_kernel(Arrays a, const int64_t* offsets, float sigma, float min_score) {
  __shared__ float red_s[kBlock];
  __shared__ int red_p[kBlock];
  __shared__ int alive;
  const int64_t base = offsets[blockIdx.x];
  int n = static_cast<int>(offsets[blockIdx.x + 1] - base);
  Arrays g = {a.start + base, a.end + base, a.score + base, a.length + base, a.flag + base,
              nullptr, a.out_start + base, a.out_end + base, a.out_score + base, nullptr};
  for (int p = threadIdx.x; p < n; p += blockDim.x) g.length[p] = nms_length(g.start[p], g.end[p]);
  __syncthreads();
  int emitted = 0;
  for (int i = 0; i < n; ++i) {
    const int best = first_max(g.score, i, n, red_s, red_p);
    if (threadIdx.x == 0) {
      const float s = g.start[best], e = g.end[best], sc = g.score[best], l = g.length[best];
      move(g, best, i);
      g.start[i] = s;
      g.end[i] = e;
      g.score[i] = sc;
      g.length[i] = l;
      g.out_start[emitted] = s;
      g.out_end[emitted] = e;
      g.out_score[emitted] = sc;
      alive = 0;
    }
    ++emitted;
    __syncthreads();
    const float ts = g.start[i], te = g.end[i], tl = g.length[i];
    int mine = 0;
    for (int p = i + 1 + threadIdx.x; p < n; p += blockDim.x) {
      const float iou = nms_overlap(ts, te, tl, g.start[p], g.end[p], g.length[p]);
      g.score[p] *= soft_nms_weight(iou, sigma);
      g.flag[p] = g.score[p] < min_score;
      mine += !g.flag[p];
    }
    atomicAdd(&alive, mine);
    __syncthreads();
    const int new_n = i + 1 + alive;
    if (threadIdx.x < 32) {
      const int lane = threadIdx.x;
      int hole_base = i + 1, src_base = n - 1, hb = 0, sb = 0;
      unsigned holes = 0, srcs = 0;
      while (true) {
        if (!holes) {
          if (hole_base >= new_n) break;
          const int p = hole_base + lane;
          holes = __ballot_sync(0xffffffffu, p < new_n && g.flag[p]);
          hb = hole_base;
          hole_base += 32;
          continue;
        }
        if (!srcs) {
          if (src_base < new_n) break;  // cannot happen: as many survivors as holes
          const int p = src_base - lane;
          srcs = __ballot_sync(0xffffffffu, p >= new_n && !g.flag[p]);
          sb = src_base;
          src_base -= 32;
          continue;
        }
        const int h = hb + __ffs(holes) - 1, s = sb - (__ffs(srcs) - 1);
        if (lane == 0) {
          move(g, h, s);
          g.flag[h] = 0;
        }
        __syncwarp();
        holes &= holes - 1;
        srcs &= srcs - 1;
      }
    }
    n = new_n;
    __syncthreads();
  }
  if (threadIdx.x == 0) a.count[blockIdx.x] = emitted;
}

__global__ void hard_kernel(Arrays a, const int64_t* offsets, float iou_threshold) {
  const int64_t base = offsets[blockIdx.x];
  const int n = static_cast<int>(offsets[blockIdx.x + 1] - base);
  const float* start = a.start + base;
  const float* end = a.end + base;
  const float* score = a.score + base;
  uint8_t* selected = a.flag + base;
  int* order = a.order + base;
  // Rank by counting: higher scores first, ties in input order (a stable sort).
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    int rank = 0;
    const float sj = score[j];
    for (int k = 0; k < n; ++k) rank += score[k] > sj || (score[k] == sj && k < j);
    order[rank] = j;
    selected[rank] = 1;
  }
  __syncthreads();
  for (int ri = 0; ri < n; ++ri) {
    if (selected[ri]) {
      const int i = order[ri];
      const float si = start[i], ei = end[i], li = nms_length(si, ei);
      for (int rj = ri + 1 + threadIdx.x; rj < n; rj += blockDim.x) {
        if (!selected[rj]) continue;
        const int j = order[rj];
        if (nms_overlap(si, ei, li, start[j], end[j], nms_length(start[j], end[j])) >=
            iou_threshold)
          selected[rj] = 0;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    int kept = 0;
    for (int r = 0; r < n; ++r) {
      if (!selected[r]) continue;
      a.out_start[base + kept] = start[order[r]];
      a.out_end[base + kept] = end[order[r]];
      a.out_score[base + kept] = score[order[r]];
      ++kept;
    }
    a.count[blockIdx.x] = kept;
  }
}

// Device memory for the call, freed on every path.
struct DeviceBuffer {
  void* ptr = nullptr;
  DeviceBuffer(size_t bytes, const char* what) {
    if (bytes) check(cudaMalloc(&ptr, bytes), what);
  }
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(ptr); }
};

}  // namespace

bool device_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

void group_nms(const SegmentGroups& groups, const GroupNmsOptions& o, GroupNmsResult& r,
               void* stream_ptr) {
  const char* what = "group_nms";
  const int64_t total = groups.size(), num = groups.num_groups();
  for (int64_t g = 0; g < num; ++g)
    if (groups.offsets[g + 1] - groups.offsets[g] > INT_MAX / 2)
      throw Error(what, "a group of more than 2^30 segments", "split the batch");
  r.start.assign(total, 0.f);
  r.end.assign(total, 0.f);
  r.score.assign(total, 0.f);
  r.count.assign(num, 0);
  if (num == 0) return;
  const cudaStream_t stream = as_stream(stream_ptr);
  const size_t fbytes = sizeof(float) * total;
  DeviceBuffer floats(fbytes * 7, what), flags(total, what), order(sizeof(int) * total, what),
      offsets(sizeof(int64_t) * (num + 1), what), counts(sizeof(int64_t) * num, what);
  float* f = floats.as<float>();
  Arrays a{f, f + total, f + 2 * total, f + 3 * total, flags.as<uint8_t>(), order.as<int>(),
           f + 4 * total, f + 5 * total, f + 6 * total, counts.as<int64_t>()};
  if (total) {
    check(cudaMemcpyAsync(a.start, groups.start.data(), fbytes, cudaMemcpyHostToDevice, stream), what);
    check(cudaMemcpyAsync(a.end, groups.end.data(), fbytes, cudaMemcpyHostToDevice, stream), what);
    check(cudaMemcpyAsync(a.score, groups.score.data(), fbytes, cudaMemcpyHostToDevice, stream), what);
  }
  check(cudaMemcpyAsync(offsets.ptr, groups.offsets.data(), sizeof(int64_t) * (num + 1),
                        cudaMemcpyHostToDevice, stream),
        what);
  if (o.method == GroupNmsMethod::kSoft)
    soft_kernel<<<static_cast<unsigned>(num), kBlock, 0, stream>>>(a, offsets.as<int64_t>(),
                                                                   o.sigma, o.min_score);
  else
    hard_kernel<<<static_cast<unsigned>(num), kBlock, 0, stream>>>(a, offsets.as<int64_t>(),
                                                                   o.iou_threshold);
  check_launch(what);
  if (total) {
    check(cudaMemcpyAsync(r.start.data(), a.out_start, fbytes, cudaMemcpyDeviceToHost, stream), what);
    check(cudaMemcpyAsync(r.end.data(), a.out_end, fbytes, cudaMemcpyDeviceToHost, stream), what);
    check(cudaMemcpyAsync(r.score.data(), a.out_score, fbytes, cudaMemcpyDeviceToHost, stream), what);
  }
  check(cudaMemcpyAsync(r.count.data(), a.count, sizeof(int64_t) * num, cudaMemcpyDeviceToHost,
                        stream),
        what);
  check(cudaStreamSynchronize(stream), what);
}

}  // namespace asl::kernels::cuda
