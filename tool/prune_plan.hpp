// tsenor prune, the plan: which tensors are pruned (and why the others are not), their activation statistics,
// the MPI rank that handles each, and where each goes in the output files. It depends on the headers alone
// (names, dtypes, shapes) and the number of ranks, so every rank computes the same plan without communicating,
// and the output bytes do not depend on the number of ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "args.hpp"
#include "tsenor/io/safetensors.hpp"

namespace tsenor::tool {

/// A tensor of the checkpoint and what the run does with it.
struct PlannedTensor {
  io::CheckpointTensor tensor;
  bool selected = false;
  std::string reason;                     ///< why it is not selected
  const io::TensorInfo* stats = nullptr;  ///< its activation statistics (Wanda) or calibration (SparseGPT, ALPS)
  bool gram = false;                      ///< calibration: `stats` is the Gram matrix, not activations
  int rank = 0;                           ///< the MPI rank that processes (or, for --apply, copies) it
  std::uint64_t mask_offset = 0, apply_offset = 0;  ///< where its data starts in --output and --apply
};

struct PrunePlan {
  std::vector<PlannedTensor> tensors;  ///< every tensor of the checkpoint, by name
  io::SafetensorsLayout masks, apply;  ///< the layouts of --output and --apply
};

/// The shape of a weight's mask in --output: the weight's, or (rows, columns / 8) with --mask-format bits.
inline std::vector<std::uint64_t> mask_shape(const std::vector<std::uint64_t>& shape, const Args& args) {
  return args.mask_bits ? std::vector<std::uint64_t>{shape[0], shape[1] / 8} : shape;
}

/// Selects the tensors (--include or the default rule, then --exclude; matrices of a prunable dtype whose sides
/// are multiples of M), attaches their statistics from `stats` (nullptr: magnitude scores; with --method
/// sparsegpt or alps, the --calibration file), assigns them to
/// `ranks` ranks and lays out the outputs. Throws Error when statistics are missing or unusable, or when no
/// tensor is selected.
PrunePlan plan_prune(const io::Checkpoint& checkpoint, const io::SafetensorsFile* stats, const Args& args, int ranks);

/// --dry-run: the plan on stdout, nothing written.
void print_dry_run(const PrunePlan& plan, const io::Checkpoint& checkpoint, const Args& args);

}  // namespace tsenor::tool
