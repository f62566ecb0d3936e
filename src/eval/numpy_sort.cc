#include "eval/numpy_sort.h"

#include <utility>

namespace asl::eval {
namespace {

// numpy's float ordering: NaN after every number.
inline bool less(double a, double b) { return a < b || (b != b && a == a); }

// Partitions whose last index is at most this far from the first are finished by insertion
// sort (numpy's SMALL_QUICKSORT).
constexpr int64_t kSmallPartition = 15;

int most_significant_bit(uint64_t n) {
  int bit = 0;
  while (n >>= 1) ++bit;
  return bit;
}

// Heapsort of idx[lo..hi], numpy's fallback when the recursion gets too deep.
void heap_sort(const std::vector<double>& v, std::vector<int64_t>& idx, int64_t lo, int64_t hi) {
  int64_t n = hi - lo + 1;
  auto at = [&](int64_t one_based) -> int64_t& { return idx[lo + one_based - 1]; };
  auto sift = [&](int64_t start, int64_t size, int64_t moving) {
    int64_t i = start;
    for (int64_t j = start * 2; j <= size;) {
      if (j < size && less(v[at(j)], v[at(j + 1)])) ++j;
      if (!less(v[moving], v[at(j)])) break;
      at(i) = at(j);
      i = j;
      j += j;
    }
    at(i) = moving;
  };
  for (int64_t l = n >> 1; l > 0; --l) sift(l, n, at(l));
  while (n > 1) {
    const int64_t moving = at(n);
    at(n) = at(1);
    --n;
    sift(1, n, moving);
  }
}

}  // namespace

std::vector<int64_t> numpy_argsort(const std::vector<double>& v) {
  const int64_t num = static_cast<int64_t>(v.size());
  std::vector<int64_t> idx(v.size());
  for (int64_t i = 0; i < num; ++i) idx[i] = i;
  if (num < 2) return idx;

  struct Pending {
    int64_t lo, hi;
    int depth;
  };
  std::vector<Pending> stack;
  int64_t lo = 0, hi = num - 1;
  int depth = most_significant_bit(static_cast<uint64_t>(num)) * 2;
  for (;;) {
    if (depth < 0) {
      heap_sort(v, idx, lo, hi);
    } else {
      while (hi - lo > kSmallPartition) {
        // Median of three moved next to the right end, then a Hoare-style partition.
        const int64_t mid = lo + ((hi - lo) >> 1);
        if (less(v[idx[mid]], v[idx[lo]])) std::swap(idx[mid], idx[lo]);
        if (less(v[idx[hi]], v[idx[mid]])) std::swap(idx[hi], idx[mid]);
        if (less(v[idx[mid]], v[idx[lo]])) std::swap(idx[mid], idx[lo]);
        const double pivot = v[idx[mid]];
        int64_t i = lo, j = hi - 1;
        std::swap(idx[mid], idx[j]);
        for (;;) {
          do ++i; while (less(v[idx[i]], pivot));
          do --j; while (less(pivot, v[idx[j]]));
          if (i >= j) break;
          std::swap(idx[i], idx[j]);
        }
        std::swap(idx[i], idx[hi - 1]);
        // The larger side waits on the stack; the smaller one is sorted next.
        if (i - lo < hi - i) {
          stack.push_back({i + 1, hi, --depth});
          hi = i - 1;
        } else {
          stack.push_back({lo, i - 1, --depth});
          lo = i + 1;
        }
      }
      for (int64_t i = lo + 1; i <= hi; ++i) {
        const int64_t moving = idx[i];
        const double value = v[moving];
        int64_t j = i;
        while (j > lo && less(value, v[idx[j - 1]])) {
          idx[j] = idx[j - 1];
          --j;
        }
        idx[j] = moving;
      }
    }
    if (stack.empty()) break;
    lo = stack.back().lo;
    hi = stack.back().hi;
    depth = stack.back().depth;
    stack.pop_back();
  }
  return idx;
}

}  // namespace asl::eval
