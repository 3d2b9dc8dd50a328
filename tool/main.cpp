// tsenor: transposable N:M masks from the command line. Errors are one line on stderr and a
// non-zero exit status, never a crash.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "prune.hpp"
#include "reconstruct.hpp"
#include "tsenor/error.hpp"

int main(int argc, char** argv) {
  using namespace tsenor::tool;
  try {
    const Args args = parse_args(std::vector<std::string>(argv + 1, argv + argc));
    if (args.command == Command::prune && !args.layer_method.empty()) fit_blas_kernels(argv);
    switch (args.command) {
      case Command::mask: return run_mask(args);
      case Command::verify: return run_verify(args);
      case Command::prune: return run_prune(args);
      case Command::version: return run_version();
      case Command::help: std::fputs(help_text(args.help_topic).c_str(), stdout); return argc > 1 ? 0 : 2;
    }
  } catch (const SilentFailure&) {
    return 2;  // another MPI rank reported the error
  } catch (const tsenor::Error& e) {
    std::fprintf(stderr, "tsenor: error: %s\n", e.message().c_str());  // the library's source location is ours
    return 2;
  } catch (const std::exception& e) {
    // Nothing at an output path has changed: outputs are written to temporary files, which are gone by now, and
    // renamed onto their paths only when the whole run has succeeded.
    std::fprintf(stderr, "tsenor: error: %s\n", e.what());
    return 2;
  }
  return 2;
}
