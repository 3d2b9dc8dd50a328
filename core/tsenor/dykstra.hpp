// Dykstra's algorithm for the entropic relaxation of one tile (docs/design.md §2), in a form that
// stays finite and converges in fp32 at every τ.
//
// With C1, C2 affine, the iterate (S, Q) is captured by one matrix: the unclipped
// Y = S ⊙ Q. One iteration is a = N / rowsum(min(Y,1)), b = N / colsum(a ⊙ min(Y,1)),
// Y ← a ⊙ Y ⊙ b, and the fractional solution is S = min(Y, 1). So Y = exp(τÂ + F_i + G_j)
// for log-potentials F, G, and three measures keep it safe:
//  - Stabilised kernel: Y is formed from the potentials (initially the row and then column
//    log-maxima, so every row and column has an entry ≥ 1 and no sum underflows), never as
//    the paper's exp(τÂ), which overflows fp32 above τ ≈ 88 — its breakdown at τ = 100.
//  - Absorption: the scalings are accumulated in double and folded into F, G (and Y formed
//    again) at every stage end or when they leave [2^-60, 2^60]; between absorptions Y is
//    clamped to [0, 2^120] and the scalings to 2^100, so nothing overflows or makes a NaN.
//  - τ schedule (ε-scaling): solve at τ/2^k first and double τ, scaling the potentials with
//    it. Large τ then starts from nearly right potentials, so entries far below the tile
//    maximum that the solution needs are not lost to underflow, and convergence is faster.
#pragma once

#include <Kokkos_Core.hpp>
#include <cfloat>

#include "tsenor/portable_math.hpp"
#include "tsenor/lanes.hpp"

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

/// Scratch of dykstra_solve_tile beyond the m·m iterate: m floats ×4, m ints ×2, m doubles ×4.
struct DykstraWorkspace {
  float* row_scale;
  float* col_scale;
  float* row_error;  ///< |row sum − N| of the last iteration
  float* col_error;
  int* row_absorb;   ///< the row's accumulated scaling left [2^-60, 2^60]
  int* col_absorb;
  double* row_potential;
  double* col_potential;
  double* row_accumulated;
  double* col_accumulated;
};

namespace detail {

/// τ of the first stage: τ halved until ≤ 16 (where fp32 Dykstra converges fast from the
/// plain kernel).
KOKKOS_INLINE_FUNCTION double first_stage_tau(double tau) {
  while (tau > 16.0) tau *= 0.5;
  return tau;
}

/// Y = exp(τÂ + F + G), clamped to [0, y_max] with values below FLT_MIN flushed to 0.
template <class Member, class Logit>
KOKKOS_INLINE_FUNCTION void form_iterate(const Member& team, int m, int ld, const Logit& logit, double tau,
                                         const DykstraWorkspace& w, float* y) {
  constexpr double y_max = 1.329227995784916e36;  // 2^120
  lanes::for_each(team, m, [&](int j) {
    for (int i = 0; i < m; ++i) {
      const double e = portable_exp(tau * logit(i, j) + w.row_potential[i] + w.col_potential[j]);
      y[i * ld + j] = e < FLT_MIN ? 0.0f : static_cast<float>(e < y_max ? e : y_max);
    }
    w.row_accumulated[j] = w.col_accumulated[j] = 1.0;
  });
}

/// Folds the accumulated scalings into the potentials.
template <class Member>
KOKKOS_INLINE_FUNCTION void absorb_scalings(const Member& team, int m, const DykstraWorkspace& w) {
  lanes::for_each(team, m, [&](int k) {
    w.row_potential[k] += portable_log(w.row_accumulated[k]);
    w.col_potential[k] += portable_log(w.col_accumulated[k]);
  });
}

}  // namespace detail

/// Runs the iteration on one tile with the vector lanes of `team` (a row or a column each;
/// every sum is the same pairwise tree on every backend). `score` holds the m·m raw scores
/// (row-major, leading dimension ld, like y); on return `y` holds the unclipped Y (the greedy
/// priority) — S = min(Y, 1) is the fractional solution.
template <class Member, class Real>
KOKKOS_INLINE_FUNCTION DykstraOutcome dykstra_solve_tile(const Member& team, const Real* score, float* y, int ld,
                                                         const DykstraWorkspace& w, const DykstraParams& p) {
  const int m = p.m;
  const float n = static_cast<float>(p.n);
  constexpr float y_max = 1.329228e36f;       // 2^120: far above 1, far below FLT_MAX
  constexpr float scale_max = 1.2676506e30f;  // 2^100
  constexpr double absorb_above = 1.152921504606847e18, absorb_below = 8.673617379884035e-19;  // 2^±60
  // Â = A / max(A) per tile; an all-zero tile gives Â = 0 (every mask is then optimal).
  const double amax = lanes::max(team, m, [&](int i) {
    double r = 0.0;
    for (int j = 0; j < m; ++j)
      if (static_cast<double>(score[i * ld + j]) > r) r = static_cast<double>(score[i * ld + j]);
    return r;
  });
  // A division, not a product with 1/amax: that reciprocal overflows for subnormal maxima.
  auto logit = [&](int i, int j) { return amax > 0.0 ? static_cast<double>(score[i * ld + j]) / amax : 0.0; };

  // Initial potentials at the first stage's τ: row log-maxima, then column log-maxima.
  double tau = detail::first_stage_tau(p.tau);
  lanes::for_each(team, m, [&](int i) {
    double r = logit(i, 0);
    for (int j = 1; j < m; ++j) r = logit(i, j) > r ? logit(i, j) : r;
    w.row_potential[i] = -tau * r;
  });
  lanes::for_each(team, m, [&](int j) {
    double c = tau * logit(0, j) + w.row_potential[0];
    for (int i = 1; i < m; ++i) {
      const double v = tau * logit(i, j) + w.row_potential[i];
      c = v > c ? v : c;
    }
    w.col_potential[j] = -c;
  });
  detail::form_iterate(team, m, ld, logit, tau, w, y);

  DykstraOutcome out;
  const float tol = static_cast<float>(p.tolerance) * n;
  // Intermediate stages only need rough potentials: a looser tolerance and a share of the cap.
  const int stage_cap = p.max_iterations / 8 > 10 ? p.max_iterations / 8 : 10;
  int stage_iterations = 0;
  auto scaling = [&](float s) { return s > 0.0f ? (n / s < scale_max ? n / s : scale_max) : 1.0f; };
  while (out.iterations < p.max_iterations) {
    const bool last_stage = !(tau < p.tau);
    lanes::for_each(team, m, [&](int i) {
      const float* row = y + i * ld;
      const float s = detail::pairwise_sum<float>(m, [&](int j) { return row[j] < 1.0f ? row[j] : 1.0f; });
      const float a = scaling(s);
      w.row_scale[i] = a;
      w.row_accumulated[i] *= static_cast<double>(a);
      w.row_absorb[i] = !(w.row_accumulated[i] < absorb_above && w.row_accumulated[i] > absorb_below);
      w.row_error[i] = s > n ? s - n : n - s;
    });
    lanes::for_each(team, m, [&](int j) {
      const float s = detail::pairwise_sum<float>(m, [&](int i) {
        const float v = y[i * ld + j];
        return w.row_scale[i] * (v < 1.0f ? v : 1.0f);
      });
      const float b = scaling(s);
      w.col_scale[j] = b;
      w.col_accumulated[j] *= static_cast<double>(b);
      w.col_absorb[j] = !(w.col_accumulated[j] < absorb_above && w.col_accumulated[j] > absorb_below);
      w.col_error[j] = s > n ? s - n : n - s;
      for (int i = 0; i < m; ++i) {
        const float v = (y[i * ld + j] * w.row_scale[i]) * b;
        y[i * ld + j] = v < FLT_MIN ? 0.0f : (v > y_max ? y_max : v);
      }
    });
    // Exact reductions: the largest violation, and whether any scaling needs absorbing.
    const double err = lanes::max(team, m, [&](int k) {
      return static_cast<double>(w.row_error[k] > w.col_error[k] ? w.row_error[k] : w.col_error[k]);
    });
    const bool absorb = lanes::sum(team, m, [&](int k) { return w.row_absorb[k] | w.col_absorb[k]; }) > 0;
    ++out.iterations;
    ++stage_iterations;
    if (last_stage) {
      if (err <= tol) {
        out.converged = true;
        break;
      }
    } else if (err <= 10.0f * tol || stage_iterations >= stage_cap) {
      // Next stage: τ doubles and the potentials with it.
      detail::absorb_scalings(team, m, w);
      const double next = 2.0 * tau < p.tau ? 2.0 * tau : p.tau;
      lanes::for_each(team, m, [&](int k) {
        w.row_potential[k] *= next / tau;
        w.col_potential[k] *= next / tau;
      });
      tau = next;
      detail::form_iterate(team, m, ld, logit, tau, w, y);
      stage_iterations = 0;
      continue;
    }
    if (absorb) {
      detail::absorb_scalings(team, m, w);
      detail::form_iterate(team, m, ld, logit, tau, w, y);
    }
  }
  return out;
}

}  // namespace tsenor
