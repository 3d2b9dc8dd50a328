// Command-line parsing of the tsenor tool: one struct per run, filled from argv, with every
// usage error reported as tsenor::Error naming the option and the bad value.
#pragma once

#include <string>
#include <vector>

#include "tsenor/options.hpp"

namespace tsenor::tool {

enum class Command { help, version, mask, verify, prune };

struct Args {
  Command command = Command::help;
  std::string help_topic;          ///< command whose help was asked for ("" = overview)
  std::string input;               ///< mask: score or weight .npy ("" = built-in example)
  std::string output;              ///< mask: output .npy ("" = none)
  std::string report;              ///< mask: JSON report path ("" = none)
  std::string mask;                ///< verify: mask .npy
  bool input_is_score = false;     ///< mask: use the input as scores, not |W|
  bool quiet = false;
  std::string backend = "auto";    ///< auto or a name from tsenor::backends::enabled_backends()
  int threads = 0;                 ///< 0 = Kokkos' default
  Options options;
  bool nm_given = false;
  // prune
  std::string apply;                  ///< prune: pruned-weights .safetensors ("" = none)
  std::string activations;            ///< prune: activation statistics .safetensors ("" = magnitude scores)
  std::vector<std::string> include;   ///< prune: name patterns that replace the default selection
  std::vector<std::string> exclude;   ///< prune: name patterns removed from the selection
  bool dry_run = false;               ///< prune: list the selection, write nothing
  long max_chunk_mb = 64;             ///< prune: scores held in memory at once, MiB of float32
  std::string layer_method;           ///< prune: "" (masks from scores), "sparsegpt" or "alps"
  std::string calibration;            ///< prune: Gram matrices or activations .safetensors (SparseGPT, ALPS)
  bool rows_pattern = false;          ///< prune --pattern rows: the standard N:M (SparseGPT, ALPS)
  double damp = 0.01;                 ///< prune: SparseGPT/ALPS damping, a fraction of mean(diag H)
  bool mask_bits = false;             ///< prune --mask-format bits: masks packed 8 to a byte
};

/// What decides the masks of 'tsenor prune': "magnitude" (|W|), "wanda" (--activations), "sparsegpt" or "alps".
std::string pruning_method(const Args& args);

/// Parses "N:M" (N kept per M); throws tsenor::Error on anything else.
void parse_nm(const std::string& text, Options& options);

/// Parses argv (without argv[0]); throws tsenor::Error for unknown options or bad values.
Args parse_args(const std::vector<std::string>& argv);

/// The --help text of a command ("" for the overview).
std::string help_text(const std::string& topic);

}  // namespace tsenor::tool
