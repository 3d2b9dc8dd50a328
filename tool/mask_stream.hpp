// tsenor prune, masks from magnitude or Wanda scores: one pipeline over every chunk of this rank's tensors, in
// which reading, the backend's work and writing overlap (README, "Whole checkpoints", the pipeline).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "args.hpp"
#include "prune_plan.hpp"
#include "prune_report.hpp"
#include "tsenor/io/files.hpp"
#include "tsenor/io/safetensors.hpp"

namespace tsenor::tool {

/// The masks (and --apply's pruned weights) of `tensors`, all pruned by scores, written at their offsets in
/// `masks` and `apply` (either may be nullptr); one result per tensor, in their order, with the timeline of
/// its chunks measured from `start`. `written(k, fraction)` is called as tensor k's chunks are written.
/// The bytes written do not depend on the backend, the chunk size or the number of chunks in flight.
std::vector<PrunedTensor> stream_masks(const std::vector<const PlannedTensor*>& tensors, const Args& args,
                                       const std::string& backend, const io::SafetensorsFile* stats_file,
                                       io::OutputFile* masks, io::OutputFile* apply, Clock::time_point start,
                                       const std::function<void(std::size_t, double)>& written);

}  // namespace tsenor::tool
