// Ctrl-C, kill, a batch system's warning signal or a CPU-time limit in the middle of a run: the process removes its
// temporary files and exits at once with the conventional status 128 + signal, leaving every output path as it was
// (outputs replace their paths only by the final rename). A solve cannot be stopped between two of its kernels, so the
// handler does not wait for one.
#pragma once

namespace tsenor::tool {

/// Installs the handlers for the signals that end a process by default and can be caught (SIGINT, SIGTERM,
/// SIGHUP, SIGPIPE, SIGUSR1/2, SIGALRM, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF); ignored ones stay ignored.
void catch_interrupts();

}  // namespace tsenor::tool
