// Per-backend launch tuning and default method. No algorithm lives here: only how many
// lanes share a tile, how many tiles a team solves, how tile rows are padded, and how the
// exact method spreads its (equivalent) steps over the lanes.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstddef>
#include <type_traits>

#include "tsenor/options.hpp"

namespace tsenor::backends {

/// How one launch maps tiles onto the hardware.
struct LaunchShape {
  int lanes = 1;                ///< vector lanes per tile (a power of two)
  int tiles_per_team = 1;       ///< team threads, one tile each
  int pad = 0;                  ///< tile rows hold m + pad entries (leading dimension)
  bool select_by_rank = false;  ///< exact's dual start, m > 32: rank counting (many lanes) or quickselect
  bool parallel_search = false; ///< exact's path searches scan with all lanes
  bool float_final = false;     ///< exact's last dual pass selects in float first (ExactTuning)
  int scratch_level = 0;        ///< 0: fast team memory (preferred); 1: large, slower
};

/// Host backends (Serial, OpenMP, Threads): one thread per team, one tile per thread, the
/// tile in the thread's scratch (it stays in L1/L2 for the whole solve).
template <class ExecSpace, class Enable = void>
struct LaunchTraits {
  static LaunchShape shape(Method /*method*/, int /*m*/) { return LaunchShape{}; }
  /// Kokkos::LaunchBounds of method M's kernel.
  template <Method M>
  using launch_bounds = Kokkos::LaunchBounds<>;
  /// Quality first: the exact method is optimal and, on CPUs, faster than the entropic
  /// solver for every pattern measured (README, "Choosing the default method").
  static Method default_method(int /*n*/, int /*m*/) { return Method::exact; }
};

#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP)
/// GPUs. Methods exact and entropic: the lanes of a warp slice share a tile (one lane per row
/// or column, a power of two ≥ m up to the warp), 128 threads a team, tiles in shared memory
/// with rows padded by one entry so that lanes on different rows hit different banks. The
/// greedy method (a sort on one lane): one thread per tile, 32 tiles a team; so are the exact
/// method's tiles of m ≤ 4 (an enumeration on one lane), 128 a team: their workspace has no
/// dual arrays, so that a team takes 18 KB of shared memory.
template <class ExecSpace>
struct LaunchTraits<ExecSpace, std::enable_if_t<!std::is_same<typename ExecSpace::memory_space, Kokkos::HostSpace>::value>> {
  static LaunchShape shape(Method method, int m) {
    LaunchShape s;
    if (method == Method::greedy) {
      s.tiles_per_team = 32;
      s.scratch_level = 1;
      return s;
    }
    if (method == Method::exact && m <= 4) {  // enumerated on one lane (exact.hpp)
      s.tiles_per_team = 128;  // measured (H200, 8192² 2:4): 3.5 ms; 4.0 ms with 64
      return s;
    }
    while (s.lanes < m && s.lanes < 32) s.lanes *= 2;
    s.tiles_per_team = 128 / s.lanes;
    s.pad = 1;
    s.select_by_rank = true;
    // The path searches on all lanes: where the lanes reduce with warp shuffles (CUDA,
    // lanes.hpp) from m = 8 (H200, 8192²: 4:8 3.1 -> 2.9 ms, 8:16 4.2 -> 3.7 ms, 16:32 the same);
    // through Kokkos' reductions (HIP) one lane was faster below m = 32 (measured on CUDA).
#if defined(KOKKOS_ENABLE_CUDA)
    constexpr bool warp_shuffles = std::is_same<ExecSpace, Kokkos::Cuda>::value;
#else
    constexpr bool warp_shuffles = false;
#endif
    s.parallel_search = m >= (warp_shuffles ? 8 : 32);
    // The float-first last dual pass from m = 32 (H200, 8192²: 16:32 3.13 -> 3.02 ms; 4:8 and
    // 8:16 2-3% slower, where the double network is small). On CPUs it is slower at every m
    // (2 cores, 4096², 4:8 163 -> 203 ms, 8:16 233 -> 276).
    s.float_final = m >= 32;
    return s;
  }
  /// The exact kernel: 128 threads, 8 blocks an SM (≤ 64 registers a thread): it is bound by
  /// instruction issue, and the occupancy this buys is worth the spills (measured on an H100:
  /// 8192² at 8:16 in 13.4 ms against 17.4 ms unbounded).
  template <Method M>
  using launch_bounds = std::conditional_t<M == Method::exact, Kokkos::LaunchBounds<128, 8>, Kokkos::LaunchBounds<>>;
  /// The exact method here too: optimal, and faster than the entropic method on an H100 for every
  /// pattern measured (perf/results/h100/).
  static Method default_method(int /*n*/, int /*m*/) { return Method::exact; }
};
#endif

/// Fits a shape that prefers level 0 to the team memory: as many of its tiles as fit in
/// `level0_bytes` (at least one), else all of them in level 1.
inline LaunchShape fit_scratch(LaunchShape s, std::size_t tile_bytes, std::size_t level0_bytes) {
  if (s.scratch_level != 0) return s;
  const std::size_t fit = level0_bytes / tile_bytes;
  if (fit >= 1) {
    s.tiles_per_team = fit < static_cast<std::size_t>(s.tiles_per_team) ? static_cast<int>(fit) : s.tiles_per_team;
  } else {
    s.scratch_level = 1;
  }
  return s;
}

}  // namespace tsenor::backends
