// NCCL collectives for CUDA tensors on this rank's device, one NCCL communicator per job.
//
// Start-up: rank 0 makes the NCCL unique id and the bootstrap communicator (MPI, or the
// local one in a world of one) hands it to every rank. Operations run on a dedicated CUDA
// stream that first waits for the caller's current stream (so the inputs are written);
// the caller's current stream then waits for the operation (blocking calls at once, the
// asynchronous all-reduce in Work::wait()). The host does not block on the GPU.
//
// A watchdog thread polls NCCL's asynchronous error and every operation in flight: an
// error, or an operation unfinished after timeout_s (a rank died or stopped), aborts the
// NCCL communicator (so no kernel waits forever) and calls on_fatal(message), which must
// end the process (Runtime::abort ends the whole job).
//
// No NCCL or CUDA headers here; built only when ASL_HAVE_NCCL.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/communicator.h"

namespace asl::cluster {

class NcclCommunicator final : public Communicator {
 public:
  using FatalHandler = std::function<void(const std::string& message)>;

  // Collective over bootstrap's ranks (every rank constructs it). timeout_s <= 0: no
  // timeout (NCCL errors are still caught).
  NcclCommunicator(std::unique_ptr<Communicator> bootstrap, int cuda_device, double timeout_s,
                   FatalHandler on_fatal);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override;
  int size() const override;
  std::string name() const override { return "nccl"; }
  int device() const;

  // float32, float64, float16, bfloat16, int32, int64, uint8 (Average: floating point).
  void allreduce(at::Tensor& tensor, ReduceOp op) override;
  std::unique_ptr<Work> allreduce_async(const at::Tensor& flat, ReduceOp op) override;
  void broadcast(at::Tensor& tensor, int root) override;
  // Host bytes: through the bootstrap communicator.
  std::vector<std::string> allgather_bytes(const std::string& mine) override;
  // Waits for this rank's NCCL operations, then for every rank.
  void barrier() override;
  void barrier_within(double timeout_s, const std::string& what) override;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

// The NCCL library's version, e.g. "2.28.9".
std::string nccl_version();

}  // namespace asl::cluster
