# Finds Kokkos (3.4.01 up to current 4.x) and, when present, Kokkos Kernels. Compile flags
# come from Kokkos::kokkos; only the determinism flags are ours (design.md §4).
find_package(Kokkos REQUIRED)
if(Kokkos_VERSION VERSION_LESS 3.4.1)
  message(FATAL_ERROR "tsenor needs Kokkos >= 3.4.01, found ${Kokkos_VERSION} in ${Kokkos_DIR}")
endif()
find_package(KokkosKernels QUIET)

set(TSENOR_BACKENDS "")
foreach(backend SERIAL OPENMP THREADS CUDA HIP SYCL)
  if(Kokkos_ENABLE_${backend})
    list(APPEND TSENOR_BACKENDS ${backend})
  endif()
endforeach()
message(STATUS "tsenor: Kokkos ${Kokkos_VERSION} (${Kokkos_DIR}), backends: ${TSENOR_BACKENDS}")
if(KokkosKernels_FOUND)
  message(STATUS "tsenor: Kokkos Kernels ${KokkosKernels_VERSION} found")
endif()

# Bit-identical results on every backend need IEEE arithmetic in source order: no FMA
# contraction, no fast-math. nvcc contracts unless told --fmad=false.
function(tsenor_add_determinism_flags target)
  if(Kokkos_ENABLE_CUDA AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    target_compile_options(${target} INTERFACE "$<$<COMPILE_LANGUAGE:CXX>:--fmad=false;-ffp-contract=off>")
  else()
    target_compile_options(${target} INTERFACE "$<$<COMPILE_LANGUAGE:CXX>:-ffp-contract=off;-fno-fast-math>")
  endif()
endfunction()
