// Kokkos for one run of a command: initialised with a thread count that Kokkos can run, its start-up
// warnings kept off stdout (which belongs to the command's own output), finalised when the run ends.
#pragma once

#include <string>

namespace tsenor::tool {

class KokkosSession {
 public:
  /// threads: --threads (0 = Kokkos' default), checked by compat::checked_threads; device: the GPU (-1 = Kokkos'
  /// default).
  KokkosSession(int threads, int device);
  ~KokkosSession();
  KokkosSession(const KokkosSession&) = delete;
  KokkosSession& operator=(const KokkosSession&) = delete;
};

}  // namespace tsenor::tool
