#include "cluster/gradient_buckets.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <limits>
#include <utility>

#include "core/error.h"

namespace asl::cluster {
namespace {

constexpr size_t kNone = std::numeric_limits<size_t>::max();
constexpr const char* kWho = "gradient buckets";

int64_t byte_size(const at::Tensor& t) { return t.numel() * static_cast<int64_t>(t.element_size()); }

// Buckets under construction, one per (dtype, device), in order of first use.
struct OpenBucket {
  at::ScalarType dtype;
  at::Device device;
  std::vector<size_t> members;
  int64_t bytes = 0;
};

OpenBucket& open_bucket_for(std::vector<OpenBucket>& open, const at::Tensor& t) {
  for (auto& o : open) {
    if (o.dtype == t.scalar_type() && o.device == t.device()) return o;
  }
  open.push_back(OpenBucket{t.scalar_type(), t.device(), {}, 0});
  return open.back();
}

// Walks `order`, filling buckets of at most cap_bytes per (dtype, device).
std::vector<std::vector<size_t>> fill_buckets(const std::vector<at::Tensor>& tensors,
                                              const std::vector<size_t>& order,
                                              int64_t cap_bytes) {
  std::vector<std::vector<size_t>> closed;
  std::vector<OpenBucket> open;
  for (size_t i : order) {
    OpenBucket& o = open_bucket_for(open, tensors[i]);
    const int64_t bytes = byte_size(tensors[i]);
    if (!o.members.empty() && o.bytes + bytes > cap_bytes) {
      closed.push_back(std::move(o.members));
      o.members.clear();
      o.bytes = 0;
    }
    o.members.push_back(i);
    o.bytes += bytes;
    if (o.bytes >= cap_bytes) {
      closed.push_back(std::move(o.members));
      o.members.clear();
      o.bytes = 0;
    }
  }
  for (auto& o : open) {
    if (!o.members.empty()) closed.push_back(std::move(o.members));
  }
  return closed;
}

at::Tensor slot_view(const at::Tensor& buffer, int64_t offset, const at::Tensor& like) {
  return buffer.narrow(0, offset, like.numel()).view(like.sizes());
}

// Small gradients are copied with memcpy: LibTorch's narrow/view/copy_ cost a few
// microseconds each, which with hundreds of small tensors outweighs the all-reduce itself
// when messages are cheap. Large ones keep copy_ (multi-threaded).
constexpr int64_t kSmallCopy = 1 << 16;

bool plain_cpu(const at::Tensor& t, at::ScalarType dtype) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == dtype && t.is_contiguous() &&
         t.layout() == at::kStrided && !t._is_zerotensor();
}

// Whether grad is the slot itself (a view handed out by unpack and kept since).
bool is_slot(const at::Tensor& grad, const at::Tensor& slot) {
  return grad.data_ptr() == slot.data_ptr() && grad.sizes() == slot.sizes() &&
         grad.strides() == slot.strides();
}

// grad (or zeros when undefined) into buffer[offset, offset + numel); false: use copy_.
bool copy_small(const at::Tensor& grad, const at::Tensor& buffer, int64_t offset, int64_t numel) {
  if (numel > kSmallCopy || !plain_cpu(buffer, buffer.scalar_type())) return false;
  const size_t size = buffer.element_size();
  char* to = static_cast<char*>(buffer.data_ptr()) + offset * static_cast<int64_t>(size);
  if (!grad.defined()) {
    std::memset(to, 0, static_cast<size_t>(numel) * size);
    return true;
  }
  if (!plain_cpu(grad, buffer.scalar_type()) || grad.numel() != numel) return false;
  if (grad.data_ptr() != to) std::memcpy(to, grad.data_ptr(), static_cast<size_t>(numel) * size);
  return true;
}

// buffer[offset, offset + grad.numel()) into grad; false: use copy_.
bool copy_small_back(const at::Tensor& buffer, int64_t offset, at::Tensor& grad) {
  if (grad.numel() > kSmallCopy || !plain_cpu(buffer, buffer.scalar_type()) ||
      !plain_cpu(grad, buffer.scalar_type())) {
    return false;
  }
  const size_t size = buffer.element_size();
  const char* from = static_cast<const char*>(buffer.data_ptr()) + offset * static_cast<int64_t>(size);
  if (from != grad.data_ptr()) std::memcpy(grad.data_ptr(), from, static_cast<size_t>(grad.numel()) * size);
  return true;
}

// p's .grad (zeros when undefined) into its slot at `offset` of the bucket buffer.
void pack_gradient(const at::Tensor& p, const at::Tensor& buffer, int64_t offset) {
  const at::Tensor& g = p.grad();
  if (g.defined() && g.is_sparse()) throw Error(kWho, "sparse gradients are not supported");
  if (copy_small(g, buffer, offset, p.numel())) return;
  at::Tensor slot = slot_view(buffer, offset, p);
  if (!g.defined()) {
    slot.zero_();
  } else if (!is_slot(g, slot)) {  // else: .grad is this slot already
    slot.copy_(g);
  }
}

// The flags after a bucket's gradients (1: this rank had a gradient; after the average, the
// share of ranks that had one), in the bucket's dtype.
void write_flags(const at::Tensor& buffer, int64_t at, const std::vector<bool>& had) {
  const int64_t n = static_cast<int64_t>(had.size());
  if (plain_cpu(buffer, at::kFloat)) {
    float* f = buffer.data_ptr<float>() + at;
    for (int64_t k = 0; k < n; ++k) f[k] = had[static_cast<size_t>(k)] ? 1.0f : 0.0f;
    return;
  }
  const std::vector<double> values(had.begin(), had.end());
  buffer.narrow(0, at, n).copy_(torch::tensor(values, torch::kDouble));
}

std::vector<bool> read_flags(const at::Tensor& buffer, int64_t at, size_t n) {
  std::vector<bool> had(n);
  if (plain_cpu(buffer, at::kFloat)) {
    const float* f = buffer.data_ptr<float>() + at;
    for (size_t k = 0; k < n; ++k) had[k] = f[k] > 0;
    return had;
  }
  const at::Tensor flags =
      buffer.narrow(0, at, static_cast<int64_t>(n)).to(at::kCPU, at::kDouble).contiguous();
  for (size_t k = 0; k < n; ++k) had[k] = flags.data_ptr<double>()[k] > 0;
  return had;
}

void set_flag(const at::Tensor& buffer, int64_t at, bool had) {
  if (plain_cpu(buffer, at::kFloat)) {
    buffer.data_ptr<float>()[at] = had ? 1.0f : 0.0f;
  } else {
    buffer.narrow(0, at, 1).fill_(had ? 1 : 0);
  }
}
}  // namespace

int64_t bucket_cap_bytes(double bucket_mb) {
  if (!(bucket_mb > 0) || !std::isfinite(bucket_mb)) {
    throw Error("dist.bucket_mb", "must be a positive size in MiB, got " + std::to_string(bucket_mb),
                "use e.g. 25");
  }
  return std::max<int64_t>(1, static_cast<int64_t>(bucket_mb * 1024.0 * 1024.0));
}

std::vector<std::vector<size_t>> assign_buckets(const std::vector<at::Tensor>& params,
                                                int64_t cap_bytes) {
  std::vector<size_t> order;
  for (size_t i = params.size(); i-- > 0;) {
    if (params[i].defined() && params[i].requires_grad()) order.push_back(i);
  }
  return fill_buckets(params, order, cap_bytes);
}

GradientBuckets::GradientBuckets(std::vector<at::Tensor> params, Communicator& comm,
                                 double bucket_mb)
    : params_(std::move(params)), comm_(comm) {
  const int64_t cap = bucket_cap_bytes(bucket_mb);
  bucket_of_.assign(params_.size(), kNone);
  slot_of_.assign(params_.size(), kNone);
  param_ready_.assign(params_.size(), false);
  for (const auto& p : params_) {
    if (p.defined() && p.requires_grad() && p.device() != params_.front().device()) {
      throw Error(kWho, "parameters on " + p.device().str() + " and " +
                            params_.front().device().str(),
                  "move the whole model to one device before building the buckets");
    }
  }
  for (auto& members : assign_buckets(params_, cap)) {
    Bucket b;
    b.params = std::move(members);
    for (size_t k = 0; k < b.params.size(); ++k) {
      const size_t i = b.params[k];
      bucket_of_[i] = buckets_.size();
      slot_of_[i] = k;
      b.offsets.push_back(b.grad_numel);
      b.grad_numel += params_[i].numel();
    }
    const at::Tensor& first = params_[b.params.front()];
    const int64_t flags = static_cast<int64_t>(b.params.size());
    b.buffer = at::zeros({b.grad_numel + flags},
                         at::TensorOptions().dtype(first.scalar_type()).device(first.device()));
    buckets_.push_back(std::move(b));
  }
}

GradientBuckets::~GradientBuckets() {
  detach_hooks();
  // Unwaited work (an error mid-step) must not outlive the buffers it writes.
  for (auto& b : buckets_) b.work.reset();
}

int64_t GradientBuckets::bucket_bytes(size_t b) const {
  return buckets_[b].grad_numel * static_cast<int64_t>(buckets_[b].buffer.element_size());
}

void GradientBuckets::pack(size_t b) {
  torch::NoGradGuard no_grad;
  Bucket& bucket = buckets_[b];
  const size_t n = bucket.params.size();
  std::vector<bool> had(n, false);
  for (size_t k = 0; k < n; ++k) {
    const at::Tensor& p = params_[bucket.params[k]];
    had[k] = p.grad().defined();
    pack_gradient(p, bucket.buffer, bucket.offsets[k]);
  }
  write_flags(bucket.buffer, bucket.grad_numel, had);
}

void GradientBuckets::unpack(size_t b) {
  torch::NoGradGuard no_grad;
  Bucket& bucket = buckets_[b];
  const std::vector<bool> had = read_flags(bucket.buffer, bucket.grad_numel, bucket.params.size());
  for (size_t k = 0; k < bucket.params.size(); ++k) {
    if (!had[k]) continue;  // no rank had a gradient: stays undefined
    at::Tensor& p = params_[bucket.params[k]];
    if (p.grad().defined() && copy_small_back(bucket.buffer, bucket.offsets[k], p.mutable_grad())) {
      continue;
    }
    // Larger gradients become views of the bucket: no second pass over them. They stay
    // valid until the next pack overwrites the bucket, i.e. through the optimizer step
    // (the trainer sets .grad to none before the next backward).
    p.mutable_grad() = slot_view(bucket.buffer, bucket.offsets[k], p);
  }
}

void GradientBuckets::launch(size_t b) {
  Bucket& bucket = buckets_[b];
  bucket.work = comm_.allreduce_async(bucket.buffer, ReduceOp::Average);
}

void GradientBuckets::launch_ready_in_order() {
  while (next_launch_ < buckets_.size() &&
         buckets_[next_launch_].ready == buckets_[next_launch_].params.size()) {
    launch(next_launch_++);
  }
}

void GradientBuckets::synchronize() {
  if (hooks_attached()) {
    finish();
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    pack(b);
    buckets_[b].ready = buckets_[b].params.size();
  }
  complete_step();
}

void GradientBuckets::on_gradient(size_t param, const at::Tensor& grad) {
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t b = bucket_of_[param];
  if (b == kNone) return;
  if (param_ready_[param]) {
    throw Error(kWho, "a parameter's gradient arrived twice before finish()",
                "call finish() after every backward (or detach the hooks and call "
                "synchronize() once when accumulating gradients)");
  }
  Bucket& bucket = buckets_[b];
  const size_t k = slot_of_[param];
  {
    torch::NoGradGuard no_grad;
    const at::Tensor& p = params_[param];
    // The hook runs before the gradient is added to .grad: the bucket gets what .grad
    // will hold once backward is done.
    if (p.grad().defined()) {
      at::Tensor slot = slot_view(bucket.buffer, bucket.offsets[k], p);
      if (is_slot(p.grad(), slot)) {
        // .grad is still this bucket's view from the last step (not reset): backward is
        // about to add to it in place while the bucket may be on the wire. Its own copy.
        p.mutable_grad() = p.grad().clone();
      } else {
        slot.copy_(p.grad());
      }
      slot.add_(grad);
    } else if (!copy_small(grad, bucket.buffer, bucket.offsets[k], p.numel())) {
      slot_view(bucket.buffer, bucket.offsets[k], p).copy_(grad);
    }
    set_flag(bucket.buffer, bucket.grad_numel + static_cast<int64_t>(k), true);
  }
  param_ready_[param] = true;
  if (++bucket.ready == bucket.params.size()) launch_ready_in_order();
}

void GradientBuckets::attach_hooks() {
  if (hooks_attached()) return;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (bucket_of_[i] == kNone) continue;
    const unsigned id =
        params_[i].register_hook([this, i](const at::Tensor& grad) { on_gradient(i, grad); });
    hook_ids_.emplace_back(i, id);
  }
}

void GradientBuckets::detach_hooks() {
  for (const auto& [param, id] : hook_ids_) params_[param].remove_hook(id);
  hook_ids_.clear();
}

void GradientBuckets::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  torch::NoGradGuard no_grad;
  // Parameters whose hook did not fire (no gradient on this rank this step) are packed
  // from .grad as the blocking path would.
  for (size_t b = next_launch_; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    for (size_t k = 0; k < bucket.params.size(); ++k) {
      const size_t i = bucket.params[k];
      if (param_ready_[i]) continue;
      const at::Tensor& p = params_[i];
      pack_gradient(p, bucket.buffer, bucket.offsets[k]);
      set_flag(bucket.buffer, bucket.grad_numel + static_cast<int64_t>(k), p.grad().defined());
      param_ready_[i] = true;
    }
    bucket.ready = bucket.params.size();
  }
  complete_step();
}

void GradientBuckets::complete_step() {
  launch_ready_in_order();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    buckets_[b].work->wait();
    buckets_[b].work.reset();
    unpack(b);
  }
  reset_step();
}

void GradientBuckets::reset_step() {
  for (auto& b : buckets_) {
    b.ready = 0;
    b.work.reset();
  }
  std::fill(param_ready_.begin(), param_ready_.end(), false);
  next_launch_ = 0;
}

void broadcast_tensors(Communicator& comm, const std::vector<at::Tensor>& tensors, int root,
                       double bucket_mb) {
  torch::NoGradGuard no_grad;
  std::vector<size_t> order;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].defined() && tensors[i].numel() > 0) order.push_back(i);
  }
  for (const auto& members : fill_buckets(tensors, order, bucket_cap_bytes(bucket_mb))) {
    std::vector<at::Tensor> flat;
    for (size_t i : members) flat.push_back(tensors[i].reshape({-1}));
    at::Tensor buffer = torch::cat(flat);
    comm.broadcast(buffer, root);
    int64_t offset = 0;
    for (size_t i : members) {
      at::Tensor t = tensors[i];
      t.copy_(slot_view(buffer, offset, t));
      offset += t.numel();
    }
  }
}

}  // namespace asl::cluster
