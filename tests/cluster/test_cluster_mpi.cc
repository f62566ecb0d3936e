// The cluster layer under `mpirun -np 2`: the runtime's view of the job, the MPI
// communicator's collectives, and the gradient buckets' averages against hand-computed
// ones. Every rank runs every test; only rank 0 prints.
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "cluster/gradient_buckets.h"
#include "cluster/make_communicator.h"
#include "cluster/mpi_communicator.h"
#include "cluster/runtime.h"
#include "common/test_util.h"

namespace asl::cluster {
namespace {

using asl::testing::error_of;

const Runtime& runtime() { return *Runtime::current(); }

MpiCommunicator& comm() {
  static MpiCommunicator c(runtime(), 60.0);
  return c;
}

TEST(RuntimeMpi, SeesTheWholeJob) {
  ASSERT_TRUE(runtime().distributed());
  ASSERT_EQ(runtime().size(), 2) << "run with mpirun -np 2";
  int r = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  EXPECT_EQ(runtime().rank(), r);
  // Both ranks run on this machine: the node-local communicator holds both.
  EXPECT_EQ(runtime().local_size(), 2);
  EXPECT_EQ(runtime().local_rank(), r);
  EXPECT_EQ(runtime().prefix(), "[rank " + std::to_string(r) + "/2] ");
  EXPECT_EQ(runtime().device(false), "cpu");
}

TEST(RuntimeMpi, FactoryPicksMpiForCpu) {
  auto c = make_communicator(runtime(), "cpu");
  EXPECT_EQ(c->name(), "mpi");
  EXPECT_EQ(c->size(), 2);
  EXPECT_EQ(c->rank(), runtime().rank());
}

// A rank that computes on the CPU among GPU ranks (or the reverse) is refused on every rank
// with one message naming it and its host, before any NCCL set-up (no hang).
TEST(RuntimeMpi, RanksThatDisagreeOnTheDeviceAreRefusedOnEveryRank) {
  const std::string mine = runtime().rank() == 1 ? "cuda:0" : "cpu";
  const std::string message =
      error_of([&] { check_ranks_agree_on_device(comm(), runtime(), mine); });
  EXPECT_NE(message.find("rank 1 (" + runtime().hostname() + ") on cuda"), std::string::npos)
      << message;
  EXPECT_NE(message.find("rank 0"), std::string::npos) << message;
  // Agreement passes silently.
  check_ranks_agree_on_device(comm(), runtime(), "cpu");
}

// mpi with CUDA tensors is allowed now (host copies); on the CPU the factory still gives MPI.
TEST(RuntimeMpi, MpiBackendIsAcceptedWhateverTheDevice) {
  auto c = make_communicator(runtime(), "cpu", "mpi");
  EXPECT_EQ(c->name(), "mpi");
}

TEST(MpiCommunicator, AllReduceSumsAndAveragesEveryDtype) {
  const int r = comm().rank();
  // Rank r holds (r+1) * base; the sum is 3 * base, the average 1.5 * base.
  auto f = torch::tensor({1.0f, -2.0f, 0.25f}) * (r + 1);
  comm().allreduce(f, ReduceOp::Sum);
  EXPECT_TRUE(torch::equal(f, torch::tensor({3.0f, -6.0f, 0.75f})));
  auto d = torch::tensor({1.0, 3.0}, torch::kDouble) * (r + 1);
  comm().allreduce(d, ReduceOp::Average);
  EXPECT_TRUE(torch::equal(d, torch::tensor({1.5, 4.5}, torch::kDouble)));
  auto l = torch::tensor({int64_t{1} << 40, int64_t{-5}}, torch::kInt64) * (r + 1);
  comm().allreduce(l, ReduceOp::Sum);
  EXPECT_TRUE(torch::equal(l, torch::tensor({int64_t{3} << 40, int64_t{-15}}, torch::kInt64)));
  auto i = torch::full({4}, r + 1, torch::kInt32);
  comm().allreduce(i, ReduceOp::Sum);
  EXPECT_TRUE(torch::equal(i, torch::full({4}, 3, torch::kInt32)));
}

TEST(MpiCommunicator, AllReduceOfANonContiguousTensorWritesItInPlace) {
  const int r = comm().rank();
  auto m = torch::arange(6, torch::kFloat).reshape({2, 3}) * (r + 1);
  auto column_major = m.t();  // a non-contiguous view
  comm().allreduce(column_major, ReduceOp::Sum);
  EXPECT_TRUE(torch::equal(m, torch::arange(6, torch::kFloat).reshape({2, 3}) * 3));
}

TEST(MpiCommunicator, AsyncAllReduceAverages) {
  const int r = comm().rank();
  auto buf = torch::full({1000}, 2.0f * r);  // 0 and 2: average 1
  auto work = comm().allreduce_async(buf, ReduceOp::Average);
  work->wait();
  EXPECT_TRUE(work->test());
  EXPECT_TRUE(torch::equal(buf, torch::ones({1000})));
}

TEST(MpiCommunicator, RejectsWhatItCannotReduce) {
  auto half = torch::ones({2}, torch::kHalf);
  EXPECT_HAS(error_of([&] { comm().allreduce(half, ReduceOp::Sum); }), "float32");
  auto ints = torch::ones({2}, torch::kInt64);
  EXPECT_HAS(error_of([&] { comm().allreduce(ints, ReduceOp::Average); }), "cannot average");
  auto t = torch::ones({2});
  EXPECT_HAS(error_of([&] { comm().broadcast(t, 2); }), "broadcast from rank 2");
  auto strided = torch::ones({4}).slice(0, 0, 4, 2);
  EXPECT_HAS(error_of([&] { comm().allreduce_async(strided, ReduceOp::Sum); }), "contiguous");
}

TEST(MpiCommunicator, BroadcastFromEitherRoot) {
  const int r = comm().rank();
  auto t = torch::full({3, 2}, static_cast<float>(r + 10));
  comm().broadcast(t, 0);
  EXPECT_TRUE(torch::equal(t, torch::full({3, 2}, 10.0f)));
  auto h = torch::full({5}, static_cast<double>(r + 20)).to(torch::kHalf);  // any dtype
  comm().broadcast(h, 1);
  EXPECT_TRUE(torch::equal(h, torch::full({5}, 21.0).to(torch::kHalf)));
}

TEST(MpiCommunicator, AllGatherBytesOfDifferentSizesIncludingEmpty) {
  const int r = comm().rank();
  const std::string mine = r == 0 ? std::string() : std::string("rank one\0bytes", 14);
  const auto all = comm().allgather_bytes(mine);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], "");
  EXPECT_EQ(all[1], std::string("rank one\0bytes", 14));
  const auto again = comm().allgather_bytes(std::string(1000 * (r + 1), 'a' + r));
  EXPECT_EQ(again[0], std::string(1000, 'a'));
  EXPECT_EQ(again[1], std::string(2000, 'b'));
  comm().barrier();
}

// Rank r's gradient of parameter i, element j: a value that differs by rank and element.
float grad_value(int rank, size_t i, int64_t j) {
  return static_cast<float>((rank + 1) * 0.37 * (j + 1) - 0.11 * static_cast<double>(i) + rank);
}

// An error raised right after a collective (a stop agreed at an epoch's end, then thrown)
// unwinds through the communicator's destructor. The collective has finished by then; the
// destructor must not count it as still queued and abort the job. (The worker used to mark
// it finished only after waking the caller: a race this loop hit under load.)
TEST(MpiCommunicator, AnErrorRightAfterACollectiveEndsCleanly) {
  int caught = 0;
  for (int i = 0; i < 300; ++i) {
    try {
      auto c = make_communicator(runtime(), "cpu");
      c->allgather_bytes(std::to_string(i));
      throw Error("planned");
    } catch (const Error&) {
      ++caught;
    }
  }
  EXPECT_EQ(caught, 300);
}

TEST(GradientBucketsMpi, AveragedGradientsEqualTheHandComputedAverage) {
  const int r = comm().rank();
  // The last one is large enough to come back as a view of its bucket; the others are
  // copied back with memcpy.
  const std::vector<std::vector<int64_t>> shapes = {{7}, {3, 5}, {1}, {40, 3}, {2, 2, 3},
                                                    {300, 300}};
  std::vector<at::Tensor> params;
  for (const auto& s : shapes) params.push_back(torch::zeros(s).requires_grad_(true));
  for (size_t i = 0; i < params.size(); ++i) {
    std::vector<float> g;
    for (int64_t j = 0; j < params[i].numel(); ++j) g.push_back(grad_value(r, i, j));
    params[i].mutable_grad() = torch::tensor(g).reshape(shapes[i]);
  }
  // Parameter 2 has a gradient on rank 1 only: rank 0 contributes zeros.
  if (r == 0) params[2].mutable_grad() = at::Tensor();
  params.push_back(torch::zeros({4}).requires_grad_(true));  // no gradient anywhere

  GradientBuckets buckets(params, comm(), 100.0 / (1024 * 1024));  // 100-byte buckets
  ASSERT_GT(buckets.num_buckets(), 2u);
  buckets.synchronize();

  for (size_t i = 0; i < shapes.size(); ++i) {
    ASSERT_TRUE(params[i].grad().defined()) << "parameter " << i;
    const auto got = params[i].grad().reshape({-1}).contiguous();
    const float* values = got.data_ptr<float>();
    for (int64_t j = 0; j < got.numel(); ++j) {
      const float g0 = i == 2 ? 0.0f : grad_value(0, i, j);
      const float expected = (g0 + grad_value(1, i, j)) / 2;
      ASSERT_EQ(values[j], expected) << "parameter " << i << " element " << j;
    }
  }
  EXPECT_FALSE(params.back().grad().defined());
}

TEST(GradientBucketsMpi, HookPathMatchesTheBlockingPath) {
  const int r = comm().rank();
  torch::manual_seed(5);  // the same weights on both ranks, different inputs
  torch::nn::Linear a(6, 12), b(12, 3);
  std::vector<at::Tensor> params = a->parameters();
  for (auto& p : b->parameters()) params.push_back(p);
  const auto x = torch::randn({4, 6}) * (r + 1);
  auto loss = [&] { return b(torch::relu(a(x))).pow(2).sum() + b(x.narrow(1, 0, 12 / 2).repeat({1, 2})).sum(); };

  GradientBuckets blocking(params, comm(), 64.0 / (1024 * 1024));
  loss().backward();
  blocking.synchronize();
  std::vector<at::Tensor> expected;
  for (auto& p : params) {
    expected.push_back(p.grad().clone());
    p.mutable_grad() = at::Tensor();
  }

  GradientBuckets hooked(params, comm(), 64.0 / (1024 * 1024));
  hooked.attach_hooks();
  loss().backward();
  hooked.finish();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(torch::equal(params[i].grad(), expected[i])) << "parameter " << i;
  }
}

TEST(GradientBucketsMpi, BroadcastMakesEveryRankHoldRankZerosParameters) {
  const int r = comm().rank();
  torch::manual_seed(100 + r);  // different initialisations per rank
  torch::nn::Linear layer(5, 7);
  std::vector<at::Tensor> tensors = layer->parameters();
  tensors.push_back(torch::full({3}, static_cast<double>(r), torch::kDouble));  // an EMA buffer
  std::vector<std::string> mine;
  broadcast_tensors(comm(), tensors, 0, 50.0 / (1024 * 1024));
  // Compare with rank 0's bytes, gathered independently.
  for (const auto& t : tensors) {
    const auto c = t.detach().contiguous();
    const std::string bytes(static_cast<const char*>(c.data_ptr()), c.nbytes());
    const auto all = comm().allgather_bytes(bytes);
    EXPECT_EQ(all[0], all[1]);
  }
  EXPECT_TRUE(torch::equal(tensors.back(), torch::zeros({3}, torch::kDouble)));
}

}  // namespace
}  // namespace asl::cluster

#include "common/mpi_gtest_main.h"
