// Checks shared by the tests: N-regularity of a mask and its quality against LEMON.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "support/lemon_exact.hpp"

namespace tsenor_test {

/// Tiles of a rows×cols row-major mask (multiples of m) that are not exactly n-regular.
inline int irregular_tiles(const std::vector<std::uint8_t>& mask, int rows, int cols, int n, int m) {
  int bad = 0;
  for (int p = 0; p < rows / m; ++p)
    for (int q = 0; q < cols / m; ++q) {
      bool ok = true;
      for (int k = 0; k < m; ++k) {
        int r = 0, c = 0;
        for (int l = 0; l < m; ++l) {
          const std::uint8_t vr = mask[(p * m + k) * cols + q * m + l], vc = mask[(p * m + l) * cols + q * m + k];
          ok &= vr <= 1;
          r += vr;
          c += vc;
        }
        ok &= r == n && c == n;
      }
      bad += ok ? 0 : 1;
    }
  return bad;
}

struct Quality {
  double mean_kept_error = 0.0;   ///< mean over tiles of (f* − f) / f*
  double worst_kept_error = 0.0;
  double max_objective_gap = 0.0; ///< max over tiles of (f* − f) / max(f*, tiny), signed
};

/// Quality of `mask` against LEMON's optimum, tile by tile.
inline Quality quality_vs_lemon(const std::vector<double>& a, const std::vector<std::uint8_t>& mask, int rows,
                                int cols, int n, int m) {
  LemonTileSolver lemon(m, n);
  std::vector<double> tile(m * m);
  Quality q;
  int counted = 0;
  q.max_objective_gap = -1.0;
  for (int p = 0; p < rows / m; ++p)
    for (int t = 0; t < cols / m; ++t) {
      double f = 0.0;
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < m; ++j) {
          const std::size_t k = static_cast<std::size_t>(p * m + i) * cols + t * m + j;
          tile[i * m + j] = a[k];
          if (mask[k]) f += a[k];
        }
      const double best = lemon.solve(tile.data(), nullptr);
      const double gap = (best - f) / std::max(best, 1e-300);
      q.max_objective_gap = std::max(q.max_objective_gap, gap);
      if (best > 0.0) {
        q.mean_kept_error += gap;
        q.worst_kept_error = std::max(q.worst_kept_error, gap);
        ++counted;
      }
    }
  if (counted) q.mean_kept_error /= counted;
  return q;
}

}  // namespace tsenor_test
