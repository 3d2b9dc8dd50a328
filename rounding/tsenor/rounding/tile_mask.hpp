// The 0/1 mask of one M×M tile being built, with its row and column counts.
//
// rounding/ is the stage that turns a fractional solution (or raw scores) into a valid mask:
// greedy rounding (greedy.hpp), local search and augmenting-path repair (repair.hpp), shared
// by every backend. Dependencies run one way, core/ → rounding/: core's per-tile solvers
// (tile_solver.hpp, exact.hpp) include these headers, and these include only Kokkos and each
// other, never a header of core/.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>

namespace tsenor::rounding {

/// Views into scratch memory; every rounding step keeps kept/row_count/col_count consistent.
/// A tile's arrays (its scores, this mask, its iterate) are row-major with leading dimension
/// `ld` ≥ m: entry (i, j) is at i·ld + j. A GPU pads ld so that lanes walking different rows
/// hit different shared-memory banks.
struct TileMask {
  int m = 0;
  int n = 0;
  int ld = 0;
  std::uint8_t* kept = nullptr;  // m rows of ld bytes
  int* row_count = nullptr;      // m
  int* col_count = nullptr;      // m

  KOKKOS_INLINE_FUNCTION bool at(int i, int j) const { return kept[i * ld + j] != 0; }
  KOKKOS_INLINE_FUNCTION void keep(int i, int j) const {
    kept[i * ld + j] = 1;
    ++row_count[i];
    ++col_count[j];
  }
  KOKKOS_INLINE_FUNCTION void drop(int i, int j) const {
    kept[i * ld + j] = 0;
    --row_count[i];
    --col_count[j];
  }
  KOKKOS_INLINE_FUNCTION void clear() const {
    for (int k = 0; k < m * ld; ++k) kept[k] = 0;
    for (int k = 0; k < m; ++k) row_count[k] = col_count[k] = 0;
  }
  /// Total kept entries still missing for N-regularity (rows; columns miss as many).
  KOKKOS_INLINE_FUNCTION int deficit() const {
    int d = 0;
    for (int i = 0; i < m; ++i) d += n - row_count[i];
    return d;
  }
};

}  // namespace tsenor::rounding
