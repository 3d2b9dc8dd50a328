// Solving one tile from raw scores to its mask, for every method: the per-tile algorithm
// written once and called by the batched launch in compute_mask.hpp (or by a user's own
// team functor).
#pragma once

#include <Kokkos_Core.hpp>
#include <cstddef>
#include <cstdint>

#include "tsenor/dykstra.hpp"
#include "tsenor/options.hpp"
#include "tsenor/rounding/exact.hpp"
#include "tsenor/rounding/greedy.hpp"
#include "tsenor/rounding/repair.hpp"

namespace tsenor {

/// Everything one tile needs, carved from one block of scratch memory.
template <class Real>
struct TileWorkspace {
  Real* score;            // m·m raw scores, row-major
  float* y;               // m·m Dykstra iterate (tsenor)
  std::int16_t* order;    // m·m entry ranking
  rounding::TileMask mask;
  float* row_scale;       // m
  float* col_scale;       // m
  rounding::ExactWorkspace exact;
  int* queue;             // 2m
  int* parent;            // 2m

  /// Bytes needed for tile size m (each array rounded up to 8 bytes).
  static KOKKOS_INLINE_FUNCTION std::size_t bytes(int m) {
    const std::size_t mm = static_cast<std::size_t>(m) * m;
    return round8(mm * sizeof(Real)) + round8(mm * sizeof(float)) + round8(mm * sizeof(std::int16_t)) +
           round8(mm) + 2 * round8(m * sizeof(int)) + 2 * round8(m * sizeof(float)) + 4 * round8(m * sizeof(double)) +
           2 * round8(m * sizeof(int)) + 2 * round8(2 * m * sizeof(int)) + 2 * round8(2 * m * sizeof(int));
  }

  /// Lays the arrays out in `base` (8-byte aligned, `bytes(m)` long).
  KOKKOS_INLINE_FUNCTION TileWorkspace(char* base, int m, int n) {
    const std::size_t mm = static_cast<std::size_t>(m) * m;
    score = take<Real>(base, mm);
    y = take<float>(base, mm);
    order = take<std::int16_t>(base, mm);
    mask.m = m;
    mask.n = n;
    mask.kept = take<std::uint8_t>(base, mm);
    mask.row_count = take<int>(base, m);
    mask.col_count = take<int>(base, m);
    row_scale = take<float>(base, m);
    col_scale = take<float>(base, m);
    exact.row_potential = take<double>(base, m);
    exact.col_potential = take<double>(base, m);
    exact.row_dist = take<double>(base, m);
    exact.col_dist = take<double>(base, m);
    exact.row_parent = take<int>(base, m);
    exact.col_parent = take<int>(base, m);
    exact.state = take<int>(base, 2 * m);
    exact.frontier = take<int>(base, 2 * m);
    queue = take<int>(base, 2 * m);
    parent = take<int>(base, 2 * m);
  }

 private:
  static KOKKOS_INLINE_FUNCTION std::size_t round8(std::size_t b) { return (b + 7) / 8 * 8; }
  template <class T>
  static KOKKOS_INLINE_FUNCTION T* take(char*& base, std::size_t count) {
    T* p = reinterpret_cast<T*>(base);
    base += round8(count * sizeof(T));
    return p;
  }
};

/// Resolved per-call parameters (no `automatic`, no zero defaults left).
struct TileParams {
  Method method = Method::exact;
  DykstraParams dykstra;
  int local_search_steps = 0;
};

/// Solves the tile whose scores are already in ws.score; leaves the mask in ws.mask.
template <class Real>
KOKKOS_INLINE_FUNCTION TileStatus solve_tile(const TileWorkspace<Real>& ws, const TileParams& p) {
  TileStatus status;
  const rounding::TileMask& mask = ws.mask;
  if (p.method == Method::exact) {
    status.iterations = rounding::exact_solve_tile(mask, ws.score, ws.order, ws.exact);
  } else {
    if (p.method == Method::tsenor) {
      const DykstraOutcome d = dykstra_solve_tile(ws.score, ws.y, ws.row_scale, ws.col_scale, p.dykstra);
      status.iterations = d.iterations;
      if (d.converged) status.flags |= tile_converged;
      rounding::greedy_round(mask, ws.order, ws.y, ws.score);
    } else {
      rounding::greedy_round(mask, ws.order, ws.score, ws.score);
    }
    if (rounding::repair_deficit(mask, ws.score, ws.queue, ws.parent)) status.flags |= tile_repaired;
    rounding::improve_row_swaps(mask, ws.score, p.local_search_steps);
  }
  if (!mask.regular()) status.flags |= tile_invalid;
  status.objective = rounding::tile_objective(ws.score, mask);
  return status;
}

}  // namespace tsenor
