// The split matrix products (model/parallel_gemm.h) against the plain LibTorch calls:
// odd sizes and block counts, strided (transposed, permuted) operands, one or
// several batch entries, with and without a bias; and the plain path wherever gradients
// are recorded.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <limits>
#include <vector>

#include "model/parallel_gemm.h"

namespace asl::model {
namespace {

// The same dot products, each a single-threaded GEMM over a block: identical values for
// large blocks with Debian's OpenBLAS; tiny blocks may take its small-matrix kernels and
// differ in float round-off.
void expect_same(const at::Tensor& got, const at::Tensor& expected) {
  ASSERT_EQ(got.sizes(), expected.sizes());
  const double scale = expected.abs().max().item<double>() + 1.0;
  EXPECT_LE((got - expected).abs().max().item<double>(), 1e-6 * scale);
}

// Runs with two intra-op threads (the CI machine's count) and restores the setting.
class ParallelGemm : public ::testing::Test {
 protected:
  void SetUp() override {
    threads_ = at::get_num_threads();
    at::set_num_threads(2);
    torch::manual_seed(3);
  }
  void TearDown() override { at::set_num_threads(threads_); }
  int threads_ = 1;
};

TEST_F(ParallelGemm, MatmulEqualsThePlainCallForOddShapesAndBlockCounts) {
  torch::NoGradGuard no_grad;
  struct Case {
    std::vector<int64_t> a, b;
  };
  const std::vector<Case> cases = {
      {{37, 29}, {29, 11}},           // 2-D, fewer rows than a block
      {{301, 29}, {29, 11}},          // 2-D, odd rows in blocks of 64 and more
      {{3, 97, 29}, {29, 11}},        // batch folded into rows against one matrix
      {{1, 1, 259, 7}, {1, 1, 7, 3}}, // one entry, rows split
      {{2, 3, 1, 9}, {2, 3, 9, 4}},   // one row per entry
      {{5, 131, 6}, {5, 6, 17}},      // an odd batch over the threads, rows split
      {{13, 7, 6}, {13, 6, 5}},       // more entries than items wanted: whole entries
  };
  for (const Case& c : cases) {
    const at::Tensor a = torch::randn(c.a), b = torch::randn(c.b);
    for (int64_t threads : {1, 2, 3, 5, 8}) {
      SCOPED_TRACE(::testing::PrintToString(c.a) + " @ " + ::testing::PrintToString(c.b) +
                   ", " + std::to_string(threads) + " threads");
      expect_same(split_matmul(a, b, threads), at::matmul(a, b));
    }
  }
}

TEST_F(ParallelGemm, MatmulTakesStridedOperandsLikeAttention) {
  torch::NoGradGuard no_grad;
  // [B, heads*hs, T] viewed as [B, heads, T, hs]: transposed matrices per head.
  const int64_t B = 1, heads = 3, hs = 5, T = 151;
  const at::Tensor q = torch::randn({B, heads * hs, T}).view({B, heads, hs, T}).transpose(2, 3);
  const at::Tensor k = torch::randn({B, heads * hs, T}).view({B, heads, hs, T}).transpose(2, 3);
  const at::Tensor scores = at::matmul(q, k.transpose(-2, -1));
  // XLNet's layout [T, B, n, d] permuted to [B, n, T, d] and [B, n, d, T].
  const at::Tensor h = torch::randn({T, 2, heads, hs});
  const at::Tensor g = torch::randn({2 * T, 2, heads, hs});
  for (int64_t threads : {2, 3}) {
    expect_same(split_matmul(q, k.transpose(-2, -1), threads), scores);
    expect_same(split_matmul(scores, q, threads), at::matmul(scores, q));
    expect_same(split_matmul(h.permute({1, 2, 0, 3}), g.permute({1, 2, 3, 0}), threads),
                at::matmul(h.permute({1, 2, 0, 3}), g.permute({1, 2, 3, 0})));
  }
}

// The blocked evaluation attention against the plain formulation, computed in double:
// several batch entries and heads, lengths that are not a multiple of the row block, padded
// keys (-inf before the softmax, zero values), 1 to 3 threads.
TEST_F(ParallelGemm, BlockedAttentionEqualsThePlainFormulation) {
  torch::NoGradGuard no_grad;
  for (const int64_t T : {5, 64, 150}) {
    SCOPED_TRACE(T);
    const at::Tensor q = torch::randn({2, 3, T, 8}) * 0.5;
    const at::Tensor k = torch::randn({2, 3, T, 8});
    const at::Tensor v = torch::randn({2, 3, T, 8});
    at::Tensor valid = torch::ones({2, 1, T}, torch::kBool);
    valid.index_put_({1, 0, torch::indexing::Slice(T - T / 3, torch::indexing::None)}, false);
    const at::Tensor qd = q.to(torch::kDouble), kd = k.to(torch::kDouble), vd = v.to(torch::kDouble);
    at::Tensor scores = at::matmul(qd, kd.transpose(-2, -1));
    scores = scores.masked_fill(at::logical_not(valid.unsqueeze(2)),
                                -std::numeric_limits<double>::infinity());
    const at::Tensor want =
        at::matmul(at::softmax(scores, -1), vd * valid.unsqueeze(-1).to(torch::kDouble));
    for (const int64_t threads : {1, 2, 3}) {
      const at::Tensor got = blocked_attention(q, k, v, valid, threads);
      ASSERT_TRUE(got.defined());
      EXPECT_LE((got.to(torch::kDouble) - want).abs().max().item<double>(), 1e-5);
    }
    // A transposed view (as the attention module passes q, k, v) gives the same.
    const at::Tensor qt = q.transpose(2, 3).contiguous().transpose(2, 3);
    EXPECT_LE((blocked_attention(qt, k, v, valid, 2).to(torch::kDouble) - want).abs().max().item<double>(),
              1e-5);
  }
  // Not handled: other types and shapes, for the caller's plain path.
  const at::Tensor d = torch::randn({1, 1, 4, 2}, torch::kDouble);
  EXPECT_FALSE(blocked_attention(d, d, d, torch::ones({1, 1, 4}, torch::kBool), 2).defined());
  const at::Tensor f = torch::randn({4, 2});
  EXPECT_FALSE(blocked_attention(f, f, f, torch::ones({1, 4}, torch::kBool), 2).defined());
}

// Training: the gradients of the blocked attention (recomputed block by block in its
// backward) against autograd through the plain formulation in double precision, with
// padded keys, lengths that are not a multiple of the row block, and 1 to 3 threads.
TEST_F(ParallelGemm, BlockedAttentionGradientsEqualThePlainFormulations) {
  for (const int64_t T : {7, 130}) {
    SCOPED_TRACE(T);
    const at::Tensor q0 = torch::randn({2, 2, T, 8}) * 0.5, k0 = torch::randn({2, 2, T, 8});
    const at::Tensor v0 = torch::randn({2, 2, T, 8}), g = torch::randn({2, 2, T, 8});
    at::Tensor valid = torch::ones({2, 1, T}, torch::kBool);
    valid.index_put_({0, 0, torch::indexing::Slice(T - T / 4, torch::indexing::None)}, false);

    const at::Tensor qd = q0.to(torch::kDouble).requires_grad_(), kd = k0.to(torch::kDouble).requires_grad_();
    const at::Tensor vd = v0.to(torch::kDouble).requires_grad_();
    at::Tensor scores = at::matmul(qd, kd.transpose(-2, -1))
                            .masked_fill(at::logical_not(valid.unsqueeze(2)),
                                         -std::numeric_limits<double>::infinity());
    const at::Tensor want =
        at::matmul(at::softmax(scores, -1), vd * valid.unsqueeze(-1).to(torch::kDouble));
    (want * g.to(torch::kDouble)).sum().backward();

    for (const int64_t threads : {1, 2, 3}) {
      const at::Tensor q = q0.clone().requires_grad_(), k = k0.clone().requires_grad_();
      const at::Tensor v = v0.clone().requires_grad_();
      const at::Tensor got = blocked_attention(q, k, v, valid, threads);
      ASSERT_TRUE(got.defined());
      ASSERT_TRUE(got.requires_grad());
      EXPECT_LE((got.detach().to(torch::kDouble) - want.detach()).abs().max().item<double>(), 1e-5);
      (got * g).sum().backward();
      EXPECT_LE((q.grad().to(torch::kDouble) - qd.grad()).abs().max().item<double>(), 1e-4);
      EXPECT_LE((k.grad().to(torch::kDouble) - kd.grad()).abs().max().item<double>(), 1e-4);
      EXPECT_LE((v.grad().to(torch::kDouble) - vd.grad()).abs().max().item<double>(), 1e-4);
    }
  }
}

TEST_F(ParallelGemm, LinearEqualsThePlainCallWithAndWithoutBias) {
  torch::NoGradGuard no_grad;
  const at::Tensor weight = torch::randn({19, 33});
  const at::Tensor bias = torch::randn({19});
  // Contiguous rows, and [B,C,T] permuted to [B,T,C] as in the channel block.
  const std::vector<at::Tensor> inputs = {torch::randn({41, 33}), torch::randn({263, 33}),
                                          torch::randn({2, 33, 133}).permute({0, 2, 1})};
  for (const at::Tensor& x : inputs) {
    for (int64_t threads : {1, 2, 3, 7}) {
      expect_same(split_linear(x, weight, bias, threads), at::linear(x, weight, bias));
      expect_same(split_linear(x, weight, at::Tensor(), threads), at::linear(x, weight));
    }
  }
}

TEST_F(ParallelGemm, UnhandledShapesAndTypesTakeThePlainCall) {
  torch::NoGradGuard no_grad;
  const at::Tensor a = torch::randn({2, 4, 3}), b = torch::randn({1, 3, 5});  // broadcast batch
  expect_same(split_matmul(a, b, 2), at::matmul(a, b));
  const at::Tensor v = torch::randn({3});
  expect_same(split_matmul(a, v, 2), at::matmul(a, v));
  const at::Tensor ad = torch::randn({6, 7}, torch::kDouble);
  const at::Tensor bd = torch::randn({7, 2}, torch::kDouble);
  EXPECT_TRUE(torch::equal(split_matmul(ad, bd, 2), at::matmul(ad, bd)));
  EXPECT_THROW(split_matmul(torch::randn({2, 3}), torch::randn({4, 5}), 2), c10::Error);
}

TEST_F(ParallelGemm, SplitsLargeProductsInEvaluationOnlyAndKeepsAutograd) {
  const int64_t large = int64_t{1} << 24;
  {
    torch::NoGradGuard no_grad;
    EXPECT_FALSE(splits_matrix_products(16));  // small products: not worth a split
    at::set_num_threads(1);
    EXPECT_FALSE(splits_matrix_products(large));
    at::set_num_threads(2);
  }
  EXPECT_FALSE(splits_matrix_products(large));  // gradients recorded

  // Training: the plain call, with its graph.
  const at::Tensor a = torch::randn({3, 64, 128}, torch::requires_grad());
  const at::Tensor b = torch::randn({3, 128, 96});
  const at::Tensor weight = torch::randn({256, 128}, torch::requires_grad());
  parallel_matmul(a, b).sum().backward();
  parallel_linear(a, weight, at::Tensor()).sum().backward();
  ASSERT_TRUE(a.grad().defined());
  ASSERT_TRUE(weight.grad().defined());
  const at::Tensor a2 = a.detach().requires_grad_();
  const at::Tensor w2 = weight.detach().requires_grad_();
  (at::matmul(a2, b).sum() + at::linear(a2, w2).sum()).backward();
  expect_same(a.grad(), a2.grad());
  expect_same(weight.grad(), w2.grad());

  // Evaluation, large enough to split where the BLAS runs one thread: the plain values.
  torch::NoGradGuard no_grad;
  // Parameters that require grad, read on the worker threads (grad mode is per thread).
  expect_same(split_linear(a, weight, at::Tensor(), 2), at::linear(a, weight));
  expect_same(split_matmul(a, weight.t(), 3), at::matmul(a, weight.t()));
  const at::Tensor big_a = torch::randn({2, 257, 513}), big_b = torch::randn({2, 513, 129});
  expect_same(parallel_matmul(big_a, big_b), at::matmul(big_a, big_b));
  const at::Tensor big_weight = torch::randn({67, 513}), big_bias = torch::randn({67});
  expect_same(parallel_linear(big_a, big_weight, big_bias),
              at::linear(big_a, big_weight, big_bias));
}

}  // namespace
}  // namespace asl::model
