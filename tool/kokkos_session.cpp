#include "kokkos_session.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "tsenor/compat.hpp"
#include "tsenor/error.hpp"

namespace tsenor::tool {

KokkosSession::KokkosSession(int threads, int device) {
  const int checked = compat::checked_threads(threads, "--threads ");
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
