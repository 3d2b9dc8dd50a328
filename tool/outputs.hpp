// The outputs of a command, checked in two steps around opening the inputs (the rule: io/tsenor/io/files.hpp):
// first each path on its own, before any input is read; then against the inputs, once they are known.
#pragma once

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "tsenor/io/files.hpp"

namespace tsenor::tool {

/// (option, path) pairs, e.g. {"--output", args.output}; an empty path means "not asked for".
using NamedPaths = std::vector<std::pair<std::string, std::string>>;

/// Checks every output that was asked for; returns them in the order given (skipping empty paths).
inline std::vector<io::OutputTarget> check_outputs(const NamedPaths& outputs) {
  std::vector<io::OutputTarget> targets;
  for (const auto& [option, path] : outputs)
    if (!path.empty()) targets.push_back(io::check_output(option, path));
  return targets;
}

/// Refuses outputs that are inputs (or each other); then, when `clean_up` (one process of a run), removes what
/// killed runs left at the outputs' paths, saying so on stderr.
inline void protect_inputs(const std::vector<io::OutputTarget>& outputs, const NamedPaths& inputs, bool clean_up) {
  io::check_distinct(outputs, inputs);
  if (!clean_up) return;
  for (const io::OutputTarget& out : outputs)
    for (const std::string& note : io::remove_stale_temporaries(out, inputs))
      std::fprintf(stderr, "tsenor: note: %s\n", note.c_str());
}

/// The output named by `option`, or nullptr when it was not asked for.
inline const io::OutputTarget* find_output(const std::vector<io::OutputTarget>& outputs, const std::string& option) {
  for (const io::OutputTarget& out : outputs)
    if (out.option == option) return &out;
  return nullptr;
}

}  // namespace tsenor::tool
