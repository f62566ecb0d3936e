// Gradient averaging over ranks in buckets (docs/cluster.md): the gradients are packed into
// a few flat buffers of about dist.bucket_mb each, every buffer is all-reduced (average) as
// one message, and the results are unpacked into the .grad tensors. A few large messages
// instead of one per parameter: the per-message latency is paid a few times, not hundreds
// (small gradients are packed with memcpy: LibTorch's per-op cost would eat the gain).
//
// Parameters go into buckets in REVERSE registration order (the order backward produces
// their gradients), one dtype per bucket; a parameter larger than a bucket gets a bucket of
// its own. Buckets are numbered in the order they fill and always all-reduced in that order,
// so every rank issues the same collectives in the same order.
//
// Two ways to use it, both giving the same gradients:
//   blocking:  backward(); buckets.synchronize();
//   overlap:   buckets.attach_hooks() once; then each step backward(); buckets.finish();
//              each bucket's all-reduce starts from a gradient hook as soon as its last
//              gradient is ready, while backward still computes the rest.
//
// Parameters without a gradient on a step: each bucket carries one flag per parameter
// (1 when this rank had a gradient, else 0, with the gradient packed as zeros). After the
// average, a parameter that had a gradient on SOME rank gets the average over all ranks
// (ranks without one count as zeros, as their samples contribute nothing in one process
// with the global batch); a parameter without a gradient on EVERY rank keeps an undefined
// .grad, so AdamW skips it exactly as in one process.
//
// After synchronize()/finish(), a gradient of more than 2^16 values is a NEW .grad tensor,
// a view of its slot in the bucket (no copy back); smaller ones are copied into the
// existing .grad. Such a view holds the average until the next step's gradients are packed
// (the next backward's hooks, or the next synchronize()): read it before that (clipping,
// the optimizer step), and set .grad to none before the next backward, as the trainer does.
// Keeping .grad across backward passes (accumulation) also works: the blocking path finds
// the gradient already in its slot, and the hooks give such a .grad its own memory first.
//
// The hooks see the gradient of one backward; if .grad already held a value (gradient
// accumulation without zero_grad) the bucket receives the sum, as .grad will.
// No MPI or NCCL here: this works with any Communicator.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "cluster/communicator.h"

namespace asl::cluster {

// Which parameters go into which bucket: indices into the parameter list, in packing
// order, for buckets of at most cap_bytes (a larger single parameter excepted). Parameters
// with requires_grad false are left out.
std::vector<std::vector<size_t>> assign_buckets(const std::vector<at::Tensor>& params,
                                                int64_t cap_bytes);

// bucket_mb (MiB) as bytes; throws asl::Error naming dist.bucket_mb unless positive.
int64_t bucket_cap_bytes(double bucket_mb);

class GradientBuckets {
 public:
  // params in registration order (module->parameters()), all on one device.
  GradientBuckets(std::vector<at::Tensor> params, Communicator& comm, double bucket_mb);
  ~GradientBuckets();
  GradientBuckets(const GradientBuckets&) = delete;
  GradientBuckets& operator=(const GradientBuckets&) = delete;

  size_t num_buckets() const { return buckets_.size(); }
  // Indices into the parameter list of bucket b's parameters, in packing order.
  const std::vector<size_t>& bucket_params(size_t b) const { return buckets_[b].params; }
  // Bucket b's flat buffer: the gradients, then one flag per parameter.
  const at::Tensor& buffer(size_t b) const { return buckets_[b].buffer; }
  int64_t bucket_bytes(size_t b) const;  // the gradients' bytes (flags not counted)

  // .grad -> buffer (zeros and flag 0 for an undefined .grad) and back (see above).
  void pack(size_t b);
  void unpack(size_t b);

  // Blocking path: pack, all-reduce (average) and unpack every bucket.
  void synchronize();

  // Overlap path: register a gradient hook on every parameter (once); after each
  // backward, finish() starts what has not started (parameters whose hook did not fire
  // are packed from their .grad), waits for every bucket and unpacks.
  void attach_hooks();
  void detach_hooks();
  void finish();
  bool hooks_attached() const { return !hook_ids_.empty(); }

 private:
  struct Bucket {
    std::vector<size_t> params;
    std::vector<int64_t> offsets;  // element offset of each parameter's gradient
    int64_t grad_numel = 0;
    at::Tensor buffer;
    size_t ready = 0;              // parameters whose gradient is in the buffer (hooks)
    std::unique_ptr<Work> work;
  };

  void on_gradient(size_t param, const at::Tensor& grad);
  void launch_ready_in_order();  // holds mutex_
  void launch(size_t b);
  // Launches what is still waiting (every bucket is ready), waits for all, unpacks them and
  // clears the step; the caller holds mutex_.
  void complete_step();
  void reset_step();

  std::vector<at::Tensor> params_;
  Communicator& comm_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_, slot_of_;  // per parameter (SIZE_MAX: not bucketed)
  std::vector<bool> param_ready_;
  size_t next_launch_ = 0;
  std::vector<std::pair<size_t, unsigned>> hook_ids_;  // (parameter, hook) when attached
  std::mutex mutex_;
};

// root's values of `tensors` copied into every rank's (parameters and EMA at start),
// in flat buffers of at most bucket_mb per dtype.
void broadcast_tensors(Communicator& comm, const std::vector<at::Tensor>& tensors, int root = 0,
                       double bucket_mb = 25.0);

}  // namespace asl::cluster
