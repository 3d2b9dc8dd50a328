// IEEE 754 binary16 to float (private to tsenor's io; not part of the API): the one decoder of .npy float16
// scores and safetensors F16 weights.
#pragma once

#include <cstdint>
#include <cstring>

namespace tsenor::io::detail {

/// Exact: every float16 value is a float. Subnormals are normalised, infinities stay infinite, and NaN payloads
/// are kept (shifted into the float's mantissa, as numpy does).
inline float float16_to_float(std::uint16_t half) {
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

}  // namespace tsenor::io::detail
