// Gradient buckets in one process: bucket assignment, exact pack/unpack round trips, the
// hook (overlap) path against the blocking path, parameters without gradients, and the
// runtime's world of one. Collectives over several ranks: test_cluster_mpi.cc.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <vector>

#include "cluster/communicator.h"
#include "cluster/gradient_buckets.h"
#include "cluster/make_communicator.h"
#include "cluster/runtime.h"
#include "common/test_util.h"

namespace asl::cluster {
namespace {

using asl::testing::error_of;

// Stands in for a world of several ranks: every all-reduce turns x into 3x + 1 (so the
// buffers' contents matter and a flag 0 becomes > 0, as if another rank had the gradient),
// and records what each launch carried and how many gradients had arrived by then.
class RecordingCommunicator final : public Communicator {
 public:
  struct Launch {
    at::Tensor contents;
    int gradients_seen;
  };

  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "recording"; }
  void allreduce(at::Tensor& t, ReduceOp) override { t.mul_(3).add_(1); }
  std::unique_ptr<Work> allreduce_async(const at::Tensor& flat, ReduceOp) override {
    launches.push_back({flat.clone(), gradients_seen});
    return std::make_unique<PendingWork>(flat);
  }
  void broadcast(at::Tensor&, int) override {}
  std::vector<std::string> allgather_bytes(const std::string& mine) override { return {mine}; }
  void barrier() override {}

  std::vector<Launch> launches;
  int gradients_seen = 0;  // bumped by the test's own hooks

 private:
  class PendingWork final : public Work {
   public:
    explicit PendingWork(at::Tensor t) : t_(std::move(t)) {}
    void wait() override {
      if (!done_) t_.mul_(3).add_(1);
      done_ = true;
    }
    bool test() override { return done_; }

   private:
    at::Tensor t_;
    bool done_ = false;
  };
};

std::vector<at::Tensor> make_params(const std::vector<std::vector<int64_t>>& shapes,
                                    at::ScalarType dtype = at::kFloat) {
  std::vector<at::Tensor> out;
  for (const auto& s : shapes) {
    out.push_back(torch::randn(s, torch::TensorOptions().dtype(dtype)).requires_grad_(true));
  }
  return out;
}

void set_random_grads(std::vector<at::Tensor>& params) {
  for (auto& p : params) p.mutable_grad() = torch::randn_like(p);
}

constexpr double kFloatBytesPerMiB = 1024.0 * 1024.0;

TEST(BucketAssignment, ReverseRegistrationOrderWithinTheCap) {
  // 4-byte floats: sizes 10, 20, 30, 40 elements -> 40, 80, 120, 160 bytes; cap 200 bytes.
  auto params = make_params({{10}, {20}, {30}, {40}});
  const auto buckets = assign_buckets(params, 200);
  // Reverse order: 3 (160) | 2 (120) + 1 (80) = 200, closes at the cap | 0.
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_EQ(buckets[0], (std::vector<size_t>{3}));
  EXPECT_EQ(buckets[1], (std::vector<size_t>{2, 1}));
  EXPECT_EQ(buckets[2], (std::vector<size_t>{0}));
}

TEST(BucketAssignment, AParameterLargerThanABucketGetsItsOwn) {
  auto params = make_params({{2}, {1000}, {3}});
  const auto buckets = assign_buckets(params, 64);  // 16 floats
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_EQ(buckets[0], (std::vector<size_t>{2}));
  EXPECT_EQ(buckets[1], (std::vector<size_t>{1}));
  EXPECT_EQ(buckets[2], (std::vector<size_t>{0}));
}

TEST(BucketAssignment, OneDtypePerBucketAndFrozenParametersLeftOut) {
  auto params = make_params({{4}, {4}});
  auto doubles = make_params({{4}, {4}}, at::kDouble);
  params.insert(params.begin() + 1, doubles.begin(), doubles.end());  // f, d, d, f
  params.push_back(torch::ones({4}));                                // frozen
  const auto buckets = assign_buckets(params, 1 << 20);
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(buckets[0], (std::vector<size_t>{3, 0}));  // float32, first seen
  EXPECT_EQ(buckets[1], (std::vector<size_t>{2, 1}));  // float64
}

TEST(BucketAssignment, BucketSizeMustBePositive) {
  EXPECT_HAS(error_of([] { bucket_cap_bytes(0); }), "dist.bucket_mb");
  EXPECT_HAS(error_of([] { bucket_cap_bytes(-1); }), "positive");
  EXPECT_EQ(bucket_cap_bytes(25), 25 * 1024 * 1024);
}

TEST(GradientBuckets, PackUnpackRoundTripsEveryGradientExactly) {
  torch::manual_seed(1);
  // Odd sizes, a parameter bigger than a bucket, several buckets, three dtypes.
  auto params = make_params({{7}, {3, 5}, {1}, {129, 3}, {2, 2, 3}, {11}});
  auto halves = make_params({{5}, {3}}, at::kHalf);
  auto doubles = make_params({{13}, {1, 17}}, at::kDouble);
  params.insert(params.begin() + 2, halves.begin(), halves.end());
  params.insert(params.end() - 1, doubles.begin(), doubles.end());
  // One large enough for LibTorch's copy (memcpy below 2^16 values), one with a
  // non-contiguous gradient.
  auto others = make_params({{300, 300}, {4, 6}});
  params.insert(params.begin() + 1, others.begin(), others.end());
  set_random_grads(params);
  params[2].mutable_grad() = torch::randn({6, 4}).t();
  ASSERT_FALSE(params[2].grad().is_contiguous());
  std::vector<at::Tensor> expected;
  for (auto& p : params) expected.push_back(p.grad().clone());

  LocalCommunicator comm;
  GradientBuckets buckets(params, comm, 200.0 / kFloatBytesPerMiB);  // 200-byte buckets
  ASSERT_GT(buckets.num_buckets(), 4u);
  std::map<size_t, int> seen;
  for (size_t b = 0; b < buckets.num_buckets(); ++b) {
    const auto dtype = params[buckets.bucket_params(b).front()].scalar_type();
    for (size_t i : buckets.bucket_params(b)) {
      ++seen[i];
      EXPECT_EQ(params[i].scalar_type(), dtype) << "bucket " << b;
    }
    EXPECT_EQ(buckets.buffer(b).scalar_type(), dtype);
    buckets.pack(b);
  }
  EXPECT_EQ(seen.size(), params.size());
  for (auto& p : params) p.mutable_grad().fill_(-7);  // forget the gradients
  for (size_t b = 0; b < buckets.num_buckets(); ++b) buckets.unpack(b);
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(torch::equal(params[i].grad(), expected[i])) << "parameter " << i;
    EXPECT_EQ(params[i].grad().sizes(), params[i].sizes());
  }
}

TEST(GradientBuckets, PackedBufferHoldsTheGradientsFlatThenTheFlags) {
  auto params = make_params({{2}, {3}});
  params[0].mutable_grad() = torch::tensor({1.0f, 2.0f});
  // params[1] has no gradient: zeros, flag 0.
  LocalCommunicator comm;
  GradientBuckets buckets(params, comm, 1.0);
  ASSERT_EQ(buckets.num_buckets(), 1u);
  buckets.pack(0);
  // Reverse order: parameter 1 first (3 zeros), then parameter 0, then the flags (1, 0).
  EXPECT_TRUE(torch::equal(buckets.buffer(0), torch::tensor({0.f, 0.f, 0.f, 1.f, 2.f, 0.f, 1.f})));
  EXPECT_EQ(buckets.bucket_bytes(0), 5 * 4);
}

TEST(GradientBuckets, AParameterWithoutAGradientAnywhereStaysUndefined) {
  auto params = make_params({{2}, {3}});
  params[1].mutable_grad() = torch::tensor({1.0f, 2.0f, 3.0f});
  LocalCommunicator comm;
  GradientBuckets buckets(params, comm, 1.0);
  buckets.synchronize();
  EXPECT_FALSE(params[0].grad().defined());
  EXPECT_TRUE(torch::equal(params[1].grad(), torch::tensor({1.0f, 2.0f, 3.0f})));
}

TEST(GradientBuckets, AParameterWithAGradientElsewhereGetsTheReducedZeros) {
  // The recording communicator maps the flag 0 to 1, as if another rank had a gradient:
  // this rank's zeros come back reduced (3*0+1) into a new .grad.
  auto params = make_params({{2}, {3}});
  params[1].mutable_grad() = torch::tensor({1.0f, 2.0f, 3.0f});
  RecordingCommunicator comm;
  GradientBuckets buckets(params, comm, 1.0);
  buckets.synchronize();
  ASSERT_TRUE(params[0].grad().defined());
  EXPECT_TRUE(torch::equal(params[0].grad(), torch::tensor({1.0f, 1.0f})));
  EXPECT_TRUE(torch::equal(params[1].grad(), torch::tensor({4.0f, 7.0f, 10.0f})));
}

// A small network with a layer used twice (like heads shared across pyramid levels) and
// a layer that gets no gradient. The unused layer is registered first: its parameters go
// into the last bucket, which can only leave at finish().
struct SharedNet {
  torch::nn::Linear unused{4, 4}, a{8, 16}, b{16, 16}, c{16, 4};
  std::vector<at::Tensor> params() {
    std::vector<at::Tensor> out;
    for (auto* m : {&unused, &a, &b, &c}) {
      for (auto& p : (*m)->parameters()) out.push_back(p);
    }
    return out;
  }
  at::Tensor loss(const at::Tensor& x) {
    auto h = torch::relu(a(x));
    auto h2 = torch::relu(b(h)) + torch::relu(b(torch::tanh(h)));  // b used twice
    return c(h2).pow(2).sum();
  }
};

TEST(GradientBuckets, HookPathGivesTheBlockingPathsResultAndStartsDuringBackward) {
  torch::manual_seed(3);
  SharedNet net;
  const auto x = torch::randn({5, 8});
  auto params = net.params();

  RecordingCommunicator blocking_comm;
  {
    GradientBuckets buckets(params, blocking_comm, 600.0 / kFloatBytesPerMiB);
    net.loss(x).backward();
    buckets.synchronize();
  }
  std::vector<at::Tensor> blocking;
  for (auto& p : params) {
    blocking.push_back(p.grad().defined() ? p.grad().clone() : at::Tensor());
    p.mutable_grad() = at::Tensor();
  }

  RecordingCommunicator hook_comm;
  GradientBuckets buckets(params, hook_comm, 600.0 / kFloatBytesPerMiB);
  ASSERT_GE(buckets.num_buckets(), 3u);
  buckets.attach_hooks();
  // A second hook per parameter counts the gradients as they arrive.
  for (auto& p : params) p.register_hook([&](const at::Tensor&) { ++hook_comm.gradients_seen; });
  for (int step = 0; step < 2; ++step) {  // the same twice: the state resets between steps
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    hook_comm.launches.clear();
    hook_comm.gradients_seen = 0;
    net.loss(x).backward();
    buckets.finish();

    ASSERT_EQ(blocking_comm.launches.size(), hook_comm.launches.size());
    for (size_t b = 0; b < hook_comm.launches.size(); ++b) {
      EXPECT_TRUE(torch::equal(hook_comm.launches[b].contents, blocking_comm.launches[b].contents))
          << "bucket " << b;
    }
    for (size_t i = 0; i < params.size(); ++i) {
      ASSERT_EQ(params[i].grad().defined(), blocking[i].defined()) << "parameter " << i;
      if (blocking[i].defined()) {
        EXPECT_TRUE(torch::equal(params[i].grad(), blocking[i]));
      }
    }
    // Overlap: the first bucket left before backward had produced every gradient.
    const int with_gradient = static_cast<int>(params.size()) - 2;  // `unused` has none
    EXPECT_LT(hook_comm.launches.front().gradients_seen, with_gradient);
  }
  // The unused layer's parameters got no gradient, yet the flag's reduction (3*0+1 > 0)
  // says another rank had one: they are defined, as on every rank.
  EXPECT_TRUE(params[0].grad().defined());
}

TEST(GradientBuckets, HookPathAddsToAnAccumulatedGradient) {
  torch::manual_seed(4);
  SharedNet net;
  const auto x = torch::randn({3, 8});
  auto params = net.params();
  // Reference: two backward passes accumulate into .grad.
  net.loss(x).backward();
  net.loss(2 * x).backward();
  std::vector<at::Tensor> accumulated;
  for (auto& p : params) accumulated.push_back(p.grad().defined() ? p.grad().clone() : at::Tensor());

  for (auto& p : params) p.mutable_grad() = at::Tensor();
  LocalCommunicator comm;
  GradientBuckets buckets(params, comm, 1.0);
  net.loss(x).backward();  // no hooks yet: the first micro-batch
  buckets.attach_hooks();
  net.loss(2 * x).backward();
  buckets.finish();
  for (size_t i = 0; i < params.size(); ++i) {
    ASSERT_EQ(params[i].grad().defined(), accumulated[i].defined());
    if (accumulated[i].defined()) {
      EXPECT_TRUE(torch::allclose(params[i].grad(), accumulated[i], 1e-6, 1e-6)) << i;
    }
  }
}

// Large gradients come back as views of their bucket. Backward passes that keep adding to
// .grad across steps (no zero_grad) still see the right sums, on both paths.
TEST(GradientBuckets, LargeGradientsBecomeBucketViewsThatAccumulateCorrectly) {
  for (const bool hooks : {false, true}) {
    torch::manual_seed(5);
    auto params = make_params({{300, 300}, {5}});
    const auto w1 = torch::randn({300, 300}), w2 = torch::randn({300, 300});
    const auto v1 = torch::randn({5}), v2 = torch::randn({5});
    LocalCommunicator comm;
    GradientBuckets buckets(params, comm, 1.0);
    if (hooks) buckets.attach_hooks();
    const auto sync = [&] { hooks ? buckets.finish() : buckets.synchronize(); };
    ((params[0] * w1).sum() + (params[1] * v1).sum()).backward();
    sync();
    ASSERT_EQ(buckets.num_buckets(), 1u);
    EXPECT_TRUE(params[0].grad().is_alias_of(buckets.buffer(0))) << "a view";
    EXPECT_FALSE(params[1].grad().is_alias_of(buckets.buffer(0))) << "small: copied";
    EXPECT_TRUE(torch::equal(params[0].grad(), w1));
    EXPECT_TRUE(torch::equal(params[1].grad(), v1));
    ((params[0] * w2).sum() + (params[1] * v2).sum()).backward();  // adds to .grad
    sync();
    EXPECT_TRUE(torch::allclose(params[0].grad(), w1 + w2, 1e-6, 1e-6)) << "hooks " << hooks;
    EXPECT_TRUE(torch::allclose(params[1].grad(), v1 + v2, 1e-6, 1e-6)) << "hooks " << hooks;
  }
}

TEST(GradientBuckets, TwoBackwardPassesWithoutFinishAreAnError) {
  SharedNet net;
  auto params = net.params();
  LocalCommunicator comm;
  GradientBuckets buckets(params, comm, 1.0);
  buckets.attach_hooks();
  net.loss(torch::randn({2, 8})).backward();
  EXPECT_HAS(error_of([&] { net.loss(torch::randn({2, 8})).backward(); }), "finish()");
}

TEST(GradientBuckets, BroadcastTensorsInAWorldOfOneKeepsThem) {
  auto params = make_params({{3}, {2, 2}});
  auto before0 = params[0].detach().clone();
  LocalCommunicator comm;
  broadcast_tensors(comm, params, 0, 1.0);
  EXPECT_TRUE(torch::equal(params[0].detach(), before0));
}

TEST(LocalCommunicator, CollectivesOfOneLeaveTheInput) {
  LocalCommunicator comm;
  auto t = torch::tensor({1.5f, -2.0f});
  comm.allreduce(t, ReduceOp::Average);
  EXPECT_TRUE(torch::equal(t, torch::tensor({1.5f, -2.0f})));
  comm.allreduce_async(t, ReduceOp::Sum)->wait();
  EXPECT_TRUE(torch::equal(t, torch::tensor({1.5f, -2.0f})));
  EXPECT_EQ(comm.allgather_bytes("abc"), (std::vector<std::string>{"abc"}));
  auto ints = torch::tensor({1, 2}, torch::kInt64);
  EXPECT_HAS(error_of([&] { comm.allreduce(ints, ReduceOp::Average); }), "cannot average");
  EXPECT_HAS(error_of([&] { comm.broadcast(t, 1); }), "world of one");
}

TEST(Runtime, WithoutALauncherIsAWorldOfOne) {
  ASSERT_FALSE(launched_by_mpi()) << "run this test without mpirun";
  Runtime runtime;
  EXPECT_EQ(Runtime::current(), &runtime);
  EXPECT_FALSE(runtime.distributed());
  EXPECT_EQ(runtime.rank(), 0);
  EXPECT_EQ(runtime.size(), 1);
  EXPECT_EQ(runtime.local_rank(), 0);
  EXPECT_EQ(runtime.local_size(), 1);
  EXPECT_EQ(runtime.prefix(), "");
  EXPECT_FALSE(runtime.hostname().empty());
  EXPECT_EQ(runtime.device(false), "cpu");
  EXPECT_EQ(make_communicator(runtime, "cpu")->name(), "local");
  EXPECT_HAS(error_of([] { Runtime second; }), "second Runtime");
}

TEST(Runtime, DistDeviceResolvesToWhatThisBuildCanUse) {
  EXPECT_EQ(resolve_device("cpu"), "cpu");
  for (const bool with_runtime : {false, true}) {
    std::unique_ptr<Runtime> runtime;
    if (with_runtime) runtime = std::make_unique<Runtime>();
    if (torch::cuda::is_available() && torch::cuda::device_count() > 0) {
      EXPECT_EQ(resolve_device("auto").rfind("cuda:", 0), 0u);
      EXPECT_EQ(resolve_device("cuda"), resolve_device("auto"));
    } else {
      EXPECT_EQ(resolve_device("auto"), "cpu");
      const std::string msg = error_of([] { resolve_device("cuda"); });
      EXPECT_HAS(msg, "dist.device");
      EXPECT_HAS(msg, "auto or cpu");
    }
  }
}

TEST(MakeCommunicator, RejectsBackendsThatCannotServeTheDevice) {
  Runtime runtime;
  EXPECT_HAS(error_of([&] { make_communicator(runtime, "cpu", "gloo"); }), "dist.backend");
  EXPECT_HAS(error_of([&] { make_communicator(runtime, "cpu", "nccl"); }), "CPU");
  // mpi serves CUDA tensors too (through host copies); a world of one needs no messages.
  EXPECT_EQ(make_communicator(runtime, "cuda:0", "mpi")->name(), "local");
  EXPECT_HAS(error_of([&] { make_communicator(runtime, "tpu"); }), "unknown device");
  if (!have_nccl()) {
    EXPECT_HAS(error_of([&] { make_communicator(runtime, "cuda:0", "nccl"); }), "no NCCL");
  }
}

}  // namespace
}  // namespace asl::cluster
