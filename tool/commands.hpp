// The tool's commands. Each returns the process exit status; usage and input errors are
// thrown (tsenor::Error, tsenor::io::NpyError) and turned into one line by main().
#pragma once

#include "args.hpp"

namespace tsenor::tool {

int run_mask(const Args& args);
int run_verify(const Args& args);
int run_version();

}  // namespace tsenor::tool
