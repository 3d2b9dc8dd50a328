// tsenor prune, the report: one JSON entry per pruned tensor, merged over the ranks into the --report file
// (nlohmann::ordered_json, as every JSON the tool writes) and the summary lines on stdout.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "args.hpp"
#include "prune_plan.hpp"
#include "tsenor/io/files.hpp"
#include "tsenor/tsenor.hpp"

namespace tsenor::tool {

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Where the time of a tensor (or of the copies) went, and how much it read.
struct StepTimes {
  double read = 0, solve = 0, write = 0;
  std::uint64_t bytes_read = 0;
};

/// SparseGPT/ALPS: what the reconstruction of a tensor gave (tsenor::layers::LayerReport's figures).
struct Reconstruction {
  double error = 0, masked_error = 0;  ///< relative output errors with and without the weight update
  std::int64_t strips = 0, iterations = 0;
  std::vector<double> rho;
  std::uint64_t samples = 0;  ///< calibration rows accumulated into H (0: a Gram matrix was given)
  std::string linear_algebra;  ///< what ran the GEMMs and factorisations
};

/// When a chunk of a tensor went through the pipeline's stages, in seconds since the run started ([start, end]):
/// read (its raw weights into host memory), solve (its work on the backend, from the first copy queued to the
/// moment the host saw it done: upload, scores, tiles, --apply's zeroing, download) and write.
struct ChunkSpan {
  std::uint64_t first_row = 0, rows = 0;
  double read[2] = {0, 0}, solve[2] = {0, 0}, write[2] = {0, 0};
};

/// What pruning one tensor gave.
struct PrunedTensor {
  Summary summary;              ///< totals over its chunks
  StepTimes times;
  std::size_t chunks = 0;
  std::uint64_t chunk_rows = 0;
  double seconds = 0;           ///< the whole tensor, statistics included
  std::vector<ChunkSpan> timeline;  ///< masks from scores: its chunks, in order
  std::optional<Reconstruction> reconstruction;
};

/// The report entry of a tensor pruned on `rank`.
nlohmann::ordered_json tensor_entry(const PlannedTensor& planned, const PrunedTensor& result, const Args& args,
                                    int rank);

/// This rank's part of the report, as text for Comm::gather: its entries, its peak memory, its copy times.
std::string rank_part(const nlohmann::ordered_json& entries, const StepTimes& copies);

/// How the run went, beyond the tensors.
struct RunFacts {
  std::string backend;
  int threads_per_rank = 1;
  int ranks = 1;
  Clock::time_point start;
  double commit_seconds = 0;  ///< fsync and rename of the outputs, on rank 0
};

/// On rank 0, after the outputs are committed: merges the ranks' parts, writes the report to `report` (nullptr:
/// none asked for) and prints the summary unless --quiet. Returns the exit status: 3 when a tile is not
/// N-regular, else 0.
int finish_report(const std::vector<std::string>& parts, const PrunePlan& plan, const io::Checkpoint& checkpoint,
                  const Args& args, const RunFacts& facts, const io::OutputTarget* report);

}  // namespace tsenor::tool
