// `asl inspect STORE`: the store's summary and, with --verify, every value read back.
#include "data/store.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <limits>
#include <random>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/fs.h"
#include "core/strings.h"
#include "data/store_format.h"

namespace asl::data {
namespace {

namespace fs = std::filesystem;
using h5::Handle;
using namespace store_format;

// A problem line for the NaN/Inf values of `m` ("WHAT: 3 NaN, 0 Inf, first at t=.. d=.."), if any.
void add_non_finite(VerifyReport& report, const std::string& what, const FeatureMatrix& m) {
  int64_t nan = 0, inf = 0, first = -1;
  for (size_t i = 0; i < m.values.size(); ++i) {
    const float v = m.values[i];
    if (std::isfinite(v)) continue;
    (std::isnan(v) ? nan : inf) += 1;
    if (first < 0) first = static_cast<int64_t>(i);
  }
  if (first < 0) return;
  report.problems.push_back(what + ": " + std::to_string(nan) + " NaN, " + std::to_string(inf) +
                            " Inf, first at t=" + std::to_string(first / m.cols) +
                            " d=" + std::to_string(first % m.cols));
}

int64_t file_size(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  std::ostringstream s;
  s << std::fixed << std::setprecision(u == 0 ? 0 : 1) << bytes << " " << units[u];
  return s.str();
}

}  // namespace

VerifyReport verify_store(const std::string& path) {
  StoreReader reader(path);
  const StoreInfo& info = reader.info();
  VerifyReport report;
  for (const auto& clip_id : reader.clip_ids()) {
    ++report.clips;
    for (size_t s = 0; s < info.streams.size(); ++s) {
      FeatureMatrix m;
      try {
        m = reader.read(clip_id, static_cast<int64_t>(s));
      } catch (const Error& e) {
        report.problems.push_back(e.what());
        continue;
      }
      ++report.datasets;
      report.values += static_cast<int64_t>(m.values.size());
      if (m.rows == 0) {
        report.problems.push_back("clip " + clip_id + " stream " + info.streams[s].name +
                                  ": no time steps");
      }
      add_non_finite(report, "clip " + clip_id + " stream " + info.streams[s].name, m);
    }
  }
  // Query text features: read_text checks the shape (L >= 1, the store's text dimension)
  // and the checksum; the values are checked here.
  for (const auto& key : reader.text_keys()) {
    FeatureMatrix m;
    try {
      m = reader.read_text(key);
    } catch (const Error& e) {
      report.problems.push_back(e.what());
      continue;
    }
    ++report.datasets;
    report.values += static_cast<int64_t>(m.values.size());
    add_non_finite(report, "query text " + key, m);
  }
  return report;
}

std::string summarize_store(const std::string& path) {
  StoreReader reader(path);
  const StoreInfo& info = reader.info();
  const std::vector<std::string> ids = reader.clip_ids();
  std::ostringstream out;
  out << "store      " << path << "\n";
  out << "format     " << info.format << ", version " << info.version << "\n";
  out << "dtype      " << dtype_name(info.dtype) << "\n";
  out << "clips      " << info.num_clips << "\n";
  out << "streams    " << info.streams.size() << "\n";
  for (size_t s = 0; s < info.streams.size(); ++s) {
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = 0, total = 0;
    for (const auto& id : ids) {
      const int64_t t = reader.rows(id, static_cast<int64_t>(s));
      lo = std::min(lo, t);
      hi = std::max(hi, t);
      total += t;
    }
    out << "  " << std::left << std::setw(16) << info.streams[s].name << std::right
        << std::setw(6) << info.streams[s].dim << " dims";
    if (!ids.empty()) {
      out << ", steps per clip " << lo << " to " << hi << " (mean " << std::fixed
          << std::setprecision(1) << static_cast<double>(total) / static_cast<double>(ids.size())
          << ")";
    }
    out << "\n";
  }
  if (info.text_dim > 0) {
    // Tokens per query from the datasets' shapes; the median of an even count is the mean
    // of the middle two.
    std::vector<int64_t> lengths;
    for (const auto& key : reader.text_keys()) lengths.push_back(reader.text_rows(key));
    out << "texts      " << lengths.size() << " query keys, " << info.text_dim << " dims";
    if (!lengths.empty()) {
      std::sort(lengths.begin(), lengths.end());
      const size_t n = lengths.size();
      const double median = n % 2 ? static_cast<double>(lengths[n / 2])
                                  : static_cast<double>(lengths[n / 2 - 1] + lengths[n / 2]) / 2;
      std::ostringstream med;
      med << median;
      out << ", tokens per query min " << lengths.front() << ", median " << med.str() << ", max "
          << lengths.back();
    }
    out << "\n";
  }
  const std::vector<std::string> files = reader.files();
  int64_t bytes = 0;
  for (const auto& f : files) bytes += file_size(f);
  if (info.num_shards > 1) {
    out << "shards     " << info.num_shards << " files next to the index:";
    for (size_t i = 1; i < files.size(); ++i) out << " " << fs::path(files[i]).filename().string();
    out << "\n";
  } else {
    out << "shards     1 (a single file)\n";
  }
  out << "size       " << human_bytes(static_cast<double>(bytes)) << " on disk\n";
  if (!ids.empty() && !info.streams.empty()) {
    out << "checksums  "
        << (reader.has_checksums(ids.front(), 0)
                ? "CRC-32C per clip and stream, checked on every read"
                : "none (packed by an older version; asl pack again to add them)")
        << "\n";
  }
  if (!info.source.empty()) out << "source     " << info.source << "\n";
  return out.str();
}

}  // namespace asl::data
