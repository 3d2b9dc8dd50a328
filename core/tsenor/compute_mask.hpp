// The public entry point: transposable N:M masks of a whole score matrix, one fused kernel
// over the batch of M×M tiles.
#pragma once

#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "tsenor/backends/traits.hpp"
#include "tsenor/error.hpp"
#include "tsenor/options.hpp"
#include "tsenor/tile_solver.hpp"

namespace tsenor {

/// Optional per-tile outputs, in the execution space's memory. Leave a view empty to skip it.
/// Tile t is tile (t / tile_cols, t % tile_cols): rows (t / tile_cols)·M … +M−1, and columns
/// (t % tile_cols)·M … +M−1, where tile_cols = ceil(cols / M).
template <class MemorySpace>
struct MaskOutputs {
  Kokkos::View<TileStatus*, MemorySpace> status;   ///< extent: number of tiles
  /// tiles × M × M, each tile row-major (LayoutRight on every backend, so the bytes are the
  /// same everywhere): S = min(Y, 1) for method tsenor, the 0/1 mask otherwise.
  Kokkos::View<float***, Kokkos::LayoutRight, MemorySpace> fractional;
};

namespace detail {

inline TileParams resolve_params(const Options& o, Method method) {
  TileParams p;
  p.method = method;
  p.dykstra.m = o.m;
  p.dykstra.n = o.n;
  p.dykstra.tau = o.tau > 0.0 ? o.tau : default_tau(o.n, o.m);
  p.dykstra.max_iterations = o.max_iterations > 0 ? o.max_iterations : default_max_iterations(o.n, o.m);
  p.dykstra.tolerance = o.tolerance;
  p.local_search_steps = o.local_search_steps;
  return p;
}

inline void validate(const Options& o, std::int64_t rows, std::int64_t cols) {
  const std::string f = "tsenor::compute_mask: ";
  TSENOR_REQUIRE(o.m >= 2 && o.m <= 128, f + "M = " + std::to_string(o.m) + " is outside 2..128");
  TSENOR_REQUIRE(o.n > 0 && o.n < o.m, f + "N = " + std::to_string(o.n) + " must satisfy 0 < N < M = " +
                                           std::to_string(o.m) + " (N counts the kept entries)");
  TSENOR_REQUIRE(o.tau >= 0.0 && std::isfinite(o.tau), f + "tau = " + std::to_string(o.tau) + " must be finite and ≥ 0");
  TSENOR_REQUIRE(o.max_iterations >= 0, f + "max_iterations = " + std::to_string(o.max_iterations) + " is negative");
  TSENOR_REQUIRE(o.tolerance >= 0.0, f + "tolerance = " + std::to_string(o.tolerance) + " is negative");
  TSENOR_REQUIRE(o.local_search_steps >= 0,
                 f + "local_search_steps = " + std::to_string(o.local_search_steps) + " is negative");
  TSENOR_REQUIRE(o.zero_pad || (rows % o.m == 0 && cols % o.m == 0),
                 f + "shape " + std::to_string(rows) + "x" + std::to_string(cols) + " is not a multiple of M = " +
                     std::to_string(o.m) + " (use zero padding to crop border tiles)");
}

}  // namespace detail

/// Computes the transposable N:M mask of `scores` into `mask` (1 = kept): in every M×M tile,
/// exactly N kept entries per row and per column, maximising the kept score (options.n counts
/// the KEPT entries). Scores must be finite and ≥ 0 (e.g. |W| or a Wanda score).
///
/// \param exec    execution space instance; the call fences it before returning
/// \param scores  rank-2 view (float or double, any layout) accessible from `exec`
/// \param mask    rank-2 view of std::uint8_t with the same extents
/// \param options N, M, method and solver settings
/// \param outputs optional per-tile status and fractional solution
/// \return totals over all tiles. Throws tsenor::Error for bad options, shapes or scores.
///
/// Results are bit-identical on every backend and thread count.
template <class ExecSpace, class ScoreView, class MaskView>
Summary compute_mask(const ExecSpace& exec, const ScoreView& scores, const MaskView& mask, const Options& options,
                     MaskOutputs<typename ExecSpace::memory_space> outputs = {}) {
  static_assert(Kokkos::is_view<ScoreView>::value && ScoreView::rank == 2, "scores must be a rank-2 Kokkos::View");
  static_assert(Kokkos::is_view<MaskView>::value && MaskView::rank == 2, "mask must be a rank-2 Kokkos::View");
  using Real = std::remove_const_t<typename ScoreView::value_type>;
  static_assert(std::is_same<Real, float>::value || std::is_same<Real, double>::value, "scores must be float or double");
  static_assert(std::is_same<typename MaskView::value_type, std::uint8_t>::value, "mask must hold std::uint8_t");
  using Traits = backends::LaunchTraits<ExecSpace>;

  static_assert(Kokkos::SpaceAccessibility<ExecSpace, typename ScoreView::memory_space>::accessible &&
                    Kokkos::SpaceAccessibility<ExecSpace, typename MaskView::memory_space>::accessible,
                "scores and mask must be accessible from the execution space");
  Kokkos::Timer timer;
  const std::int64_t rows = scores.extent(0), cols = scores.extent(1);
  detail::validate(options, rows, cols);
  TSENOR_REQUIRE(mask.extent(0) == scores.extent(0) && mask.extent(1) == scores.extent(1),
                 "tsenor::compute_mask: mask extents differ from the scores' extents");
  const int m = options.m, n = options.n;
  const std::int64_t tile_rows = (rows + m - 1) / m, tile_cols = (cols + m - 1) / m;
  const std::int64_t tiles = tile_rows * tile_cols;
  TSENOR_REQUIRE(!outputs.status.data() || static_cast<std::int64_t>(outputs.status.extent(0)) == tiles,
                 "tsenor::compute_mask: status view must have one entry per tile (" + std::to_string(tiles) + ")");
  TSENOR_REQUIRE(!outputs.fractional.data() ||
                     (static_cast<std::int64_t>(outputs.fractional.extent(0)) == tiles &&
                      static_cast<int>(outputs.fractional.extent(1)) == m && static_cast<int>(outputs.fractional.extent(2)) == m),
                 "tsenor::compute_mask: fractional view must be tiles x M x M");

  // Bad scores are a usage error: count them (an integer count is order-independent).
  std::int64_t bad = 0;
  Kokkos::parallel_reduce(
      "tsenor::check_scores",
      Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<std::int64_t>>(exec, 0, rows * cols),  // > 2^32 entries too
      KOKKOS_LAMBDA(std::int64_t k, std::int64_t & count) {
        const double v = static_cast<double>(scores(k / cols, k % cols));
        if (!(v >= 0.0 && v <= 1.7976931348623157e308)) ++count;
      },
      bad);
  TSENOR_REQUIRE(bad == 0, "tsenor::compute_mask: " + std::to_string(bad) +
                               " scores are NaN, infinite or negative (scores must be finite and >= 0)");

  const Method method = options.method == Method::automatic ? Traits::default_method(n, m) : options.method;
  const TileParams params = detail::resolve_params(options, method);
  Kokkos::View<TileStatus*, typename ExecSpace::memory_space> status =
      outputs.status.data() ? outputs.status
                            : Kokkos::View<TileStatus*, typename ExecSpace::memory_space>(
                                  Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::tile_status"), tiles);
  const auto fractional = outputs.fractional;

  using Policy = Kokkos::TeamPolicy<ExecSpace>;
  using Member = typename Policy::member_type;
  const std::size_t tile_bytes = TileWorkspace<Real>::bytes(m);
  const int per_team = Traits::tiles_per_team;
  const int scratch_level = Traits::scratch_level;  // a copy: device code cannot odr-use the trait
  const std::int64_t league = (tiles + per_team - 1) / per_team;
  TSENOR_REQUIRE(league <= 2147483647, "tsenor::compute_mask: " + std::to_string(tiles) +
                                          " tiles exceed one launch; call it on row strips of the matrix");
  Kokkos::Profiling::pushRegion("tsenor::compute_mask");  // after every usage check: no throw below
  if (league > 0) {
    Policy policy(exec, static_cast<int>(league), Traits::team_size);
    Kokkos::parallel_for(
        "tsenor::solve_tiles",
        policy.set_scratch_size(scratch_level, Kokkos::PerTeam(per_team * tile_bytes)),
        KOKKOS_LAMBDA(const Member& team) {
          char* team_scratch = static_cast<char*>(team.team_scratch(scratch_level).get_shmem(per_team * tile_bytes));
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, per_team), [&](int slot) {
            const std::int64_t t = static_cast<std::int64_t>(team.league_rank()) * per_team + slot;
            if (t >= tiles) return;
            TileWorkspace<Real> ws(team_scratch + slot * tile_bytes, m, n);
            const std::int64_t r0 = (t / tile_cols) * m, c0 = (t % tile_cols) * m;
            bool padded = false;
            double score_sum = 0.0;
            for (int i = 0; i < m; ++i)
              for (int j = 0; j < m; ++j) {
                const bool inside = r0 + i < rows && c0 + j < cols;
                padded |= !inside;
                const Real v = inside ? static_cast<Real>(scores(r0 + i, c0 + j)) : Real(0);
                ws.score[i * m + j] = v;
                score_sum += static_cast<double>(v);
              }
            TileStatus st = solve_tile(ws, params);
            st.score_sum = score_sum;
            if (padded) st.flags |= tile_padded;
            for (int i = 0; i < m; ++i)
              for (int j = 0; j < m; ++j)
                if (r0 + i < rows && c0 + j < cols) mask(r0 + i, c0 + j) = ws.mask.kept[i * m + j];
            if (fractional.data()) {
              for (int k = 0; k < m * m; ++k) {
                const float s = params.method == Method::tsenor ? (ws.y[k] < 1.0f ? ws.y[k] : 1.0f)
                                                                : static_cast<float>(ws.mask.kept[k]);
                fractional(t, k / m, k % m) = s;
              }
            }
            status(t) = st;
          });
        });
  }

  // Totals in tile order on the host, so the summary has the same bits everywhere.
  auto host_status = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), status);
  Summary s;
  s.method = method;
  s.n = n;
  s.m = m;
  s.tau = params.dykstra.tau;
  s.max_iterations = params.dykstra.max_iterations;
  s.rows = rows;
  s.cols = cols;
  s.tiles = tiles;
  for (std::int64_t t = 0; t < tiles; ++t) {
    const TileStatus& st = host_status(t);
    s.feasible_tiles += (st.flags & tile_invalid) ? 0 : 1;
    s.converged_tiles += (st.flags & tile_converged) ? 1 : 0;
    s.repaired_tiles += (st.flags & tile_repaired) ? 1 : 0;
    s.padded_tiles += (st.flags & tile_padded) ? 1 : 0;
    s.iterations += st.iterations;
    s.max_tile_iterations = st.iterations > s.max_tile_iterations ? st.iterations : s.max_tile_iterations;
    s.objective += st.objective;
    s.total_score += st.score_sum;
  }
  exec.fence();
  s.seconds = timer.seconds();
  Kokkos::Profiling::popRegion();
  return s;
}

/// The same on host memory: `scores` is a rows×cols matrix with element (r, c) at
/// scores[r·row_stride + c·col_stride] (strides in elements: C order is (cols, 1), Fortran
/// order (1, rows)); `mask` receives rows×cols bytes in C order. Data is copied to the
/// execution space's memory when it cannot read host memory.
template <class ExecSpace, class Real>
Summary compute_mask(const ExecSpace& exec, const Real* scores, std::int64_t rows, std::int64_t cols,
                     std::int64_t row_stride, std::int64_t col_stride, std::uint8_t* mask, const Options& options) {
  TSENOR_REQUIRE(rows >= 0 && cols >= 0, "tsenor::compute_mask: negative shape");
  TSENOR_REQUIRE(rows * cols == 0 || (scores && mask), "tsenor::compute_mask: null data pointer");
  using Unmanaged = Kokkos::MemoryTraits<Kokkos::Unmanaged>;
  Kokkos::View<const Real**, Kokkos::LayoutStride, Kokkos::HostSpace, Unmanaged> host_scores(
      scores, Kokkos::LayoutStride(rows, row_stride, cols, col_stride));
  Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Kokkos::HostSpace, Unmanaged> host_mask(mask, rows, cols);
  using Memory = typename ExecSpace::memory_space;
  if constexpr (Kokkos::SpaceAccessibility<ExecSpace, Kokkos::HostSpace>::accessible) {
    return compute_mask(exec, host_scores, host_mask, options);
  } else {
    Kokkos::View<Real**, Kokkos::LayoutRight, Kokkos::HostSpace> contiguous("tsenor::scores_host", rows, cols);
    Kokkos::deep_copy(contiguous, host_scores);
    auto device_scores = Kokkos::create_mirror_view_and_copy(Memory(), contiguous);
    Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Memory> device_mask("tsenor::mask", rows, cols);
    const Summary s = compute_mask(exec, device_scores, device_mask, options);
    Kokkos::deep_copy(host_mask, device_mask);
    return s;
  }
}

}  // namespace tsenor
