#include "cluster/mpi_communicator.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <exception>
#include <thread>

#include "core/error.h"

namespace asl::cluster {
namespace {

constexpr const char* kWho = "MPI communicator";

// MPI counts are ints: larger tensors travel in pieces of this many elements.
constexpr int64_t kMaxCount = INT_MAX / 2;

std::string describe(const at::Tensor& t) {
  return std::string(c10::toString(t.scalar_type())) + " tensor on " + t.device().str();
}

void check_tensor(const at::Tensor& t) {
  if (!t.defined()) throw Error(kWho, "got an undefined tensor");
  if (!t.device().is_cpu() && !t.device().is_cuda()) {
    throw Error(kWho, "got a " + describe(t), "move the tensor to the CPU or a CUDA device");
  }
}

// MPI reads and writes host memory: a CUDA tensor travels through a host copy (a blocking
// device-to-host copy before the collective, host-to-device after). The NCCL communicator
// is the fast path for CUDA tensors; this one makes any build's MPI work with them.
at::Tensor host_view(const at::Tensor& t) {
  if (t.device().is_cuda()) return t.to(at::kCPU).contiguous();
  return t.is_contiguous() ? t : t.contiguous();
}

MPI_Datatype reduce_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kInt: return MPI_INT32_T;
    case at::kLong: return MPI_INT64_T;
    default:
      throw Error(kWho, "cannot all-reduce a " + describe(t),
                  "MPI sums float32, float64, int32 and int64; convert the tensor first");
  }
}

}  // namespace

// The tensor stays alive in the queued task until the worker has finished with it.
class MpiWork final : public Work {
 public:
  // `after` runs once the collective is done (the copy back of a staged CUDA tensor).
  MpiWork(MpiCommunicator& comm, std::shared_future<void> done, std::string what,
          std::function<void()> after = {})
      : comm_(comm), done_(std::move(done)), what_(std::move(what)), after_(std::move(after)) {}
  ~MpiWork() override {
    try {
      wait();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", what_.c_str(), e.what());
    }
  }

  void wait() override {
    if (waited_) return;
    waited_ = true;
    comm_.wait_for(done_, what_);
    if (after_) after_();
  }

  bool test() override {
    return done_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }

 private:
  MpiCommunicator& comm_;
  std::shared_future<void> done_;
  std::string what_;
  std::function<void()> after_;
  bool waited_ = false;
};

MpiCommunicator::MpiCommunicator(const Runtime& runtime, double timeout_s)
    : runtime_(runtime), timeout_s_(timeout_s) {
  if (!runtime.distributed()) {
    throw Error(kWho, "MPI is not initialised (the process was not started by a launcher)",
                "start the job with mpirun or srun, or use the local communicator");
  }
  check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  worker_ = std::thread([this] { work_loop(); });
}

MpiCommunicator::~MpiCommunicator() {
  bool busy = false;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    busy = pending_ > 0;
  }
  if (busy) {
    // Collectives still queued or running: an error on this rank must not wait for
    // partners that may never come; a normal end lets them finish, within the timeout.
    if (std::uncaught_exceptions() > 0) {
      runtime_.abort("left the job while an error was being raised");
    }
    try {
      wait_for(submit([] {}), "finishing the queued collectives");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    }
  }
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    stopping_ = true;
  }
  queue_wake_.notify_all();
  if (worker_.joinable()) worker_.join();
  int finalized = 1;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void MpiCommunicator::check(int code, const std::string& what) const {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(kWho, what + " failed: " + std::string(text, length));
}

std::shared_future<void> MpiCommunicator::submit(std::function<void()> task) {
  // The count drops before the caller's future is ready (the guard ends inside the task):
  // a caller that throws right after a collective must not find it still "pending" in the
  // destructor and abort the job.
  std::packaged_task<void()> job([this, task = std::move(task)] {
    struct Done {
      MpiCommunicator* self;
      ~Done() {
        std::lock_guard<std::mutex> lock(self->queue_mutex_);
        --self->pending_;
      }
    } done{this};
    task();
  });
  std::shared_future<void> done = job.get_future().share();
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    queue_.push_back(std::move(job));
    ++pending_;
  }
  queue_wake_.notify_one();
  return done;
}

void MpiCommunicator::work_loop() {
  for (;;) {
    std::packaged_task<void()> job;
    {
      std::unique_lock<std::mutex> lock(queue_mutex_);
      queue_wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();  // an exception goes to the job's future; the job counts itself done
  }
}

void MpiCommunicator::wait_for(const std::shared_future<void>& done, const std::string& what,
                               double timeout_s) {
  const double limit_s = timeout_s > 0 ? timeout_s : timeout_s_;
  if (limit_s > 0) {
    const auto limit = std::chrono::duration<double>(limit_s);
    if (done.wait_for(limit) != std::future_status::ready) {
      runtime_.abort(what + " did not finish within " + std::to_string(static_cast<int>(limit_s)) +
                     " s: another rank failed or stopped (" +
                     (timeout_s > 0 ? "dist.root_timeout_s" : "dist.timeout_s") + ")");
    }
  }
  done.get();  // rethrows the task's error
}

void MpiCommunicator::allreduce(at::Tensor& tensor, ReduceOp op) {
  check_tensor(tensor);
  check_reduce_op(kWho, tensor, op);
  const MPI_Datatype type = reduce_type(tensor);
  at::Tensor flat = host_view(tensor);
  wait_for(submit([this, flat, type, op] {
             reduce_in_place(flat, type);
             if (op == ReduceOp::Average) flat.div_(size_);
           }),
           "an all-reduce of " + std::to_string(flat.nbytes()) + " bytes");
  if (!flat.is_same(tensor)) tensor.copy_(flat);
}

void MpiCommunicator::reduce_in_place(const at::Tensor& flat, MPI_Datatype type) {
  const int64_t n = flat.numel();
  auto* base = static_cast<char*>(flat.data_ptr());
  for (int64_t at = 0; at < n; at += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, n - at));
    check(MPI_Allreduce(MPI_IN_PLACE, base + at * flat.element_size(), count, type, MPI_SUM,
                        comm_),
          "MPI_Allreduce");
  }
}

std::unique_ptr<Work> MpiCommunicator::allreduce_async(const at::Tensor& bucket, ReduceOp op) {
  check_tensor(bucket);
  check_reduce_op(kWho, bucket, op);
  if (!bucket.is_contiguous()) {
    throw Error(kWho, "the asynchronous all-reduce needs a contiguous buffer",
                "pass a flat bucket (tensor.contiguous())");
  }
  const MPI_Datatype type = reduce_type(bucket);
  const at::Tensor flat = host_view(bucket);
  auto done = submit([this, flat, type, op] {
    reduce_in_place(flat, type);
    if (op == ReduceOp::Average) flat.div_(size_);
  });
  std::function<void()> after;
  if (!flat.is_same(bucket)) after = [bucket, flat]() mutable { bucket.copy_(flat); };
  return std::make_unique<MpiWork>(*this, std::move(done),
                                   "an all-reduce of " + std::to_string(flat.nbytes()) + " bytes",
                                   std::move(after));
}

void MpiCommunicator::broadcast(at::Tensor& tensor, int root) {
  check_tensor(tensor);
  if (root < 0 || root >= size_) {
    throw Error(kWho, "broadcast from rank " + std::to_string(root) + " of " +
                          std::to_string(size_));
  }
  at::Tensor flat = host_view(tensor);
  wait_for(submit([this, flat, root] {
             const int64_t bytes = static_cast<int64_t>(flat.nbytes());
             auto* base = static_cast<char*>(flat.data_ptr());
             for (int64_t at = 0; at < bytes; at += kMaxCount) {
               const int count = static_cast<int>(std::min(kMaxCount, bytes - at));
               check(MPI_Bcast(base + at, count, MPI_BYTE, root, comm_), "MPI_Bcast");
             }
           }),
           "a broadcast of " + std::to_string(flat.nbytes()) + " bytes");
  if (!flat.is_same(tensor)) tensor.copy_(flat);
}

std::vector<std::string> MpiCommunicator::allgather_bytes(const std::string& mine) {
  if (mine.size() > static_cast<size_t>(INT_MAX)) {
    throw Error(kWho, "allgather of " + std::to_string(mine.size()) + " bytes from one rank",
                "gather less than 2 GiB per rank at a time");
  }
  std::vector<std::string> out(size_);
  wait_for(submit([this, &mine, &out] {
             const int my_size = static_cast<int>(mine.size());
             std::vector<int> sizes(size_), offsets(size_);
             check(MPI_Allgather(&my_size, 1, MPI_INT, sizes.data(), 1, MPI_INT, comm_),
                   "MPI_Allgather");
             int64_t total = 0;
             for (int r = 0; r < size_; ++r) {
               offsets[r] = static_cast<int>(total);
               total += sizes[r];
             }
             // Every rank sees the same sizes, so every rank takes the same branch here.
             if (total > INT_MAX) {
               throw Error(kWho, "allgather of more than 2 GiB in all", "gather in smaller pieces");
             }
             std::string all(static_cast<size_t>(total), '\0');
             check(MPI_Allgatherv(mine.data(), my_size, MPI_BYTE, all.data(), sizes.data(),
                                  offsets.data(), MPI_BYTE, comm_),
                   "MPI_Allgatherv");
             for (int r = 0; r < size_; ++r) out[r] = all.substr(offsets[r], sizes[r]);
           }),
           "an allgather");
  return out;
}

void MpiCommunicator::barrier() {
  wait_for(submit([this] { check(MPI_Barrier(comm_), "MPI_Barrier"); }), "a barrier");
}

void MpiCommunicator::barrier_within(double timeout_s, const std::string& what) {
  wait_for(submit([this] { check(MPI_Barrier(comm_), "MPI_Barrier"); }), what, timeout_s);
}

}  // namespace asl::cluster
