// The lanes that solve one tile together: the vector lanes of one team thread (one lane on
// host backends, a slice of a warp on GPUs). Every value that feeds a decision is reduced
// with an exact operation (min, max, integer sum), so the result does not depend on the
// number of lanes or their order.
// Every function takes the Kokkos team member, named `team` throughout the library, and
// works with the vector lanes of the calling team thread.
// On CUDA the functions use warp intrinsics themselves: Kokkos' vector operations compute the
// lanes' warp mask with an integer division at every call, and broadcast every reduction
// from one lane; in the exact kernel that was ~30% of the instructions (Nsight Compute,
// H200, 8:16, perf/results/h200/README.md, session 12). Other backends use Kokkos'.
#pragma once

#include <Kokkos_Core.hpp>
#include <type_traits>

#include "tsenor/bit_cast.hpp"

namespace tsenor::lanes {

/// Host backends give a team thread one lane: scans then run as plain loops, written so
/// that the compiler can keep several accumulators.
template <class Member>
constexpr bool single_lane =
    std::is_same<typename Member::execution_space::memory_space, Kokkos::HostSpace>::value;

/// One lane of a team thread on its own (for instance inside `single`); its operations are at
/// the end of this file.
struct OneLane {};

#if defined(KOKKOS_ENABLE_CUDA)
/// Whether the team thread's lanes are a CUDA warp slice (functions below then use Warp).
template <class Member>
constexpr bool warp_lanes = std::is_same<typename Member::execution_space, Kokkos::Cuda>::value;
#else
template <class Member>
constexpr bool warp_lanes = false;
#endif

/// A CUDA team thread's lanes: threadIdx.x of blockDim.x lanes (a power of two ≤ 32), a slice
/// of one warp. Only device code calls these (host code has no CUDA team members).
struct Warp {
  static KOKKOS_FORCEINLINE_FUNCTION int lane() {
#if defined(__CUDA_ARCH__)
    return static_cast<int>(threadIdx.x);
#else
    return 0;
#endif
  }
  static KOKKOS_FORCEINLINE_FUNCTION int size() {
#if defined(__CUDA_ARCH__)
    return static_cast<int>(blockDim.x);
#else
    return 1;
#endif
  }
  /// The slice's lanes in the warp: threads are numbered x fastest, so the slice starts at
  /// (threadIdx.y · blockDim.x) mod 32.
  static KOKKOS_FORCEINLINE_FUNCTION unsigned mask() {
#if defined(__CUDA_ARCH__)
    return blockDim.x == 32 ? 0xffffffffu : ((1u << blockDim.x) - 1u) << ((threadIdx.y * blockDim.x) & 31u);
#else
    return 1u;
#endif
  }
  static KOKKOS_FORCEINLINE_FUNCTION void sync() {
#if defined(__CUDA_ARCH__)
    __syncwarp(mask());
#endif
  }
  /// The value of lane (this lane xor `offset`).
  template <class T>
  static KOKKOS_FORCEINLINE_FUNCTION T exchange(T value, int offset) {
#if defined(__CUDA_ARCH__)
    return __shfl_xor_sync(mask(), value, offset, blockDim.x);
#else
    (void)offset;
    return value;
#endif
  }
  /// The smallest of every lane's `value`, on every lane: one instruction on GPUs of compute
  /// capability 8.0 and later (__reduce_min_sync), a butterfly of shuffles before them.
  static KOKKOS_FORCEINLINE_FUNCTION unsigned min_all(unsigned value) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    return __reduce_min_sync(mask(), value);
#else
    for (int offset = size() / 2; offset > 0; offset /= 2) {
      const unsigned v = exchange(value, offset);
      value = v < value ? v : value;
    }
    return value;
#endif
  }
  /// The sum of every lane's `value`, on every lane (as min_all).
  static KOKKOS_FORCEINLINE_FUNCTION int sum_all(int value) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    return __reduce_add_sync(mask(), value);
#else
    for (int offset = size() / 2; offset > 0; offset /= 2) value += exchange(value, offset);
    return value;
#endif
  }
  /// Lane 0's value.
  template <class T>
  static KOKKOS_FORCEINLINE_FUNCTION T first_lane(T value) {
#if defined(__CUDA_ARCH__)
    return __shfl_sync(mask(), value, 0, blockDim.x);
#else
    return value;
#endif
  }
};

/// f(k) for k in [0, count), spread over the lanes (lane l takes k ≡ l modulo the lanes), without
/// bringing them in step afterwards: for steps in which each lane touches only what is its own.
template <class Member, class F>
KOKKOS_INLINE_FUNCTION void each(const Member& team, int count, const F& f) {
  if constexpr (warp_lanes<Member>) {
    for (int k = Warp::lane(); k < count; k += Warp::size()) f(k);
  } else {
    Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, count), f);
  }
}

/// Brings the lanes in step: afterwards every lane sees what the others wrote (a warp sync on
/// CUDA; host team threads have one lane, and Kokkos' vector lanes elsewhere run in step).
template <class Member>
KOKKOS_INLINE_FUNCTION void sync(const Member&) {
  if constexpr (warp_lanes<Member>) Warp::sync();
}

/// f(k) for k in [0, count), spread over the lanes as by `each`; they are in step again afterwards.
template <class Member, class F>
KOKKOS_INLINE_FUNCTION void for_each(const Member& team, int count, const F& f) {
  each(team, count, f);
  sync(team);
}

/// f() on one lane; afterwards every lane sees what it wrote.
template <class Member, class F>
KOKKOS_INLINE_FUNCTION void single(const Member& team, const F& f) {
  if constexpr (warp_lanes<Member>) {
    if (Warp::lane() == 0) f();
    Warp::sync();
  } else {
    Kokkos::single(Kokkos::PerThread(team), f);
  }
}

/// f(value) on one lane, then `value` on every lane; every lane sees what f wrote.
template <class Member, class F, class T>
KOKKOS_INLINE_FUNCTION void single(const Member& team, const F& f, T& value) {
  if constexpr (warp_lanes<Member> && (std::is_same<T, int>::value || std::is_same<T, double>::value)) {
    if (Warp::lane() == 0) f(value);
    Warp::sync();
    value = Warp::first_lane(value);
  } else {
    Kokkos::single(Kokkos::PerThread(team), f, value);
    if constexpr (warp_lanes<Member>) Warp::sync();  // (Kokkos' version only shuffles the value)
  }
}

/// A value and its index, ordered by value, then index: a total order, so the minimum does not
/// depend on the order in which lanes combine.
struct KeyIndex {
  double key;
  int index;
};

/// Kokkos reducer for the KeyIndex minimum.
struct MinKeyIndex {
  using reducer = MinKeyIndex;
  using value_type = KeyIndex;
  using result_view_type = Kokkos::View<value_type, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

  KOKKOS_INLINE_FUNCTION explicit MinKeyIndex(value_type& result) : value(&result) {}
  KOKKOS_INLINE_FUNCTION void join(value_type& dest, const value_type& src) const {
    if (src.key < dest.key || (src.key == dest.key && src.index < dest.index)) {
      dest.key = src.key;
      dest.index = src.index;
    }
  }
#if KOKKOS_VERSION < 40000
  KOKKOS_INLINE_FUNCTION void join(volatile value_type& dest, const volatile value_type& src) const {
    if (src.key < dest.key || (src.key == dest.key && src.index < dest.index)) {
      dest.key = src.key;
      dest.index = src.index;
    }
  }
#endif
  KOKKOS_INLINE_FUNCTION void init(value_type& v) const {
    v.key = 1.7976931348623157e308;
    v.index = 2147483647;
  }
  KOKKOS_INLINE_FUNCTION value_type& reference() const { return *value.data(); }
  KOKKOS_INLINE_FUNCTION result_view_type view() const { return value; }
  KOKKOS_INLINE_FUNCTION bool references_scalar() const { return true; }

 private:
  result_view_type value;
};

/// The smallest f(k) over [0, count) (+max double when count is 0), on every lane.
template <class Member, class F>
KOKKOS_INLINE_FUNCTION double min(const Member& team, int count, const F& f) {
  if constexpr (single_lane<Member>) {
    double lo[4] = {1.7976931348623157e308, 1.7976931348623157e308, 1.7976931348623157e308,
                    1.7976931348623157e308};
    int k = 0;
    for (; k + 4 <= count; k += 4)
      for (int l = 0; l < 4; ++l) lo[l] = f(k + l) < lo[l] ? f(k + l) : lo[l];
    for (; k < count; ++k) lo[0] = f(k) < lo[0] ? f(k) : lo[0];
    const double lo01 = lo[1] < lo[0] ? lo[1] : lo[0], lo23 = lo[3] < lo[2] ? lo[3] : lo[2];
    return lo23 < lo01 ? lo23 : lo01;
  }
  if constexpr (warp_lanes<Member>) {
    double lo = 1.7976931348623157e308;
    for (int k = Warp::lane(); k < count; k += Warp::size()) {
      const double v = f(k);
      lo = v < lo ? v : lo;
    }
    for (int offset = Warp::size() / 2; offset > 0; offset /= 2) {
      const double v = Warp::exchange(lo, offset);
      lo = v < lo ? v : lo;
    }
    return Warp::first_lane(lo);  // (the same on every lane but for NaN)
  }
  double result = 0.0;
  Kokkos::parallel_reduce(
      Kokkos::ThreadVectorRange(team, count),
      [&](int k, double& lo) {
        const double v = f(k);
        lo = v < lo ? v : lo;
      },
      Kokkos::Min<double>(result));
  return result;
}

/// The largest f(k) over [0, count), on every lane.
template <class Member, class F>
KOKKOS_INLINE_FUNCTION double max(const Member& team, int count, const F& f) {
  if constexpr (warp_lanes<Member>) {
    double hi = -1.7976931348623157e308;
    for (int k = Warp::lane(); k < count; k += Warp::size()) {
      const double v = f(k);
      hi = v > hi ? v : hi;
    }
    for (int offset = Warp::size() / 2; offset > 0; offset /= 2) {
      const double v = Warp::exchange(hi, offset);
      hi = v > hi ? v : hi;
    }
    return Warp::first_lane(hi);  // (the same on every lane but for NaN)
  }
  double result = 0.0;
  Kokkos::parallel_reduce(
      Kokkos::ThreadVectorRange(team, count),
      [&](int k, double& hi) {
        const double v = f(k);
        hi = v > hi ? v : hi;
      },
      Kokkos::Max<double>(result));
  return result;
}

/// The smallest k in [0, count) with pred(k), or `count` when there is none, on every lane.
template <class Member, class P>
KOKKOS_INLINE_FUNCTION int first(const Member& team, int count, const P& pred) {
  if constexpr (single_lane<Member>) {
    int k = 0;
    while (k < count && !pred(k)) ++k;
    return k;
  }
  if constexpr (warp_lanes<Member>) {
    int lo = count;
    for (int k = Warp::lane(); k < count; k += Warp::size())
      if (pred(k)) {
        lo = k;
        break;
      }
    return static_cast<int>(Warp::min_all(static_cast<unsigned>(lo)));
  }
  int result = count;
  Kokkos::parallel_reduce(
      Kokkos::ThreadVectorRange(team, count),
      [&](int k, int& lo) {
        if (pred(k) && k < lo) lo = k;
      },
      Kokkos::Min<int>(result));
  return result < count ? result : count;
}

/// What first_hit finds.
struct FirstHit {
  int index;     ///< the smallest k with f(k) == 1, or count when there is none
  bool earlier;  ///< whether some k < index has f(k) == 2
};

/// For f(k) ∈ {0, 1, 2} over [0, count): the first k with f(k) == 1 and whether a 2 comes before
/// it, in one scan (each lane stops at its first 1), on every lane.
template <class Member, class F>
KOKKOS_INLINE_FUNCTION FirstHit first_hit(const Member& team, int count, const F& f) {
  if constexpr (single_lane<Member>) return first_hit(OneLane{}, count, f);
  if constexpr (warp_lanes<Member>) {
    int hit = count, other = count;
    for (int k = Warp::lane(); k < count; k += Warp::size()) {
      const int c = f(k);
      other = c == 2 && other == count ? k : other;
      if (c == 1) {
        hit = k;
        break;
      }
    }
    const int index = static_cast<int>(Warp::min_all(static_cast<unsigned>(hit)));
    return FirstHit{index, static_cast<int>(Warp::min_all(static_cast<unsigned>(other))) < index};
  }
  const int index = first(team, count, [&](int k) { return f(k) == 1; });
  return FirstHit{index, first(team, index, [&](int k) { return f(k) == 2; }) < index};
}

/// The smallest f(v) over the nodes v of [0, 2·count) and the lowest v that has it, on every lane
/// (key = max double and index = 2·count when count is 0). A lane scans nodes k and count + k for
/// the k that for_each(team, count, …) gives it, so the nodes a lane writes in `each` steps are
/// the nodes it reads here.
template <class Member, class F>
KOKKOS_INLINE_FUNCTION KeyIndex argmin_pairs(const Member& team, int count, const F& f) {
  KeyIndex result{1.7976931348623157e308, 2 * count};
  if constexpr (single_lane<Member>) {
    result.key = min(team, 2 * count, f);
    result.index = first(team, 2 * count, [&](int v) { return f(v) == result.key; });
    return result;
  }
  if constexpr (warp_lanes<Member>) {
    for (int k = Warp::lane(); k < count; k += Warp::size()) {
      const double a = f(k), b = f(count + k);
      if (a < result.key || (a == result.key && k < result.index)) result = KeyIndex{a, k};
      if (b < result.key || (b == result.key && count + k < result.index)) result = KeyIndex{b, count + k};
    }
    // Across the lanes by three integer minima: the keys as unsigned 64-bit integers in the
    // order of the doubles (a negative double's bits inverted, a positive one's sign bit set;
    // −0 made +0 first), their high halves, then the low halves of the lanes that hold the
    // smallest high half, then the indices of the lanes that hold the smallest key.
    const unsigned long long bits = static_cast<unsigned long long>(tsenor::bit_cast<long long>(result.key + 0.0));
    const unsigned long long ordered = (bits >> 63) ? ~bits : bits | (1ull << 63);
    const unsigned high = static_cast<unsigned>(ordered >> 32), low = static_cast<unsigned>(ordered);
    const unsigned least_high = Warp::min_all(high);
    const unsigned least_low = Warp::min_all(high == least_high ? low : ~0u);
    const bool least = high == least_high && low == least_low;
    const unsigned index = Warp::min_all(least ? static_cast<unsigned>(result.index) : ~0u);
    const unsigned long long key = (static_cast<unsigned long long>(least_high) << 32) | least_low;
    return KeyIndex{tsenor::bit_cast<double>(static_cast<long long>((key >> 63) ? key & ~(1ull << 63) : ~key)),
                    static_cast<int>(index)};  // (NaN aside)
  }
  Kokkos::parallel_reduce(
      Kokkos::ThreadVectorRange(team, count),
      [&](int k, KeyIndex& lo) {
        const double a = f(k), b = f(count + k);
        if (a < lo.key || (a == lo.key && k < lo.index)) lo = KeyIndex{a, k};
        if (b < lo.key || (b == lo.key && count + k < lo.index)) lo = KeyIndex{b, count + k};
      },
      MinKeyIndex(result));
  if (result.index > 2 * count) result.index = 2 * count;  // (the reducer starts from the largest int)
  return result;
}

/// Σ f(k) over [0, count) for integer f, on every lane.
template <class Member, class F>
KOKKOS_INLINE_FUNCTION int sum(const Member& team, int count, const F& f) {
  if constexpr (warp_lanes<Member>) {
    int total = 0;
    for (int k = Warp::lane(); k < count; k += Warp::size()) total += f(k);
    return Warp::sum_all(total);
  }
  int result = 0;
  Kokkos::parallel_reduce(
      Kokkos::ThreadVectorRange(team, count), [&](int k, int& total) { total += f(k); }, Kokkos::Sum<int>(result));
  return result;
}

/// OneLane: every operation a plain loop on the calling lane.
template <class F>
KOKKOS_INLINE_FUNCTION void for_each(const OneLane&, int count, const F& f) {
  for (int k = 0; k < count; ++k) f(k);
}
template <class F>
KOKKOS_INLINE_FUNCTION void single(const OneLane&, const F& f) {
  f();
}
template <class F>
KOKKOS_INLINE_FUNCTION FirstHit first_hit(const OneLane&, int count, const F& f) {
  bool earlier = false;
  for (int k = 0; k < count; ++k) {
    const int c = f(k);
    if (c == 1) return FirstHit{k, earlier};
    earlier = earlier || c == 2;
  }
  return FirstHit{count, earlier};
}

}  // namespace tsenor::lanes
