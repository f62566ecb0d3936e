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

// Global attention, softmax(q kᵀ + key mask) (v masked), for q, k, v [B, n, T, d] (q
// already scaled) and key_valid [B, T] bool, one block of query rows at a time: a block's
// scores stay in the core's cache from the product through the softmax to the product with
// v, instead of the [B, n, T, T] score tensor going through memory several times. The
// intra-op threads (`threads` of them) claim (entry, head, row block) items one at a time.
// With gradients recorded it is an autograd function whose backward recomputes each
// block's softmax from the saved log-sum-exp of its rows (nothing of size T x T is kept).
// The caller decides when (attention_in_blocks). Returns an undefined tensor for shapes and
// types it does not handle (float CPU tensors only); the caller then takes the plain
// formulation. Same values and gradients to float round-off.
at::Tensor blocked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& key_valid, int64_t threads);

// Whether blocked_attention pays for attention of this many multiply-adds (q kᵀ and the
// product with v) now: large enough, several intra-op threads, OpenBLAS on one thread,
// outside a parallel region; in evaluation and in training alike.
bool attention_in_blocks(int64_t multiply_adds);

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
