// The GPU check of the cluster layer (scripts/gpu_check builds and runs it): the NCCL
// communicator in a world of one on CUDA device 0, the gradient buckets on CUDA tensors,
// the overlap hooks on a small CUDA model's backward, and a timed 256 MB all-reduce (its
// results checked, its bandwidth printed as INFO). Only LibTorch, CUDA and NCCL: no gtest,
// MPI or logging, so it builds with one compiler call against a PyTorch pip install.
//
// Built with ASL_GPU_CHECK_CPU_ONLY it runs the same bucket and hook checks on the CPU with
// the local communicator (scripts/gpu_check --cpu-only), to catch mistakes before a GPU run.
// One PASS/FAIL line per check; the exit code is the number of failures (capped).
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/communicator.h"
#include "common/check_lines.h"
#include "cluster/gradient_buckets.h"
#include "core/error.h"
#ifndef ASL_GPU_CHECK_CPU_ONLY
#include "cluster/nccl_communicator.h"
#endif

namespace {

using asl::cluster::Communicator;
using asl::cluster::GradientBuckets;
using asl::cluster::ReduceOp;
using asl::cluster::Work;

using asl::testing::check;
using asl::testing::expect;

void expect_equal(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
  expect(got.sizes() == want.sizes(), what + ": shape differs");
  expect(torch::equal(got.cpu(), want.cpu()), what + ": values differ");
}

// Forwards to a real communicator and notes, for each bucket launch, how many gradients
// had arrived by then (the check's own hooks count them): the overlap made visible.
class Observer final : public Communicator {
 public:
  explicit Observer(Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::string name() const override { return inner_.name(); }
  void allreduce(at::Tensor& t, ReduceOp op) override { inner_.allreduce(t, op); }
  std::unique_ptr<Work> allreduce_async(const at::Tensor& flat, ReduceOp op) override {
    seen_at_launch.push_back(gradients_seen);
    return inner_.allreduce_async(flat, op);
  }
  void broadcast(at::Tensor& t, int root) override { inner_.broadcast(t, root); }
  std::vector<std::string> allgather_bytes(const std::string& mine) override {
    return inner_.allgather_bytes(mine);
  }
  void barrier() override { inner_.barrier(); }

  std::vector<int> seen_at_launch;
  int gradients_seen = 0;

 private:
  Communicator& inner_;
};

void check_collectives(Communicator& comm, const torch::Device& device) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat).device(device);
  check("allreduce sum float32 (world of one: unchanged)", [&] {
    auto t = torch::randn({1000, 3}, f32);
    const auto want = t.clone();
    comm.allreduce(t, ReduceOp::Sum);
    expect_equal(t, want, "sum");
  });
  check("allreduce average float32 (x1)", [&] {
    auto t = torch::randn({4097}, f32);
    const auto want = t.clone();
    comm.allreduce(t, ReduceOp::Average);
    expect_equal(t, want, "average");
  });
  check("allreduce float64 / float16 / int64, non-contiguous", [&] {
    auto d = torch::randn({7, 5}, f32.dtype(torch::kDouble)).t();
    const auto dw = d.clone();
    comm.allreduce(d, ReduceOp::Average);
    expect_equal(d, dw, "float64 transposed");
    auto h = torch::randn({33}, f32.dtype(torch::kHalf));
    const auto hw = h.clone();
    comm.allreduce(h, ReduceOp::Sum);
    expect_equal(h, hw, "float16");
    auto l = torch::arange(10, f32.dtype(torch::kLong));
    comm.allreduce(l, ReduceOp::Sum);
    expect_equal(l, torch::arange(10, f32.dtype(torch::kLong)), "int64");
  });
  check("async allreduce, wait, test", [&] {
    auto t = torch::full({1 << 20}, 2.5f, f32);
    auto work = comm.allreduce_async(t, ReduceOp::Average);
    work->wait();
    expect_equal(t, torch::full({1 << 20}, 2.5f, f32), "async average");
    if (device.is_cuda()) torch::cuda::synchronize();
    expect(work->test(), "test() after wait and synchronize");
  });
  check("broadcast from rank 0", [&] {
    auto t = torch::randn({5, 5}, f32);
    const auto want = t.clone();
    comm.broadcast(t, 0);
    expect_equal(t, want, "broadcast");
  });
  check("allgather_bytes (bytes and empty), barrier", [&] {
    expect(comm.allgather_bytes("some bytes") == std::vector<std::string>{"some bytes"}, "bytes");
    expect(comm.allgather_bytes("") == std::vector<std::string>{""}, "empty");
    comm.barrier();
  });
  check("an integer average is refused with a clear error", [&] {
    auto l = torch::ones({3}, f32.dtype(torch::kLong));
    try {
      comm.allreduce(l, ReduceOp::Average);
    } catch (const asl::Error& e) {
      expect(std::string(e.what()).find("cannot average") != std::string::npos, e.what());
      return;
    }
    throw std::runtime_error("no error");
  });
  if (device.is_cuda()) {
    check("a CPU tensor is refused, naming the MPI communicator", [&] {
      auto t = torch::ones({3});
      try {
        comm.allreduce(t, ReduceOp::Sum);
      } catch (const asl::Error& e) {
        expect(std::string(e.what()).find("MPI") != std::string::npos, e.what());
        return;
      }
      throw std::runtime_error("no error");
    });
  }
}

void check_buckets(Communicator& comm, const torch::Device& device) {
  check("buckets: pack/unpack round-trips every gradient exactly (mixed dtypes, odd sizes)", [&] {
    std::vector<at::Tensor> params;
    const std::vector<std::vector<int64_t>> shapes = {{7}, {3, 5}, {1}, {1029, 3}, {2, 2, 3}};
    const torch::ScalarType dtypes[] = {torch::kFloat, torch::kHalf, torch::kDouble};
    for (size_t i = 0; i < shapes.size() * 2; ++i) {
      const auto options = torch::TensorOptions().dtype(dtypes[i % 3]).device(device);
      auto p = torch::randn(shapes[i % shapes.size()], options).requires_grad_(true);
      p.mutable_grad() = torch::randn_like(p);
      params.push_back(p);
    }
    std::vector<at::Tensor> want;
    for (auto& p : params) want.push_back(p.grad().clone());
    GradientBuckets buckets(params, comm, 256.0 / (1024 * 1024));
    expect(buckets.num_buckets() > 3, "several buckets");
    for (size_t b = 0; b < buckets.num_buckets(); ++b) buckets.pack(b);
    for (auto& p : params) p.mutable_grad().fill_(-1);
    for (size_t b = 0; b < buckets.num_buckets(); ++b) buckets.unpack(b);
    for (size_t i = 0; i < params.size(); ++i) {
      expect_equal(params[i].grad(), want[i], "parameter " + std::to_string(i));
    }
    buckets.synchronize();  // world of one: the average of one
    for (size_t i = 0; i < params.size(); ++i) {
      expect_equal(params[i].grad(), want[i], "synchronized parameter " + std::to_string(i));
    }
  });

  check("buckets: hooks overlap a small model's backward and match plain gradients", [&] {
    torch::manual_seed(0);
    torch::nn::Sequential net(torch::nn::Linear(64, 256), torch::nn::ReLU(),
                              torch::nn::Linear(256, 256), torch::nn::ReLU(),
                              torch::nn::Linear(256, 256), torch::nn::ReLU(),
                              torch::nn::Linear(256, 8));
    net->to(device);
    auto params = net->parameters();
    const auto x = torch::randn({32, 64}, torch::TensorOptions().device(device));
    net->forward(x).pow(2).sum().backward();
    std::vector<at::Tensor> want;
    for (auto& p : params) {
      want.push_back(p.grad().clone());
      p.mutable_grad() = at::Tensor();
    }
    Observer observer(comm);
    GradientBuckets buckets(params, observer, 300.0 / 1024);  // 300 KiB
    expect(buckets.num_buckets() >= 3, "several buckets");
    buckets.attach_hooks();
    for (auto& p : params) p.register_hook([&](const at::Tensor&) { ++observer.gradients_seen; });
    net->forward(x).pow(2).sum().backward();
    buckets.finish();
    for (size_t i = 0; i < params.size(); ++i) {
      expect_equal(params[i].grad(), want[i], "parameter " + std::to_string(i));
    }
    expect(observer.seen_at_launch.size() == buckets.num_buckets(), "one launch per bucket");
    expect(observer.seen_at_launch.front() < static_cast<int>(params.size()),
           "the first bucket left before backward ended (seen " +
               std::to_string(observer.seen_at_launch.front()) + " of " +
               std::to_string(params.size()) + " gradients)");
  });
}

// Times a 256 MB all-reduce and checks what it can: every element of the result holds the
// sum the ranks sent, and each timing is positive and finite. The bandwidth is printed as
// INFO (a measurement, compared by hand with the card's figures), not judged.
void check_bandwidth(Communicator& comm, const torch::Device& device) {
  check("256 MB float32 all-reduce: timed five times, each result the ranks' sum", [&] {
    const int n = comm.size();
    auto t = torch::ones({64 << 20}, torch::TensorOptions().device(device));
    auto sync = [&] {
      if (device.is_cuda()) torch::cuda::synchronize();
    };
    comm.allreduce(t, ReduceOp::Sum);  // warm-up
    sync();
    std::vector<double> times;
    for (int i = 0; i < 5; ++i) {
      t.fill_(1.0);
      sync();
      const auto start = std::chrono::steady_clock::now();
      comm.allreduce(t, ReduceOp::Sum);
      sync();
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      const auto [lo, hi] = torch::aminmax(t);
      expect(lo.item<float>() == static_cast<float>(n) && hi.item<float>() == static_cast<float>(n),
             "run " + std::to_string(i) + ": every element is " + std::to_string(n) +
                 " (the ranks' sum of ones)");
      expect(std::isfinite(times.back()) && times.back() > 0, "run " + std::to_string(i) +
                                                                 ": a positive, finite time");
    }
    std::sort(times.begin(), times.end());
    const double bytes = 4.0 * t.numel();
    std::printf("INFO %s, %d rank(s): 256 MB all-reduce median %.3f ms, algbw %.1f GB/s, "
                "busbw %.1f GB/s (a world of one copies in place)\n",
                comm.name().c_str(), n, 1e3 * times[2], bytes / times[2] / 1e9,
                2.0 * (n - 1) / n * bytes / times[2] / 1e9);
  });
}

}  // namespace

int main() {
#ifdef ASL_GPU_CHECK_CPU_ONLY
  const torch::Device device(torch::kCPU);
  std::printf("INFO cpu-only: LibTorch %s, local communicator\n", TORCH_VERSION);
  asl::cluster::LocalCommunicator local;
  Communicator& comm = local;
#else
  if (!torch::cuda::is_available()) {
    std::printf("FAIL CUDA available: LibTorch sees no CUDA device\n");
    return 1;
  }
  const torch::Device device(torch::kCUDA, 0);
  std::printf("INFO LibTorch %s, %d CUDA device(s), NCCL %s\n", TORCH_VERSION,
              static_cast<int>(torch::cuda::device_count()), asl::cluster::nccl_version().c_str());
  std::unique_ptr<asl::cluster::NcclCommunicator> nccl;
  check("NCCL communicator: world of one on cuda:0 (local bootstrap)", [&] {
    nccl = std::make_unique<asl::cluster::NcclCommunicator>(
        std::make_unique<asl::cluster::LocalCommunicator>(), 0, 30.0,
        [](const std::string& message) {
          std::printf("FAIL watchdog: %s\n", message.c_str());
          std::fflush(stdout);
          std::_Exit(3);
        });
    expect(nccl->rank() == 0 && nccl->size() == 1 && nccl->name() == "nccl", "rank/size/name");
  });
  if (!nccl) return 1;
  Communicator& comm = *nccl;
#endif
  check_collectives(comm, device);
  check_buckets(comm, device);
  check_bandwidth(comm, device);
  const int failures = asl::testing::check_failures();
  std::printf("%s: %d check(s) failed\n", failures ? "FAILED" : "ALL PASSED", failures);
  return failures > 100 ? 100 : failures;
}
