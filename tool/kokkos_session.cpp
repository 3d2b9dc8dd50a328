#include "kokkos_session.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "tsenor/compat.hpp"
#include "tsenor/error.hpp"

#ifdef KOKKOS_ENABLE_OPENMP
#include <omp.h>
#endif

namespace tsenor::tool {

// `requested` if Kokkos can run it; else Kokkos' own default, capped at what it supports unless the user asked for
// more through the environment (then that is an error naming the variable).
int kokkos_threads(int requested) {
  const int most = compat::max_openmp_threads;
  if (requested > most)
    throw Error("--threads " + std::to_string(requested) + ": Kokkos' OpenMP backend runs at most " +
                std::to_string(most) + " threads");
  if (requested > 0) return requested;
  for (const char* variable : {"KOKKOS_NUM_THREADS", "OMP_NUM_THREADS"}) {
    const char* value = std::getenv(variable);
    if (!value || !*value) continue;
    char* end = nullptr;
    const long n = std::strtol(value, &end, 10);  // OMP_NUM_THREADS may be a list: its first entry counts
    if (n > most)
      throw Error(std::string(variable) + "=" + value + ": Kokkos' OpenMP backend runs at most " +
                  std::to_string(most) + " threads (set it lower, or pass --threads)");
  }
#ifdef KOKKOS_ENABLE_OPENMP
  if (omp_get_max_threads() > most) return most;  // a machine with more hardware threads than Kokkos supports
#endif
  return 0;
}

KokkosSession::KokkosSession(int threads, int device) {
  const int checked = kokkos_threads(threads);
  // Unbound OpenMP threads unless the user chose otherwise: robust on shared machines, and it silences Kokkos'
  // warning about an unset OMP_PROC_BIND.
  ::setenv("OMP_PROC_BIND", "false", 0);
  // Kokkos prints its warnings (e.g. oversubscribed cores) on stdout: send them to stderr for the duration.
  std::cout.flush();
  std::fflush(stdout);
  const int saved = ::dup(STDOUT_FILENO);
  if (saved >= 0) ::dup2(STDERR_FILENO, STDOUT_FILENO);
  const auto restore_stdout = [saved] {
    std::cout.flush();
    std::fflush(stdout);
    if (saved >= 0) {
      ::dup2(saved, STDOUT_FILENO);
      ::close(saved);
    }
  };
  try {
    compat::initialize(checked, device);
  } catch (...) {
    restore_stdout();
    throw;
  }
  restore_stdout();
}

KokkosSession::~KokkosSession() { Kokkos::finalize(); }

}  // namespace tsenor::tool
