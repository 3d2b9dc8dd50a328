// The lanes that solve one tile together: the vector lanes of one team thread (one lane on
// host backends, a slice of a warp on GPUs). Every value that feeds a decision is reduced
// with an exact operation (min, max, integer sum), so the result does not depend on the
// number of lanes or their order.
// Every function takes the Kokkos team member, named `team` throughout the library, and
// works with the vector lanes of the calling team thread.
#pragma once

#include <Kokkos_Core.hpp>
#include <type_traits>

namespace tsenor::lanes {

/// Host backends give a team thread one lane: scans then run as plain loops, written so
/// that the compiler can keep several accumulators.
template <class Member>
constexpr bool single_lane =
    std::is_same<typename Member::execution_space::memory_space, Kokkos::HostSpace>::value;

/// f(k) for k in [0, count), spread over the lanes; they are in step again afterwards.
template <class Member, class F>
KOKKOS_INLINE_FUNCTION void for_each(const Member& team, int count, const F& f) {
  Kokkos::parallel_for(Kokkos::ThreadVectorRange(team, count), f);
}

/// f() on one lane; afterwards every lane sees what it wrote.
template <class Member, class F>
KOKKOS_INLINE_FUNCTION void single(const Member& team, const F& f) {
  Kokkos::single(Kokkos::PerThread(team), f);
}

/// f(value) on one lane, then `value` on every lane.
template <class Member, class F, class T>
KOKKOS_INLINE_FUNCTION void single(const Member& team, const F& f, T& value) {
  Kokkos::single(Kokkos::PerThread(team), f, value);
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
  int result = count;
  Kokkos::parallel_reduce(
      Kokkos::ThreadVectorRange(team, count),
      [&](int k, int& lo) {
        if (pred(k) && k < lo) lo = k;
      },
      Kokkos::Min<int>(result));
  return result < count ? result : count;
}

/// The smallest f(k) over [0, count) and the lowest k that has it, on every lane (key = max
/// double and index = count when count is 0).
template <class Member, class F>
KOKKOS_INLINE_FUNCTION KeyIndex argmin(const Member& team, int count, const F& f) {
  KeyIndex result{1.7976931348623157e308, count};
  if constexpr (single_lane<Member>) {
    result.key = min(team, count, f);
    result.index = first(team, count, [&](int k) { return f(k) == result.key; });
    return result;
  }
  Kokkos::parallel_reduce(
      Kokkos::ThreadVectorRange(team, count),
      [&](int k, KeyIndex& lo) {
        const double v = f(k);
        if (v < lo.key || (v == lo.key && k < lo.index)) lo = KeyIndex{v, k};
      },
      MinKeyIndex(result));
  return result;
}

/// Σ f(k) over [0, count) for integer f, on every lane.
template <class Member, class F>
KOKKOS_INLINE_FUNCTION int sum(const Member& team, int count, const F& f) {
  int result = 0;
  Kokkos::parallel_reduce(
      Kokkos::ThreadVectorRange(team, count), [&](int k, int& total) { total += f(k); }, Kokkos::Sum<int>(result));
  return result;
}

/// One lane of a team thread on its own (for instance inside `single`): every operation is
/// a plain loop on the calling lane.
struct OneLane {};

template <class F>
KOKKOS_INLINE_FUNCTION void for_each(const OneLane&, int count, const F& f) {
  for (int k = 0; k < count; ++k) f(k);
}
template <class F>
KOKKOS_INLINE_FUNCTION void single(const OneLane&, const F& f) {
  f();
}
template <class P>
KOKKOS_INLINE_FUNCTION int first(const OneLane&, int count, const P& pred) {
  int k = 0;
  while (k < count && !pred(k)) ++k;
  return k;
}
template <class F>
KOKKOS_INLINE_FUNCTION int sum(const OneLane&, int count, const F& f) {
  int total = 0;
  for (int k = 0; k < count; ++k) total += f(k);
  return total;
}

}  // namespace tsenor::lanes
