// IEEE 754 binary16 and bfloat16 to float, exactly (every such value is a float), on the host and in
// GPU kernels: the one decoder of 16-bit scores and weights (.npy, safetensors, the Python package).
// It includes nothing from Kokkos, so that tsenor::io can use it too.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define TSENOR_HOST_DEVICE __host__ __device__
#else
#define TSENOR_HOST_DEVICE
#endif

namespace tsenor {

/// Subnormals are normalised, infinities stay infinite, and NaN payloads are kept (shifted into the
/// float's mantissa, as numpy does).
inline TSENOR_HOST_DEVICE float float16_to_float(std::uint16_t half) {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  std::uint32_t exponent = (half >> 10) & 0x1fu, mantissa = half & 0x3ffu, bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf, NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // ±0
  } else {        // subnormal, mantissa · 2^-24: shift the leading 1 into the implicit bit
    exponent = 127 - 14;
    while (!(mantissa & 0x400u)) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

/// bfloat16 is the upper half of a float.
inline TSENOR_HOST_DEVICE float bfloat16_to_float(std::uint16_t half) {
  const std::uint32_t bits = static_cast<std::uint32_t>(half) << 16;
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

}  // namespace tsenor
