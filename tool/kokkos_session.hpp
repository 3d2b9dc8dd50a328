// Kokkos for one run of a command: initialised with a thread count that Kokkos can run, its start-up
// warnings kept off stdout (which belongs to the command's own output), finalised when the run ends.
#pragma once

#include <string>

namespace tsenor::tool {

/// The thread count to initialise Kokkos with for --threads `requested` (0 = Kokkos' default): checked against
/// what Kokkos' OpenMP backend runs, also when the request comes from OMP_NUM_THREADS or KOKKOS_NUM_THREADS.
/// Throws tsenor::Error naming the option or variable. Call it before reading inputs.
int kokkos_threads(int requested);

class KokkosSession {
 public:
  /// threads: --threads (0 = Kokkos' default), checked by kokkos_threads; device: the GPU (-1 = Kokkos'
  /// default).
  KokkosSession(int threads, int device);
  ~KokkosSession();
  KokkosSession(const KokkosSession&) = delete;
  KokkosSession& operator=(const KokkosSession&) = delete;
};

}  // namespace tsenor::tool
