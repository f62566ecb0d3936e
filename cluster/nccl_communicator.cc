#include "cluster/nccl_communicator.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <torch/torch.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "cluster/deadline.h"
#include "core/error.h"

namespace asl::cluster {
namespace {

constexpr const char* kWho = "NCCL communicator";
using Clock = std::chrono::steady_clock;

// ncclAvg appeared in NCCL 2.10; older versions sum and divide on the caller's stream.
#if NCCL_VERSION_CODE >= 21000
constexpr bool kNativeAverage = true;
#else
constexpr bool kNativeAverage = false;
#endif

void check_nccl(ncclResult_t result, const std::string& what) {
  if (result != ncclSuccess) {
    throw Error(kWho, what + " failed: " + std::string(ncclGetErrorString(result)));
  }
}

void check_cuda(cudaError_t result, const std::string& what) {
  if (result != cudaSuccess) {
    throw Error(kWho, what + " failed: " + std::string(cudaGetErrorString(result)));
  }
}

std::string dtype_name(const at::Tensor& t) { return std::string(c10::toString(t.scalar_type())); }

ncclDataType_t nccl_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    case at::kHalf: return ncclFloat16;
#if NCCL_VERSION_CODE >= 21000
    case at::kBFloat16: return ncclBfloat16;
#endif
    case at::kInt: return ncclInt32;
    case at::kLong: return ncclInt64;
    case at::kByte: return ncclUint8;
    default:
      throw Error(kWho, "cannot all-reduce a " + dtype_name(t) + " tensor",
                  "convert it to float32 first");
  }
}

ncclRedOp_t nccl_op(ReduceOp op) {
#if NCCL_VERSION_CODE >= 21000
  if (op == ReduceOp::Average) return ncclAvg;
#endif
  (void)op;
  return ncclSum;
}

}  // namespace

struct NcclCommunicator::State {
  std::unique_ptr<Communicator> bootstrap;
  int device = 0;
  double timeout_s = 0;
  FatalHandler on_fatal;
  int rank = 0, size = 1;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;  // every NCCL operation of this communicator
  cudaEvent_t ready = nullptr;    // recorded on the caller's stream before an operation
  cudaEvent_t done = nullptr;     // recorded on `stream` after a blocking operation
  std::mutex mutex;               // one enqueue at a time (the same order on every rank)

  // Operations the watchdog follows: an event after each, and when it was enqueued.
  struct InFlight {
    cudaEvent_t event;
    Clock::time_point start;
    std::string what;
  };
  std::deque<InFlight> in_flight;
  std::mutex watch_mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::thread watchdog;

  ~State() {
    // Let the last operations finish while the watchdog still guards them.
    if (stream != nullptr) cudaStreamSynchronize(stream);
    {
      std::lock_guard<std::mutex> lock(watch_mutex);
      stopping = true;
    }
    wake.notify_all();
    if (watchdog.joinable()) watchdog.join();
    for (auto& f : in_flight) cudaEventDestroy(f.event);
    if (ready != nullptr) cudaEventDestroy(ready);
    if (done != nullptr) cudaEventDestroy(done);
    if (comm != nullptr) ncclCommDestroy(comm);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }

  cudaStream_t current_stream() const {
    return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream();
  }

  void check_tensor(const at::Tensor& t) const {
    if (!t.defined()) throw Error(kWho, "got an undefined tensor");
    if (!t.is_cuda() || t.device().index() != device) {
      throw Error(kWho,
                  "got a " + dtype_name(t) + " tensor on " + t.device().str() +
                      ", this rank's NCCL device is cuda:" + std::to_string(device),
                  t.is_cuda() ? "move it to the rank's device"
                              : "CPU tensors go through the MPI communicator (dist.backend: mpi)");
    }
  }

  // With `mutex` held: `launch` enqueues one NCCL call on `stream`, after the work already
  // queued on the caller's stream; the watchdog follows it.
  template <class Launch>
  void enqueue(const std::string& what, Launch&& launch) {
    check_cuda(cudaEventRecord(ready, current_stream()), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(stream, ready, 0), "cudaStreamWaitEvent");
    check_nccl(launch(), what);
    cudaEvent_t event = nullptr;
    check_cuda(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(event, stream), "cudaEventRecord");
    std::lock_guard<std::mutex> lock(watch_mutex);
    in_flight.push_back({event, Clock::now(), what});
  }

  // With `mutex` held: the caller's stream waits for everything enqueued so far.
  void join_current_stream() {
    check_cuda(cudaEventRecord(done, stream), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(current_stream(), done, 0), "cudaStreamWaitEvent");
  }

  [[noreturn]] void fatal(const std::string& message) {
    // Aborting the communicator releases kernels that wait for a dead peer.
    ncclCommAbort(comm);
    end_job(message);
  }

  // Reports `message` (on_fatal ends the whole job) and ends this process.
  [[noreturn]] void end_job(const std::string& message) const {
    const std::string text =
        "NCCL communicator (rank " + std::to_string(rank) + ", cuda:" + std::to_string(device) +
        "): " + message;
    if (on_fatal) on_fatal(text);
    std::fprintf(stderr, "%s\n", text.c_str());
    std::abort();
  }

  void watch() {
    cudaSetDevice(device);
    std::unique_lock<std::mutex> lock(watch_mutex);
    while (!stopping) {
      wake.wait_for(lock, std::chrono::milliseconds(200));
      if (stopping) break;
      ncclResult_t async_error = ncclSuccess;
      ncclCommGetAsyncError(comm, &async_error);
      if (async_error != ncclSuccess) {
        lock.unlock();
        fatal(std::string("NCCL reported an error: ") + ncclGetErrorString(async_error) +
              " (another rank may have failed)");
      }
      while (!in_flight.empty()) {
        InFlight& f = in_flight.front();
        const cudaError_t state = cudaEventQuery(f.event);
        if (state == cudaSuccess) {
          cudaEventDestroy(f.event);
          in_flight.pop_front();
          continue;
        }
        const double waited = std::chrono::duration<double>(Clock::now() - f.start).count();
        if (state != cudaErrorNotReady) {
          const std::string what = f.what;
          lock.unlock();
          fatal(what + ": CUDA error " + cudaGetErrorString(state));
        }
        if (timeout_s > 0 && waited > timeout_s) {
          const std::string what = f.what;
          lock.unlock();
          fatal(what + " did not finish within " + std::to_string(static_cast<int>(timeout_s)) +
                " s: another rank failed or stopped (dist.timeout_s)");
        }
        break;  // later operations cannot finish before this one
      }
    }
  }
};

namespace {

// The asynchronous all-reduce: an event after the NCCL call; wait() makes the caller's
// stream wait for it.
class NcclWork final : public Work {
 public:
  NcclWork(NcclCommunicator::State& state, at::Tensor tensor, cudaEvent_t done, bool divide)
      : state_(state), tensor_(std::move(tensor)), done_(done), divide_(divide) {}
  ~NcclWork() override {
    try {
      wait();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "NCCL all-reduce: %s\n", e.what());
    }
    cudaEventDestroy(done_);
  }

  void wait() override {
    if (waited_) return;
    waited_ = true;
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(state_.device));
    check_cuda(cudaStreamWaitEvent(state_.current_stream(), done_, 0), "cudaStreamWaitEvent");
    if (divide_) tensor_.div_(state_.size);
  }

  bool test() override { return cudaEventQuery(done_) == cudaSuccess; }

 private:
  NcclCommunicator::State& state_;
  at::Tensor tensor_;
  cudaEvent_t done_;
  bool divide_;
  bool waited_ = false;
};

}  // namespace

NcclCommunicator::NcclCommunicator(std::unique_ptr<Communicator> bootstrap, int cuda_device,
                                   double timeout_s, FatalHandler on_fatal)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  if (!bootstrap) throw Error(kWho, "no bootstrap communicator");
  s.bootstrap = std::move(bootstrap);
  s.device = cuda_device;
  s.timeout_s = timeout_s;
  s.on_fatal = std::move(on_fatal);
  s.rank = s.bootstrap->rank();
  s.size = s.bootstrap->size();

  int visible = 0;
  check_cuda(cudaGetDeviceCount(&visible), "cudaGetDeviceCount");
  if (cuda_device < 0 || cuda_device >= visible) {
    throw Error(kWho,
                "CUDA device " + std::to_string(cuda_device) + " does not exist (" +
                    std::to_string(visible) + " visible)",
                "check CUDA_VISIBLE_DEVICES and the number of ranks per node");
  }
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(cuda_device));

  // Rank 0's unique id reaches every rank through the bootstrap (MPI).
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  std::string mine;
  if (s.rank == 0) {
    check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    mine.assign(reinterpret_cast<const char*>(&id), sizeof(id));
  }
  const std::vector<std::string> ids = s.bootstrap->allgather_bytes(mine);
  if (ids.empty() || ids[0].size() != sizeof(id)) {
    throw Error(kWho, "rank 0 sent an NCCL id of the wrong size",
                "every rank must run the same build");
  }
  std::memcpy(&id, ids[0].data(), sizeof(id));
  {
    // ncclCommInitRank waits for every rank without limit: a rank that died after the id
    // exchange would hang the others here, so it runs under dist.timeout_s like a collective.
    // No communicator to abort yet (ncclCommInitRank is still writing s.comm).
    Deadline limit(s.timeout_s, [&s] {
      s.end_job("ncclCommInitRank did not finish within " +
                std::to_string(static_cast<int>(s.timeout_s)) +
                " s: another rank failed or stopped during the NCCL set-up (dist.timeout_s)");
    });
    check_nccl(ncclCommInitRank(&s.comm, s.size, id, s.rank), "ncclCommInitRank");
  }

  check_cuda(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  check_cuda(cudaEventCreateWithFlags(&s.ready, cudaEventDisableTiming), "cudaEventCreate");
  check_cuda(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming), "cudaEventCreate");
  s.watchdog = std::thread([&s] { s.watch(); });
}

NcclCommunicator::~NcclCommunicator() = default;

int NcclCommunicator::rank() const { return state_->rank; }
int NcclCommunicator::size() const { return state_->size; }
int NcclCommunicator::device() const { return state_->device; }

void NcclCommunicator::allreduce(at::Tensor& tensor, ReduceOp op) {
  State& s = *state_;
  s.check_tensor(tensor);
  check_reduce_op(kWho, tensor, op);
  const ncclDataType_t type = nccl_type(tensor);
  if (tensor.numel() == 0) return;
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(s.device));
  at::Tensor flat = tensor.is_contiguous() ? tensor : tensor.contiguous();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.enqueue("all-reduce of " + std::to_string(flat.nbytes()) + " bytes", [&] {
      return ncclAllReduce(flat.data_ptr(), flat.data_ptr(), static_cast<size_t>(flat.numel()),
                           type, nccl_op(op), s.comm, s.stream);
    });
    s.join_current_stream();
  }
  if (op == ReduceOp::Average && !kNativeAverage) flat.div_(s.size);
  if (!flat.is_same(tensor)) tensor.copy_(flat);
}

std::unique_ptr<Work> NcclCommunicator::allreduce_async(const at::Tensor& flat, ReduceOp op) {
  State& s = *state_;
  s.check_tensor(flat);
  check_reduce_op(kWho, flat, op);
  if (!flat.is_contiguous()) {
    throw Error(kWho, "the asynchronous all-reduce needs a contiguous buffer",
                "pass a flat bucket (tensor.contiguous())");
  }
  const ncclDataType_t type = nccl_type(flat);
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(s.device));
  cudaEvent_t done = nullptr;
  check_cuda(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
  try {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (flat.numel() > 0) {
      s.enqueue("all-reduce of " + std::to_string(flat.nbytes()) + " bytes", [&] {
        return ncclAllReduce(flat.data_ptr(), flat.data_ptr(), static_cast<size_t>(flat.numel()),
                             type, nccl_op(op), s.comm, s.stream);
      });
    }
    check_cuda(cudaEventRecord(done, s.stream), "cudaEventRecord");
  } catch (...) {
    cudaEventDestroy(done);
    throw;
  }
  return std::make_unique<NcclWork>(s, flat, done, op == ReduceOp::Average && !kNativeAverage);
}

void NcclCommunicator::broadcast(at::Tensor& tensor, int root) {
  State& s = *state_;
  s.check_tensor(tensor);
  if (root < 0 || root >= s.size) {
    throw Error(kWho, "broadcast from rank " + std::to_string(root) + " of " +
                          std::to_string(s.size));
  }
  if (tensor.numel() == 0) return;
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(s.device));
  at::Tensor flat = tensor.is_contiguous() ? tensor : tensor.contiguous();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.enqueue("broadcast of " + std::to_string(flat.nbytes()) + " bytes", [&] {
      return ncclBroadcast(flat.data_ptr(), flat.data_ptr(), flat.nbytes(), ncclUint8, root,
                           s.comm, s.stream);
    });
    s.join_current_stream();
  }
  if (!flat.is_same(tensor)) tensor.copy_(flat);
}

std::vector<std::string> NcclCommunicator::allgather_bytes(const std::string& mine) {
  return state_->bootstrap->allgather_bytes(mine);
}

void NcclCommunicator::barrier() {
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    check_cuda(cudaStreamSynchronize(s.stream), "cudaStreamSynchronize");
  }
  s.bootstrap->barrier();
}

void NcclCommunicator::barrier_within(double timeout_s, const std::string& what) {
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    check_cuda(cudaStreamSynchronize(s.stream), "cudaStreamSynchronize");
  }
  s.bootstrap->barrier_within(timeout_s, what);
}

std::string nccl_version() {
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess) return "unknown";
  // 2.9 and later: major*10000 + minor*100 + patch; before: major*1000 + minor*100 + patch.
  const int major = code >= 10000 ? code / 10000 : code / 1000;
  const int rest = code >= 10000 ? code % 10000 : code % 1000;
  return std::to_string(major) + "." + std::to_string(rest / 100) + "." +
         std::to_string(rest % 100);
}

}  // namespace asl::cluster
