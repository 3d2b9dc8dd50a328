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
  DykstraWorkspace dykstra;
  rounding::ExactWorkspace exact;
  int* queue;             // 2m
  int* parent;            // 2m

  /// Bytes needed for tile size m: the layout below, measured from address 0.
  static KOKKOS_INLINE_FUNCTION std::size_t bytes(int m) { return TileWorkspace(nullptr, m, 1).used; }

  /// Lays the arrays out in `base` (8-byte aligned, `bytes(m)` long).
  KOKKOS_INLINE_FUNCTION TileWorkspace(char* base, int m, int n) : used(0) {
    const std::size_t mm = static_cast<std::size_t>(m) * m;
    score = take<Real>(base, mm);
    y = take<float>(base, mm);
    order = take<std::int16_t>(base, mm);
    mask.m = m;
    mask.n = n;
    mask.kept = take<std::uint8_t>(base, mm);
    mask.row_count = take<int>(base, m);
    mask.col_count = take<int>(base, m);
    dykstra.row_scale = take<float>(base, m);
    dykstra.col_scale = take<float>(base, m);
    dykstra.row_potential = take<double>(base, m);
    dykstra.col_potential = take<double>(base, m);
    dykstra.row_accumulated = take<double>(base, m);
    dykstra.col_accumulated = take<double>(base, m);
    exact.potential = take<double>(base, 2 * m);
    exact.dist = take<double>(base, 2 * m);
    exact.key = take<double>(base, 2 * m + 2);
    exact.state = take<int>(base, 2 * m);
    exact.cursor = take<int>(base, 2 * m);
    exact.next = take<int>(base, 2 * m);
    queue = take<int>(base, 2 * m);
    parent = take<int>(base, 2 * m);
  }

 private:
  std::size_t used;

  // Next array of `count` T at base + used, 8-byte aligned (integer arithmetic, so that
  // bytes() can measure the layout without memory).
  template <class T>
  KOKKOS_INLINE_FUNCTION T* take(char* base, std::size_t count) {
    T* p = reinterpret_cast<T*>(reinterpret_cast<std::uintptr_t>(base) + used);
    used += (count * sizeof(T) + 7) / 8 * 8;
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
    status.iterations = rounding::exact_solve_tile(mask, ws.score, ws.exact);
  } else {
    if (p.method == Method::tsenor) {
      const DykstraOutcome d = dykstra_solve_tile(ws.score, ws.y, ws.dykstra, p.dykstra);
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
