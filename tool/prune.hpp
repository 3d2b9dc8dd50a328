// tsenor prune: masks for the linear layers of a safetensors checkpoint (see 'tsenor prune --help').
#pragma once

#include <exception>

#include "args.hpp"

namespace tsenor::tool {

/// Thrown on the MPI ranks that did not fail themselves when another rank did: that rank prints the
/// error, these exit with status 2 and print nothing.
struct SilentFailure : std::exception {
  const char* what() const noexcept override { return "another rank failed"; }
};

int run_prune(const Args& args);

}  // namespace tsenor::tool
