// One body for both processors: functions marked ASL_HD compile as CUDA device code under
// nvcc and as plain inline C++ elsewhere, so the CPU reference runs the very arithmetic the
// GPU kernels run and CI can test it without a GPU.
#pragma once

#if defined(__CUDACC__)
#define ASL_HD __host__ __device__ __forceinline__
#else
#define ASL_HD inline
#endif

namespace asl::kernels {

template <typename T>
ASL_HD T hd_min(T a, T b) { return a < b ? a : b; }
template <typename T>
ASL_HD T hd_max(T a, T b) { return a < b ? b : a; }

}  // namespace asl::kernels
