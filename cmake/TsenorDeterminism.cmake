# The compile flags that bit-identical masks on every backend need (docs/design.md §4): IEEE
# arithmetic in source order, so no FMA contraction and no fast-math; nvcc contracts unless told
# --fmad=false. tsenor is header-only, so they reach every translation unit that links
# tsenor::tsenor. Included by the build and by the installed package config, so the spelling
# follows the compiler of whoever compiles the headers.
function(tsenor_determinism_flags out)
  if(Kokkos_ENABLE_CUDA AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    set(flags --fmad=false -ffp-contract=off)
  else()
    set(flags -ffp-contract=off -fno-fast-math)
  endif()
  set(${out} "$<$<COMPILE_LANGUAGE:CXX>:${flags}>" PARENT_SCOPE)
endfunction()
