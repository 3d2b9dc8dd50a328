// Solving one tile from raw scores to its mask, for every method: the per-tile algorithm
// written once and called by the batched launch in compute_mask.hpp (or by a user's own
// team functor), with the vector lanes of one team thread.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstddef>
#include <cstdint>

#include "tsenor/dykstra.hpp"
#include "tsenor/lanes.hpp"
#include "tsenor/options.hpp"
#include "tsenor/exact.hpp"
#include "tsenor/rounding/greedy.hpp"
#include "tsenor/rounding/repair.hpp"

namespace tsenor {

/// What one tile needs for one method, carved from one block of scratch memory. Tile arrays
/// are row-major with leading dimension ld ≥ m; arrays the method does not use are null.
template <class Real>
struct TileWorkspace {
  Real* score = nullptr;           // m rows of ld raw scores
  float* y = nullptr;              // m rows of ld: Dykstra iterate (entropic)
  std::int16_t* order = nullptr;   // m·m entry ranking (entropic, greedy)
  rounding::TileMask mask;
  DykstraWorkspace dykstra{};      // (entropic)
  ExactWorkspace exact{};          // (exact)
  int* queue = nullptr;            // 2m (entropic, greedy)
  int* parent = nullptr;           // 2m (entropic, greedy)
  double* partial = nullptr;       // 2m: per-column partial sums

  /// Bytes needed: the layout below, measured from address 0.
  static KOKKOS_INLINE_FUNCTION std::size_t bytes(int m, int ld, Method method) {
    return TileWorkspace(nullptr, m, 1, ld, method).used;
  }

  /// Lays the arrays out in `base` (8-byte aligned, `bytes(m, ld, method)` long).
  KOKKOS_INLINE_FUNCTION TileWorkspace(char* base, int m, int n, int ld, Method method) : used(0) {
    const std::size_t tile = static_cast<std::size_t>(m) * ld;
    score = take<Real>(base, tile);
    mask.m = m;
    mask.n = n;
    mask.ld = ld;
    mask.kept = take<std::uint8_t>(base, tile);
    mask.row_count = take<int>(base, m);
    mask.col_count = take<int>(base, m);
    partial = take<double>(base, 2 * m);
    if (method == Method::exact) {
      if (m <= 4) return;  // enumerated (exact.hpp): no dual, no paths, and more tiles fit in fast memory
      exact.potential = take<double>(base, 2 * m);
      exact.dist = take<double>(base, 2 * m);
      exact.key = take<double>(base, 2 * m);
      exact.state = take<int>(base, 2 * m);
      exact.cursor = take<int>(base, 2 * m);
      exact.next = take<int>(base, 2 * m);
      return;
    }
    order = take<std::int16_t>(base, static_cast<std::size_t>(m) * m);
    queue = take<int>(base, 2 * m);
    parent = take<int>(base, 2 * m);
    if (method == Method::entropic) {
      y = take<float>(base, tile);
      dykstra.row_scale = take<float>(base, m);
      dykstra.col_scale = take<float>(base, m);
      dykstra.row_error = take<float>(base, m);
      dykstra.col_error = take<float>(base, m);
      dykstra.row_absorb = take<int>(base, m);
      dykstra.col_absorb = take<int>(base, m);
      dykstra.row_potential = take<double>(base, m);
      dykstra.col_potential = take<double>(base, m);
      dykstra.row_accumulated = take<double>(base, m);
      dykstra.col_accumulated = take<double>(base, m);
    }
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
  ExactTuning exact_tuning;  ///< how the exact method uses the lanes (backends' choice)
  /// TileStatus::objective, ::score_sum and the tile_invalid flag; callers that read no status
  /// (launch_mask) skip them.
  bool totals = true;
};

/// With p.totals, the status's objective, score sum and tile_invalid flag for the mask in ws.mask.
template <class Shape, class Member, class Real>
KOKKOS_INLINE_FUNCTION void add_tile_totals(const Member& team, const TileWorkspace<Real>& ws, const TileParams& p,
                                            TileStatus& status) {
  if (!p.totals) return;
  const rounding::TileMask& mask = ws.mask;
  const int m = detail::tile_order<Shape>(mask), ld = mask.ld;
  // Σ A·kept and Σ A in a fixed order: each column top to bottom, then the columns left to right.
  if constexpr (lanes::single_lane<Member>) {
    // One lane: row after row, so that the columns' sums are independent additions that the core
    // overlaps, rather than one chain of dependent additions after another. The same order per column.
    for (int j = 0; j < 2 * m; ++j) ws.partial[j] = 0.0;
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) {
        const double a = static_cast<double>(ws.score[i * ld + j]);
        ws.partial[j] += mask.kept[i * ld + j] ? a : 0.0;
        ws.partial[m + j] += a;
      }
  } else {
    lanes::for_each(team, m, [&](int j) {
      double kept = 0.0, all = 0.0;
      for (int i = 0; i < m; ++i) {
        const double a = static_cast<double>(ws.score[i * ld + j]);
        kept += mask.kept[i * ld + j] ? a : 0.0;
        all += a;
      }
      ws.partial[j] = kept;
      ws.partial[m + j] = all;
    });
  }
  const int n = mask.n;
  const int irregular = lanes::sum(team, m, [&](int k) {
    return (mask.row_count[k] != n ? 1 : 0) + (mask.col_count[k] != n ? 1 : 0);
  });
  lanes::single(team, [&]() {
    for (int j = 0; j < m; ++j) status.objective += ws.partial[j];
    for (int j = 0; j < m; ++j) status.score_sum += ws.partial[m + j];
    if (irregular > 0) status.flags |= tile_invalid;
  });
}

/// Solves the tile whose scores are already in ws.score with method M (p.method, a template
/// parameter so that each method's kernel holds only its own code); leaves the mask in
/// ws.mask. The status is complete on the lane that runs `lanes::single` (the one that stores
/// it); without p.totals it holds only the iterations and tile_converged, tile_repaired. Shape:
/// the tile's m and n compiled in (exact_solve_tile), or TileShape<> for any.
template <Method M, class Shape = TileShape<>, class Member, class Real>
KOKKOS_INLINE_FUNCTION TileStatus solve_tile(const Member& team, const TileWorkspace<Real>& ws, const TileParams& p) {
  static_assert(M == Method::exact || M == Method::entropic || M == Method::greedy, "a resolved method");
  TileStatus status;
  const rounding::TileMask& mask = ws.mask;
  const int ld = mask.ld;
  if constexpr (M == Method::exact) {
    status.iterations = exact_solve_tile<Shape>(team, mask, ws.score, ws.exact, p.exact_tuning);
  } else {
    if constexpr (M == Method::entropic) {
      const DykstraOutcome d = dykstra_solve_tile(team, ws.score, ws.y, ld, ws.dykstra, p.dykstra);
      status.iterations = d.iterations;
      if (d.converged) status.flags |= tile_converged;
    }
    lanes::single(team, [&]() {
      if constexpr (M == Method::entropic)
        rounding::greedy_round(mask, ws.order, ws.y, ws.score);
      else
        rounding::greedy_round(mask, ws.order, ws.score, ws.score);
      if (rounding::repair_deficit(mask, ws.score, ws.queue, ws.parent)) status.flags |= tile_repaired;
      rounding::improve_row_swaps(mask, ws.score, p.local_search_steps);
    });
  }
  add_tile_totals<Shape>(team, ws, p, status);
  return status;
}

#if defined(TSENOR_HOST_VECTORS)
/// solve_tile for the exact method on detail::exact_tiles_at_once<Shape, Member>() tiles at once (2:4 on
/// a host: exact_enumerate_tiles): tile k's workspace at base + k·tile_bytes (TileWorkspace's layout for
/// m, n, ld), its scores already there. The same masks and statuses.
template <class Shape, class Real, class Member>
KOKKOS_INLINE_FUNCTION void solve_tiles_at_once(const Member& team, char* base, std::size_t tile_bytes, int m, int n,
                                                int ld, const TileParams& p, TileStatus* status) {
  constexpr int count = detail::exact_tiles_at_once<Shape, Member>();
  static_assert(count > 1, "only where several tiles are solved at once");
  rounding::TileMask mask[count];
  detail::ExactCosts<Real> cost[count];
  for (int k = 0; k < count; ++k) {
    const TileWorkspace<Real> ws(base + k * tile_bytes, m, n, ld, Method::exact);
    mask[k] = ws.mask;
    cost[k] = detail::exact_costs<Shape>(team, ws.mask, ws.score, ws.exact.potential);
  }
  detail::exact_enumerate_tiles(mask, cost);
  for (int k = 0; k < count; ++k) {
    const TileWorkspace<Real> ws(base + k * tile_bytes, m, n, ld, Method::exact);
    status[k] = TileStatus{};
    add_tile_totals<Shape>(team, ws, p, status[k]);
  }
}
#endif

}  // namespace tsenor
