// tsenor: transposable N:M masks from the command line. Errors are one line on stderr and a
// non-zero exit status, never a crash.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "prune.hpp"

int main(int argc, char** argv) {
  using namespace tsenor::tool;
  try {
    const Args args = parse_args(std::vector<std::string>(argv + 1, argv + argc));
    switch (args.command) {
      case Command::mask: return run_mask(args);
      case Command::verify: return run_verify(args);
      case Command::prune: return run_prune(args);
      case Command::version: return run_version();
      case Command::help: std::fputs(help_text(args.help_topic).c_str(), stdout); return argc > 1 ? 0 : 2;
    }
  } catch (const tsenor::tool::SilentFailure&) {
    return 2;  // another MPI rank reported the error; the outputs are temporary files it removed
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tsenor: error: %s\n", e.what());
    // A failed 'mask' or 'prune' run leaves no output at all: neither a stale one from an earlier run
    // (also when the command line itself was wrong) nor a mask without its report.
    for (const std::string& path : tsenor::tool::output_paths(std::vector<std::string>(argv + 1, argv + argc)))
      std::remove(path.c_str());
    return 2;
  }
  return 2;
}
