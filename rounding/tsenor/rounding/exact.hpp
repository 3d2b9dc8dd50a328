// Optimal mask of one tile. The tile is a transportation problem (rows supply N, columns
// demand N, unit arcs); we start from every row keeping its N best entries, which is optimal
// for the row constraints alone, and send the columns' surplus to the columns' deficit along
// shortest paths (successive shortest paths with potentials, dense Dijkstra). Only the
// surplus is routed, usually a small fraction of the N·M units, so this beats a general
// network simplex on the same tile.
#pragma once

#include <Kokkos_Core.hpp>

#include "tsenor/rounding/greedy.hpp"
#include "tsenor/rounding/tile_mask.hpp"

namespace tsenor::rounding {

/// Scratch of exact_solve_tile: 4·m doubles and 6·m ints.
struct ExactWorkspace {
  double* row_potential;  // m
  double* col_potential;  // m
  double* row_dist;       // m
  double* col_dist;       // m
  int* row_parent;        // m: column through which the row was reached
  int* col_parent;        // m: row through which the column was reached (−1: source)
  int* state;             // 2·m flags: 1 = settled (rows, then columns)
  int* frontier;          // 2·m: reached, unsettled nodes
};

/// Solves the tile exactly; `order` holds m·m int16 and is used to rank each row's entries.
/// Returns the number of augmenting paths routed. Deterministic: every choice is made in a
/// total order (distance, then node index).
template <class Real>
KOKKOS_INLINE_FUNCTION int exact_solve_tile(const TileMask& mask, const Real* score, std::int16_t* order,
                                            const ExactWorkspace& ws) {
  const int m = mask.m, n = mask.n;
  auto a = [&](int i, int j) { return static_cast<double>(score[i * m + j]); };
  // Each row keeps its n best (score desc, column asc). Potentials (min-cost form, cost −A):
  // row potential −θ_i with θ_i the row's best dropped score, column potentials 0. Then
  // every free arc i→j has reduced cost θ_i − A_ij ≥ 0 and every kept arc j→i A_ij − θ_i ≥ 0.
  mask.clear();
  for (int i = 0; i < m; ++i) {
    std::int16_t* row = order + i * m;
    for (int j = 0; j < m; ++j) row[j] = static_cast<std::int16_t>(j);
    sort_by_priority(row, m, score + i * m, score + i * m);
    for (int k = 0; k < n; ++k) mask.keep(i, row[k]);
    ws.row_potential[i] = -a(i, row[n]);
  }
  for (int j = 0; j < m; ++j) ws.col_potential[j] = 0.0;

  constexpr double inf = 1e308;
  int paths = 0;
  while (true) {
    bool any_surplus = false;
    for (int j = 0; j < m; ++j) any_surplus |= mask.col_count[j] > n;
    if (!any_surplus) break;
    // Multi-source Dijkstra from every surplus column to the nearest deficient column. Only
    // reached, unsettled nodes are scanned for the minimum (the frontier): paths are short,
    // so most nodes are never reached. Nodes are rows 0..m−1 and columns m..2m−1.
    int frontier_size = 0;
    for (int v = 0; v < m; ++v) {
      ws.row_dist[v] = inf;
      ws.col_dist[v] = inf;
      ws.col_parent[v] = -1;
      ws.state[v] = ws.state[m + v] = 0;
      if (mask.col_count[v] > n) {
        ws.col_dist[v] = 0.0;
        ws.frontier[frontier_size++] = m + v;
      }
    }
    int target = -1;
    double target_dist = 0.0;
    while (frontier_size > 0) {
      // Closest frontier node, ties to the lower node id: a total order, whatever the
      // frontier's internal order.
      int slot = 0;
      for (int f = 1; f < frontier_size; ++f) {
        const int u = ws.frontier[f], b = ws.frontier[slot];
        const double du = u < m ? ws.row_dist[u] : ws.col_dist[u - m];
        const double db = b < m ? ws.row_dist[b] : ws.col_dist[b - m];
        if (du < db || (du == db && u < b)) slot = f;
      }
      const int best = ws.frontier[slot];
      ws.frontier[slot] = ws.frontier[--frontier_size];
      ws.state[best] = 1;
      if (best >= m) {
        const int j = best - m;
        const double d = ws.col_dist[j];
        if (mask.col_count[j] < n) {
          target = j;
          target_dist = d;
          break;
        }
        // Column → row through a kept entry (dropping it): reduced cost A_ij + π_i − π_j.
        for (int i = 0; i < m; ++i) {
          if (!mask.at(i, j) || ws.state[i]) continue;
          double rc = a(i, j) + ws.row_potential[i] - ws.col_potential[j];
          if (rc < 0.0) rc = 0.0;  // rounding noise only: exact potentials keep rc ≥ 0
          if (d + rc < ws.row_dist[i]) {
            if (ws.row_dist[i] == inf) ws.frontier[frontier_size++] = i;
            ws.row_dist[i] = d + rc;
            ws.row_parent[i] = j;
          }
        }
      } else {
        const int i = best;
        const double d = ws.row_dist[i];
        // Row → column through a free entry (keeping it): reduced cost −A_ij − π_i + π_j.
        for (int j = 0; j < m; ++j) {
          if (mask.at(i, j) || ws.state[m + j]) continue;
          double rc = -a(i, j) - ws.row_potential[i] + ws.col_potential[j];
          if (rc < 0.0) rc = 0.0;
          if (d + rc < ws.col_dist[j]) {
            if (ws.col_dist[j] == inf) ws.frontier[frontier_size++] = m + j;
            ws.col_dist[j] = d + rc;
            ws.col_parent[j] = i;
          }
        }
      }
    }
    if (target < 0) break;
    // Potentials: π ← π − min(dist, dist(target)) keeps every residual reduced cost ≥ 0.
    for (int v = 0; v < m; ++v) {
      ws.row_potential[v] -= ws.row_dist[v] < target_dist ? ws.row_dist[v] : target_dist;
      ws.col_potential[v] -= ws.col_dist[v] < target_dist ? ws.col_dist[v] : target_dist;
    }
    // Flip the path: keep (i, j) into the target, drop (i, j_prev) back to a surplus column.
    for (int j = target;;) {
      const int i = ws.col_parent[j];
      if (i < 0) break;
      const int j_prev = ws.row_parent[i];
      mask.keep(i, j);
      mask.drop(i, j_prev);
      j = j_prev;
    }
    ++paths;
  }
  return paths;
}

}  // namespace tsenor::rounding
