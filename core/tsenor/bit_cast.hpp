// tsenor::bit_cast, std::bit_cast (C++20) for C++17 host code and GPU kernels, and the one
// definition of TSENOR_HOST_DEVICE. It includes nothing from Kokkos, so that tsenor::io can use it too.
#pragma once

#include <cstring>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define TSENOR_HOST_DEVICE __host__ __device__
#else
#define TSENOR_HOST_DEVICE
#endif

namespace tsenor {

/// The same bits as another type of the same size: hipcc's clang has no std::memcpy in device code,
/// and its builtin is the same operation.
template <class To, class From>
inline TSENOR_HOST_DEVICE To bit_cast(const From& from) {
  static_assert(sizeof(To) == sizeof(From), "bit_cast: the types differ in size");
  To to;
#if defined(__HIPCC__)
  __builtin_memcpy(&to, &from, sizeof to);
#else
  std::memcpy(&to, &from, sizeof to);
#endif
  return to;
}

}  // namespace tsenor
