#include "cluster/make_communicator.h"

#include <torch/cuda.h>

#include <cstdio>

#include "cluster/mpi_communicator.h"
#include "core/error.h"
#ifdef ASL_HAVE_NCCL
#include "cluster/nccl_communicator.h"
#endif

namespace asl::cluster {
namespace {

// "cuda" -> 0, "cuda:2" -> 2, anything else -> -1.
int cuda_index(const std::string& device) {
  if (device.rfind("cuda", 0) != 0) return -1;
  if (device.size() <= 5) return 0;
  try {
    return std::stoi(device.substr(5));
  } catch (const std::exception&) {
    throw Error("device", "cannot parse '" + device + "'", "use cpu or cuda:<index>");
  }
}

}  // namespace

void check_ranks_agree_on_device(Communicator& comm, const Runtime& runtime,
                                 const std::string& device) {
  // Before any NCCL set-up: a rank without a GPU among GPU ranks (or the reverse) would
  // otherwise meet them in collectives that do not match, and hang.
  const std::string kind = cuda_index(device) >= 0 ? "cuda" : "cpu";
  const std::vector<std::string> all = comm.allgather_bytes(kind + " " + runtime.hostname());
  const std::string first = all.front().substr(0, all.front().find(' '));
  for (size_t r = 1; r < all.size(); ++r) {
    const std::string theirs = all[r].substr(0, all[r].find(' '));
    if (theirs == first) continue;
    throw Error("dist.device", "the ranks do not agree on the device: rank 0 (" +
                                   all.front().substr(all.front().find(' ') + 1) + ") computes on " +
                                   first + ", rank " + std::to_string(r) + " (" +
                                   all[r].substr(all[r].find(' ') + 1) + ") on " + theirs,
                "give every node a GPU (check CUDA_VISIBLE_DEVICES and the driver on that host), "
                "or set dist.device: cpu for all");
  }
}

bool have_nccl() {
#ifdef ASL_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Communicator> make_communicator(const Runtime& runtime, const std::string& device,
                                                const std::string& backend, double timeout_s) {
  if (backend != "auto" && backend != "mpi" && backend != "nccl") {
    throw Error("dist.backend", "unknown backend '" + backend + "'", "use auto, mpi or nccl");
  }
  const int cuda = cuda_index(device);
  if (cuda < 0 && device != "cpu") {
    throw Error("device", "unknown device '" + device + "'", "use cpu or cuda:<index>");
  }
  if (backend == "nccl" && cuda < 0) {
    throw Error("dist.backend", "nccl needs CUDA tensors but this rank runs on the CPU",
                "use dist.backend: auto or mpi on CPU");
  }
  // A world of one needs no messages, except when NCCL is asked for by name (GPU checks).
  if (!runtime.distributed() && backend != "nccl") return std::make_unique<LocalCommunicator>();
  std::unique_ptr<Communicator> mpi;
  if (runtime.distributed()) {
    mpi = std::make_unique<MpiCommunicator>(runtime, timeout_s);
    check_ranks_agree_on_device(*mpi, runtime, device);
  }
  // mpi on GPUs: CUDA tensors travel through host copies (slower than NCCL; any MPI works).
  if (cuda < 0 || backend == "mpi") return mpi;
#ifdef ASL_HAVE_NCCL
  std::unique_ptr<Communicator> bootstrap = std::move(mpi);
  if (!bootstrap) bootstrap = std::make_unique<LocalCommunicator>();
  auto on_fatal = [&runtime](const std::string& message) { runtime.abort(message); };
  return std::make_unique<NcclCommunicator>(std::move(bootstrap), cuda, timeout_s, on_fatal);
#else
  throw Error("dist.backend", "this build has no NCCL, so CUDA tensors cannot be all-reduced",
              "rebuild with NCCL (docs/building.md) or train on the CPU");
#endif
}

std::string resolve_device(const std::string& setting, const std::string& backend) {
  if (setting == "cpu") return "cpu";
  const Runtime* runtime = Runtime::current();
  std::string device = runtime ? runtime->device(true)
                       : torch::cuda::is_available() && torch::cuda::device_count() > 0
                           ? "cuda:0"
                           : "cpu";
  if (setting == "cuda" && device == "cpu") {
    throw Error("dist.device", "is cuda, but " + std::string(torch::cuda::is_available()
                                                                 ? "no GPU is visible"
                                                                 : "this LibTorch has no CUDA"),
                "build against a CUDA LibTorch on a GPU node, or set dist.device: auto or cpu");
  }
  const bool several = runtime != nullptr && runtime->size() > 1;
  if (setting == "auto" && device != "cpu" && several && (backend == "mpi" || !have_nccl())) {
    static bool said = false;
    if (!said) {
      said = true;
      std::fprintf(stderr, "%sdist.device auto: computing on the CPU, since %s\n",
                   runtime->prefix().c_str(),
                   backend == "mpi" ? "dist.backend is mpi" : "this build has no NCCL");
    }
    return "cpu";
  }
  return device;
}

}  // namespace asl::cluster
