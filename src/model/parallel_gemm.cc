#include "model/parallel_gemm.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
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
  return multiply_adds >= kMinMultiplyAdds && !c10::GradMode::is_enabled() &&
         at::get_num_threads() > 1 && !at::in_parallel_region() && blas_threads() == 1;
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
