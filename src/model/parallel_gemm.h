// Large matrix products of one clip spread over LibTorch's intra-op threads, for
// evaluation (no gradients).
//
// Why: LibTorch hands a float matrix product to the BLAS as one call (a bmm, one call per
// batch entry). With OpenBLAS limited to one thread (OPENBLAS_NUM_THREADS=1, the setting
// that keeps OpenBLAS's own pool from fighting the OpenMP threads) that call runs on one
// core, while the convolutions (oneDNN) and element-wise operations use every intra-op
// thread: on the baseline's evaluation forward the matrix products were over half the time,
// with the second core idle. Here the intra-op threads claim batch entries (heads) or
// blocks of output rows one at a time, each a single-threaded GEMM into its slice of one
// output:
// every output element is the same dot product as in the plain call (identical values for
// large blocks; tiny ones may take OpenBLAS's small-matrix kernels and differ in round-off).
// Debian's OpenBLAS (the pthread variant) may be called from several threads at once.
//
// parallel_matmul / parallel_linear take the plain LibTorch call when gradients are
// recorded (training keeps its autograd graph), inside a parallel region,
// with one intra-op thread, when OpenBLAS runs threads of its own (it spreads each product
// itself then), for non-float or non-CPU tensors, and for small products.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace asl::model {

// at::matmul for a [..., M, K] and b [..., K, N] with the same batch sizes, or b [K, N].
// Other shapes (broadcast batches, vectors) take at::matmul.
at::Tensor parallel_matmul(const at::Tensor& a, const at::Tensor& b);

// at::linear: x [..., in], weight [out, in], bias [out] or undefined -> [..., out].
at::Tensor parallel_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// Whether the two functions above split a product of this many multiply-adds now.
bool splits_matrix_products(int64_t multiply_adds);

// The split itself, whatever the grad mode and size (the functions above choose; tests call
// these): the product cut into items for `threads` threads (batch entries, or blocks of at
// least 64 rows), run on the intra-op threads.
// Shapes the split does not handle take at::matmul / at::linear.
at::Tensor split_matmul(const at::Tensor& a, const at::Tensor& b, int64_t threads);
at::Tensor split_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                        int64_t threads);

}  // namespace asl::model
