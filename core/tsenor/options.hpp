// Options, per-tile status and the run summary of a transposable N:M mask computation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tsenor/error.hpp"

namespace tsenor {

/// How each M×M tile is solved.
enum class Method : int {
  /// Pick the method measured best for the execution space and pattern (quality first).
  /// See backends/tsenor/backends/traits.hpp and the README's measurements.
  automatic = 0,
  /// Entropy-regularised optimal transport (Dykstra), greedy rounding, local search and
  /// augmenting-path repair: the TSENOR algorithm (docs/design.md §2).
  entropic = 1,
  /// Greedy rounding of the raw scores plus repair: a fast baseline.
  greedy = 2,
  /// Optimal per tile: successive shortest paths on the tile's transportation problem.
  exact = 3,
};

/// The method's name as parse_method reads it and reports print it.
inline const char* method_name(Method method) {
  switch (method) {
    case Method::entropic: return "entropic";
    case Method::greedy: return "greedy";
    case Method::exact: return "exact";
    default: return "auto";
  }
}

/// Parses "auto", "entropic", "greedy" or "exact", and "tsenor": the entropic method's former
/// name, still accepted so that existing command lines and scripts keep working. Throws
/// tsenor::Error for anything else.
inline Method parse_method(const std::string& name) {
  if (name == "tsenor") return Method::entropic;
  for (Method m : {Method::automatic, Method::entropic, Method::greedy, Method::exact})
    if (name == method_name(m)) return m;
  TSENOR_REQUIRE(false, "parse_method: unknown method '" + name +
                            "' (expected auto, entropic, greedy or exact; tsenor means entropic)");
}

/// Options of compute_mask. N counts the entries KEPT in every row and every column of
/// each M×M tile (2:4 keeps half); some other tools use N for the pruned count.
struct Options {
  int n = 2;  ///< kept entries per row and per column of a tile, 0 < n < m
  int m = 4;  ///< tile size, 2 ≤ m ≤ 128

  Method method = Method::automatic;

  /// Entropic sharpness for method entropic. Scores are normalised per tile by the tile
  /// maximum, so τ is the inverse temperature on a [0, 1] scale. The solver is stable at
  /// every τ > 0 (stabilised kernel, clamped scalings); larger τ needs more iterations.
  double tau = 0.0;  ///< 0 selects the measured default (default_tau)
  int max_iterations = 0;  ///< Dykstra iteration cap; 0 selects the measured default
  /// Stop when every row and column sum of the fractional solution is within
  /// tolerance·N of N (checked on every iteration, at no extra cost).
  double tolerance = 1e-4;
  /// Improvement passes after rounding (entropic and greedy): 2-swaps between rows that raise
  /// the objective, each pass visiting every pair of rows once. 0 disables them.
  int local_search_steps = 8;

  /// Scores whose row or column count is not a multiple of m are an error unless this is
  /// set: then the border tiles are completed with zero scores, solved as full tiles and
  /// the mask is cropped. A cropped border tile keeps at most N per row and column (the
  /// kept entries that fell into the padding are dropped), so it is not N-regular.
  bool zero_pad = false;

  /// Bound, in bytes, on the execution-space memory that the host-pointer overload of
  /// compute_mask allocates when the execution space cannot read host memory (GPUs): the
  /// matrix then goes through in chunks of whole tile rows, with the same masks and tile
  /// results (and the same totals when every tile's status fits in half the bound; else they are
  /// summed chunk by chunk). 0 selects default_device_memory().
  std::size_t device_memory = 0;
};

/// Chosen τ and iteration cap when the options leave them at 0 (see README, "Defaults").
inline double default_tau(int n, int m) {
  (void)n;
  (void)m;
  return 1000.0;
}
inline int default_max_iterations(int n, int m) {
  (void)n;
  (void)m;
  return 300;
}
/// Device memory bound when Options::device_memory is 0: 1 GiB, which any GPU has to spare.
inline std::size_t default_device_memory() { return std::size_t(1) << 30; }

/// Per-tile outcome flags (bitwise or).
enum TileFlag : std::uint32_t {
  tile_converged = 1u << 0,  ///< entropic: the Dykstra iteration met the tolerance
  tile_repaired = 1u << 1,   ///< rounding left a deficit that augmenting paths filled
  tile_padded = 1u << 2,     ///< a border tile completed with zeros (zero_pad)
  tile_invalid = 1u << 3,    ///< the mask is not N-regular: never set unless there is a bug
};

/// What happened in one tile. Plain data, readable on the host after a deep copy.
struct TileStatus {
  std::uint32_t flags = 0;
  std::int32_t iterations = 0;    ///< Dykstra iterations (entropic), shortest-path phases (exact)
  double objective = 0.0;         ///< Σ A·S over the tile's (uncropped) entries
  double score_sum = 0.0;         ///< Σ A over the tile: objective of keeping everything
};

/// Totals over all tiles of one call.
struct Summary {
  Method method = Method::automatic;  ///< the method actually used
  int n = 0, m = 0;
  double tau = 0.0;                    ///< τ used (entropic)
  int max_iterations = 0;              ///< iteration cap used (entropic)
  std::int64_t matrices = 1;           ///< batch size (rank-3 scores); 1 for one matrix
  std::int64_t rows = 0, cols = 0;     ///< shape of each matrix
  std::int64_t tiles = 0;              ///< over the whole batch
  /// Tiles whose mask is exactly N-regular. A cropped border tile (zero_pad) is not counted: it keeps at most
  /// N per row and column, and is counted in padded_tiles.
  std::int64_t feasible_tiles = 0;
  std::int64_t invalid_tiles = 0;      ///< tiles that break the pattern: always 0 unless there is a bug
  std::int64_t converged_tiles = 0;
  std::int64_t repaired_tiles = 0;
  std::int64_t padded_tiles = 0;
  std::int64_t iterations = 0;         ///< summed over tiles
  std::int32_t max_tile_iterations = 0;
  double objective = 0.0;              ///< Σ over tiles of the tile objective
  double total_score = 0.0;            ///< Σ of all scores (kept + pruned)
  double seconds = 0.0;                ///< wall time of the call
  /// Execution-space memory the call allocated at its peak (scores and mask chunks when the
  /// data came from the host to a GPU, tile statuses, totals); Kokkos' own scratch pools for
  /// level-1 team memory are not counted.
  std::size_t device_bytes = 0;
};

}  // namespace tsenor
