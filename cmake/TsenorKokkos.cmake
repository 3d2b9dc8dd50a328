# Finds Kokkos (3.4.01 up to current 4.x) and, when present, Kokkos Kernels. Compile flags
# come from Kokkos::kokkos; only the determinism flags are ours
# (cmake/TsenorDeterminism.cmake).
find_package(Kokkos REQUIRED)
if(Kokkos_VERSION VERSION_LESS 3.4.1)
  message(FATAL_ERROR "tsenor needs Kokkos >= 3.4.01, found ${Kokkos_VERSION} in ${Kokkos_DIR}")
endif()
# Kokkos Kernels is looked for beside Kokkos too (the bootstrap installs both in one prefix), so that
# Kokkos_ROOT alone finds both (pip install ./python).
get_filename_component(tsenor_kokkos_prefix "${Kokkos_DIR}/../../.." ABSOLUTE)
find_package(KokkosKernels QUIET HINTS "${tsenor_kokkos_prefix}")

# The backends tsenor runs on, by the names of backends/tsenor/backends/enabled.hpp (the C++ side of the same
# list): the tests make one ctest entry per backend configuration from it.
set(TSENOR_BACKENDS "")
foreach(backend SERIAL OPENMP THREADS CUDA HIP)
  if(Kokkos_ENABLE_${backend})
    string(TOLOWER ${backend} name)
    list(APPEND TSENOR_BACKENDS ${name})
  endif()
endforeach()
message(STATUS "tsenor: Kokkos ${Kokkos_VERSION} (${Kokkos_DIR}), backends: ${TSENOR_BACKENDS}")
if(KokkosKernels_FOUND)
  message(STATUS "tsenor: Kokkos Kernels ${KokkosKernels_VERSION} found")
endif()
