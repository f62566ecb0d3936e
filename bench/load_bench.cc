// `asl bench --what load`. Ego4D-shaped random clips are written three ways (a float16
// store, a float32 store, per-clip float32 .pt files as researchers have them), then read
// back whole, `repeat` times each, with the page cache warm and, where the kernel lets us
// drop a file's pages, cold. Throughput counts the float32 values delivered to the caller,
// so the three sources are compared on the same work.
#include "bench/load_bench.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bench/bench.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "data/half_batch.h"
#include "data/store.h"

namespace asl::data {
namespace {

using bench::median;
using bench::today;

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The four streams of the reference Ego4D config, in its order.
const std::vector<StreamInfo> kStreams = {
    {"egovlp", 256}, {"slowfast", 2304}, {"omnivore", 1536}, {"internvideo", 1024}};

// Fast deterministic values in [-2, 2): the benchmark measures I/O, not the generator.
class Values {
 public:
  float next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return static_cast<float>(state_ >> 40) * (4.0f / 16777216.0f) - 2.0f;
  }

 private:
  uint64_t state_ = 0x9e3779b97f4a7c15ull;
};

struct Source {
  std::string key;    // "store-f16"
  std::string label;  // "store f16"
  std::vector<std::string> files;
  std::function<int64_t()> read_all;  // returns the float32 bytes delivered
};

int64_t disk_bytes(const std::vector<std::string>& files) {
  int64_t n = 0;
  for (const auto& f : files) {
    std::error_code ec;
    const auto s = fs::file_size(f, ec);
    if (!ec) n += static_cast<int64_t>(s);
  }
  return n;
}

// Asks the kernel to drop the files' cached pages; returns the fraction of their pages
// still resident afterwards (mincore), so that the caller can tell whether it worked.
double drop_from_page_cache(const std::vector<std::string>& files) {
  const long page = sysconf(_SC_PAGESIZE);
  size_t pages = 0, resident = 0;
  for (const auto& f : files) {
    const int fd = ::open(f.c_str(), O_RDONLY);
    if (fd < 0) continue;
    ::fsync(fd);  // dirty pages cannot be dropped
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    const off_t size = ::lseek(fd, 0, SEEK_END);
    if (size > 0) {
      void* map = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_SHARED, fd, 0);
      if (map != MAP_FAILED) {
        const size_t n = (static_cast<size_t>(size) + page - 1) / page;
        std::vector<unsigned char> vec(n);
        if (::mincore(map, static_cast<size_t>(size), vec.data()) == 0) {
          pages += n;
          for (const unsigned char v : vec) resident += v & 1;
        }
        ::munmap(map, static_cast<size_t>(size));
      }
    }
    ::close(fd);
  }
  return pages ? static_cast<double>(resident) / static_cast<double>(pages) : 1.0;
}

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

// Removes the benchmark's data folder however the benchmark ends.
struct RemoveOnExit {
  std::string path;
  ~RemoveOnExit() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

std::string run_load_bench(const LoadBenchOptions& o) {
  if (o.clips < 1 || o.steps < 1 || o.repeat < 1) {
    throw Error("bench --what load", "clips, steps and repeat must be positive");
  }
  const std::string root =
      (fs::path(o.work_dir) / ("load-" + std::to_string(::getpid()))).string();
  make_dirs(root);
  RemoveOnExit cleanup{root};

  // 1. The data: the same clips three ways.
  const std::string f16_path = root + "/store-f16.h5", f32_path = root + "/store-f32.h5";
  const std::string plain_path = root + "/store-f16-no-checksums.h5";
  std::vector<std::string> clip_ids, pt_files;
  {
    StoreWriter f16(f16_path, kStreams, DType::F16, "asl bench --what load (random values)");
    StoreWriter f32(f32_path, kStreams, DType::F32, "asl bench --what load (random values)");
    StoreWriter plain(plain_path, kStreams, DType::F16, "asl bench --what load (random values)",
                      1, /*checksums=*/false);
    for (const auto& s : kStreams) make_dirs(root + "/pt/" + s.name);
    Values values;
    Progress progress("bench data", o.clips, "clips");
    for (int64_t c = 0; c < o.clips; ++c) {
      char id[32];
      std::snprintf(id, sizeof id, "clip-%05lld", static_cast<long long>(c));
      std::vector<FeatureMatrix> per_stream;
      for (const auto& s : kStreams) {
        FeatureMatrix m(o.steps, s.dim);
        for (auto& v : m.values) v = values.next();
        const std::string pt = root + "/pt/" + s.name + "/" + id + ".pt";
        write_pt(pt, m, DType::F32);
        pt_files.push_back(pt);
        per_stream.push_back(std::move(m));
      }
      f16.write_clip(id, per_stream);
      f32.write_clip(id, per_stream);
      plain.write_clip(id, per_stream);
      clip_ids.push_back(id);
      progress.advance();
    }
    f16.commit();
    f32.commit();
    plain.commit();
  }

  auto store_source = [&](const std::string& key, const std::string& label,
                          const std::string& path) {
    Source s{key, label, StoreReader(path).files(), nullptr};
    s.read_all = [&clip_ids, path] {
      const StoreReader reader(path);  // opened per pass: a cold pass reads the metadata too
      int64_t bytes = 0;
      for (const auto& id : clip_ids) {
        for (const auto& m : reader.read_clip(id)) bytes += static_cast<int64_t>(m.values.size()) * 4;
      }
      return bytes;
    };
    return s;
  };
  std::vector<Source> sources = {store_source("store-f16", "store f16", f16_path),
                                 store_source("store-f32", "store f32", f32_path),
                                 store_source("store-f16-no-checksums", "store f16 without checksums",
                                              plain_path)};
  sources.push_back({"pt-f32", ".pt f32 per clip", pt_files, [&pt_files] {
                       int64_t bytes = 0;
                       for (const auto& f : pt_files) {
                         bytes += static_cast<int64_t>(read_feature_file(f).values.size()) * 4;
                       }
                       return bytes;
                     }});

  // 2. The passes. Warm: one untimed pass fills the cache. Cold: the files' pages are
  // dropped before every pass.
  struct Result {
    std::string source, cache;
    std::vector<double> seconds;
    int64_t bytes = 0;
  };
  std::vector<Result> results;
  double worst_resident = 0;
  auto timed = [](const Source& s, int64_t& bytes) {
    const auto t0 = Clock::now();
    bytes = s.read_all();
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  for (const auto& s : sources) {
    Result warm{s.key, "warm", {}, 0};
    s.read_all();
    for (int r = 0; r < o.repeat; ++r) warm.seconds.push_back(timed(s, warm.bytes));
    Result cold{s.key, "cold", {}, 0};
    for (int r = 0; r < o.repeat; ++r) {
      worst_resident = std::max(worst_resident, drop_from_page_cache(s.files));
      cold.seconds.push_back(timed(s, cold.bytes));
    }
    results.push_back(warm);
    results.push_back(cold);
  }
  const bool cold_ok = worst_resident <= 0.05;

  // 3. Report.
  const int64_t clip_bytes = [&] {
    int64_t n = 0;
    for (const auto& s : kStreams) n += s.dim * o.steps * 4;
    return n;
  }();
  nlohmann::json j;
  j["benchmark"] = "load";
  j["date"] = today();
  j["host"] = host_name();
  j["cores"] = std::thread::hardware_concurrency();
  j["clips"] = o.clips;
  j["steps"] = o.steps;
  j["repeat"] = o.repeat;
  j["f16c"] = half_batch_uses_f16c();
  for (const auto& s : kStreams) j["streams"].push_back({{"name", s.name}, {"dim", s.dim}});
  j["cold_measured"] = cold_ok;
  j["cold_resident_fraction"] = worst_resident;

  std::ostringstream out;
  char line[256];
  out << "load benchmark: " << o.clips << " clips x " << o.steps << " steps, streams";
  for (const auto& s : kStreams) out << " " << s.name << " " << s.dim;
  std::snprintf(line, sizeof line, " (%.1f MB float32 per clip); median of %d passes\n",
                static_cast<double>(clip_bytes) / 1e6, o.repeat);
  out << line;
  std::snprintf(line, sizeof line, "%-18s %6s %10s %9s %9s %9s %8s\n", "source", "cache", "on disk",
                "median s", "clips/s", "MB/s", "vs .pt");
  out << line;
  std::map<std::string, double> pt_rate;
  for (const auto& r : results) {
    if (r.source == "pt-f32") pt_rate[r.cache] = o.clips / median(r.seconds);
  }
  for (const auto& cache : {"warm", "cold"}) {
    if (std::string(cache) == "cold" && !cold_ok) continue;
    for (const auto& r : results) {
      if (r.cache != cache) continue;
      const Source& s = *std::find_if(sources.begin(), sources.end(),
                                      [&](const Source& x) { return x.key == r.source; });
      const double med = median(r.seconds);
      const double clips_per_s = static_cast<double>(o.clips) / med;
      const double mb_per_s = static_cast<double>(r.bytes) / 1e6 / med;
      const double ratio = clips_per_s / pt_rate[r.cache];
      std::snprintf(line, sizeof line, "%-18s %6s %7.0f MB %9.3f %9.1f %9.0f %7.2fx\n",
                    s.label.c_str(), cache, static_cast<double>(disk_bytes(s.files)) / 1e6, med,
                    clips_per_s, mb_per_s, ratio);
      out << line;
      j["results"].push_back({{"source", r.source},
                              {"cache", r.cache},
                              {"median_s", med},
                              {"seconds", r.seconds},
                              {"clips_per_s", clips_per_s},
                              {"mb_per_s", mb_per_s},
                              {"bytes_on_disk", disk_bytes(s.files)},
                              {"ratio_vs_pt", ratio}});
    }
  }
  out << "MB/s counts the float32 values delivered (" << clip_bytes / 1000000.0
      << " MB per clip) whatever the file holds.\n";
  if (!cold_ok) {
    std::snprintf(line, sizeof line,
                  "cold cache not measured: after fsync + posix_fadvise(DONTNEED) %.0f%% of the "
                  "files' pages stayed cached\n",
                  worst_resident * 100);
    out << line;
  }
  std::fputs(out.str().c_str(), stdout);
  std::fflush(stdout);

  const std::string text = j.dump(2) + "\n";
  if (!o.json_out.empty()) write_file_atomic(o.json_out, text);
  return text;
}

}  // namespace asl::data
