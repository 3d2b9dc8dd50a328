#pragma once
// Independent exact oracle for one M×M tile: LEMON's network simplex (Debian liblemon-dev, link -llemon).
//
// A tile's transposable N:M mask is a capacitated transportation problem: M row nodes supply N each, M column
// nodes demand N each, every (row, column) arc has capacity 1 and cost -a_ij. The constraint matrix is totally
// unimodular, so the min-cost flow is integral and its arcs with flow 1 are an optimal mask.
//
// Costs are doubles, but chosen so that LEMON computes in exact arithmetic, as its documentation requires ("all
// input data must be integer"). Plain costs -a_ij fail in two ways: LEMON sizes its artificial arcs from the
// largest positive cost, (max(c, 0) + 1) * nodes, which is too small for negative costs (seen: a 4×4 tile with
// scores up to 491 came back INFEASIBLE at 2:4); and rounding in the reduced costs can make the simplex pivot on
// noise and cycle. So, per tile: subtract the minimum and scale by a power of two, which moves every feasible
// mask's objective alike (each keeps m·n entries) and so keeps the optimal mask; the scaled scores b lie in
// [0, 2); snap them to multiples of 2^-40 and use cost 2 - b, in (0, 2]. Potentials and reduced costs are then
// multiples of 2^-40 below 2^12 in magnitude (m <= 128), exact in double: the simplex terminates and is exact
// for the snapped costs. Snapping moves each score by at most 2^-41 of the tile's range (max - min); the
// returned objective is summed from the original scores.

#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include <lemon/list_graph.h>
#include <lemon/network_simplex.h>

namespace tsenor_test {

/// Solves many tiles of one shape (m, n), keeping the graph and the NetworkSimplex object between tiles, so a
/// tile costs one cost-map update and one run. Not thread-safe: use one solver per thread.
class LemonTileSolver {
 public:
  /// n: entries kept per row and per column of an m×m tile, 0 < n ≤ m.
  LemonTileSolver(int m, int n)
      : supply_(graph_), capacity_(graph_), cost_(graph_) {
    if (m < 1 || m > 128 || n < 1 || n > m) throw std::invalid_argument("LemonTileSolver: need 0 < n <= m <= 128");
    std::vector<lemon::ListDigraph::Node> rows(m), cols(m);
    for (int i = 0; i < m; ++i) {
      rows[i] = graph_.addNode();
      supply_[rows[i]] = n;
    }
    for (int j = 0; j < m; ++j) {
      cols[j] = graph_.addNode();
      supply_[cols[j]] = -n;
    }
    arcs_.reserve(static_cast<std::size_t>(m) * m);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) {
        arcs_.push_back(graph_.addArc(rows[i], cols[j]));
        capacity_[arcs_.back()] = 1;
      }
    // Built after the graph: NetworkSimplex sizes its arrays from the graph at construction.
    simplex_.reset(new Simplex(graph_));
    simplex_->upperMap(capacity_).supplyMap(supply_);
  }

  /// Solves the tile a (row-major m×m, finite values of any sign). Writes the optimal mask (1 = kept) to
  /// mask_out unless it is null, and returns the optimal objective Σ a_ij over kept entries.
  double solve(const double* a, std::uint8_t* mask_out) {
    const std::size_t mm = arcs_.size();
    double lo = a[0], hi = a[0];
    for (std::size_t k = 0; k < mm; ++k) {
      if (!std::isfinite(a[k])) throw std::invalid_argument("LemonTileSolver: non-finite score");
      lo = std::fmin(lo, a[k]);
      hi = std::fmax(hi, a[k]);
    }
    if (!std::isfinite(hi - lo)) throw std::invalid_argument("LemonTileSolver: score range overflows");
    int exponent = 0;
    std::frexp(hi - lo, &exponent);  // hi - lo = f·2^exponent with f in [0.5, 1); exponent 0 for a constant tile
    for (std::size_t k = 0; k < mm; ++k)
      cost_[arcs_[k]] = 2.0 - std::ldexp(std::nearbyint(std::ldexp(a[k] - lo, 41 - exponent)), -40);
    if (simplex_->costMap(cost_).run() != Simplex::OPTIMAL)
      throw std::logic_error("LemonTileSolver: network simplex found no optimum");  // cannot happen: n ≤ m
    double objective = 0.0;
    for (std::size_t k = 0; k < mm; ++k) {
      const bool kept = simplex_->flow(arcs_[k]) == 1;
      if (kept) objective += a[k];
      if (mask_out) mask_out[k] = kept ? 1 : 0;
    }
    return objective;
  }

 private:
  using Simplex = lemon::NetworkSimplex<lemon::ListDigraph, int, double>;

  lemon::ListDigraph graph_;
  lemon::ListDigraph::NodeMap<int> supply_;
  lemon::ListDigraph::ArcMap<int> capacity_;
  lemon::ListDigraph::ArcMap<double> cost_;
  std::vector<lemon::ListDigraph::Arc> arcs_;  ///< arcs_[i*m + j] joins row i to column j
  std::unique_ptr<Simplex> simplex_;
};

/// One-off solve of a row-major m×m tile: returns the optimal objective and writes the optimal mask (1 = kept)
/// to mask_out unless it is null. Builds a solver per call; loop over LemonTileSolver::solve for many tiles.
inline double lemon_tile_optimum(const double* a, int m, int n, std::uint8_t* mask_out) {
  LemonTileSolver solver(m, n);
  return solver.solve(a, mask_out);
}

}  // namespace tsenor_test
