#include "data/loader.h"

#include <algorithm>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "core/error.h"

namespace asl::data {

Batch collate(std::vector<VideoItem> items, std::vector<bool> padding, bool is_training,
              int64_t max_seq_len, int64_t max_div_factor) {
  Batch batch;
  for (size_t i = 0; i < items.size(); ++i) {
    if (is_training && items[i].labels.size(0) == 0) continue;  // reference: len(labels) > 0
    batch.items.push_back(std::move(items[i]));
    batch.padding.push_back(i < padding.size() && padding[i]);
  }
  const int64_t b = static_cast<int64_t>(batch.items.size());
  if (b == 0) return batch;
  const int64_t channels = batch.items[0].feats.size(0);
  int64_t max_len = 0;
  for (const auto& it : batch.items) max_len = std::max(max_len, it.feats.size(1));
  if (is_training) {
    if (max_len > max_seq_len) {
      throw Error("clip " + batch.items[0].clip_id,
                  "training input of " + std::to_string(max_len) +
                      " steps is longer than max_seq_len " + std::to_string(max_seq_len));
    }
    max_len = max_seq_len;
  } else {
    if (b != 1) throw Error("evaluation", "batches hold one clip (the reference's batch size 1)");
    max_len = max_len <= max_seq_len
                  ? max_seq_len
                  : (max_len + max_div_factor - 1) / max_div_factor * max_div_factor;
  }
  batch.feats = torch::zeros({b, channels, max_len}, torch::kFloat32);
  batch.masks = torch::zeros({b, 1, max_len}, torch::kBool);
  for (int64_t i = 0; i < b; ++i) {
    const at::Tensor& f = batch.items[static_cast<size_t>(i)].feats;
    batch.feats[i].narrow(1, 0, f.size(1)).copy_(f);
    batch.masks[i].narrow(1, 0, f.size(1)).fill_(true);
  }
  if (batch.items[0].query.defined()) {
    int64_t tokens = 0;
    for (const auto& it : batch.items) tokens = std::max(tokens, it.query.size(1));
    batch.query = torch::zeros({b, batch.items[0].query.size(0), tokens}, torch::kFloat32);
    batch.query_mask = torch::zeros({b, 1, tokens}, torch::kBool);
    for (int64_t i = 0; i < b; ++i) {
      const at::Tensor& q = batch.items[static_cast<size_t>(i)].query;
      batch.query[i].narrow(1, 0, q.size(1)).copy_(q);
      batch.query_mask[i].narrow(1, 0, q.size(1)).fill_(true);
    }
  }
  return batch;
}

struct DataLoader::Impl {
  std::shared_ptr<const Ego4dDataset> dataset;
  LoaderOptions options;
  int64_t max_div_factor;

  ShardPlan plan;
  int64_t epoch = 0;
  int64_t batches = 0;

  std::mutex mu;
  std::condition_variable ready_cv, space_cv;
  std::map<int64_t, Batch> ready;
  std::exception_ptr error;
  int64_t next_out = 0;
  int64_t next_make = 0;
  bool stopping = false;
  std::vector<std::thread> workers;
  double wait = 0;

  Batch make(int64_t b) const {
    const int64_t bs = options.batch_size;
    const int64_t begin = b * bs;
    const int64_t end = std::min<int64_t>(begin + bs, static_cast<int64_t>(plan.indices.size()));
    std::vector<VideoItem> items;
    std::vector<bool> pad;
    for (int64_t k = begin; k < end; ++k) {
      PyRandom rng(mix_seed(options.seed, static_cast<uint64_t>(epoch),
                            static_cast<uint64_t>(plan.positions[static_cast<size_t>(k)])));
      items.push_back(dataset->get(plan.indices[static_cast<size_t>(k)], rng));
      pad.push_back(plan.padding[static_cast<size_t>(k)]);
    }
    Batch batch = collate(std::move(items), std::move(pad), dataset->is_training(),
                          dataset->max_seq_len(), max_div_factor);
    if (options.pin_memory) {
      batch.feats = batch.feats.pin_memory();
      batch.masks = batch.masks.pin_memory();
      if (batch.query.defined()) {
        batch.query = batch.query.pin_memory();
        batch.query_mask = batch.query_mask.pin_memory();
      }
    }
    return batch;
  }

  void work() {
    const int64_t capacity = std::max<int64_t>(1, options.num_workers) * std::max(1, options.prefetch);
    while (true) {
      int64_t b;
      {
        std::unique_lock<std::mutex> lock(mu);
        space_cv.wait(lock, [&] {
          return stopping || next_make >= batches || next_make < next_out + capacity;
        });
        if (stopping || next_make >= batches) return;
        b = next_make++;
      }
      try {
        Batch batch = make(b);
        std::lock_guard<std::mutex> lock(mu);
        ready.emplace(b, std::move(batch));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
      ready_cv.notify_all();
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    space_cv.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
    stopping = false;
  }
};

DataLoader::DataLoader(std::shared_ptr<const Ego4dDataset> dataset, LoaderOptions options,
                       int64_t max_div_factor)
    : impl_(std::make_unique<Impl>()) {
  impl_->dataset = std::move(dataset);
  impl_->options = options;
  impl_->max_div_factor = max_div_factor;
}

DataLoader::~DataLoader() { impl_->stop(); }

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  Impl& s = *impl_;
  s.stop();
  ShardOptions o;
  o.num_samples = s.dataset->size();
  o.batch_size = s.options.batch_size;
  o.rank = s.options.rank;
  o.world_size = s.options.world_size;
  o.shuffle = s.options.shuffle;
  o.drop_last = s.options.drop_last;
  o.seed = s.options.seed;
  o.epoch = epoch;
  o.fixed = s.options.fixed_shard;
  s.plan = plan_shard(o);
  s.epoch = epoch;
  const int64_t n = static_cast<int64_t>(s.plan.indices.size());
  s.batches = (n + s.options.batch_size - 1) / s.options.batch_size;
  s.ready.clear();
  s.error = nullptr;
  s.next_out = std::clamp<int64_t>(first_batch, 0, s.batches);
  s.next_make = s.next_out;
  s.wait = 0;
  for (int w = 0; w < s.options.num_workers; ++w) s.workers.emplace_back([&s] { s.work(); });
}

std::optional<Batch> DataLoader::next() {
  Impl& s = *impl_;
  if (s.next_out >= s.batches) return std::nullopt;
  const auto t0 = std::chrono::steady_clock::now();
  Batch batch;
  if (s.options.num_workers == 0) {
    batch = s.make(s.next_out);
  } else {
    std::unique_lock<std::mutex> lock(s.mu);
    s.ready_cv.wait(lock, [&] { return s.error || s.ready.count(s.next_out); });
    if (s.error) std::rethrow_exception(s.error);
    batch = std::move(s.ready.at(s.next_out));
    s.ready.erase(s.next_out);
  }
  ++s.next_out;
  s.space_cv.notify_all();
  s.wait += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return batch;
}

int64_t DataLoader::num_batches() const { return impl_->batches; }
const ShardPlan& DataLoader::plan() const { return impl_->plan; }
double DataLoader::wait_seconds() const { return impl_->wait; }

}  // namespace asl::data
