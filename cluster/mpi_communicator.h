// MPI collectives for CPU tensors (float32, float64, int32, int64; broadcast takes any
// dtype). The communicator works on its own duplicate of MPI_COMM_WORLD so its messages
// never meet anyone else's.
//
// Horovod's design: one background thread makes every MPI call of the communicator, in the
// order the calls were submitted; blocking calls submit and wait, the asynchronous
// all-reduce submits and returns. Chosen over MPI_Iallreduce because (measured on the
// development VM, 2 ranks, 888 MB in 25 MB pieces) OpenMPI's non-blocking all-reduce (libnbc)
// took up to 3x as long as blocking MPI_Allreduce calls, and because it moves only inside MPI
// calls, so it would not progress while backward computes. One queue also keeps every
// rank's collectives in one order, whichever thread (main or autograd) submits them.
// MPI calls thus come from the worker thread and, before and after it runs, the main thread
// (init, finalize): MPI_THREAD_SERIALIZED, the Runtime's level.
//
// Every wait is bounded by timeout_s: a collective that does not finish in time (a rank
// died or stopped) aborts the job through Runtime::abort.
#pragma once

#include <mpi.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/communicator.h"
#include "cluster/runtime.h"

namespace asl::cluster {

class MpiCommunicator final : public Communicator {
 public:
  // The runtime must be distributed. A collective still unfinished after timeout_s
  // seconds of waiting aborts the job through runtime.abort(); 0 waits forever.
  explicit MpiCommunicator(const Runtime& runtime, double timeout_s = 300.0);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }

  void allreduce(at::Tensor& tensor, ReduceOp op) override;
  std::unique_ptr<Work> allreduce_async(const at::Tensor& flat, ReduceOp op) override;
  void broadcast(at::Tensor& tensor, int root) override;
  std::vector<std::string> allgather_bytes(const std::string& mine) override;
  void barrier() override;
  void barrier_within(double timeout_s, const std::string& what) override;

 private:
  friend class MpiWork;
  void check(int code, const std::string& what) const;
  // Queues `task` for the worker thread; the future reports its end (or its error).
  std::shared_future<void> submit(std::function<void()> task);
  // Waits for `done`, at most timeout_s (then aborts the job); rethrows the task's error.
  // Waits up to dist.timeout_s (or `timeout_s` when given, > 0), else ends the job.
  void wait_for(const std::shared_future<void>& done, const std::string& what,
                double timeout_s = 0);
  void work_loop();
  // On the worker: MPI_Allreduce (sum) of a contiguous CPU tensor, in pieces of < 2^31.
  void reduce_in_place(const at::Tensor& flat, MPI_Datatype type);

  const Runtime& runtime_;
  double timeout_s_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;

  std::mutex queue_mutex_;
  std::condition_variable queue_wake_;
  std::deque<std::packaged_task<void()>> queue_;
  int pending_ = 0;  // submitted, not yet finished
  bool stopping_ = false;
  std::thread worker_;  // makes every MPI call of this communicator
};

}  // namespace asl::cluster
