#include "cluster/runtime.h"

#include <mpi.h>
#include <torch/cuda.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

#include "core/error.h"

namespace asl::cluster {
namespace {

Runtime* g_runtime = nullptr;
std::terminate_handler g_previous_terminate = nullptr;

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

// An uncaught exception (or any other std::terminate) on one rank must end the job, not
// leave the other ranks blocked in a collective.
[[noreturn]] void terminate_job() {
  std::string what = "terminated";
  if (auto e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = std::string("uncaught error: ") + ex.what();
    } catch (...) {
      what = "uncaught non-standard exception";
    }
  }
  if (g_runtime != nullptr) g_runtime->abort(what);
  if (g_previous_terminate != nullptr) g_previous_terminate();
  std::abort();
}

}  // namespace

bool launched_by_mpi() {
  // Slurm's SLURM_PROCID alone is not enough: `srun` without a PMI plugin starts
  // independent singletons that MPI could not join.
  return env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMIX_RANK") || env_set("PMI_SIZE") ||
         env_set("PMI_RANK");
}

Runtime::Runtime(int* argc, char*** argv) : uncaught_at_start_(std::uncaught_exceptions()) {
  if (g_runtime != nullptr) {
    throw Error("cluster::Runtime", "a second Runtime was created",
                "create one Runtime at the top of main() and pass it on");
  }
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) == 0) hostname_ = host;

  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!launched_by_mpi() && !initialized) {
    g_runtime = this;
    return;  // a world of one: no MPI at all
  }

  // The thread rule (docs/cluster.md): MpiCommunicator makes every collective from its own
  // worker thread (so that transfers progress while backward computes); the main thread
  // calls MPI only before and after it (init, finalize, a benchmark's timing). That needs
  // MPI_THREAD_SERIALIZED. The one call that can come from another thread while the worker
  // is inside MPI is MPI_Abort (a watchdog's or main thread's timeout): legal only under
  // MPI_THREAD_MULTIPLE, so MULTIPLE is asked for, and abort() does without MPI_Abort when
  // the library grants only SERIALIZED.
  const int required = MPI_THREAD_SERIALIZED;
  if (!initialized) {
    int provided = MPI_THREAD_SINGLE;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
      throw Error("cluster::Runtime", "MPI_Init_thread failed",
                  "check the MPI installation and the launcher (mpirun, srun --mpi=pmix)");
    }
    owns_mpi_ = true;
    thread_level_ = provided;
    if (provided < required) {
      MPI_Finalize();
      throw Error("cluster::Runtime",
                  "the MPI library provides thread level " + std::to_string(provided) +
                      ", the gradient all-reduce needs MPI_THREAD_SERIALIZED (" +
                      std::to_string(required) + ")",
                  "use an MPI built with thread support (OpenMPI 4 is)");
    }
  } else {
    int provided = MPI_THREAD_SINGLE;
    MPI_Query_thread(&provided);
    thread_level_ = provided;
    if (provided < required) {
      throw Error("cluster::Runtime",
                  "MPI was initialised before the Runtime with thread level " +
                      std::to_string(provided) + ", below MPI_THREAD_SERIALIZED",
                  "let the Runtime initialise MPI, or call MPI_Init_thread with "
                  "MPI_THREAD_SERIALIZED");
    }
  }
  distributed_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm local = MPI_COMM_NULL;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);
  // Errors in MPI calls come back as codes the communicators turn into asl::Error.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);

  g_runtime = this;
  g_previous_terminate = std::set_terminate(terminate_job);
}

Runtime::~Runtime() {
  if (distributed_ && !finalized_ && size_ > 1 &&
      std::uncaught_exceptions() > uncaught_at_start_) {
    abort("left the job while an error was being raised");
  }
  finalize();
  if (g_runtime == this) g_runtime = nullptr;
}

Runtime* Runtime::current() { return g_runtime; }

void Runtime::finalize() {
  if (finalized_) return;
  finalized_ = true;
  if (!distributed_) return;
  std::set_terminate(g_previous_terminate);
  int done = 0;
  MPI_Finalized(&done);
  if (owns_mpi_ && !done) MPI_Finalize();
}

int Runtime::cuda_device(bool prefer_cuda) const {
  if (!prefer_cuda || !torch::cuda::is_available()) return -1;
  const int visible = static_cast<int>(torch::cuda::device_count());
  if (visible <= 0) return -1;
  // With one device per rank made visible by the launcher (CUDA_VISIBLE_DEVICES per task)
  // every rank sees device 0; otherwise rank i of a node takes device i.
  return local_rank_ % visible;
}

std::string Runtime::device(bool prefer_cuda) const {
  const int d = cuda_device(prefer_cuda);
  return d < 0 ? "cpu" : "cuda:" + std::to_string(d);
}

std::string Runtime::prefix() const {
  if (size_ <= 1) return "";
  return "[rank " + std::to_string(rank_) + "/" + std::to_string(size_) + "] ";
}

void Runtime::abort(const std::string& message) const {
  std::cerr << prefix() << message << std::endl;
  // Under MPI_THREAD_SERIALIZED another thread may be inside MPI right now: then the rank
  // only exits, and the launcher (mpirun; srun --kill-on-bad-exit) ends the others.
  int done = 1;
  if (distributed_ && thread_level_ >= MPI_THREAD_MULTIPLE) MPI_Finalized(&done);
  if (distributed_ && !done) MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

}  // namespace asl::cluster
