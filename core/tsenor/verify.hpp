// Checking a mask: is every M×M tile N-regular? The one check behind `tsenor verify` and the
// Python package's verify(), on any backend.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "tsenor/compute_mask.hpp"
#include "tsenor/error.hpp"

namespace tsenor {

/// What verify_mask found. Tiles are numbered as in MaskOutputs (matrix by matrix for a batch).
struct MaskCheck {
  std::int64_t tiles = 0;
  std::int64_t bad_tiles = 0;                 ///< tiles that break the pattern
  std::int64_t bad_values = 0;                ///< entries other than 0 and 1 (they make their tile bad)
  std::vector<std::int64_t> first_bad_tiles;  ///< the first (at most 5) bad tiles, in tile order
  bool ok() const { return bad_tiles == 0; }
};

/// Checks that `mask` (rank 2, or rank 3 for a batch; std::uint8_t, or bool viewed as bytes)
/// keeps exactly n entries in every row and column of each full m×m tile. With zero_pad, shapes
/// need not be multiples of m and a cropped border tile must keep at most n per row and column
/// (what compute_mask gives with Options::zero_pad); without it such shapes are an error.
template <class ExecSpace, class MaskView>
MaskCheck verify_mask(const ExecSpace& exec, const MaskView& mask, int n, int m, bool zero_pad) {
  static_assert(Kokkos::is_view<MaskView>::value && (MaskView::rank == 2 || MaskView::rank == 3),
                "mask must be a rank-2 Kokkos::View, or rank 3 for a batch of matrices");
  constexpr bool batched = MaskView::rank == 3;
  const std::int64_t batch = batched ? mask.extent(0) : 1;
  const std::int64_t rows = mask.extent(batched ? 1 : 0), cols = mask.extent(batched ? 2 : 1);
  const std::string f = "tsenor::verify_mask: ";
  TSENOR_REQUIRE(m >= 2 && m <= 128 && n > 0 && n < m,
                 f + "N:M = " + std::to_string(n) + ":" + std::to_string(m) + " needs 0 < N < M <= 128");
  TSENOR_REQUIRE(zero_pad || (rows % m == 0 && cols % m == 0),
                 f + "shape " + std::to_string(rows) + "x" + std::to_string(cols) + " is not a multiple of M = " +
                     std::to_string(m) + " (zero_pad checks cropped masks)");
  const std::int64_t tile_cols = (cols + m - 1) / m, per_matrix = ((rows + m - 1) / m) * tile_cols;
  MaskCheck result;
  result.tiles = batch * per_matrix;
  Kokkos::View<std::uint8_t*, typename ExecSpace::memory_space> bad(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::bad_tiles"), result.tiles);
  using Range = Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<std::int64_t>>;
  std::int64_t bad_values = 0;
  Kokkos::parallel_reduce(
      "tsenor::verify_mask", Range(exec, 0, result.tiles),
      KOKKOS_LAMBDA(std::int64_t t, std::int64_t& tiles_bad, std::int64_t& values_bad) {
        const std::int64_t b = t / per_matrix, u = t % per_matrix;
        const std::int64_t r0 = (u / tile_cols) * m, c0 = (u % tile_cols) * m;
        const bool border = r0 + m > rows || c0 + m > cols;
        bool ok = true;
        for (int k = 0; k < m; ++k) {
          int row_kept = 0, col_kept = 0;
          for (int l = 0; l < m; ++l) {
            if (r0 + k < rows && c0 + l < cols) {
              const unsigned v = detail::element(mask, b, r0 + k, c0 + l);
              row_kept += static_cast<int>(v);
              if (v > 1) {
                ok = false;
                ++values_bad;
              }
            }
            if (r0 + l < rows && c0 + k < cols) col_kept += static_cast<int>(detail::element(mask, b, r0 + l, c0 + k));
          }
          ok = ok && (border ? row_kept <= n && col_kept <= n : row_kept == n && col_kept == n);
        }
        bad(t) = ok ? 0 : 1;
        tiles_bad += ok ? 0 : 1;
      },
      result.bad_tiles, bad_values);
  result.bad_values = bad_values;
  if (result.bad_tiles > 0) {
    const auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), bad);
    for (std::int64_t t = 0; t < result.tiles && result.first_bad_tiles.size() < 5; ++t)
      if (host(t)) result.first_bad_tiles.push_back(t);
  }
  exec.fence();
  return result;
}

}  // namespace tsenor
