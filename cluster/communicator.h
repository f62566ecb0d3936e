// The collectives data-parallel training needs, behind one interface (Horovod's idea: one
// small class per backend, the backend picked at run time): MPI for CPU tensors, NCCL for
// CUDA tensors, and a world of one that needs neither.
//
// Every rank must call the same collectives in the same order with tensors of the same
// shape and dtype. Implementations throw asl::Error for tensors they cannot take (wrong
// device, unsupported dtype) naming the fix. No MPI or NCCL headers here.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

namespace asl::cluster {

enum class ReduceOp { Sum, Average };

// A started all-reduce. wait() returns once the tensor may be read: on the host for MPI,
// ordered on the current CUDA stream for NCCL. A Work keeps its tensor alive; destroying an
// unwaited Work waits first.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  // True when it has finished (does not block).
  virtual bool test() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "mpi", "nccl" or "local".
  virtual std::string name() const = 0;

  // In place on every rank. Average divides the sum by size() (floating-point dtypes only).
  virtual void allreduce(at::Tensor& tensor, ReduceOp op) = 0;
  // The asynchronous form, for a contiguous buffer (a gradient bucket).
  virtual std::unique_ptr<Work> allreduce_async(const at::Tensor& flat, ReduceOp op) = 0;
  // `root`'s values into `tensor` on every rank (same shape and dtype everywhere).
  virtual void broadcast(at::Tensor& tensor, int root) = 0;
  // Every rank's bytes (any size, empty too), indexed by rank, on every rank.
  virtual std::vector<std::string> allgather_bytes(const std::string& mine) = 0;
  virtual void barrier() = 0;
  // A barrier with its own time limit (seconds), for the other ranks to wait out one rank's
  // long phase (rank 0 writing a checkpoint or scoring) without tripping dist.timeout_s;
  // `what` names the wait in the error. The default is the plain barrier.
  virtual void barrier_within(double timeout_s, const std::string& what) {
    (void)timeout_s;
    (void)what;
    barrier();
  }
};

// A world of one: every collective leaves its input as it is (the sum and the average of
// one contribution). Used without a launcher, on any device, and as NCCL's bootstrap there.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "local"; }
  void allreduce(at::Tensor& tensor, ReduceOp op) override;
  std::unique_ptr<Work> allreduce_async(const at::Tensor& flat, ReduceOp op) override;
  void broadcast(at::Tensor& tensor, int root) override;
  std::vector<std::string> allgather_bytes(const std::string& mine) override { return {mine}; }
  void barrier() override {}
};

// Throws asl::Error unless op can be applied to tensor's dtype (Average needs a
// floating-point dtype). `who` names the communicator in the message.
void check_reduce_op(const std::string& who, const at::Tensor& tensor, ReduceOp op);

const char* to_string(ReduceOp op);

}  // namespace asl::cluster
