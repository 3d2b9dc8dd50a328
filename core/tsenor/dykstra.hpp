// Dykstra's algorithm for the entropic relaxation of one tile (design.md §2), in a form that
// stays finite in fp32 at every τ.
//
// With C1, C2 affine, the iterate (S, Q) is captured by one matrix: the unclipped
// Y = S ⊙ Q. One iteration is a = N / rowsum(min(Y,1)), b = N / colsum(a ⊙ min(Y,1)),
// Y ← a ⊙ Y ⊙ b, and the fractional solution is S = min(Y, 1). We form the kernel with the
// row and then the column log-maximum subtracted (the KL projection onto row/column-sum sets
// is invariant under such scalings), so every row and column starts with an entry ≥ 1 and
// no sum underflows; Y is clamped to [0, 2^64] so it never overflows (entries above 1 are
// clipped anyway). The paper's exp(τÂ) overflows fp32 above τ ≈ 88 — its breakdown at τ=100.
#pragma once

#include <Kokkos_Core.hpp>
#include <cfloat>

#include "tsenor/det_math.hpp"

namespace tsenor {

struct DykstraParams {
  int m = 0;
  int n = 0;
  double tau = 0.0;
  int max_iterations = 0;
  double tolerance = 0.0;  ///< on |row or column sum − N| / N
};

struct DykstraOutcome {
  int iterations = 0;
  bool converged = false;
};

/// Runs the iteration on one tile. `score` holds the m·m raw scores (row-major); on return
/// `y` holds the unclipped Y (the greedy priority) — S = min(Y, 1) is the fractional
/// solution. `row_scale` and `col_scale` are m floats of scratch.
template <class Real>
KOKKOS_INLINE_FUNCTION DykstraOutcome dykstra_solve_tile(const Real* score, float* y, float* row_scale,
                                                         float* col_scale, const DykstraParams& p) {
  const int m = p.m;
  const float n = static_cast<float>(p.n);
  constexpr float y_max = 18446744073709551616.0f;  // 2^64
  // Â = A / max(A) per tile; an all-zero tile gives Â = 0 (every mask is then optimal).
  double amax = 0.0;
  for (int k = 0; k < m * m; ++k)
    if (static_cast<double>(score[k]) > amax) amax = static_cast<double>(score[k]);
  const double scale = amax > 0.0 ? p.tau / amax : 0.0;
  auto logit = [&](int i, int j) { return static_cast<double>(score[i * m + j]) * scale; };
  // Stabilised kernel: log K_ij = τÂ_ij − r_i − c_j with r_i the row's maximum and c_j the
  // column's maximum after the row shift.
  double row_max[128];
  for (int i = 0; i < m; ++i) {
    double r = logit(i, 0);
    for (int j = 1; j < m; ++j) r = logit(i, j) > r ? logit(i, j) : r;
    row_max[i] = r;
  }
  for (int j = 0; j < m; ++j) {
    double c = logit(0, j) - row_max[0];
    for (int i = 1; i < m; ++i) c = logit(i, j) - row_max[i] > c ? logit(i, j) - row_max[i] : c;
    for (int i = 0; i < m; ++i) {
      double e = detail::det_exp(logit(i, j) - row_max[i] - c);
      y[i * m + j] = e < FLT_MIN ? 0.0f : (e > y_max ? y_max : static_cast<float>(e));
    }
  }

  DykstraOutcome out;
  const float tol = static_cast<float>(p.tolerance) * n;
  for (int it = 1; it <= p.max_iterations; ++it) {
    float err = 0.0f;
    for (int i = 0; i < m; ++i) {
      const float* row = y + i * m;
      const float s = detail::pairwise_sum<float>(m, [&](int j) { return row[j] < 1.0f ? row[j] : 1.0f; });
      row_scale[i] = s > 0.0f ? n / s : 1.0f;
      const float e = s > n ? s - n : n - s;
      err = e > err ? e : err;
    }
    for (int j = 0; j < m; ++j) {
      const float s = detail::pairwise_sum<float>(m, [&](int i) {
        const float v = y[i * m + j];
        return row_scale[i] * (v < 1.0f ? v : 1.0f);
      });
      col_scale[j] = s > 0.0f ? n / s : 1.0f;
      const float e = s > n ? s - n : n - s;
      err = e > err ? e : err;
    }
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) {
        const float v = (y[i * m + j] * row_scale[i]) * col_scale[j];
        y[i * m + j] = v < FLT_MIN ? 0.0f : (v > y_max ? y_max : v);
      }
    out.iterations = it;
    if (err <= tol) {
      out.converged = true;
      break;
    }
  }
  return out;
}

}  // namespace tsenor
