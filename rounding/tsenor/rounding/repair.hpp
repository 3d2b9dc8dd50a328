// Filling the deficit that greedy rounding can leave, so that every tile is exactly
// N-regular. First the paper's local search (best length-3 swap), then shortest augmenting
// paths in the residual graph, which always exist while a deficit remains.
#pragma once

#include <Kokkos_Core.hpp>

#include "tsenor/rounding/tile_mask.hpp"

namespace tsenor::rounding {

/// For a deficient row i and column j, the kept (i2, j2) with (i, j2) and (i2, j) free that
/// maximises A[i][j2] + A[i2][j] − A[i2][j2] (score has the mask's leading dimension);
/// swapping it out adds one entry to row i and one to column j. Returns false when no such swap exists.
template <class Real>
KOKKOS_INLINE_FUNCTION bool best_three_swap(const TileMask& mask, const Real* score, int i, int j) {
  const int m = mask.m, ld = mask.ld;
  int best_i = -1, best_j = -1;
  double best_gain = 0.0;
  for (int i2 = 0; i2 < m; ++i2) {
    if (i2 == i || mask.at(i2, j)) continue;
    for (int j2 = 0; j2 < m; ++j2) {
      if (j2 == j || !mask.at(i2, j2) || mask.at(i, j2)) continue;
      const double gain = static_cast<double>(score[i * ld + j2]) + static_cast<double>(score[i2 * ld + j]) -
                          static_cast<double>(score[i2 * ld + j2]);
      if (best_i < 0 || gain > best_gain) {
        best_gain = gain;
        best_i = i2;
        best_j = j2;
      }
    }
  }
  if (best_i < 0) return false;
  mask.drop(best_i, best_j);
  mask.keep(i, best_j);
  mask.keep(best_i, j);
  return true;
}

/// Breadth-first augmenting path from a deficient row to a deficient column, alternating
/// free entries (added) and kept entries (dropped). Adds one to the row and to the column.
/// `queue` and `parent` hold 2·m ints each. Returns false only if the mask is already regular.
KOKKOS_INLINE_FUNCTION bool augment_shortest_path(const TileMask& mask, int* queue, int* parent) {
  const int m = mask.m, n = mask.n;
  // Nodes: rows 0..m−1, columns m..2m−1. parent[] = −2 unvisited, −1 source.
  for (int v = 0; v < 2 * m; ++v) parent[v] = -2;
  int head = 0, tail = 0;
  for (int i = 0; i < m; ++i)
    if (mask.row_count[i] < n) {
      parent[i] = -1;
      queue[tail++] = i;
    }
  while (head < tail) {
    const int v = queue[head++];
    if (v < m) {  // row: step to columns through free entries
      for (int j = 0; j < m; ++j) {
        if (mask.at(v, j) || parent[m + j] != -2) continue;
        parent[m + j] = v;
        if (mask.col_count[j] < n) {  // reached a deficient column: flip the path
          int col = j;
          int row = v;
          while (true) {
            mask.keep(row, col);
            const int prev_col = parent[row];
            if (prev_col == -1) break;
            mask.drop(row, prev_col - m);
            col = prev_col - m;
            row = parent[prev_col];
          }
          return true;
        }
        queue[tail++] = m + j;
      }
    } else {  // column: step back to rows through kept entries
      const int j = v - m;
      for (int i = 0; i < m; ++i) {
        if (!mask.at(i, j) || parent[i] != -2) continue;
        parent[i] = v;
        queue[tail++] = i;
      }
    }
  }
  return false;
}

/// Makes the mask exactly N-regular. Returns true when augmenting paths were needed (the
/// tile is then flagged as repaired); the cheap best-gain swaps come first.
template <class Real>
KOKKOS_INLINE_FUNCTION bool repair_deficit(const TileMask& mask, const Real* score, int* queue, int* parent) {
  const int m = mask.m, n = mask.n;
  bool progress = true;
  while (progress && mask.deficit() > 0) {
    progress = false;
    for (int i = 0; i < m; ++i) {
      if (mask.row_count[i] >= n) continue;
      for (int j = 0; j < m && mask.row_count[i] < n; ++j) {
        if (mask.col_count[j] >= n) continue;
        if (!mask.at(i, j)) {
          mask.keep(i, j);
          progress = true;
        } else if (best_three_swap(mask, score, i, j)) {
          progress = true;
        }
      }
    }
  }
  bool repaired = false;
  while (mask.deficit() > 0 && augment_shortest_path(mask, queue, parent)) repaired = true;
  return repaired;
}

/// Improvement passes: for every pair of rows (i, i2), the best exchange of a column kept by
/// i only with one kept by i2 only. The gain splits into two independent halves, so each pair
/// costs O(m). Stops after `passes` passes or when a pass finds nothing. Keeps regularity.
template <class Real>
KOKKOS_INLINE_FUNCTION void improve_row_swaps(const TileMask& mask, const Real* score, int passes) {
  const int m = mask.m, ld = mask.ld;
  for (int pass = 0; pass < passes; ++pass) {
    bool improved = false;
    for (int i = 0; i < m; ++i) {
      for (int i2 = i + 1; i2 < m; ++i2) {
        // Move column j from row i to row i2, and column j2 from row i2 to row i.
        int best_j = -1, best_j2 = -1;
        double best_out = 0.0, best_in = 0.0;
        for (int c = 0; c < m; ++c) {
          const bool ki = mask.at(i, c), ki2 = mask.at(i2, c);
          if (ki == ki2) continue;
          const double d = static_cast<double>(score[i2 * ld + c]) - static_cast<double>(score[i * ld + c]);
          if (ki) {
            if (best_j < 0 || d > best_out) best_out = d, best_j = c;
          } else if (best_j2 < 0 || -d > best_in) {
            best_in = -d, best_j2 = c;
          }
        }
        if (best_j >= 0 && best_j2 >= 0 && best_out + best_in > 0.0) {
          mask.drop(i, best_j);
          mask.drop(i2, best_j2);
          mask.keep(i2, best_j);
          mask.keep(i, best_j2);
          improved = true;
        }
      }
    }
    if (!improved) return;
  }
}

}  // namespace tsenor::rounding
