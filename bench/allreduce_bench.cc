#include "bench/allreduce_bench.h"

#include <mpi.h>
#include <torch/torch.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "cluster/gradient_buckets.h"
#include "cluster/mpi_communicator.h"
#include "cluster/runtime.h"
#include "core/config.h"
#include "bench/bench.h"
#include "core/error.h"
#include "core/fs.h"
#include "model/asl_model.h"

namespace asl::bench {
namespace {

// The slowest rank's time of f: an all-reduce is done when the last rank has its result.
template <class F>
double timed(MPI_Comm comm, F&& f) {
  MPI_Barrier(comm);
  const double start = MPI_Wtime();
  f();
  double mine = MPI_Wtime() - start, slowest = 0;
  MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, comm);
  return slowest;
}

// The model's parameter shapes, in registration order (the model is dropped again).
std::vector<std::vector<int64_t>> parameter_shapes(const std::string& config) {
  const auto cfg = config::load_config(config);
  model::PtTransformer net(cfg);
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& p : net->parameters()) {
    if (p.requires_grad()) shapes.push_back(p.sizes().vec());
  }
  return shapes;
}

struct Row {
  std::string name;
  double seconds;
};

struct Result {
  std::string label;
  size_t tensors = 0;
  double bytes = 0;
  size_t buckets = 0;
  // single buffer, bucketed (a training step), per tensor, transport at bucket size,
  // bucketed with the gradients already in the buckets
  std::vector<Row> rows;
};

// The three variants on gradients of `shapes`, each tensor's size divided by `divisor`
// (at least one element).
Result measure(cluster::MpiCommunicator& comm, const std::vector<std::vector<int64_t>>& shapes,
               int64_t divisor, double bucket_mb, int repeat) {
  std::vector<at::Tensor> params;
  int64_t total = 0;
  for (const auto& s : shapes) {
    int64_t numel = 1;
    for (int64_t d : s) numel *= d;
    const std::vector<int64_t> shape =
        divisor == 1 ? s : std::vector<int64_t>{std::max<int64_t>(1, numel / divisor)};
    // Only the gradients are read; the parameters' own storage is never touched.
    auto p = torch::empty(shape).requires_grad_(true);
    p.mutable_grad() = torch::full(shape, 0.5f + comm.rank());
    total += p.numel();
    params.push_back(p);
  }
  if (total > INT_MAX) {
    throw Error("asl bench --what allreduce", "more than 2^31 values for one MPI call");
  }
  cluster::GradientBuckets buckets(params, comm, bucket_mb);
  auto single = torch::full({total}, 1.0f);
  MPI_Comm world = MPI_COMM_WORLD;

  auto run_single = [&] {
    MPI_Allreduce(MPI_IN_PLACE, single.data_ptr<float>(), static_cast<int>(total), MPI_FLOAT,
                  MPI_SUM, world);
  };
  // The transport alone at the buckets' message size: the single buffer in bucket-size
  // pieces, no packing (what bucketing costs beyond the messages themselves).
  const int64_t piece = std::max<int64_t>(1, cluster::bucket_cap_bytes(bucket_mb) / 4);
  auto run_pieces = [&] {
    for (int64_t at = 0; at < total; at += piece) {
      MPI_Allreduce(MPI_IN_PLACE, single.data_ptr<float>() + at,
                    static_cast<int>(std::min(piece, total - at)), MPI_FLOAT, MPI_SUM, world);
    }
  };
  // A training step's gradients are fresh tensors from backward (.grad was set to none), so
  // synchronize() packs them; afterwards the large ones are views of the buckets, and a
  // second synchronize() (gradients accumulated in place) skips both copies.
  std::vector<at::Tensor> fresh;
  for (auto& p : params) fresh.push_back(p.grad());
  auto use_fresh = [&] {
    for (size_t i = 0; i < params.size(); ++i) params[i].mutable_grad() = fresh[i];
  };
  auto run_bucketed = [&] { buckets.synchronize(); };
  auto run_per_tensor = [&] {
    for (auto& p : params) comm.allreduce(p.mutable_grad(), cluster::ReduceOp::Average);
  };
  std::vector<double> t_single, t_bucketed, t_views, t_per_tensor, t_pieces;
  for (int rep = -1; rep < repeat; ++rep) {  // rep -1: warm-up, not counted
    const double a = timed(world, run_single);
    use_fresh();
    const double b = timed(world, run_bucketed);
    const double v = timed(world, run_bucketed);
    use_fresh();
    const double c = timed(world, run_per_tensor);
    const double d = timed(world, run_pieces);
    if (rep < 0) continue;
    t_single.push_back(a);
    t_bucketed.push_back(b);
    t_views.push_back(v);
    t_per_tensor.push_back(c);
    t_pieces.push_back(d);
  }
  Result r;
  r.label = divisor == 1 ? "full size" : "sizes / " + std::to_string(divisor);
  r.tensors = params.size();
  r.bytes = 4.0 * static_cast<double>(total);
  r.buckets = buckets.num_buckets();
  r.rows = {{"one MPI_Allreduce of the total", median(t_single)},
            {"bucketed (" + std::to_string(r.buckets) + " buckets)", median(t_bucketed)},
            {"one all-reduce per tensor (" + std::to_string(r.tensors) + ")",
             median(t_per_tensor)},
            {"MPI_Allreduce in bucket-size pieces", median(t_pieces)},
            {"bucketed, gradients already bucket views", median(t_views)}};
  return r;
}

}  // namespace

std::string run_allreduce_bench(const Options& options, const std::string& config) {
  using cluster::Runtime;
  std::unique_ptr<Runtime> own;
  Runtime* runtime = Runtime::current();
  if (runtime == nullptr) {
    own = std::make_unique<Runtime>();
    runtime = own.get();
  }
  if (runtime->size() < 2) {
    throw Error("asl bench --what allreduce", "needs a job of at least 2 ranks",
                "run it under mpirun -np 2 (add --oversubscribe on a 2-core machine)");
  }
  if (config.empty()) {
    throw Error("asl bench --what allreduce", "needs a CONFIG (its model's parameter list)");
  }
  const double bucket_mb = config::load_config(config).dist.bucket_mb;
  const auto shapes = parameter_shapes(config);
  cluster::MpiCommunicator comm(*runtime);
  const int n = comm.size();

  // The real list (bandwidth-bound), then the same list at 1/1024 of the sizes, where the
  // cost per message dominates (as it does on fast interconnects for the real sizes).
  const std::vector<Result> results = {measure(comm, shapes, 1, bucket_mb, options.repeat),
                                       measure(comm, shapes, 1024, bucket_mb, options.repeat)};
  const double factor = 2.0 * (n - 1) / n;

  nlohmann::json out;
  out["what"] = "allreduce";
  out["ranks"] = n;
  out["backend"] = comm.name();
  out["bucket_mb"] = bucket_mb;
  out["repeat"] = options.repeat;
  for (const auto& r : results) {
    auto busbw = [&](double s) { return factor * r.bytes / s / 1e9; };
    nlohmann::json j;
    j["label"] = r.label;
    j["tensors"] = r.tensors;
    j["total_bytes"] = r.bytes;
    j["buckets"] = r.buckets;
    for (const auto& row : r.rows) {
      j["rows"].push_back(
          {{"name", row.name}, {"median_s", row.seconds}, {"busbw_gbps", busbw(row.seconds)}});
    }
    j["bucketed_vs_single_bandwidth"] = r.rows[0].seconds / r.rows[1].seconds;
    j["per_tensor_vs_bucketed_time"] = r.rows[2].seconds / r.rows[1].seconds;
    out["runs"].push_back(j);
  }
  const std::string text = out.dump(2) + "\n";

  if (comm.rank() == 0) {
    std::printf("all-reduce over %d ranks (%s), bucket_mb %.1f, float32 gradients of the "
                "model's %zu parameter tensors, median of %d\n",
                n, comm.name().c_str(), bucket_mb, shapes.size(), options.repeat);
    for (const auto& r : results) {
      auto busbw = [&](double s) { return factor * r.bytes / s / 1e9; };
      std::printf("\n%s: %.3f MB\n", r.label.c_str(), r.bytes / 1e6);
      std::printf("%-40s %12s %14s\n", "variant", "median ms", "busbw GB/s");
      for (const auto& row : r.rows) {
        std::printf("%-40s %12.2f %14.4f\n", row.name.c_str(), 1e3 * row.seconds,
                    busbw(row.seconds));
      }
      std::printf("bucketed / single-buffer bandwidth: %.2fx (budget >= 0.9x)\n",
                  r.rows[0].seconds / r.rows[1].seconds);
      std::printf("per-tensor time / bucketed time:   %.2fx (budget >= 3x)\n",
                  r.rows[2].seconds / r.rows[1].seconds);
    }
    if (!options.json_out.empty()) write_file_atomic(options.json_out, text);
  }
  return text;
}

}  // namespace asl::bench
