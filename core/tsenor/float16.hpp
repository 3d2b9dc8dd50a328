// IEEE 754 binary16 and bfloat16 to float, exactly (every such value is a float), on the host and in
// GPU kernels: the one decoder of 16-bit scores and weights (.npy, safetensors, the Python package);
// and back, rounding to nearest even (the reconstructed weights of SparseGPT and ALPS).
// It includes nothing from Kokkos, so that tsenor::io can use it too.
#pragma once

#include <cstdint>

#include "tsenor/bit_cast.hpp"

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
  return bit_cast<float>(bits);
}

/// bfloat16 is the upper half of a float.
inline TSENOR_HOST_DEVICE float bfloat16_to_float(std::uint16_t half) {
  const std::uint32_t bits = static_cast<std::uint32_t>(half) << 16;
  return bit_cast<float>(bits);
}

/// Rounds to the nearest binary16, ties to even, as numpy and torch do: overflow gives ±inf,
/// small values round into the subnormals or to ±0, NaN stays NaN (quiet, payload's top bits kept).
inline TSENOR_HOST_DEVICE std::uint16_t float_to_float16(float value) {
  const std::uint32_t bits = bit_cast<std::uint32_t>(value);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u)  // inf, NaN
    return static_cast<std::uint16_t>(sign | 0x7c00u |
                                      (magnitude > 0x7f800000u ? 0x200u | ((magnitude >> 13) & 0x3ffu) : 0u));
  if (magnitude >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to 65536 or more
  std::uint32_t exponent = magnitude >> 23;
  if (exponent < 113) {  // below 2^-14: a subnormal (or 0), mantissa · 2^-24, rounded
    if (exponent < 102) return sign;  // below 2^-25: rounds to 0
    const std::uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    const int shift = static_cast<int>(126 - exponent);  // 14..24 bits dropped
    std::uint32_t half = mantissa >> shift;
    const std::uint32_t rest = mantissa & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  std::uint32_t half = ((exponent - 112) << 10) | ((magnitude >> 13) & 0x3ffu);
  const std::uint32_t rest = magnitude & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // a carry rounds up into the exponent
  return static_cast<std::uint16_t>(sign | half);
}

/// Rounds to the nearest bfloat16, ties to even; NaN stays NaN (quiet).
inline TSENOR_HOST_DEVICE std::uint16_t float_to_bfloat16(float value) {
  std::uint32_t bits = bit_cast<std::uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(bits >> 16);
}

}  // namespace tsenor
