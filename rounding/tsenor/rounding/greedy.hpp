// Greedy rounding: visit entries by decreasing priority and keep each one whose row and
// column still have room. Priority ties are broken by the score, then by the position, so
// the order is total and the result is the same on every backend.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>

#include "tsenor/rounding/tile_mask.hpp"

namespace tsenor::rounding {

/// True when entry a comes before entry b (entries at offsets a, b of priority and score):
/// larger priority, then larger score, then the smaller offset (the row-major position).
template <class Key, class Real>
KOKKOS_INLINE_FUNCTION bool precedes(const Key* priority, const Real* score, int a, int b) {
  if (priority[a] != priority[b]) return priority[a] > priority[b];
  if (score[a] != score[b]) return score[a] > score[b];
  return a < b;
}

/// Heap sort of the offsets order[0, count) by `precedes` (in place, no allocation,
/// O(count log count)).
template <class Key, class Real>
KOKKOS_INLINE_FUNCTION void sort_by_priority(std::int16_t* order, int count, const Key* priority,
                                             const Real* score) {
  // A max-heap on "comes later", so that popping moves the latest entries to the back.
  auto later = [&](int x, int y) { return precedes(priority, score, order[y], order[x]); };
  auto sift_down = [&](int root, int end) {
    while (2 * root + 1 < end) {
      int child = 2 * root + 1;
      if (child + 1 < end && later(child + 1, child)) ++child;
      if (!later(child, root)) return;
      const std::int16_t t = order[root];
      order[root] = order[child];
      order[child] = t;
      root = child;
    }
  };
  for (int start = count / 2 - 1; start >= 0; --start) sift_down(start, count);
  for (int end = count - 1; end > 0; --end) {
    const std::int16_t t = order[0];
    order[0] = order[end];
    order[end] = t;
    sift_down(0, end);
  }
}

/// Clears the mask and keeps entries greedily in priority order (priority and score have the
/// mask's leading dimension). May leave a deficit.
template <class Key, class Real>
KOKKOS_INLINE_FUNCTION void greedy_round(const TileMask& mask, std::int16_t* order,
                                         const Key* priority, const Real* score) {
  const int m = mask.m, n = mask.n, ld = mask.ld;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) order[i * m + j] = static_cast<std::int16_t>(i * ld + j);
  sort_by_priority(order, m * m, priority, score);
  mask.clear();
  int placed = 0;
  for (int k = 0; k < m * m && placed < n * m; ++k) {
    const int i = order[k] / ld, j = order[k] % ld;
    if (mask.row_count[i] < n && mask.col_count[j] < n) {
      mask.keep(i, j);
      ++placed;
    }
  }
}

}  // namespace tsenor::rounding
