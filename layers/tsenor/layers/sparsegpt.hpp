// SparseGPT (Frantar and Alistarh 2023) with transposable N:M masks: prune a linear layer's weights
// W (rows = outputs × cols = inputs) and update the kept ones to reconstruct the layer's outputs on
// calibration inputs X, through the Gram matrix H = XᵀX. Column blocks, the upper Cholesky factor
// of H⁻¹, the optimal-brain-surgeon update per column and a lazy GEMM per block, as the reference
// (IST-DASLab/sparsegpt, fasterprune); at every strip of M columns the mask of its rows/M tiles
// comes from tsenor's exact solver on the scores w²/[H⁻¹]ⱼⱼ² (or, for the standard pattern, each
// row keeps its N best of the M). Also the "fixed mask" variant: OBS reconstruction for a given mask.
#pragma once

#include <KokkosBlas3_gemm.hpp>
#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "tsenor/layers/layer.hpp"
#include "tsenor/layers/linalg.hpp"
#include "tsenor/tsenor.hpp"

namespace tsenor::layers {

struct SparseGPTOptions {
  Options mask;                          ///< N, M and the tile solver's method (transposable pattern)
  Pattern pattern = Pattern::transposable;
  double damp = 0.01;                    ///< added to H's diagonal: damp × mean(diag H), as the reference
  int block = 128;                       ///< columns per lazy-update block (a multiple of M)
  bool fixed_mask = false;               ///< keep the given mask; only reconstruct the weights
  bool report_errors = true;             ///< compute LayerReport::error and ::masked_error (3 GEMMs)
};

/// Prunes `w` (rows × cols, float or double, LayoutRight, in the execution space's memory) in place
/// to Ŵ with an N:M mask written to `mask` (rows × cols, uint8, 1 = kept; read instead with
/// options.fixed_mask), given the layer's Gram matrix `h` (cols × cols, double, undamped).
/// cols must be a multiple of M, and rows too for the transposable pattern.
///
/// The mask of each strip is the exact solver's for that strip's scores: bit-identical on every
/// backend for the same scores. Ŵ comes from GEMMs and a vendor factorisation: the same bits run to run on one
/// backend and thread count; across backends they differ by rounding (see the tests' bound).
template <class Exec, class Real>
LayerReport sparsegpt(const Exec& exec, const Kokkos::View<Real**, Kokkos::LayoutRight, typename Exec::memory_space>& w,
                      const Kokkos::View<const double**, Kokkos::LayoutRight, typename Exec::memory_space>& h,
                      const Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, typename Exec::memory_space>& mask,
                      const SparseGPTOptions& options) {
  static_assert(std::is_same<Real, float>::value || std::is_same<Real, double>::value, "weights: float or double");
  using Memory = typename Exec::memory_space;
  using Range = Kokkos::RangePolicy<Exec, Kokkos::IndexType<std::int64_t>>;
  using Span = std::pair<std::int64_t, std::int64_t>;
  const compat::ScopedRegion region("tsenor::layers::sparsegpt");
  Kokkos::Timer timer;
  const std::int64_t rows = w.extent(0), cols = w.extent(1);
  const int n = options.mask.n, m = options.mask.m;
  const std::string f = "tsenor::layers::sparsegpt: ";
  detail::check_layer(f, rows, cols, h.extent(0), h.extent(1), mask.extent(0), mask.extent(1), n, m, options.pattern);
  detail::warn_if_blas_slow(exec);
  TSENOR_REQUIRE(options.block > 0 && options.block % m == 0,
                 f + "block = " + std::to_string(options.block) + " must be a positive multiple of M");
  TSENOR_REQUIRE(options.damp >= 0.0 && std::isfinite(options.damp), f + "damp must be finite and >= 0");

  // For the errors: the undamped H in Real and W's original values.
  detail::Matrix<Real, Memory> h_real, original;
  if (options.report_errors) {
    h_real = detail::Matrix<Real, Memory>(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::h"), cols, cols);
    original = detail::Matrix<Real, Memory>(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::w0"), rows, cols);
    const auto real_h = h_real;
    Kokkos::parallel_for(
        "tsenor::copy_h", detail::entries(exec, cols, cols),
        KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) { real_h(i, j) = static_cast<Real>(h(i, j)); });
    Kokkos::deep_copy(exec, original, w);
  }

  // Damping and dead inputs (a zero diagonal: the input is always 0, its weights are pruned), then
  // the factor of H⁻¹ (linalg.hpp: cuSOLVER or LAPACK).
  Kokkos::View<double**, Kokkos::LayoutRight, Memory> factor(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::hinv_factor"), cols, cols);
  Kokkos::deep_copy(exec, factor, h);
  Kokkos::View<std::uint8_t*, Memory> dead("tsenor::dead", cols);
  detail::damp_diagonal(exec, factor, options.damp, dead);
  FactorStatus<Memory> status("tsenor::factor_status");
  inverse_cholesky_upper(exec, factor, status);
  detail::Matrix<Real, Memory> hinv(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::hinv"), cols, cols);
  Kokkos::parallel_for(
      "tsenor::hinv", detail::entries(exec, cols, cols),
      KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) { hinv(i, j) = static_cast<Real>(factor(i, j)); });
  Kokkos::parallel_for(
      "tsenor::dead_inputs", detail::entries(exec, rows, cols), KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) {
        if (dead(j)) w(i, j) = Real(0);
      });

  const std::int64_t block = options.block;
  detail::Matrix<Real, Memory> errors(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::obs_errors"), rows,
                                      block);
  detail::Matrix<Real, Memory> scores(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::strip_scores"), rows,
                                      m);
  Options strip = options.mask;
  strip.zero_pad = false;
  LayerReport report;
  for (std::int64_t i1 = 0; i1 < cols; i1 += block) {
    const std::int64_t i2 = i1 + block < cols ? i1 + block : cols;
    for (std::int64_t j0 = i1; j0 < i2; j0 += m) {
      if (!options.fixed_mask) {
        // The strip's scores from the current (already updated) weights: w² / [H⁻¹]ⱼⱼ².
        Kokkos::parallel_for(
            "tsenor::strip_scores", detail::entries(exec, rows, m), KOKKOS_LAMBDA(std::int64_t r, std::int64_t c) {
              const Real d = hinv(j0 + c, j0 + c);
              scores(r, c) = w(r, j0 + c) * w(r, j0 + c) / (d * d);
            });
        auto strip_mask = Kokkos::subview(mask, Kokkos::ALL(), Span(j0, j0 + m));
        if (options.pattern == Pattern::transposable)
          launch_mask(exec, scores, strip_mask, strip);
        else
          detail::rows_top_n(exec, scores, strip_mask, n, m);
        ++report.strips;
      }
      // The OBS update of the strip's columns, row by row: prune, then spread the error over the
      // block's later columns.
      Kokkos::parallel_for(
          "tsenor::obs_update", Range(exec, 0, rows), KOKKOS_LAMBDA(std::int64_t r) {
            for (std::int64_t j = j0; j < j0 + m; ++j) {
              const Real value = w(r, j), kept = mask(r, j) ? value : Real(0);
              const Real error = (value - kept) / hinv(j, j);
              w(r, j) = kept;
              errors(r, j - i1) = error;
              for (std::int64_t k = j + 1; k < i2; ++k) w(r, k) -= error * hinv(j, k);
            }
          });
    }
    if (i2 < cols) {  // the lazy update of the later columns: W[:, i2:] -= E · H⁻¹[i1:i2, i2:]
      auto e = Kokkos::subview(errors, Kokkos::ALL(), Span(0, i2 - i1));
      auto later = Kokkos::subview(w, Kokkos::ALL(), Span(i2, cols));
      auto hinv_block = Kokkos::subview(hinv, Span(i1, i2), Span(i2, cols));
      detail::gemm(exec, "N", "N", Real(-1), e, hinv_block, Real(1), later);
    }
  }

  if (options.report_errors) {  // with the undamped H: reconstructed, and the same mask without reconstruction
    detail::Matrix<Real, Memory> difference(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::dw"), rows, cols);
    detail::Matrix<Real, Memory> product(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::dwh"), rows, cols);
    detail::layer_errors(exec, original, detail::Matrix<Real, Memory>(w), mask, h_real, difference, product, report);
  }
  exec.fence();
  check_status(status, check_inverse_cholesky);
  report.seconds = timer.seconds();
  report.linear_algebra = detail::linear_algebra(exec);
  return report;
}

}  // namespace tsenor::layers
