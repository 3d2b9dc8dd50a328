// The public entry point: transposable N:M masks of a whole score matrix, one fused kernel
// over the batch of M×M tiles.
#pragma once

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cmath>
#include <utility>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "tsenor/backends/traits.hpp"
#include "tsenor/compat.hpp"
#include "tsenor/error.hpp"
#include "tsenor/options.hpp"
#include "tsenor/tile_solver.hpp"

namespace tsenor {

/// Optional per-tile outputs, in the execution space's memory. Leave a view empty to skip it.
/// Tile t is tile (t / tile_cols, t % tile_cols): rows (t / tile_cols)·M … +M−1, and columns
/// (t % tile_cols)·M … +M−1, where tile_cols = ceil(cols / M). For a batch (rank-3 views), the
/// tiles of matrix 0 come first, then those of matrix 1, and so on.
template <class MemorySpace>
struct MaskOutputs {
  Kokkos::View<TileStatus*, MemorySpace> status;   ///< extent: number of tiles
  /// tiles × M × M, each tile row-major (LayoutRight on every backend, so the bytes are the
  /// same everywhere): S = min(Y, 1) for method entropic, the 0/1 mask otherwise.
  Kokkos::View<float***, Kokkos::LayoutRight, MemorySpace> fractional;
};

/// The memory compute_mask uses besides the scores and the mask: tile statuses and partial totals.
/// Without one, each call allocates and frees them; on a GPU, freeing device memory waits for the
/// whole device. Pass the same Workspace to repeated calls on one execution space instance (or
/// calls that run one after another) and they are allocated once, grown when a call needs more.
template <class MemorySpace>
struct Workspace {
  Kokkos::View<TileStatus*, MemorySpace> status;
  Kokkos::View<Summary*, MemorySpace> totals;
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

/// The method a call runs: options.method, or the backend's default for automatic.
template <class ExecSpace>
Method resolve_method(const Options& o) {
  return o.method == Method::automatic ? backends::LaunchTraits<ExecSpace>::default_method(o.n, o.m) : o.method;
}

/// A summary's description of the call (method, pattern, τ, cap, shape), its counts and sums zero.
inline Summary summary_shape(const TileParams& p, std::int64_t batch, std::int64_t rows, std::int64_t cols,
                             std::int64_t tiles) {
  Summary s;
  s.method = p.method;
  s.n = p.dykstra.n;
  s.m = p.dykstra.m;
  s.tau = p.dykstra.tau;
  s.max_iterations = p.dykstra.max_iterations;
  s.matrices = batch;
  s.rows = rows;
  s.cols = cols;
  s.tiles = tiles;
  return s;
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
                     std::to_string(o.m) + " (set Options::zero_pad to pad and crop the border tiles)");
}

/// Where the tiles of one launch lie: tile t is tile u = t % tiles_per_matrix of matrix
/// t / tiles_per_matrix of the batch, and u covers rows (u / tile_cols)·m … +m−1 and columns
/// (u % tile_cols)·m … +m−1 of that rows×cols matrix (border tiles may overhang it).
struct TileGrid {
  std::int64_t rows = 0, cols = 0;
  std::int64_t tile_cols = 0, tiles_per_matrix = 0, tiles = 0;
  int m = 0, n = 0;
  /// Whole tile rows move as 16-byte chunks of scores and 4-byte chunks of the mask (tile_chunks):
  /// each view's rows contiguous, chunk-aligned and a multiple of the chunk apart (score_pitch and
  /// mask_pitch elements), and M a multiple of the chunk. Border tiles never do.
  bool score_chunks = false, mask_chunks = false;
  std::int64_t score_pitch = 0, mask_pitch = 0;
};

/// Whether the rows of view v (rank 2, or rank 3 for a batch) can move in chunks of `bytes`
/// (TileGrid::score_chunks); `pitch` gets the distance between rows in elements.
template <class View>
bool tile_chunks(const View& v, int m, std::size_t bytes, std::int64_t& pitch) {
  constexpr std::size_t size = sizeof(typename View::value_type);
  const std::size_t per_chunk = bytes / size;
  pitch = static_cast<std::int64_t>(v.stride(View::rank - 2));
  const bool batch_aligned = View::rank == 2 || static_cast<std::size_t>(v.stride(0)) % per_chunk == 0;
  return v.stride(View::rank - 1) == 1 && m % per_chunk == 0 && static_cast<std::size_t>(pitch) % per_chunk == 0 &&
         batch_aligned && reinterpret_cast<std::uintptr_t>(v.data()) % bytes == 0;
}

/// to[0 … 16 / sizeof(Real)) = from[…]: from global memory, 16-byte aligned; one load on GPUs.
template <class Real>
KOKKOS_FORCEINLINE_FUNCTION void copy_score_chunk(const Real* from, Real* to) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  if constexpr (sizeof(Real) == sizeof(float)) {
    const float4 x = *reinterpret_cast<const float4*>(from);
    to[0] = x.x;
    to[1] = x.y;
    to[2] = x.z;
    to[3] = x.w;
  } else {
    const double2 x = *reinterpret_cast<const double2*>(from);
    to[0] = x.x;
    to[1] = x.y;
  }
#else
  std::memcpy(to, from, 16);  // (one move on hosts)
#endif
}

/// to[0 … 4) = from[0 … 4): to global memory, 4-byte aligned; one store on GPUs.
KOKKOS_FORCEINLINE_FUNCTION void copy_mask_chunk(const std::uint8_t* from, std::uint8_t* to) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  *reinterpret_cast<std::uint32_t*>(to) = static_cast<std::uint32_t>(from[0]) | static_cast<std::uint32_t>(from[1]) << 8 |
                                          static_cast<std::uint32_t>(from[2]) << 16 |
                                          static_cast<std::uint32_t>(from[3]) << 24;
#else
  std::memcpy(to, from, 4);
#endif
}

/// Element (b, r, c) of a batch of matrices: a rank-3 view, or a rank-2 view (b is 0).
template <class View>
KOKKOS_FORCEINLINE_FUNCTION typename View::reference_type element(const View& v, std::int64_t b, std::int64_t r,
                                                                   std::int64_t c) {
  if constexpr (View::rank == 3) {
    return v(b, r, c);
  } else {
    (void)b;
    return v(r, c);
  }
}

/// How a team's scratch holds its tiles: `per_team` slices of `tile_bytes` at scratch level
/// `level`, tile arrays with leading dimension `ld` (m plus the backend's padding).
struct TeamScratch {
  int per_team = 1;
  int level = 0;
  int ld = 0;
  std::size_t tile_bytes = 0;
};

/// The batched solve: team thread k of team l solves tiles (l·per_team + k)·group … +group−1 with its
/// vector lanes, in its own slice of the team's scratch (group tiles of tile_bytes): group is 1, or
/// the exact method's tiles at once (exact_tiles_at_once: 2:4 on hosts). Method M is fixed at compile
/// time, and so is the tile's shape when Shape's are not 0 (they are then grid.m and grid.n).
template <Method M, class Shape, class Member, class ScoreView, class MaskView, class Real>
struct SolveTiles {
  using Memory = typename Member::execution_space::memory_space;
  static constexpr int group = M == Method::exact ? exact_tiles_at_once<Shape, Member>() : 1;
  ScoreView scores;
  MaskView mask;
  Kokkos::View<TileStatus*, Memory> status;
  Kokkos::View<float***, Kokkos::LayoutRight, Memory> fractional;
  TileParams params;
  TileGrid grid;
  TeamScratch scratch;

  /// Where tile t lies: matrix b, first row and column, and whether it overhangs the matrix.
  struct Place {
    std::int64_t t, b, r0, c0;
    bool padded;
  };

  KOKKOS_INLINE_FUNCTION void operator()(const Member& team) const {
    const std::int64_t first = (static_cast<std::int64_t>(team.league_rank()) * scratch.per_team + team.team_rank()) * group;
    if (first >= grid.tiles) return;
    char* const team_scratch = static_cast<char*>(
        team.team_scratch(scratch.level).get_shmem(scratch.per_team * group * scratch.tile_bytes));
    char* const own = team_scratch + team.team_rank() * group * scratch.tile_bytes;
    const int m = Shape::m > 0 ? Shape::m : grid.m;
    if constexpr (group > 1) {
#if defined(TSENOR_HOST_VECTORS)
      if (first + group <= grid.tiles) {
        Place place[group];
        TileStatus st[group];
        for (int k = 0; k < group; ++k) {
          place[k] = k == 0 ? locate(first) : after(place[k - 1]);
          load(team, TileWorkspace<Real>(own + k * scratch.tile_bytes, m, grid.n, scratch.ld, M), place[k]);
        }
        solve_tiles_at_once<Shape, Real>(team, own, scratch.tile_bytes, m, grid.n, scratch.ld, params, st);
        for (int k = 0; k < group; ++k)
          store(team, TileWorkspace<Real>(own + k * scratch.tile_bytes, m, grid.n, scratch.ld, M), place[k], st[k]);
        return;
      }
#endif
    }
    const TileWorkspace<Real> ws(own, m, grid.n, scratch.ld, M);
    for (std::int64_t t = first; t < first + group && t < grid.tiles; ++t) {
      const Place place = locate(t);
      load(team, ws, place);
      store(team, ws, place, solve_tile<M, Shape>(team, ws, params));
    }
  }

  KOKKOS_INLINE_FUNCTION Place locate(std::int64_t t) const {
    const int m = Shape::m > 0 ? Shape::m : grid.m;
    Place p;
    p.t = t;
    // (No 64-bit division for a single matrix: per tile it is measurable at 2:4 on GPUs.)
    p.b = grid.tiles == grid.tiles_per_matrix ? 0 : t / grid.tiles_per_matrix;
    const std::int64_t u = t - p.b * grid.tiles_per_matrix;
    p.r0 = (u / grid.tile_cols) * m;
    p.c0 = (u % grid.tile_cols) * m;
    p.padded = p.r0 + m > grid.rows || p.c0 + m > grid.cols;
    return p;
  }

  /// locate(p.t + 1), without divisions.
  KOKKOS_INLINE_FUNCTION Place after(Place p) const {
    const int m = Shape::m > 0 ? Shape::m : grid.m;
    ++p.t;
    p.c0 += m;
    if (p.c0 >= grid.tile_cols * m) {
      p.c0 = 0;
      p.r0 += m;
      if (p.r0 >= grid.rows) {
        p.r0 = 0;
        ++p.b;
      }
    }
    p.padded = p.r0 + m > grid.rows || p.c0 + m > grid.cols;
    return p;
  }

  /// The tile's scores into ws.score: consecutive lanes on consecutive chunks of a row (coalesced),
  /// or, with no chunks, each lane on whole columns (zeros outside the matrix).
  KOKKOS_INLINE_FUNCTION void load(const Member& team, const TileWorkspace<Real>& ws, const Place& p) const {
    const int m = Shape::m > 0 ? Shape::m : grid.m, ld = scratch.ld;
    if (grid.score_chunks && !p.padded) {
      constexpr int per_chunk = 16 / sizeof(Real);
      const int chunks = m / per_chunk;  // per row
      const Real* const origin = &element(scores, p.b, p.r0, p.c0);
      lanes::for_each(team, m * chunks, [&](int k) {
        const int i = k / chunks, c = k - i * chunks;
        copy_score_chunk(origin + i * grid.score_pitch + c * per_chunk, ws.score + i * ld + c * per_chunk);
      });
#if defined(__GNUC__) && !defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__)
      // A host thread solves the next tile of this tile row next: its rows (m of them, 16 KiB apart at 4096
      // floats) on their way to the cache while this one is solved. 4096², 2 cores, ALPS's Z² at 16:32: the
      // first projection 66–73 → 60–64 ms, a late one 37–43 → 36–37 ms (perf/results/h200/README.md, session 18).
      if constexpr (lanes::single_lane<Member>) {
        if (p.c0 + 2 * m <= grid.cols)
          for (int i = 0; i < m; ++i)
            for (int byte = 0; byte < m * static_cast<int>(sizeof(Real)); byte += 64)
              __builtin_prefetch(reinterpret_cast<const char*>(origin + i * grid.score_pitch + m) + byte);
      }
#endif
    } else {
      lanes::for_each(team, m, [&](int j) {
        for (int i = 0; i < m; ++i)
          ws.score[i * ld + j] = p.r0 + i < grid.rows && p.c0 + j < grid.cols
                                     ? static_cast<Real>(element(scores, p.b, p.r0 + i, p.c0 + j))
                                     : Real(0);
      });
    }
  }

  /// The tile's mask (the part inside the matrix), fractional solution and status.
  KOKKOS_INLINE_FUNCTION void store(const Member& team, const TileWorkspace<Real>& ws, const Place& p,
                                    TileStatus st) const {
    const int m = Shape::m > 0 ? Shape::m : grid.m, ld = scratch.ld;
    if (grid.mask_chunks && !p.padded) {
      const int chunks = m / 4;
      std::uint8_t* const origin = &element(mask, p.b, p.r0, p.c0);
      lanes::for_each(team, m * chunks, [&](int k) {
        const int i = k / chunks, c = k - i * chunks;
        copy_mask_chunk(ws.mask.kept + i * ld + 4 * c, origin + i * grid.mask_pitch + 4 * c);
      });
    } else {
      lanes::for_each(team, m, [&](int j) {
        for (int i = 0; i < m; ++i)
          if (p.r0 + i < grid.rows && p.c0 + j < grid.cols) element(mask, p.b, p.r0 + i, p.c0 + j) = ws.mask.kept[i * ld + j];
      });
    }
    if (fractional.data()) {
      lanes::for_each(team, m, [&](int j) {
        for (int i = 0; i < m; ++i) {
          float s = static_cast<float>(ws.mask.kept[i * ld + j]);
          if constexpr (M == Method::entropic) s = ws.y[i * ld + j] < 1.0f ? ws.y[i * ld + j] : 1.0f;
          fractional(p.t, i, j) = s;
        }
      });
    }
    if (status.data()) {
      lanes::single(team, [&]() {
        if (p.padded) st.flags |= tile_padded;
        status(p.t) = st;
      });
    }
  }
};

/// The number of scores that are NaN, infinite or negative, reduced into `result`: a host integer (the call
/// then waits) or a rank-0 view in exec's memory (it does not); a team per row, so that consecutive threads
/// read consecutive columns; an integer count, the same in any order.
template <class ExecSpace, class ScoreView, class Result>
void count_bad_scores(const ExecSpace& exec, const ScoreView& scores, std::int64_t batch, std::int64_t rows,
                      std::int64_t cols, Result&& result) {
  using Policy = Kokkos::TeamPolicy<ExecSpace>;
  Kokkos::parallel_reduce(
      "tsenor::check_scores", Policy(exec, static_cast<int>(batch * rows), Kokkos::AUTO),
      KOKKOS_LAMBDA(const typename Policy::member_type& team, std::int64_t& count) {
        const std::int64_t b = team.league_rank() / rows, r = team.league_rank() % rows;
        std::int64_t row_bad = 0;
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(team, cols),
            [&](std::int64_t c, std::int64_t& found) {
              const double v = static_cast<double>(element(scores, b, r, c));
              if (!(v >= 0.0 && v <= 1.7976931348623157e308)) ++found;
            },
            row_bad);
        Kokkos::single(Kokkos::PerTeam(team), [&]() { count += row_bad; });
      },
      result);
}

/// Bad scores are a usage error.
inline void require_good_scores(std::int64_t bad) {
  TSENOR_REQUIRE(bad == 0, "tsenor::compute_mask: " + std::to_string(bad) +
                               " scores are NaN, infinite or negative (scores must be finite and >= 0)");
}

/// s += p, field by field.
KOKKOS_INLINE_FUNCTION void add_to(Summary& s, const Summary& p) {
  s.feasible_tiles += p.feasible_tiles;
  s.invalid_tiles += p.invalid_tiles;
  s.converged_tiles += p.converged_tiles;
  s.repaired_tiles += p.repaired_tiles;
  s.padded_tiles += p.padded_tiles;
  s.iterations += p.iterations;
  s.max_tile_iterations = p.max_tile_iterations > s.max_tile_iterations ? p.max_tile_iterations : s.max_tile_iterations;
  s.objective += p.objective;
  s.total_score += p.total_score;
}

/// Entries of the totals buffer summarize() needs for `count` tiles: one level of chunk totals
/// after another, until at most 64 remain.
inline std::int64_t totals_size(std::int64_t count) {
  std::int64_t size = (count + 63) / 64;
  for (std::int64_t level = size; level > 64; level = (level + 63) / 64) size += (level + 63) / 64;
  return size;
}

/// Totals of the first `count` tile statuses with the same bits on every backend: a fixed tree of
/// sequential sums — chunks of 64 consecutive tiles, then chunks of 64 of those totals, and so on
/// (the levels one after another in `totals`, totals_size(count) entries), launched on `exec` without
/// waiting. Returns the last level (≤ 64 totals), for add_in_order on the host.
template <class ExecSpace>
Kokkos::View<Summary*, typename ExecSpace::memory_space> reduce_tiles(
    const ExecSpace& exec, const Kokkos::View<TileStatus*, typename ExecSpace::memory_space>& status,
    std::int64_t count, const Kokkos::View<Summary*, typename ExecSpace::memory_space>& totals) {
  using Range = Kokkos::RangePolicy<ExecSpace, Kokkos::IndexType<std::int64_t>>;
  using Span = std::pair<std::int64_t, std::int64_t>;
  constexpr std::int64_t chunk = 64;
  std::int64_t offset = 0, size = (count + chunk - 1) / chunk;
  auto level = Kokkos::subview(totals, Span(offset, offset + size));
  Kokkos::parallel_for(
      "tsenor::summarize_tiles", Range(exec, 0, size), KOKKOS_LAMBDA(std::int64_t c) {
        Summary p;
        const std::int64_t end = (c + 1) * chunk < count ? (c + 1) * chunk : count;
        for (std::int64_t t = c * chunk; t < end; ++t) {
          const TileStatus st = status(t);
          p.feasible_tiles += (st.flags & (tile_invalid | tile_padded)) ? 0 : 1;
          p.invalid_tiles += (st.flags & tile_invalid) ? 1 : 0;
          p.converged_tiles += (st.flags & tile_converged) ? 1 : 0;
          p.repaired_tiles += (st.flags & tile_repaired) ? 1 : 0;
          p.padded_tiles += (st.flags & tile_padded) ? 1 : 0;
          p.iterations += st.iterations;
          p.max_tile_iterations = st.iterations > p.max_tile_iterations ? st.iterations : p.max_tile_iterations;
          p.objective += st.objective;
          p.total_score += st.score_sum;
        }
        level(c) = p;
      });
  while (size > chunk) {
    const auto below = level;
    const std::int64_t n_below = size;
    offset += size;
    size = (size + chunk - 1) / chunk;
    level = Kokkos::subview(totals, Span(offset, offset + size));
    const auto above = level;
    Kokkos::parallel_for(
        "tsenor::summarize_chunks", Range(exec, 0, size), KOKKOS_LAMBDA(std::int64_t c) {
          Summary p;
          const std::int64_t end = (c + 1) * chunk < n_below ? (c + 1) * chunk : n_below;
          for (std::int64_t k = c * chunk; k < end; ++k) add_to(p, below(k));
          above(c) = p;
        });
  }
  return level;
}

/// The last totals of reduce_tiles, added in order on the host.
template <class HostView>
Summary add_in_order(const HostView& level) {
  Summary s;
  for (std::size_t c = 0; c < level.extent(0); ++c) add_to(s, level(c));
  return s;
}

/// reduce_tiles, then the sum on the host. Fences only `exec`.
template <class ExecSpace>
Summary summarize(const ExecSpace& exec, const Kokkos::View<TileStatus*, typename ExecSpace::memory_space>& status,
                  std::int64_t count, const Kokkos::View<Summary*, typename ExecSpace::memory_space>& totals) {
  const auto level = reduce_tiles(exec, status, count, totals);
  Kokkos::View<Summary*, Kokkos::HostSpace> host(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::totals"),
                                                 level.extent(0));
  Kokkos::deep_copy(exec, host, level);
  exec.fence();
  return add_in_order(host);
}

/// `kept` if it holds at least n entries, else a new view of n entries (kept in `*kept` if given).
template <class T, class Memory>
Kokkos::View<T*, Memory> reserve(Kokkos::View<T*, Memory>* kept, std::int64_t n, const char* label) {
  if (kept && static_cast<std::int64_t>(kept->extent(0)) >= n) return *kept;
  const Kokkos::View<T*, Memory> fresh(Kokkos::view_alloc(Kokkos::WithoutInitializing, std::string(label)), n);
  if (kept) *kept = fresh;
  return fresh;
}

/// f(TileShape<M, N>{}) with the tile shape that the exact method's kernels are compiled for:
/// orders 4, 8, 16, 32 (constant loop bounds and only that order's code; H200, 8192², 1.1–1.4×
/// faster than the kernel for any order, perf/results/h200/README.md, session 12), with N = M/2
/// compiled in too (the selection networks then keep only what leads to the two middle ranks, ~25%
/// fewer operations; 2:4 enumerates its 90 masks from a table), else N = 0 (any N); else
/// TileShape<> (any order).
template <class F>
void with_exact_shape(int m, int n, const F& f) {
  if (m == 4 && n == 2) f(TileShape<4, 2>{});
  else if (m == 4) f(TileShape<4>{});
  else if (m == 8 && n == 4) f(TileShape<8, 4>{});
  else if (m == 8) f(TileShape<8>{});
  else if (m == 16 && n == 8) f(TileShape<16, 8>{});
  else if (m == 16) f(TileShape<16>{});
  else if (m == 32 && n == 16) f(TileShape<32, 16>{});
  else if (m == 32) f(TileShape<32>{});
  else f(TileShape<>{});
}

/// The batched solve of every tile, launched on `exec` and not waited for: no checks of the scores,
/// no host synchronisation. `status` has one entry per tile, or none: then the tiles store no status
/// and skip its totals (TileParams::totals). `batch` is 1 for rank-2 views.
template <class ExecSpace, class ScoreView, class MaskView>
void launch_tiles(const ExecSpace& exec, const ScoreView& scores, const MaskView& mask,
                  const Kokkos::View<TileStatus*, typename ExecSpace::memory_space>& status,
                  const Kokkos::View<float***, Kokkos::LayoutRight, typename ExecSpace::memory_space>& fractional,
                  TileParams params, std::int64_t batch) {
  using Traits = backends::LaunchTraits<ExecSpace>;
  using Real = std::remove_const_t<typename ScoreView::value_type>;
  constexpr bool batched = ScoreView::rank == 3;
  const Method method = params.method;
  const int m = params.dykstra.m, n = params.dykstra.n;
  const std::int64_t rows = scores.extent(batched ? 1 : 0), cols = scores.extent(batched ? 2 : 1);
  const std::int64_t tile_rows = (rows + m - 1) / m, tile_cols = (cols + m - 1) / m;
  const std::int64_t tiles = batch * tile_rows * tile_cols;
  using Policy = Kokkos::TeamPolicy<ExecSpace>;
  backends::LaunchShape shape = Traits::shape(method, m);
  const int ld = m + shape.pad;
  const std::size_t tile_bytes = TileWorkspace<Real>::bytes(m, ld, method);
  shape = backends::fit_scratch(shape, tile_bytes, static_cast<std::size_t>(Policy::scratch_size_max(0)));
  params.exact_tuning.select_by_rank = shape.select_by_rank;
  params.exact_tuning.parallel_search = shape.parallel_search;
  params.exact_tuning.float_final = shape.float_final;
  params.totals = status.data() != nullptr;
  detail::TileGrid grid;
  grid.rows = rows;
  grid.cols = cols;
  grid.tile_cols = tile_cols;
  grid.tiles_per_matrix = tile_rows * tile_cols;
  grid.tiles = tiles;
  grid.m = m;
  grid.n = n;
  grid.score_chunks = (sizeof(Real) == sizeof(float) || sizeof(Real) == sizeof(double)) &&
                      tile_chunks(scores, m, 16, grid.score_pitch);
  grid.mask_chunks = tile_chunks(mask, m, 4, grid.mask_pitch);
  detail::TeamScratch scratch;
  scratch.per_team = shape.tiles_per_team;
  scratch.level = shape.scratch_level;
  scratch.ld = ld;
  scratch.tile_bytes = tile_bytes;
  if (tiles > 0) {
    auto launch = [&](auto resolved, auto compiled) {
      constexpr Method M = decltype(resolved)::value;
      using Shape = decltype(compiled);
      using Bounded = Kokkos::TeamPolicy<ExecSpace, typename Traits::template launch_bounds<M>>;
      // Fewer tiles per team when the bounds (registers) and the team memory do not allow
      // the shape's team size.
      // Every member has its own type, so the order below cannot mix them up.
      detail::SolveTiles<M, Shape, typename Bounded::member_type, ScoreView, MaskView, Real> solve{
          scores, mask, status, fractional, params, grid, scratch};
      constexpr int group = decltype(solve)::group;
      for (int per_team = scratch.per_team;; --per_team) {
        solve.scratch.per_team = per_team;
        const std::int64_t per_league = static_cast<std::int64_t>(per_team) * group;
        Bounded policy(exec, static_cast<int>((tiles + per_league - 1) / per_league), per_team, shape.lanes);
        policy.set_scratch_size(scratch.level, Kokkos::PerTeam(per_league * tile_bytes));
        if (per_team > 1 && policy.team_size_max(solve, Kokkos::ParallelForTag()) < per_team) continue;
        Kokkos::parallel_for("tsenor::solve_tiles", policy, solve);
        return;
      }
    };
    using Any = TileShape<>;
    if (method == Method::exact)
      with_exact_shape(m, n, [&](auto compiled) { launch(std::integral_constant<Method, Method::exact>{}, compiled); });
    if (method == Method::entropic) launch(std::integral_constant<Method, Method::entropic>{}, Any{});
    if (method == Method::greedy) launch(std::integral_constant<Method, Method::greedy>{}, Any{});
  }
}

}  // namespace detail

/// Adds the summary of a part of a matrix (a strip or chunk of tile rows) to `total`: counts,
/// totals and seconds add up, device_bytes is the larger, method, τ and the cap are the part's.
/// Shape fields (n, m, rows, cols) are left to the caller.
inline void accumulate(Summary& total, const Summary& part) {
  detail::add_to(total, part);
  total.tiles += part.tiles;
  total.method = part.method;
  total.tau = part.tau;
  total.max_iterations = part.max_iterations;
  total.seconds += part.seconds;
  total.device_bytes = std::max(total.device_bytes, part.device_bytes);
}

/// Computes the transposable N:M mask of `scores` into `mask` (1 = kept): in every M×M tile,
/// exactly N kept entries per row and per column, maximising the kept score (options.n counts
/// the KEPT entries). Scores must be finite and ≥ 0 (e.g. |W| or a Wanda score).
///
/// \param exec    execution space instance; the call fences it before returning
/// \param scores  rank-2 view (float or double, any layout) accessible from `exec`; or rank 3,
///                a batch of B matrices (B × rows × cols), each tiled on its own, in one launch
/// \param mask    view of std::uint8_t with the same rank and extents
/// \param options N, M, method and solver settings
/// \param outputs optional per-tile status and fractional solution
/// \param workspace optional memory kept between calls (see Workspace)
/// \return totals over all tiles. Throws tsenor::Error for bad options, shapes or scores.
///
/// Results are bit-identical on every backend and thread count.
template <class ExecSpace, class ScoreView, class MaskView>
Summary compute_mask(const ExecSpace& exec, const ScoreView& scores, const MaskView& mask, const Options& options,
                     MaskOutputs<typename ExecSpace::memory_space> outputs = {},
                     Workspace<typename ExecSpace::memory_space>* workspace = nullptr) {
  static_assert(Kokkos::is_view<ScoreView>::value && (ScoreView::rank == 2 || ScoreView::rank == 3),
                "scores must be a rank-2 Kokkos::View, or rank 3 for a batch of matrices");
  static_assert(Kokkos::is_view<MaskView>::value && int(MaskView::rank) == int(ScoreView::rank),
                "mask must be a Kokkos::View of the scores' rank");
  constexpr bool batched = ScoreView::rank == 3;
  using Real = std::remove_const_t<typename ScoreView::value_type>;
  static_assert(std::is_same<Real, float>::value || std::is_same<Real, double>::value, "scores must be float or double");
  static_assert(std::is_same<typename MaskView::value_type, std::uint8_t>::value, "mask must hold std::uint8_t");

  static_assert(Kokkos::SpaceAccessibility<ExecSpace, typename ScoreView::memory_space>::accessible &&
                    Kokkos::SpaceAccessibility<ExecSpace, typename MaskView::memory_space>::accessible,
                "scores and mask must be accessible from the execution space");
  const compat::ScopedRegion region("tsenor::compute_mask");
  Kokkos::Timer timer;
  const std::int64_t batch = batched ? scores.extent(0) : 1;
  const std::int64_t rows = scores.extent(batched ? 1 : 0), cols = scores.extent(batched ? 2 : 1);
  detail::validate(options, rows, cols);
  for (unsigned d = 0; d < ScoreView::rank; ++d)
    TSENOR_REQUIRE(mask.extent(d) == scores.extent(d), "tsenor::compute_mask: mask extents differ from the scores' extents");
  const int m = options.m;
  const std::int64_t tile_rows = (rows + m - 1) / m, tile_cols = (cols + m - 1) / m;
  const std::int64_t tiles = batch * tile_rows * tile_cols;
  TSENOR_REQUIRE(!outputs.status.data() || static_cast<std::int64_t>(outputs.status.extent(0)) == tiles,
                 "tsenor::compute_mask: status view must have one entry per tile (" + std::to_string(tiles) + ")");
  TSENOR_REQUIRE(!outputs.fractional.data() ||
                     (static_cast<std::int64_t>(outputs.fractional.extent(0)) == tiles &&
                      static_cast<int>(outputs.fractional.extent(1)) == m && static_cast<int>(outputs.fractional.extent(2)) == m),
                 "tsenor::compute_mask: fractional view must be tiles x M x M");

  TSENOR_REQUIRE(batch * rows <= 2147483647,
                 "tsenor::compute_mask: " + std::to_string(batch * rows) + " rows exceed one launch");
  std::int64_t bad = 0;
  if (batch * rows > 0) detail::count_bad_scores(exec, scores, batch, rows, cols, bad);
  detail::require_good_scores(bad);

  const TileParams params = detail::resolve_params(options, detail::resolve_method<ExecSpace>(options));
  const auto status = outputs.status.data()
                          ? outputs.status
                          : detail::reserve(workspace ? &workspace->status : nullptr, tiles, "tsenor::tile_status");
  const auto totals = detail::reserve(workspace ? &workspace->totals : nullptr, detail::totals_size(tiles),
                                      "tsenor::totals");
  const auto fractional = outputs.fractional;

  TSENOR_REQUIRE(tiles <= 2147483647, "tsenor::compute_mask: " + std::to_string(tiles) +
                                          " tiles exceed one launch; call it on row strips of the matrix");
  detail::launch_tiles(exec, scores, mask, status, fractional, params, batch);

  Summary s = detail::summary_shape(params, batch, rows, cols, tiles);
  detail::add_to(s, detail::summarize(exec, status, tiles, totals));
  s.device_bytes = (outputs.status.data() ? 0 : status.span() * sizeof(TileStatus)) + totals.span() * sizeof(Summary);
  exec.fence();
  s.seconds = timer.seconds();
  return s;
}

/// Launches the mask of `scores` into `mask` on `exec` and returns at once, without waiting: for
/// callers that solve many small problems in a row on one instance (SparseGPT solves a strip of M
/// columns at a time). Unlike compute_mask it neither checks the scores (they must be finite and ≥ 0)
/// nor writes tile statuses or a summary, so it needs no workspace. Same masks.
template <class ExecSpace, class ScoreView, class MaskView>
void launch_mask(const ExecSpace& exec, const ScoreView& scores, const MaskView& mask, const Options& options) {
  static_assert(Kokkos::is_view<ScoreView>::value && (ScoreView::rank == 2 || ScoreView::rank == 3),
                "scores must be a rank-2 Kokkos::View, or rank 3 for a batch of matrices");
  static_assert(Kokkos::is_view<MaskView>::value && int(MaskView::rank) == int(ScoreView::rank),
                "mask must be a Kokkos::View of the scores' rank");
  constexpr bool batched = ScoreView::rank == 3;
  const std::int64_t batch = batched ? scores.extent(0) : 1;
  const std::int64_t rows = scores.extent(batched ? 1 : 0), cols = scores.extent(batched ? 2 : 1);
  detail::validate(options, rows, cols);
  detail::launch_tiles(exec, scores, mask, {}, {},
                       detail::resolve_params(options, detail::resolve_method<ExecSpace>(options)), batch);
}

/// A mask solved while the caller does other work, with compute_mask's summary: for pipelines that keep
/// several chunks in flight, each on an execution space instance (and a MaskLaunch) of its own. start()
/// launches the solve of every tile and the reduction of their totals on `exec` and copies the totals to
/// host memory that the GPU writes directly (compat::PinnedSpace), all without waiting; after exec.fence(),
/// summary() returns what compute_mask returns for the same call, with the same bits (but `seconds`, which
/// is the caller's to measure). Like launch_mask it does not check the scores: they must be finite and ≥ 0.
template <class ExecSpace>
class MaskLaunch {
 public:
  using memory_space = typename ExecSpace::memory_space;

  template <class ScoreView, class MaskView>
  void start(const ExecSpace& exec, const ScoreView& scores, const MaskView& mask, const Options& options) {
    static_assert(Kokkos::is_view<ScoreView>::value && ScoreView::rank == 2 && Kokkos::is_view<MaskView>::value &&
                      MaskView::rank == 2,
                  "MaskLaunch: scores and mask must be rank-2 Kokkos::Views");
    const std::int64_t rows = scores.extent(0), cols = scores.extent(1);
    detail::validate(options, rows, cols);
    const int m = options.m;
    const std::int64_t tiles = ((rows + m - 1) / m) * ((cols + m - 1) / m);
    TSENOR_REQUIRE(tiles <= 2147483647, "tsenor::MaskLaunch: " + std::to_string(tiles) + " tiles exceed one launch");
    const TileParams params = detail::resolve_params(options, detail::resolve_method<ExecSpace>(options));
    const auto status = detail::reserve(&workspace_.status, tiles, "tsenor::tile_status");
    const auto totals = detail::reserve(&workspace_.totals, detail::totals_size(tiles), "tsenor::totals");
    detail::launch_tiles(exec, scores, mask, status, {}, params, 1);
    const auto level = detail::reduce_tiles(exec, status, tiles, totals);
    if (host_.extent(0) < level.extent(0))
      host_ = decltype(host_)(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::totals_host"), 64);
    levels_ = static_cast<std::int64_t>(level.extent(0));
    Kokkos::deep_copy(exec, Kokkos::subview(host_, std::pair<std::int64_t, std::int64_t>(0, levels_)), level);
    shape_ = detail::summary_shape(params, 1, rows, cols, tiles);
    shape_.device_bytes = status.span() * sizeof(TileStatus) + totals.span() * sizeof(Summary);
  }

  /// The summary of the last start(), once its execution space instance has been fenced.
  Summary summary() const {
    Summary s = shape_;  // counts and sums zero
    detail::add_to(s, detail::add_in_order(Kokkos::subview(host_, std::pair<std::int64_t, std::int64_t>(0, levels_))));
    return s;
  }

 private:
  Workspace<memory_space> workspace_;
  Kokkos::View<Summary*, compat::PinnedSpace<ExecSpace>> host_;
  std::int64_t levels_ = 0;
  Summary shape_;
};

namespace detail {

/// A few host threads, started once for a host-data call, that share every copy between them and the
/// caller's thread (page-locked buffers fill at the memory's speed, not one core's; a thread per copy
/// costs more than the copy of a chunk).
class CopyPool {
 public:
  explicit CopyPool(int threads) {
    for (int k = 1; k < threads; ++k) {
      try {
        helpers_.emplace_back([this, k] { work(k); });
      } catch (...) {  // no thread to be had (a limit): fewer share the copies
        break;
      }
    }
  }
  ~CopyPool() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : helpers_) t.join();
  }
  CopyPool(const CopyPool&) = delete;
  CopyPool& operator=(const CopyPool&) = delete;

  /// rows × cols elements of a strided host matrix into the C-order array `to` (row stride to_stride), rows
  /// split evenly between the threads.
  template <class T>
  void copy_rows(T* to, std::int64_t to_stride, const T* from, std::int64_t row_stride, std::int64_t col_stride,
                 std::int64_t rows, std::int64_t cols) {
    run([&](int k, int parts) {
      for (std::int64_t r = rows * k / parts; r < rows * (k + 1) / parts; ++r) {
        T* out = to + r * to_stride;
        const T* in = from + r * row_stride;
        if (col_stride == 1) {
          std::copy(in, in + cols, out);
        } else {
          for (std::int64_t c = 0; c < cols; ++c) out[c] = in[c * col_stride];
        }
      }
    });
  }

 private:
  // f(k, parts) on every thread (k = 0 here), then returns.
  void run(const std::function<void(int, int)>& f) {
    const int parts = static_cast<int>(helpers_.size()) + 1;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      job_ = &f;
      parts_ = parts;
      remaining_ = parts - 1;
      ++generation_;
    }
    wake_.notify_all();
    f(0, parts);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return remaining_ == 0; });
  }
  void work(int k) {
    std::uint64_t seen = 0;
    while (true) {
      const std::function<void(int, int)>* job;
      int parts;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
        parts = parts_;
      }
      (*job)(k, parts);
      const std::lock_guard<std::mutex> lock(mutex_);
      if (--remaining_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> helpers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int, int)>* job_ = nullptr;
  int parts_ = 1, remaining_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
};

/// Page-locked host buffers kept between host-data calls: allocating them is slow (measured on the H200's host:
/// about 0.4 ms a MiB, 16 ms of a 35 ms first call on an 8192² matrix), so a call borrows its buffers here and gives
/// them back (Lease). At most 4 are kept, the largest up to 64 MiB each; all are freed when Kokkos finalizes.
/// Thread-safe.
template <class PinnedSpace>
class StagingBuffers {
 public:
  using Buffer = Kokkos::View<char*, PinnedSpace>;

  /// A buffer of at least `bytes`, given back when the lease ends, after `exec` has finished with it (work on
  /// other instances must be finished by then).
  template <class ExecSpace>
  class Lease {
   public:
    Lease(const ExecSpace& exec, std::size_t bytes) : exec_(exec), buffer_(take(bytes)) {}
    ~Lease() {
      try {
        exec_.fence();  // (an exception may have left copies in flight)
      } catch (...) {
        static_cast<void>(new Buffer(std::move(buffer_)));  // a device error: the buffer is neither shared nor freed (freeing may throw)
        return;
      }
      give_back(std::move(buffer_));
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    char* data() const { return buffer_.data(); }

   private:
    ExecSpace exec_;
    Buffer buffer_;
  };

 private:
  struct State {
    std::mutex mutex;
    std::vector<Buffer> free;
    bool hooked = false;  // the finalize hook of this Kokkos session is registered
  };
  static State& state() {
    static State* s = new State;  // never destroyed (static destruction comes after finalize)
    return *s;
  }
  static Buffer take(std::size_t bytes) {
    State& s = state();
    {
      const std::lock_guard<std::mutex> lock(s.mutex);
      if (!s.hooked) {
        Kokkos::push_finalize_hook([] {
          State& st = state();
          const std::lock_guard<std::mutex> hold(st.mutex);
          st.free.clear();
          st.hooked = false;
        });
        s.hooked = true;
      }
      std::size_t best = s.free.size();
      for (std::size_t k = 0; k < s.free.size(); ++k)
        if (s.free[k].extent(0) >= bytes && (best == s.free.size() || s.free[k].extent(0) < s.free[best].extent(0)))
          best = k;
      if (best < s.free.size()) {
        Buffer b = std::move(s.free[best]);
        s.free.erase(s.free.begin() + static_cast<std::ptrdiff_t>(best));
        return b;
      }
    }
    return Buffer(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::staging"), bytes);
  }
  static void give_back(Buffer b) {
    State& s = state();
    const std::lock_guard<std::mutex> lock(s.mutex);
    if (!s.hooked || b.extent(0) > (std::size_t(64) << 20)) return;  // Kokkos finalized meanwhile, or too large
    s.free.push_back(std::move(b));
    if (s.free.size() > 4)
      s.free.erase(std::min_element(s.free.begin(), s.free.end(),
                                    [](const Buffer& x, const Buffer& y) { return x.extent(0) < y.extent(0); }));
  }
};

/// A staging buffer for a host-data call on `ExecSpace`.
template <class ExecSpace>
using StagingLease = typename StagingBuffers<compat::PinnedSpace<ExecSpace>>::template Lease<ExecSpace>;

/// How a host-data call on an execution space that cannot read host memory cuts the matrix: chunks of whole tile
/// rows, each through a page-locked staging buffer (compute_mask and reserve_host_data below).
template <class Real>
struct HostDataPlan {
  std::int64_t tile_cols, tiles;
  std::size_t status_bytes;  // every tile's status and the totals' tree
  bool whole_totals;         // status_bytes fit in half the bound: totals summed as by one call on the whole matrix
  std::int64_t chunk_tile_rows, chunk_rows, chunks;
  int slots;                 // chunks in flight, one staging buffer each
  std::size_t scores_bytes;  // a chunk's scores in its staging buffer (rounded up to 128 bytes), then its mask
  std::size_t staging_bytes;

  HostDataPlan(std::int64_t rows, std::int64_t cols, const Options& options) {
    validate(options, rows, cols);
    const int m = options.m;
    const std::size_t budget = options.device_memory > 0 ? options.device_memory : default_device_memory();
    tile_cols = (cols + m - 1) / m;
    const std::int64_t tile_rows = (rows + m - 1) / m;
    tiles = tile_rows * tile_cols;
    // Every tile's status in one array when it fits in half the bound: then the totals are summed in
    // compute_mask's order, with the same bits as one call on the whole matrix; else chunk by chunk.
    status_bytes = static_cast<std::size_t>(tiles) * sizeof(TileStatus) +
                   static_cast<std::size_t>(totals_size(tiles)) * sizeof(Summary);
    // A tile row on the device: scores, mask, and (chunk by chunk) statuses and its share of the totals.
    const std::size_t data_row_bytes = static_cast<std::size_t>(m) * cols * (sizeof(Real) + 1);
    whole_totals = status_bytes <= budget / 2 && budget - status_bytes >= data_row_bytes;
    const std::size_t slot_budget = whole_totals ? budget - status_bytes : budget;
    const std::size_t row_bytes =
        data_row_bytes +
        (whole_totals ? 0 : static_cast<std::size_t>(tile_cols) * (sizeof(TileStatus) + sizeof(Summary)));
    TSENOR_REQUIRE(row_bytes <= slot_budget,
                   "tsenor::compute_mask: the device memory bound (Options::device_memory, " + std::to_string(budget) +
                       " bytes) is less than one row of tiles needs (" + std::to_string(row_bytes) + " bytes)");
    // Bytes of scores a chunk. Measured on the H200 (bench_device --host-data, 8192², warm): 8 MiB 20–31 ms,
    // 16 MiB 16–22 ms, 32 MiB 15–18 ms (smaller chunks leave the GPU part idle at 16:32); 16 because a cold
    // process pays ~0.4 ms a MiB of page-locked buffers once.
    const std::size_t target = std::size_t(16) << 20;
    const std::int64_t fit = static_cast<std::int64_t>(slot_budget / row_bytes);
    chunk_tile_rows = std::max<std::int64_t>(
        1, std::min<std::int64_t>({tile_rows, fit > 1 ? fit / 2 : 1,
                                   static_cast<std::int64_t>(target / (static_cast<std::size_t>(m) * cols * sizeof(Real)))}));
    chunk_rows = std::min<std::int64_t>(rows, chunk_tile_rows * m);
    chunks = (rows + chunk_rows - 1) / chunk_rows;
    slots = chunks > 1 && fit > 1 ? 2 : 1;
    scores_bytes = (static_cast<std::size_t>(chunk_rows) * cols * sizeof(Real) + 127) / 128 * 128;
    staging_bytes = scores_bytes + static_cast<std::size_t>(chunk_rows) * cols;
  }
};

}  // namespace detail

/// The same on host memory: `scores` is a rows×cols matrix with element (r, c) at
/// scores[r·row_stride + c·col_stride] (strides in elements: C order is (cols, 1), Fortran
/// order (1, rows)); `mask` receives rows×cols bytes in C order. When the execution space
/// cannot read host memory, the matrix goes to it in chunks of whole tile rows (at most 16 MiB
/// of scores, within options.device_memory bytes), two at a time, on `exec` and on a second
/// instance of the execution space: while one chunk is solved, the other's scores go up and its mask comes
/// down through page-locked buffers, and the host stages the next one. The page-locked buffers (2 × 20 MiB
/// unless a tile row is larger) are kept for the next call (detail::StagingBuffers) until Kokkos finalizes. Same masks; the same totals
/// too (bit for bit) when every tile's status fits in half of options.device_memory, else they are
/// summed chunk by chunk. The call returns when everything is done. Scores are checked on the device
/// as they go: on bad scores it throws at the end, and `mask` holds whatever was solved.
template <class ExecSpace, class Real>
Summary compute_mask(const ExecSpace& exec, const Real* scores, std::int64_t rows, std::int64_t cols,
                     std::int64_t row_stride, std::int64_t col_stride, std::uint8_t* mask, const Options& options) {
  TSENOR_REQUIRE(rows >= 0 && cols >= 0, "tsenor::compute_mask: negative shape");
  TSENOR_REQUIRE(rows * cols == 0 || (scores && mask), "tsenor::compute_mask: null data pointer");
  using Unmanaged = Kokkos::MemoryTraits<Kokkos::Unmanaged>;
  using Memory = typename ExecSpace::memory_space;
  if constexpr (Kokkos::SpaceAccessibility<ExecSpace, Kokkos::HostSpace>::accessible) {
    Kokkos::View<const Real**, Kokkos::LayoutStride, Kokkos::HostSpace, Unmanaged> host_scores(
        scores, Kokkos::LayoutStride(rows, row_stride, cols, col_stride));
    Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Kokkos::HostSpace, Unmanaged> host_mask(mask, rows, cols);
    return compute_mask(exec, host_scores, host_mask, options);
  } else {
    if (rows == 0 || cols == 0)
      return compute_mask(exec, Kokkos::View<Real**, Kokkos::LayoutRight, Memory>("tsenor::scores", rows, cols),
                          Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Memory>("tsenor::mask", rows, cols),
                          options);
    const compat::ScopedRegion region("tsenor::compute_mask");
    Kokkos::Timer timer;
    const detail::HostDataPlan<Real> plan(rows, cols, options);
    const int m = options.m;
    const std::int64_t tile_cols = plan.tile_cols, tiles = plan.tiles, chunk_tile_rows = plan.chunk_tile_rows;
    const std::int64_t chunk_rows = plan.chunk_rows, chunks = plan.chunks;
    const bool whole_totals = plan.whole_totals;
    const int slots = plan.slots;
    using Pinned = compat::PinnedSpace<ExecSpace>;
    using Staging = detail::StagingLease<ExecSpace>;
    struct Slot {
      Kokkos::View<Real**, Kokkos::LayoutRight, Memory> scores;
      Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Memory> mask;
      Kokkos::View<Real**, Kokkos::LayoutRight, Pinned, Unmanaged> scores_host;       // in a staging buffer
      Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Pinned, Unmanaged> mask_host;  // after the scores
      MaskLaunch<ExecSpace> launch;  // chunk by chunk totals
      std::int64_t chunk = -1;       // in flight
    };
    // Declared first, so given back last: after the second instance has been fenced (its destructor) and exec
    // (the lease's).
    std::vector<std::unique_ptr<Staging>> staging;
    std::vector<Slot> slot(static_cast<std::size_t>(slots));
    for (Slot& sl : slot) {
      sl.scores = decltype(sl.scores)(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::scores"), chunk_rows, cols);
      sl.mask = decltype(sl.mask)(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::mask"), chunk_rows, cols);
      staging.push_back(std::make_unique<Staging>(exec, plan.staging_bytes));
      sl.scores_host = decltype(sl.scores_host)(reinterpret_cast<Real*>(staging.back()->data()), chunk_rows, cols);
      sl.mask_host = decltype(sl.mask_host)(reinterpret_cast<std::uint8_t*>(staging.back()->data() + plan.scores_bytes),
                                            chunk_rows, cols);
    }
    // After the buffers, so that it is destroyed (its instance fenced) before them.
    compat::Instances<ExecSpace> extra(slots - 1);  // the second chunk's instance; the first runs on exec
    const auto instance = [&](std::int64_t c) -> const ExecSpace& { return c % slots == 0 ? exec : extra[0]; };
    const TileParams params = detail::resolve_params(options, detail::resolve_method<ExecSpace>(options));
    Kokkos::View<TileStatus*, Memory> status(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::tile_status"),
                                             whole_totals ? tiles : 0);
    Kokkos::View<Summary*, Memory> totals(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::totals"),
                                          whole_totals ? detail::totals_size(tiles) : 0);
    detail::CopyPool copier(static_cast<int>(std::min<unsigned>(8, std::max(1u, std::thread::hardware_concurrency()))));
    // Each chunk's count in its own entry (set by its reduction, so nothing to zero or to race on).
    Kokkos::View<std::int64_t*, Memory> bad(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::bad_scores"),
                                            chunks);
    Summary total;
    std::size_t chunk_status_bytes = 0;
    // A finished chunk: its mask to the caller, (chunk by chunk) its totals added; slots alternate, so chunks
    // finish in order.
    const auto finish = [&](Slot& sl, const ExecSpace& on) {
      if (sl.chunk < 0) return;
      on.fence();
      const std::int64_t r0 = sl.chunk * chunk_rows, h = std::min<std::int64_t>(chunk_rows, rows - r0);
      copier.copy_rows(mask + r0 * cols, cols, sl.mask_host.data(), cols, 1, h, cols);
      if (!whole_totals) {
        const Summary part = sl.launch.summary();
        accumulate(total, part);
        chunk_status_bytes = std::max(chunk_status_bytes, part.device_bytes);
      }
      sl.chunk = -1;
    };
    for (std::int64_t c = 0; c < chunks; ++c) {
      Slot& sl = slot[static_cast<std::size_t>(c % slots)];
      const ExecSpace& on = instance(c);
      finish(sl, on);
      const std::int64_t r0 = c * chunk_rows, h = std::min<std::int64_t>(chunk_rows, rows - r0);
      const std::pair<std::int64_t, std::int64_t> first(0, h);
      copier.copy_rows(sl.scores_host.data(), cols, scores + r0 * row_stride, row_stride, col_stride, h, cols);
      const auto s = Kokkos::subview(sl.scores, first, Kokkos::ALL());
      const auto k = Kokkos::subview(sl.mask, first, Kokkos::ALL());
      Kokkos::deep_copy(on, s, Kokkos::subview(sl.scores_host, first, Kokkos::ALL()));
      detail::count_bad_scores(on, s, 1, h, cols, Kokkos::subview(bad, c));
      if (whole_totals) {  // tile t of the chunk is tile (first tile row) · tile_cols + t of the matrix
        const std::int64_t t0 = c * chunk_tile_rows * tile_cols, t1 = t0 + ((h + m - 1) / m) * tile_cols;
        detail::launch_tiles(on, s, k, Kokkos::subview(status, std::make_pair(t0, t1)), {}, params, 1);
      } else {
        sl.launch.start(on, s, k, options);
      }
      Kokkos::deep_copy(on, Kokkos::subview(sl.mask_host, first, Kokkos::ALL()), k);
      sl.chunk = c;
    }
    for (std::int64_t c = chunks; c < chunks + slots; ++c)
      finish(slot[static_cast<std::size_t>(c % slots)], instance(c));
    const auto bad_host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), bad);
    std::int64_t bad_scores = 0;
    for (std::int64_t c = 0; c < chunks; ++c) bad_scores += bad_host(c);
    detail::require_good_scores(bad_scores);
    if (whole_totals) {
      total = detail::summary_shape(params, 1, rows, cols, tiles);
      detail::add_to(total, detail::summarize(exec, status, tiles, totals));
    }
    total.n = options.n;
    total.m = m;
    total.rows = rows;
    total.cols = cols;
    total.device_bytes = (whole_totals ? plan.status_bytes : chunk_status_bytes * slots) +
                         slots * (slot[0].scores.span() * sizeof(Real) + slot[0].mask.span());
    total.seconds = timer.seconds();
    return total;
  }
}

/// Makes ready, ahead of a host-data compute_mask call (above) on rows×cols scores of type Real with these options,
/// the page-locked staging buffers that the call takes, kept as after a call (until Kokkos finalizes; buffers over
/// 64 MiB are not kept, so reserving those gains nothing), and launches the call's kernels once on one tile of
/// zeros (the chunk-by-chunk totals, used when the statuses exceed half of options.device_memory, are not among
/// them), so that a program pays for both where it chooses. A fresh process's first host-data call otherwise pays
/// them itself: the buffers cost about 0.4 ms a MiB on the H200's host, 16 ms of a 35 ms first call on 8192²
/// float32 scores. `tsenor mask` calls this on a second thread while it reads the input: that is safe while no
/// other thread uses Kokkos, once the thread has made Kokkos' GPU current (compat::make_device_current; Kokkos
/// before 4.2 does not). Nothing to do where the execution space reads host memory, or for an empty shape;
/// otherwise throws as compute_mask does on a shape or options it rejects.
template <class Real, class ExecSpace>
void reserve_host_data(const ExecSpace& exec, std::int64_t rows, std::int64_t cols, const Options& options) {
  if constexpr (!Kokkos::SpaceAccessibility<ExecSpace, Kokkos::HostSpace>::accessible) {
    TSENOR_REQUIRE(rows >= 0 && cols >= 0, "tsenor::reserve_host_data: negative shape");
    if (rows == 0 || cols == 0) return;
    const detail::HostDataPlan<Real> plan(rows, cols, options);
    using Staging = detail::StagingLease<ExecSpace>;
    {
      std::vector<std::unique_ptr<Staging>> staging;  // held together, so that each slot gets a buffer of its own
      for (int k = 0; k < plan.slots; ++k) staging.push_back(std::make_unique<Staging>(exec, plan.staging_bytes));
    }
    // The solve's kernels launched once in the process as well, by this same path: one tile of zeros.
    const std::int64_t m = options.m;
    const std::vector<Real> zeros(static_cast<std::size_t>(m * m), Real(0));
    std::vector<std::uint8_t> keep(zeros.size());
    compute_mask(exec, zeros.data(), m, m, m, 1, keep.data(), options);
  } else {
    static_cast<void>(exec), static_cast<void>(rows), static_cast<void>(cols), static_cast<void>(options);
  }
}

}  // namespace tsenor
