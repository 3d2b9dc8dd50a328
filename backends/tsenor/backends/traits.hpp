// Per-backend launch tuning and default method. No algorithm lives here: only how many
// tiles a team solves, how many threads it has, and which scratch level holds the tiles.
#pragma once

#include <Kokkos_Core.hpp>
#include <type_traits>

#include "tsenor/options.hpp"

namespace tsenor::backends {

/// Host backends (Serial, OpenMP, Threads): one thread per team, one tile per thread, the
/// tile in the thread's scratch (it stays in L1/L2 for the whole solve).
template <class ExecSpace, class Enable = void>
struct LaunchTraits {
  static constexpr int tiles_per_team = 1;
  static constexpr int team_size = 1;
  static constexpr int scratch_level = 0;
  /// Quality first: the exact method is optimal and, on CPUs, faster than the entropic
  /// solver for every pattern measured (README, "Choosing the default method").
  static Method default_method(int /*n*/, int /*m*/) { return Method::exact; }
};

#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP)
/// GPUs: a warp-sized team of threads, each solving its own tile; tiles in team scratch
/// (level 1 when they do not fit the shared memory).
template <class ExecSpace>
struct LaunchTraits<ExecSpace, std::enable_if_t<!std::is_same<typename ExecSpace::memory_space, Kokkos::HostSpace>::value>> {
  static constexpr int tiles_per_team = 32;
  static constexpr int team_size = 32;
  static constexpr int scratch_level = 1;
  /// The exact method here too: optimal, and faster than the tsenor method on an H100 for every
  /// pattern measured (perf/results/h100-first/README.md).
  static Method default_method(int /*n*/, int /*m*/) { return Method::exact; }
};
#endif

}  // namespace tsenor::backends
