// The 0/1 mask of one M×M tile being built, with its row and column counts.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>

namespace tsenor::rounding {

/// Views into scratch memory; every rounding step keeps kept/row_count/col_count consistent.
struct TileMask {
  int m = 0;
  int n = 0;
  std::uint8_t* kept = nullptr;  // m·m, row-major
  int* row_count = nullptr;      // m
  int* col_count = nullptr;      // m

  KOKKOS_INLINE_FUNCTION bool at(int i, int j) const { return kept[i * m + j] != 0; }
  KOKKOS_INLINE_FUNCTION void keep(int i, int j) const {
    kept[i * m + j] = 1;
    ++row_count[i];
    ++col_count[j];
  }
  KOKKOS_INLINE_FUNCTION void drop(int i, int j) const {
    kept[i * m + j] = 0;
    --row_count[i];
    --col_count[j];
  }
  KOKKOS_INLINE_FUNCTION void clear() const {
    for (int k = 0; k < m * m; ++k) kept[k] = 0;
    for (int k = 0; k < m; ++k) row_count[k] = col_count[k] = 0;
  }
  /// Total kept entries still missing for N-regularity (rows; columns miss as many).
  KOKKOS_INLINE_FUNCTION int deficit() const {
    int d = 0;
    for (int i = 0; i < m; ++i) d += n - row_count[i];
    return d;
  }
  KOKKOS_INLINE_FUNCTION bool regular() const {
    for (int k = 0; k < m; ++k)
      if (row_count[k] != n || col_count[k] != n) return false;
    return true;
  }
};

/// Σ A·kept over the tile in row-major order (a fixed order, so the same bits everywhere).
template <class Real>
KOKKOS_INLINE_FUNCTION double tile_objective(const Real* score, const TileMask& mask) {
  double total = 0.0;
  for (int k = 0; k < mask.m * mask.m; ++k)
    if (mask.kept[k]) total += static_cast<double>(score[k]);
  return total;
}

}  // namespace tsenor::rounding
