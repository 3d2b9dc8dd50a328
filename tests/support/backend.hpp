// The backend a test binary run exercises, chosen on its command line, so that each test is
// written once and ctest runs it once per enabled backend.
#pragma once

#include <Kokkos_Core.hpp>
#include <tsenor/compat.hpp>
#include <stdexcept>
#include <string>

namespace tsenor_test {

extern std::string selected_backend;  ///< "serial", "openmp", "cuda" or "hip"
extern std::string dump_path;         ///< where the identity test writes its outputs ("" = skip)

/// Calls f(execution space instance) for the selected backend.
template <class F>
void with_backend(F&& f) {
#ifdef KOKKOS_ENABLE_SERIAL
  if (selected_backend == "serial") return f(Kokkos::Serial());
#endif
#ifdef KOKKOS_ENABLE_OPENMP
  if (selected_backend == "openmp") return f(Kokkos::OpenMP());
#endif
#ifdef KOKKOS_ENABLE_CUDA
  if (selected_backend == "cuda") return f(Kokkos::Cuda());
#endif
#ifdef KOKKOS_ENABLE_HIP
  if (selected_backend == "hip") return f(tsenor::compat::HIP());
#endif
  throw std::runtime_error("backend '" + selected_backend + "' is not enabled in this Kokkos");
}

}  // namespace tsenor_test
