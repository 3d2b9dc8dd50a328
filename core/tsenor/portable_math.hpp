// Portable arithmetic: the same bits on every backend (docs/design.md §4). exp and log from
// +, −, ×, ÷ and the exponent bits only (library exp and log differ between glibc, CUDA and
// ROCm), and sums in one fixed order.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>

#include "tsenor/compat.hpp"

namespace tsenor::detail {

namespace compat = ::tsenor::compat;

/// e^x in double, within 2 ulp of the correctly rounded value (tested), identical on every
/// IEEE backend when compiled without FMA contraction. Returns 0 below −708 (no subnormals:
/// they are flushed differently across devices) and saturates at e^693 above 693.
KOKKOS_INLINE_FUNCTION double portable_exp(double x) {
  if (!(x > -708.0)) return 0.0;
  if (x > 693.0) x = 693.0;
  constexpr double inv_ln2 = 1.4426950408889634;
  constexpr double ln2_hi = 6.93147180369123816490e-01;  // 32 significant bits: k·ln2_hi is exact
  constexpr double ln2_lo = 1.90821492927058770002e-10;
  const double k = compat::floor(x * inv_ln2 + 0.5);
  const double r = (x - k * ln2_hi) - k * ln2_lo;  // |r| ≤ ln2/2
  // Taylor series to r^13/13!: truncation error < 2e-17 relative for |r| ≤ 0.347.
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // Scale by 2^k through the exponent bits; k ∈ [−1022, 1000] keeps the result normal.
  const std::int64_t e = static_cast<std::int64_t>(k) + 1023;
  const std::uint64_t bits = static_cast<std::uint64_t>(e) << 52;
  double scale;
  static_assert(sizeof(scale) == sizeof(bits), "IEEE double expected");
  __builtin_memcpy(&scale, &bits, sizeof(bits));
  return p * scale;
}

/// Natural logarithm in double for finite x > 0 (returns −1e300 for x ≤ 0), from +, −, ×, ÷
/// and the exponent bits: x = m·2^e with m ∈ [√½, √2), log m = 2·atanh((m−1)/(m+1)).
KOKKOS_INLINE_FUNCTION double portable_log(double x) {
  if (!(x > 0.0)) return -1e300;
  std::int64_t shift = 0;  // subnormals are scaled by 2^52 first (no recursion: device code)
  if (x < 2.2250738585072014e-308) {
    x *= 4503599627370496.0;
    shift = 52;
  }
  std::uint64_t bits;
  __builtin_memcpy(&bits, &x, sizeof(bits));
  std::int64_t e = static_cast<std::int64_t>((bits >> 52) & 0x7ff) - 1023 - shift;
  bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;  // mantissa in [1, 2)
  double m;
  __builtin_memcpy(&m, &bits, sizeof(bits));
  if (m > 1.4142135623730951) {
    m *= 0.5;
    ++e;
  }
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;  // |s| ≤ 0.1716
  // 2·(s + s³/3 + … + s^25/25): truncation error < 1e-21 relative.
  double p = 1.0 / 25.0;
  for (int k = 23; k >= 1; k -= 2) p = p * s2 + 1.0 / k;
  constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  const double de = static_cast<double>(e);
  return de * ln2_hi + (de * ln2_lo + 2.0 * s * p);
}

/// Sum of x[0], x[stride], …, x[(count−1)·stride] as a pairwise tree over adjacent pairs,
/// zero-padded to a power of two: ((x0+x1)+(x2+x3))+((x4+x5)+(x6+x7)). This is the order a
/// GPU xor-butterfly (offsets 1, 2, 4, …) produces on every lane, so any backend can match
/// it. `load(k)` returns the k-th term; count ≤ 128.
template <class Real, class Load>
KOKKOS_INLINE_FUNCTION Real pairwise_sum(int count, const Load& load) {
  Real level[64];
  int width = 1;
  while (width < count) width *= 2;
  if (width == 1) return count == 1 ? load(0) : Real(0);
  const int half = width / 2;
  for (int k = 0; k < half; ++k) {
    const Real a = 2 * k < count ? load(2 * k) : Real(0);
    const Real b = 2 * k + 1 < count ? load(2 * k + 1) : Real(0);
    level[k] = a + b;
  }
  for (int w = half; w > 1; w /= 2)
    for (int k = 0; k < w / 2; ++k) level[k] = level[2 * k] + level[2 * k + 1];
  return level[0];
}

}  // namespace tsenor::detail
