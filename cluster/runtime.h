// The process's place in the job: MPI start-up and shut-down, rank and world size, the
// node-local rank and the device a rank computes on. One Runtime per process, created at
// the top of main() and kept alive until main returns.
//
// Started by a launcher (mpirun, srun with PMI/PMIx) it initialises MPI; started by hand it
// is a world of one and never touches MPI, so `asl train CONFIG` runs without mpirun.
//
// Every exit path ends MPI properly: the destructor finalises; a destructor that runs while
// an exception unwinds, or std::terminate, aborts the job (a rank that leaves while the
// others wait in a collective must take them down, not hang them). A command that catches
// an error on one rank calls abort(message) so mpirun ends every rank within seconds.
// No MPI and no LibTorch in this header.
#pragma once

#include <string>

namespace asl::cluster {

class Runtime {
 public:
  // argc/argv may be null (MPI does not need them).
  Runtime(int* argc = nullptr, char*** argv = nullptr);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // The live Runtime, or nullptr before one is created.
  static Runtime* current();

  // True when the process was started by a launcher and MPI is initialised.
  bool distributed() const { return distributed_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  // Rank and number of ranks on this node (MPI_COMM_TYPE_SHARED).
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  const std::string& hostname() const { return hostname_; }
  bool is_root() const { return rank_ == 0; }

  // The CUDA device of this rank (local rank modulo the visible devices) when LibTorch has
  // CUDA and a device is visible; -1 on CPU. prefer_cuda = false always answers -1.
  int cuda_device(bool prefer_cuda = true) const;
  // "cuda:<i>" or "cpu", as LibTorch parses it.
  std::string device(bool prefer_cuda = true) const;

  // "[rank r/N] " with several ranks, else "".
  std::string prefix() const;

  // Prints "[rank r/N] message" to stderr and ends the whole job: MPI_Abort when
  // distributed (mpirun then kills every rank), else exit code 1.
  [[noreturn]] void abort(const std::string& message) const;

  // Ends MPI now (idempotent; the destructor calls it). After it, no MPI call is allowed.
  void finalize();

 private:
  bool distributed_ = false;
  bool owns_mpi_ = false;       // MPI_Init was ours (not called before us by someone else)
  bool finalized_ = false;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  int uncaught_at_start_ = 0;
  std::string hostname_;
  int thread_level_ = 0;  // MPI_THREAD_* granted (MULTIPLE asked for)
};

// True when the environment shows a launcher started this process (OpenMPI's
// OMPI_COMM_WORLD_SIZE, PMIx's PMIX_RANK, PMI's PMI_SIZE/PMI_RANK).
bool launched_by_mpi();

}  // namespace asl::cluster
