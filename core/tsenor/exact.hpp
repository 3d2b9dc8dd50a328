// Optimal mask of one tile. The tile is a transportation problem (rows supply N, columns
// demand N, unit arcs, cost −A); in min-cost form its dual has a potential per row and per
// column. We solve it by a primal-dual method:
// 1. Dual start (exact_dual_start): a cheap approximate dual by block coordinate ascent (row
//    thresholds, column prices); every row then keeps its N best entries of A_ij − q_j. That
//    mask is optimal for the row constraints alone and dual feasible, and leaves only a small
//    column surplus.
// 2. Phases: one Dijkstra from all surplus columns over the residual graph (exact_dijkstra),
//    then as many augmentations as possible along shortest paths (tight arcs) to deficient
//    columns (exact_augment), then the potentials move by the distances.
// Only the surplus is routed, a small fraction of the N·M units, so this beats a general
// network simplex on the same tile several times over.
//
// Optimality in floating point: reduced costs are clamped at 0 (they are negative only by
// rounding) and an arc counts as tight only when Dijkstra's own sum reproduces the distance
// bit for bit, so the mask is optimal up to the rounding of the potentials, relative error
// ~1e-16 per phase; measured: the same objective as LEMON's network simplex on every tile
// tested. Deterministic: every choice is made in a total order (value, then index) and
// nothing depends on the thread count or on the number of lanes that share the tile.
//
// Lanes: the dual start gives each lane whole rows or columns (their selections are
// independent; on hosts, where a tile has one lane, it selects a vector of lines at a time);
// Dijkstra gives each lane its rows' and columns' nodes (it settles and relaxes them itself, so
// its steps need no syncs); the path searches scan with all lanes, and one lane writes what a
// step decides.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "tsenor/lanes.hpp"
#include "tsenor/rounding/tile_mask.hpp"

namespace tsenor {

/// Scratch of exact_solve_tile: 6·m doubles and 6·m ints (none for tiles of m ≤ 4, which are
/// enumerated). Node arrays hold the m rows, then the m columns (node m + j is column j).
struct ExactWorkspace {
  double* potential;  // 2·m
  double* dist;       // 2·m: distance of a settled node
  double* key;        // 2·m: tentative distance of an open node (selection scratch before)
  int* state;         // 2·m: an ExactNodeState
  int* cursor;        // 2·m: where a path search resumes scanning a node's predecessors
  int* next;          // 2·m: the next node towards the target on a search path
};

/// A tile's order m and kept count n compiled into exact_solve_tile; 0 leaves them to the
/// mask (TileMask::m, TileMask::n).
template <int M = 0, int N = 0>
struct TileShape {
  static constexpr int m = M, n = N;
};

/// How exact_solve_tile uses its lanes; every choice gives the same mask.
struct ExactTuning {
  /// Dual start on lines of more than 32 entries (shorter ones go through a sorting network in
  /// registers on every backend): every lane selects its own line by counting ranks, without
  /// scratch (any number of lanes); otherwise by quickselect in the workspace, which needs a
  /// single lane.
  bool select_by_rank = false;
  /// Path searches: scan for tight predecessors with all lanes, otherwise with one.
  bool parallel_search = false;
  /// The dual start's last pass on float scores of lines of ≤ 32 entries: select in float
  /// first and refine to double in one scan (double selection only after a float tie there).
  bool float_final = false;
};

namespace detail {

/// The lowest finite T (float or double).
template <class T>
KOKKOS_FORCEINLINE_FUNCTION constexpr T lowest() {
  if constexpr (sizeof(T) == sizeof(float)) return -3.4028234663852886e38f;
  return T(-1.7976931348623157e308);
}

/// The larger and the smaller of two finite values. float on GPUs: fmaxf/fminf, one instruction
/// each (a comparison and a select is two; NaN never reaches them). Elsewhere, and for double (no
/// GPU has a single-instruction double max), comparisons, which compilers turn into max and min
/// instructions on CPUs. The same values everywhere (but the sign of a zero, which no
/// comparison sees).
template <class T>
KOKKOS_FORCEINLINE_FUNCTION T larger(T u, T v) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  if constexpr (std::is_same<T, float>::value) return ::fmaxf(u, v);
#endif
  return u > v ? u : v;
}
template <class T>
KOKKOS_FORCEINLINE_FUNCTION T smaller(T u, T v) {
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
  if constexpr (std::is_same<T, float>::value) return ::fminf(u, v);
#endif
  return u < v ? u : v;
}

/// The k-th and (k+1)-th largest of x[0, count) (1 ≤ k < count), by quickselect: each round
/// splits around a pivot (branch-free, greater values to the front of x, smaller ones to
/// tmp) and keeps the two values nearest to it on each side, which settles the answer as
/// soon as the pivot lands within one rank of it. The first pivot is `guess` when
/// `has_guess` (a good guess, such as last pass's threshold, often settles it at once),
/// later ones a median of three. x and tmp (count values each) are overwritten.
template <class T>
KOKKOS_INLINE_FUNCTION void kth_largest_pair(T* x, T* tmp, int count, int k, bool has_guess, T guess, T& kth,
                                             T& next) {
  constexpr T huge = -lowest<T>();  // beyond any value
  while (true) {
    T pivot = guess;
    if (!has_guess) {
      const T a = x[0], b = x[count / 2], c = x[count - 1];
      const T lo = a < b ? a : b, hi = a < b ? b : a;
      pivot = c < lo ? lo : (c > hi ? hi : c);  // an element, so each round shrinks count
    }
    has_guess = false;
    int greater = 0, less = 0;
    T above1 = huge, above2 = huge, below1 = -huge, below2 = -huge;  // above1 ≤ above2, below1 ≥ below2
    for (int t = 0; t < count; ++t) {
      const T v = x[t];
      x[greater] = v;
      tmp[less] = v;
      greater += v > pivot;
      less += v < pivot;
      const T above = v > pivot ? v : huge, below = v < pivot ? v : -huge;
      const T a2 = above1 > above ? above1 : above, b2 = below1 < below ? below1 : below;
      above2 = a2 < above2 ? a2 : above2;
      above1 = above < above1 ? above : above1;
      below2 = b2 > below2 ? b2 : below2;
      below1 = below > below1 ? below : below1;
    }
    // Descending ranks: [0, greater) above the pivot, [greater, equal_end) equal, the rest
    // below; the answer is at ranks k − 1 and k.
    const int equal_end = count - less;
    if (k + 1 == greater) {
      kth = above2;
      next = above1;
      return;
    }
    if (k == greater) {
      kth = above1;
      next = equal_end > greater ? pivot : below1;
      return;
    }
    if (k > greater && k <= equal_end) {
      kth = pivot;
      next = k < equal_end ? pivot : below1;
      return;
    }
    if (k == equal_end + 1) {
      kth = below1;
      next = below2;
      return;
    }
    if (k < greater) {
      count = greater;
    } else {
      k -= equal_end;
      count = less;
      T* const swap = x;
      x = tmp;
      tmp = swap;
    }
  }
}

/// The same pair as kth_largest_pair for the values value(0 … count−1), by counting ranks:
/// no scratch, O(count²), for lanes that each select their own line at once (GPUs). The k-th
/// largest is the smallest value with at most k − 1 values above it, the (k+1)-th the
/// smallest with at most k above it.
template <class Value, class T>
KOKKOS_INLINE_FUNCTION void kth_largest_pair_by_rank(const Value& value, int count, int k, T& kth, T& next) {
  kth = next = -lowest<T>();
  for (int t = 0; t < count; ++t) {
    const T v = value(t);
    int greater = 0;
    for (int u = 0; u < count; ++u) greater += value(u) > v;
    if (greater < k) kth = v < kth ? v : kth;
    if (greater <= k) next = v < next ? v : next;
  }
}

/// f(std::integral_constant<int, I>) for each I, in order.
template <class F, int... I>
KOKKOS_FORCEINLINE_FUNCTION void for_each_constant(const F& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>{}), ...);
}

/// Batcher's odd–even merge sort of W entries (a power of two) as a list of compare-exchanges
/// (a[c] < b[c]; 19, 63 and 191 of them for W = 8, 16, 32), for sorting in registers.
template <int W>
struct MergeSortNetwork {
  /// Writes the pairs when `a` and `b` are given; returns their number.
  static KOKKOS_INLINE_FUNCTION constexpr int generate(int* a, int* b) {
    int c = 0;
    for (int p = 1; p < W; p <<= 1)
      for (int k = p; k >= 1; k >>= 1)
        for (int j = k % p; j + k < W; j += 2 * k)
          for (int i = 0; i < k && i < W - j - k; ++i)
            if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) {
              if (a) {
                a[c] = i + j;
                b[c] = i + j + k;
              }
              ++c;
            }
    return c;
  }
  static constexpr int size = generate(nullptr, nullptr);
  struct Pairs {
    int a[size], b[size];
  };
  static KOKKOS_INLINE_FUNCTION constexpr Pairs pairs() {
    Pairs p{};
    generate(p.a, p.b);
    return p;
  }
};

/// x[A] ← max, x[B] ← min. Two operations, so that compilers emit a max and a min instruction
/// (one comparison and a select of both makes GCC branch).
template <int A, int B, class T>
KOKKOS_FORCEINLINE_FUNCTION void exchange_descending(T* x) {
  const T u = x[A], v = x[B];
  if constexpr (std::is_arithmetic<T>::value) {
    x[A] = larger(u, v);
    x[B] = smaller(u, v);
  } else {  // host vectors (HostVector), lane by lane, with no vector passed by value to a function
    x[A] = u > v ? u : v;
    x[B] = u < v ? u : v;
  }
}

/// Sorts x[0, W) descending; every index a constant, so that x stays in registers.
template <int W, class T, int... C>
KOKKOS_FORCEINLINE_FUNCTION void sort_descending(T* x, std::integer_sequence<int, C...>) {
  constexpr typename MergeSortNetwork<W>::Pairs p = MergeSortNetwork<W>::pairs();
  (exchange_descending<p.a[C], p.b[C]>(x), ...);
}

/// The same pair for the values value(0 … count−1), count ≤ W (8, 16 or 32), by sorting them
/// descending with MergeSortNetwork<W> (W − count pads of the lowest T sort last): no scratch and
/// no branches, against quickselect's data-dependent rounds and rank counting's W² comparisons.
template <int W, class Value, class T>
KOKKOS_INLINE_FUNCTION void kth_largest_pair_by_network(const Value& value, int count, int k, T& kth, T& next) {
  T x[W];
  // (decltype(c)::value, not c's conversion: nvcc warns about that host function in device code)
  const auto load = [&](auto c) {
    constexpr int t = decltype(c)::value;
    x[t] = t < count ? value(t) : lowest<T>();
  };
  const auto pick = [&](auto c) {
    constexpr int t = decltype(c)::value;
    kth = t == k - 1 ? x[t] : kth;
    next = t == k ? x[t] : next;
  };
  for_each_constant(load, std::make_integer_sequence<int, W>{});
  sort_descending<W>(x, std::make_integer_sequence<int, MergeSortNetwork<W>::size>{});
  kth = next = T(0);
  for_each_constant(pick, std::make_integer_sequence<int, W>{});
}

#if defined(__GNUC__) && !defined(__CUDACC__) && !defined(__HIPCC__)
/// Host compilers with GNU vector extensions (GCC, Clang; not nvcc or hipcc, whose host backends take
/// the scalar path): the dual start selects several lines at once, one line in each lane of a vector
/// register (exact_dual_start), and 2:4 enumerates several tiles at once, a tile in each lane
/// (exact_enumerate_tiles).
#define TSENOR_HOST_VECTORS 1
/// The vector registers' bytes of the compiler's target: 16 (any x86-64 or AArch64), 32 when it
/// targets AVX (-march). Not 64 with AVX-512, which measured slower for the dual start (2-core Xeon,
/// 1024² ALPS-like scores, one core: 8:16 7.1 ms with 16 bytes, 6.1 with 32 (-mavx2), 9.9 with 64; 16:32 no
/// faster with 64, session 17); the 2:4 enumeration (exact_enumerate_tiles) does use 64.
#if defined(__AVX__)
constexpr int host_vector_bytes = 32;
#else
constexpr int host_vector_bytes = 16;
#endif
/// `lanes` values of T in one vector of at most `bytes` bytes, at most `most` of them. Such vectors go
/// to functions by reference only, never by value: the AVX2 path (exact_dual_start_avx2) then needs no
/// call that another ABI could see (GCC's -Wpsabi notes).
template <class T, int most, int bytes>
struct HostVector {
  static constexpr int lanes = bytes / static_cast<int>(sizeof(T)) < most ? bytes / static_cast<int>(sizeof(T)) : most;
  typedef T type __attribute__((vector_size(lanes * sizeof(T))));
};

/// kth_largest_pair_by_network for HostVector<T, …>::lanes lines at once (line l in lane l): value(t, v)
/// sets v to entry t of every line, count == W; each lane gets its line's pair with the bits of the
/// one-line network (max and min are exact, lane by lane).
/// With K compiled in, W ≥ 16 and 32-byte vectors (AVX), by two sorted halves a and b: the c-th largest
/// of their union is max over i + j = c of min(a_i, b_j) (1-based, a_0 = b_0 = +∞), 2·(W/2 + 1)
/// operations for the pair instead of the full network's last merge, and half as many vectors live
/// while sorting. 4096², 2 cores: 16:32 121–126 → 103–106 ms with AVX2; with SSE's 16-byte vectors
/// (two-operand instructions) 5% slower than the full network, which they keep.
template <int W, int K, class Vec, class Value>
inline void kth_largest_pairs_by_network(const Value& value, int k, Vec& kth, Vec& next) {
  if constexpr (K > 0 && W >= 16 && sizeof(Vec) >= 32) {
    constexpr int H = W / 2;
    Vec a[H], b[H];
    const auto load_a = [&](auto c) { value(decltype(c)::value, a[decltype(c)::value]); };
    const auto load_b = [&](auto c) { value(H + decltype(c)::value, b[decltype(c)::value]); };
    for_each_constant(load_a, std::make_integer_sequence<int, H>{});
    sort_descending<H>(a, std::make_integer_sequence<int, MergeSortNetwork<H>::size>{});
    for_each_constant(load_b, std::make_integer_sequence<int, H>{});
    sort_descending<H>(b, std::make_integer_sequence<int, MergeSortNetwork<H>::size>{});
    // r ← the c-th largest: the terms i = max(0, c − H) … min(c, H) (i from a, c − i from b).
    const auto of_union = [&](auto rank, Vec& r) {
      constexpr int c = decltype(rank)::value, low = c > H ? c - H : 0, high = c < H ? c : H;
      const auto term = [&](auto index, Vec& t) {
        constexpr int i = decltype(index)::value;
        if constexpr (i == 0) {
          t = b[c - 1];
        } else if constexpr (i == c) {
          t = a[c - 1];
        } else {
          const Vec u = a[i - 1], v = b[c - i - 1];
          t = u < v ? u : v;
        }
      };
      term(std::integral_constant<int, low>{}, r);
      const auto more = [&](auto index) {
        Vec t;
        term(std::integral_constant<int, low + 1 + decltype(index)::value>{}, t);
        r = r > t ? r : t;
      };
      for_each_constant(more, std::make_integer_sequence<int, high - low>{});
    };
    of_union(std::integral_constant<int, K>{}, kth);
    of_union(std::integral_constant<int, K + 1>{}, next);
    return;
  }
  Vec x[W];
  const auto load = [&](auto c) { value(decltype(c)::value, x[decltype(c)::value]); };
  for_each_constant(load, std::make_integer_sequence<int, W>{});
  sort_descending<W>(x, std::make_integer_sequence<int, MergeSortNetwork<W>::size>{});
  if constexpr (K > 0) {
    kth = x[K - 1];
    next = x[K];
  } else {
    const auto pick = [&](auto c) {
      constexpr int t = decltype(c)::value;
      kth = t == k - 1 ? x[t] : kth;
      next = t == k ? x[t] : next;
    };
    kth = next = Vec{};
    for_each_constant(pick, std::make_integer_sequence<int, W>{});
  }
}
#endif

/// The tile's order m: Shape::m for a solver compiled for one order, else (0) mask.m.
template <class Shape>
KOKKOS_FORCEINLINE_FUNCTION int tile_order(const rounding::TileMask& mask) {
  return Shape::m > 0 ? Shape::m : mask.m;
}
/// The tile's N: Shape::n for a solver compiled for one N, else (0) mask.n.
template <class Shape>
KOKKOS_FORCEINLINE_FUNCTION int tile_kept(const rounding::TileMask& mask) {
  return Shape::n > 0 ? Shape::n : mask.n;
}

/// Node states in a phase: open, settled by Dijkstra, on the current search path, dead.
enum ExactNodeState : int { node_open = 0, node_settled = 1, node_on_path = 2, node_dead = 3 };

/// The tile's scores as doubles and the reduced costs of the residual arcs under the current
/// potentials (ExactWorkspace::potential: −θ_i for row i, q_j for column j).
template <class Real>
struct ExactCosts {
  const Real* score;
  int m, ld;
  double scale;  // 2^-512 for double tiles whose scores would overflow the potentials, else 1
  const double* potential;

  KOKKOS_INLINE_FUNCTION double a(int i, int j) const { return at(i * ld + j); }
  /// at(k) in T: float scores as they are for float.
  template <class T>
  KOKKOS_INLINE_FUNCTION T at_as(int k) const {
    if constexpr (sizeof(T) == sizeof(Real)) {
      if constexpr (sizeof(Real) == sizeof(float)) return score[k];
    }
    return static_cast<T>(at(k));
  }
  /// The score at offset k of the tile (row k / ld, column k % ld).
  KOKKOS_INLINE_FUNCTION double at(int k) const {
    if constexpr (sizeof(Real) > sizeof(float)) return static_cast<double>(score[k]) * scale;
    return static_cast<double>(score[k]);
  }
  /// s_ij = (A_ij − q_j) + π_i (π_i = −θ_i, moved by the phases). via_row and via_col are
  /// the only expressions that produce a distance, clamped at 0, so a settled node's
  /// predecessor is found again by equality instead of being stored.
  KOKKOS_INLINE_FUNCTION double s(int i, int j) const { return (a(i, j) - potential[m + j]) + potential[i]; }
  /// Column j reached from row i at distance d.
  KOKKOS_INLINE_FUNCTION double via_row(double d, int i, int j) const {
    const double c = d - s(i, j);
    return c > d ? c : d;
  }
  /// Row i reached from column j at distance d.
  KOKKOS_INLINE_FUNCTION double via_col(double d, int i, int j) const {
    const double c = d + s(i, j);
    return c > d ? c : d;
  }
};

/// The costs of `score`. Scores near the top of double's range would overflow potentials and
/// distances: such a tile is scaled by 2^-512, exactly but for values below 2^-510, which
/// cannot matter next to an optimum ≥ the largest score > 2^512. float scores never need it.
template <class Shape, class Member, class Real>
KOKKOS_INLINE_FUNCTION ExactCosts<Real> exact_costs(const Member& team, const rounding::TileMask& mask,
                                                    const Real* score, const double* potential) {
  const int m = tile_order<Shape>(mask), ld = mask.ld;
  ExactCosts<Real> cost{score, m, ld, 1.0, potential};
  if constexpr (sizeof(Real) > sizeof(float)) {
    const double largest = lanes::max(team, m, [&](int i) {
      double r = 0.0;
      for (int j = 0; j < m; ++j) r = score[i * ld + j] > r ? static_cast<double>(score[i * ld + j]) : r;
      return r;
    });
    if (largest > 0x1p512) cost.scale = 0x1p-512;
  }
  return cost;
}

/// The dual start's passes for tiles of order m (exact_dual_start says why).
KOKKOS_INLINE_FUNCTION int exact_dual_passes(int m) {
  int passes = 0;
  for (int w = m; w > 1; w >>= 1) ++passes;
  return passes + (m <= 16 ? 6 : m <= 32 ? 8 : 2);
}

#if defined(TSENOR_HOST_VECTORS)
/// Bit j of a byte as byte j (0 or 1), for the 256 bytes: the hosts' dual start writes a row's kept entries eight
/// at a time from its bits (a loop of one byte a time took ~10% of the dual start on ALPS's scores at 16:32).
struct SpreadBits {
  std::uint8_t byte[256][8];
  static constexpr SpreadBits generate() {
    SpreadBits t{};
    for (int b = 0; b < 256; ++b)
      for (int j = 0; j < 8; ++j) t.byte[b][j] = static_cast<std::uint8_t>((b >> j) & 1);
    return t;
  }
};
inline constexpr SpreadBits spread_bits = SpreadBits::generate();

/// exact_dual_start on a host for float scores and a compiled order of 8 … 32, with vectors of
/// `bytes` bytes: the lines of a pass go through the network a vector of lines at a time (row passes
/// read the tile transposed, so that entry t of consecutive rows is consecutive), then every row's
/// double pair a vector of rows at a time, then each row's kept entries as bits (no stores in the
/// comparing loop), written eight at a time (spread_bits). The same bits as one line at a time. `dist`: the
/// workspace's, free until Dijkstra.
template <int bytes, class Shape>
inline void exact_dual_start_vectors(const rounding::TileMask& mask, const float* score, double* dist,
                                     double* potential, int passes) {
  constexpr int m = Shape::m;
  const int n = tile_kept<Shape>(mask), ld = mask.ld;
  using Lines = HostVector<float, m, bytes>;
  using LineVector = typename Lines::type;
  float* const price = reinterpret_cast<float*>(dist);  // −θ_i for row i, −q_j for column j
  for (int v = 0; v < 2 * m; ++v) price[v] = 0.0f;
  float transposed[m * m];
  for (int i = 0; i < m; ++i)
    for (int t = 0; t < m; ++t) transposed[t * m + i] = score[i * ld + t];
  for (int pass = passes - 1; pass > 0; --pass) {
    const bool columns = pass % 2 == 1;
    const float* const other = columns ? price : price + m;
    for (int first = 0; first < m; first += Lines::lanes) {
      const auto value = [&](int t, LineVector& v) {
        __builtin_memcpy(&v, columns ? score + t * ld + first : transposed + t * m + first, sizeof v);
        v += other[t];
      };
      LineVector kth, next_best;
      kth_largest_pairs_by_network<m, Shape::n>(value, n, kth, next_best);
      const LineVector middle = -(0.5f * (kth + next_best));
      __builtin_memcpy(price + (columns ? m : 0) + first, &middle, sizeof middle);
    }
  }
  for (int v = 0; v < 2 * m; ++v) potential[v] = v < m ? 0.0 : -static_cast<double>(price[v]);
  double row_kth[m], row_next[m];
  using Rows = HostVector<double, m, bytes>;
  using RowVector = typename Rows::type;
  typedef float RowFloats __attribute__((vector_size(Rows::lanes * sizeof(float))));
  for (int first = 0; first < m; first += Rows::lanes) {
    const auto value = [&](int t, RowVector& v) {
      RowFloats a;
      __builtin_memcpy(&a, transposed + t * m + first, sizeof a);
      v = __builtin_convertvector(a, RowVector) - potential[m + t];
    };
    RowVector kth, next_best;
    kth_largest_pairs_by_network<m, Shape::n>(value, n, kth, next_best);
    __builtin_memcpy(row_kth + first, &kth, sizeof kth);
    __builtin_memcpy(row_next + first, &next_best, sizeof next_best);
  }
  // Column j's count in byte j % 8 of column_sums[j / 8] (at most m < 256: no carries between the bytes).
  std::uint64_t column_sums[m / 8] = {};
  for (int i = 0; i < m; ++i) {
    const double next_best = row_next[i];
    const float* const row = score + i * ld;
    const double* const q = potential + m;
    std::uint32_t keep = 0;
    int ties = n;
    for (int j = 0; j < m; ++j) {
      const bool above = static_cast<double>(row[j]) - q[j] > next_best;
      keep |= static_cast<std::uint32_t>(above) << j;
      ties -= above;
    }
    for (int t = 0; ties > 0 && t < m; ++t) {
      const int j = i + t < m ? i + t : i + t - m;
      const bool tie = static_cast<double>(row[j]) - q[j] == next_best;
      keep |= static_cast<std::uint32_t>(tie) << j;
      ties -= tie;
    }
    for (int q = 0; q < m / 8; ++q) {  // eight entries at a time
      std::uint64_t eight;
      __builtin_memcpy(&eight, spread_bits.byte[(keep >> (8 * q)) & 255u], 8);
      __builtin_memcpy(mask.kept + i * ld + 8 * q, &eight, 8);
      column_sums[q] += eight;
    }
    potential[i] = -(0.5 * (row_kth[i] + next_best));
    mask.row_count[i] = n;
  }
  for (int q = 0; q < m / 8; ++q) {
    std::uint8_t count[8];
    __builtin_memcpy(count, &column_sums[q], 8);
    for (int l = 0; l < 8; ++l) mask.col_count[8 * q + l] = count[l];
  }
}

#if defined(__x86_64__) && !defined(__AVX2__)
/// x86-64 builds for targets without AVX2 (the default): the dual start with 32-byte vectors where the
/// CPU has AVX2, chosen at run time (2 Xeon cores, 4096²: 16:32 1.3× faster on hashed scores, 1.6× on
/// ALPS's; 8:16 1.07×). Every callee is inlined (flatten), so that no 32-byte vector meets a function
/// compiled without AVX (GCC lowers those 4× slower).
#define TSENOR_HOST_AVX2 1
inline bool host_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
template <class Shape>
__attribute__((target("avx2"), flatten)) void exact_dual_start_avx2(const rounding::TileMask& mask,
                                                                    const float* score, double* dist,
                                                                    double* potential, int passes) {
  exact_dual_start_vectors<32, Shape>(mask, score, dist, potential, passes);
}
#endif
#endif

/// Phase 1, the dual start: an approximate dual by block coordinate ascent, ending with rows.
/// A column's price q_j is the midpoint of its n-th and (n+1)-th best A_ij − θ_i, a row's
/// threshold θ_i the midpoint of its n-th and (n+1)-th best A_ij − q_j (θ = q = 0 to begin
/// with). Any prices give a valid start; good ones leave little surplus. The number of passes
/// is the same on every backend (it decides which optimal mask ties get): ⌊log2 m⌋ + 2, plus 4
/// for m ≤ 16 and 6 for m = 32. Each pass leaves ~15–25% fewer phases (8192² |Gaussian|, 8:16:
/// 1.35 phases a tile after 6 passes, 0.82 after 10), which pays on GPUs, where a phase costs
/// many passes (H200, 8192²: 4:8 7.1 → 5.7 ms, 8:16 8.0 → 6.8 ms with the 4 more, session 11),
/// and now on hosts too, whose passes select a vector of lines at a time: at m = 32, 13 passes
/// instead of 7 leave 1.35 phases a tile instead of 2.19 (8192² hashed) and take the H200 from
/// 2.46 to 2.08 ms there, ALPS's Z² of nine iterations from 5.43 to 4.82 ms (4096² each), and a
/// CPU core through 35 such Z² from 606 to 509 ms (1024² each; perf/results/h200/README.md,
/// session 15; 11 and 15 passes were about as good, 17 or more worse on both).
/// All passes but the last compute in the scores' precision: float for float scores (a GPU
/// max or min of floats is one instruction, of doubles three), which is enough for a start;
/// the last one in double, which the exactness below needs.
/// A line's n-th and (n+1)-th best come from a sorting network in registers for m ≤ 32, else by
/// quickselect (one lane) or rank counting (many lanes). A pass reads only the other side's
/// potentials, so its lines are independent.
/// Leaves the row-optimal mask with its counts; returns the column surplus.
template <class Shape, class Member, class Real>
KOKKOS_INLINE_FUNCTION int exact_dual_start(const Member& team, const rounding::TileMask& mask,
                                            const ExactCosts<Real>& cost, const ExactWorkspace& ws,
                                            bool select_by_rank, bool float_final) {
  const int m = tile_order<Shape>(mask), n = tile_kept<Shape>(mask), ld = mask.ld;
  std::uint8_t* const kept = mask.kept;
  int* const col_count = mask.col_count;
  double* const potential = ws.potential;
  const int passes = exact_dual_passes(m);
#if defined(TSENOR_HOST_VECTORS)
  // Host, float scores, a compiled order of 8 … 32: the passes a vector of lines at a time.
  if constexpr (lanes::single_lane<Member> && std::is_same<Real, float>::value && Shape::m >= 8 && Shape::m <= 32) {
#if defined(TSENOR_HOST_AVX2)
    if (host_avx2())
      exact_dual_start_avx2<Shape>(mask, cost.score, ws.dist, potential, passes);
    else
#endif
      exact_dual_start_vectors<host_vector_bytes, Shape>(mask, cost.score, ws.dist, potential, passes);
    return lanes::sum(team, m, [&](int j) { return col_count[j] > n ? col_count[j] - n : 0; });
  }
#endif
  // The n-th and (n+1)-th largest of value(0 … m−1) in T; `guess`: quickselect's first pivot.
  const auto select = [&](const auto& value, auto& kth, auto& next_best, bool has_guess, auto guess) {
    using T = std::remove_reference_t<decltype(kth)>;
    if (m <= 32) {
      constexpr int fixed = Shape::m <= 8 ? 8 : Shape::m <= 16 ? 16 : 32;
      if constexpr (Shape::m > 0 && Shape::m <= 32)
        kth_largest_pair_by_network<fixed>(value, m, n, kth, next_best);
      else if (m <= 8)
        kth_largest_pair_by_network<8>(value, m, n, kth, next_best);
      else if (m <= 16)
        kth_largest_pair_by_network<16>(value, m, n, kth, next_best);
      else
        kth_largest_pair_by_network<32>(value, m, n, kth, next_best);
    } else if (select_by_rank) {
      kth_largest_pair_by_rank(value, m, n, kth, next_best);
    } else {
      T* const x = reinterpret_cast<T*>(ws.key);  // one lane: the workspace is the tile's
      for (int t = 0; t < m; ++t) x[t] = value(t);
      kth_largest_pair(x, x + m, m, n, has_guess, static_cast<T>(guess), kth, next_best);
    }
  };
  // The passes before the last, in Approx: `price` holds −θ_i for row i and −q_j for column j,
  // so that a line's values are A + price of the other side, rows and columns alike (one
  // expression, so that the selection is compiled once), and each pass stores −midpoint.
  using Approx = std::conditional_t<sizeof(Real) <= sizeof(float), float, double>;
  Approx* const price = reinterpret_cast<Approx*>(ws.dist);  // (free until Dijkstra)
  lanes::for_each(team, 2 * m, [&](int v) { price[v] = Approx(0); });
  for (int pass = passes - 1; pass > 0; --pass) {
    const bool columns = pass % 2 == 1, revisit = pass + 2 < passes;
    lanes::for_each(team, m, [&](int line) {
      const int own = columns ? m + line : line, first = columns ? line : line * ld, stride = columns ? ld : 1;
      const Approx* const other = columns ? price : price + m;
      const auto value = [&](int t) { return cost.template at_as<Approx>(first + t * stride) + other[t]; };
      Approx kth, next_best;
      // (quickselect, one lane with lines in order: the first pivot is this line's threshold
      // from its last pass, else the previous line's, just computed)
      const int from = revisit || line == 0 ? own : own - 1;
      select(value, kth, next_best, revisit || line > 0, -price[from]);
      price[own] = -(Approx(0.5) * (kth + next_best));
    });
  }
  lanes::for_each(team, 2 * m, [&](int v) { potential[v] = v < m ? 0.0 : -static_cast<double>(price[v]); });
  // The last pass, in double: row i keeps its n best B_ij = A_ij − q_j. With s_ij = B_ij − θ_i,
  // the reduced cost is s_ij on the arc column j → row i of a kept entry (dropping it) and
  // −s_ij on the arc row i → column j of a free entry (keeping it); both are ≥ 0, and exactly
  // so in floating point: θ_i lies between the n-th and (n+1)-th best B, and fl(B − θ) has the
  // sign of B − θ. Entries above the (n+1)-th are kept; ties with it fill the rest in column
  // order from column i on (cyclically), so that tied rows (zeros, constant tiles) spread over
  // the columns instead of piling onto the first.
  {
    lanes::for_each(team, m, [&](int i) {
      const auto value = [&](int t) { return cost.a(i, t) - potential[m + t]; };
      double kth, next_best;
      bool selected = false;
      if constexpr (std::is_same<Approx, float>::value) {
        // Float first, where the network runs in float: fl32 and fl64 of the same A − q are both
        // monotone, so when the n-th float value is above the (n+1)-th, the n entries above that
        // are the n largest in double too (the row keeps them: no ties), and the double pair is
        // their least and the largest of the rest: the same bits as a double selection. A float
        // tie there: the double selection.
        if (m <= 32 && float_final) {
          const auto approx = [&](int t) { return cost.template at_as<float>(i * ld + t) + price[m + t]; };
          float kth_approx, next_approx;
          select(approx, kth_approx, next_approx, false, 0.0f);
          if (kth_approx > next_approx) {
            kth = -lowest<double>();
            next_best = lowest<double>();
            for (int t = 0; t < m; ++t) {
              const double v = value(t);
              const bool top = approx(t) > next_approx;
              kth = top ? smaller(kth, v) : kth;
              next_best = top ? next_best : larger(next_best, v);
              kept[i * ld + t] = top;
            }
            selected = true;
          }
        }
      }
      if (!selected) {
        select(value, kth, next_best, true, i == 0 || passes > 2 ? -price[i] : -price[i - 1]);
        int ties = n;
        for (int j = 0; j < m; ++j) {
          const bool keep = value(j) > next_best;
          kept[i * ld + j] = keep;
          ties -= keep;
        }
        for (int t = 0; ties > 0 && t < m; ++t) {
          const int j = i + t < m ? i + t : i + t - m;
          const bool tie = value(j) == next_best;
          kept[i * ld + j] |= tie;
          ties -= tie;
        }
      }
      potential[i] = -(0.5 * (kth + next_best));
      mask.row_count[i] = n;
    });
    lanes::for_each(team, m, [&](int j) {
      int count = 0;
      for (int i = 0; i < m; ++i) count += kept[i * ld + j];
      col_count[j] = count;
    });
  }
  return lanes::sum(team, m, [&](int j) { return col_count[j] > n ? col_count[j] - n : 0; });
}

#if defined(TSENOR_HOST_VECTORS)
/// The least of key[0 … count) and the first index that holds it, with vectors of `bytes` bytes: the
/// least lane by lane, then across the lanes, then the lowest index among the keys equal to it (indices
/// as doubles, exact). Keys are never NaN (exact_dijkstra's keys only ever take a smaller number), so
/// the order of the comparisons cannot change the index, nor the least but for the sign of a zero,
/// which no comparison sees.
template <int bytes, int count>
inline int host_first_least(const double* key, double& least) {
  using Keys = HostVector<double, count, bytes>;
  using Vec = typename Keys::type;
  constexpr int lanes = Keys::lanes;
  Vec lo, v;
  __builtin_memcpy(&lo, key, sizeof lo);
  for (int k = lanes; k < count; k += lanes) {
    __builtin_memcpy(&v, key + k, sizeof v);
    lo = v < lo ? v : lo;
  }
  least = lo[0];
  for (int l = 1; l < lanes; ++l) least = lo[l] < least ? lo[l] : least;
  Vec index, at = Vec{} + count;
  for (int l = 0; l < lanes; ++l) index[l] = l;
  for (int k = count - lanes; k >= 0; k -= lanes) {
    __builtin_memcpy(&v, key + k, sizeof v);
    at = v == least ? index + k : at;
  }
  double first = at[0];
  for (int l = 1; l < lanes; ++l) first = at[l] < first ? at[l] : first;
  return static_cast<int>(first);
}

/// exact_dijkstra on a host for a compiled order: the rows' keys and the columns' keys each keep their
/// least and its first index, so that a step needs no scan of the union and no loop to find the settled
/// node's owner. The union's first least is the rows' on a tie (rows have the lower ids): the same node
/// settled at every step, the same keys and distances.
template <int bytes, class Shape, class Real>
inline double exact_dijkstra_host(const rounding::TileMask& mask, const ExactCosts<Real>& cost,
                                  const ExactWorkspace& ws, int surplus) {
  constexpr int m = Shape::m;
  const int n = tile_kept<Shape>(mask), ld = mask.ld;
  const std::uint8_t* const kept = mask.kept;
  const int* const col_count = mask.col_count;
  double* const dist = ws.dist;
  double* const key = ws.key;
  int* const state = ws.state;
  constexpr double unreached = 1e308;  // (as exact_dijkstra's)
  for (int k = 0; k < m; ++k) {
    key[k] = unreached;
    key[m + k] = col_count[k] > n ? 0.0 : unreached;
    state[k] = state[m + k] = node_open;
  }
  double row_least = unreached, col_least;
  int row_first = 0, col_first = host_first_least<bytes, m>(key + m, col_least);
  int target_units = 0;
  double horizon = 0.0;
  while (true) {
    const bool row = row_least <= col_least;
    const double best = row ? row_least : col_least;
    if (!(best < unreached)) break;
    const int own = row ? row_first : col_first, u = row ? own : m + own;
    key[u] = unreached;
    state[u] = node_settled;
    dist[u] = best;
    horizon = best;
    if (row) {
      for (int j = 0; j < m; ++j) {
        const double c = cost.via_row(best, u, j) + ((kept[u * ld + j] | state[m + j]) ? unreached : 0.0);
        key[m + j] = c < key[m + j] ? c : key[m + j];
      }
    } else {
      if (col_count[own] < n) {
        target_units += n - col_count[own];
        if (target_units >= surplus) break;
      }
      for (int i = 0; i < m; ++i) {
        const double c = cost.via_col(best, i, own) + (((kept[i * ld + own] ^ 1) | state[i]) ? unreached : 0.0);
        key[i] = c < key[i] ? c : key[i];
      }
    }
    row_first = host_first_least<bytes, m>(key, row_least);
    col_first = host_first_least<bytes, m>(key + m, col_least);
  }
  return horizon;
}
#if defined(TSENOR_HOST_AVX2)
template <class Shape, class Real>
__attribute__((target("avx2"), flatten)) double exact_dijkstra_avx2(const rounding::TileMask& mask,
                                                                    const ExactCosts<Real>& cost,
                                                                    const ExactWorkspace& ws, int surplus) {
  return exact_dijkstra_host<32, Shape>(mask, cost, ws, surplus);
}
#endif
#endif

/// Phase 2a: Dijkstra from every surplus column (distance 0) over the residual arcs: column →
/// row through a kept entry, row → column through a free entry. It settles nodes until the
/// deficient columns settled can absorb the whole surplus; leaves ws.dist and ws.state
/// (settled or open) and returns the distance of the last settled node.
template <class Shape, class Member, class Real>
KOKKOS_INLINE_FUNCTION double exact_dijkstra(const Member& team, const rounding::TileMask& mask,
                                             const ExactCosts<Real>& cost, const ExactWorkspace& ws, int surplus) {
#if defined(TSENOR_HOST_VECTORS)
  if constexpr (lanes::single_lane<Member> && Shape::m >= 8) {
#if defined(TSENOR_HOST_AVX2)
    if (host_avx2()) return exact_dijkstra_avx2<Shape>(mask, cost, ws, surplus);
#endif
    return exact_dijkstra_host<host_vector_bytes, Shape>(mask, cost, ws, surplus);
  }
#endif
  const int m = tile_order<Shape>(mask), n = tile_kept<Shape>(mask), ld = mask.ld;
  const std::uint8_t* const kept = mask.kept;
  const int* const col_count = mask.col_count;
  double* const dist = ws.dist;
  double* const key = ws.key;
  int* const state = ws.state;
  // Keys at or above `unreached` mean "no path yet"; adding it blocks an arc.
  constexpr double unreached = 1e308;
  // Each lane keeps the entries of its own nodes, row k and column k for the k that
  // for_each(team, m, …) gives it, and the steps touch no other: no syncs until the end.
  lanes::for_each(team, m, [&](int k) {
    key[k] = unreached;
    key[m + k] = col_count[k] > n ? 0.0 : unreached;
    state[k] = state[m + k] = node_open;
  });
  int target_units = 0;
  double horizon = 0.0;  // distance of the last settled node
  while (true) {
    // Closest open node, the lowest id among equal keys: a total order. Settled nodes keep
    // the key `unreached`, so the scan needs no test.
    const lanes::KeyIndex closest = lanes::argmin_pairs(team, m, [&](int v) { return key[v]; });
    const double best = closest.key;
    if (!(best < unreached)) break;
    const int u = closest.index, own = u < m ? u : u - m;
    lanes::each(team, m, [&](int k) {
      if (k == own) {
        key[u] = unreached;
        state[u] = node_settled;
        dist[u] = best;
      }
    });
    horizon = best;
    // Branch-free relaxations (whether an arc exists is a coin flip per entry), blocked
    // into settled nodes so that their keys stay `unreached` (states are 0 or 1 here).
    if (u < m) {
      lanes::each(team, m, [&](int j) {
        const double c = cost.via_row(best, u, j) + ((kept[u * ld + j] | state[m + j]) ? unreached : 0.0);
        key[m + j] = c < key[m + j] ? c : key[m + j];
      });
    } else {
      const int j = u - m;
      if (col_count[j] < n) {
        target_units += n - col_count[j];
        if (target_units >= surplus) break;
      }
      lanes::each(team, m, [&](int i) {
        const double c = cost.via_col(best, i, j) + (((kept[i * ld + j] ^ 1) | state[i]) ? unreached : 0.0);
        key[i] = c < key[i] ? c : key[i];
      });
    }
  }
  lanes::sync(team);  // (the path searches read every node's entries)
  return horizon;
}

/// Phase 2b: augments along paths of tight arcs between settled nodes, decrementing `left`
/// (the surplus) once per unit routed. Such a path is a shortest path, so any set of them
/// keeps the flow optimal for its supplies; flipping one changes which arcs exist, so later
/// ones use the arcs left. From each settled deficient column, depth-first searches walk back
/// over tight predecessors in index order to a root (a column with surplus left). A node
/// resumes its scan where it stopped (an arc once tried is used up or leads nowhere) and a
/// node left without reaching a root is dead (arcs are only used up), so a pass scans each
/// arc about once. The first search always succeeds: Dijkstra's own path is there.
/// `walk` is either the tile's lanes (their scans for a tight predecessor in parallel) or
/// lanes::OneLane (a plain loop on one lane); the backend chooses (LaunchShape::parallel_search).
template <class Shape, class Walk, class Real>
KOKKOS_INLINE_FUNCTION void exact_augment(const Walk& walk, const rounding::TileMask& mask,
                                          const ExactCosts<Real>& cost, const ExactWorkspace& ws, int& left) {
  const int m = tile_order<Shape>(mask), n = tile_kept<Shape>(mask), ld = mask.ld;
  std::uint8_t* const kept = mask.kept;
  int* const col_count = mask.col_count;
  const double* const dist = ws.dist;
  int* const state = ws.state;
  int* const cursor = ws.cursor;
  int* const next = ws.next;
  for (bool again = true; again && left > 0;) {
    int routed = 0;
    bool cycle = false;
    lanes::for_each(walk, 2 * m, [&](int v) {
      cursor[v] = 0;
      state[v] = state[v] == node_open ? node_open : node_settled;
    });
    for (int t = m; t < 2 * m; ++t) {
      while (col_count[t - m] < n && state[t] == node_settled) {
        lanes::single(walk, [&]() { state[t] = node_on_path; });
        int v = t;  // the search stands at node v; predecessors of rows are columns and vice versa
        while (true) {
          const int side = v < m ? m : 0, from = cursor[v];
          auto tight = [&](int p) {
            return side ? kept[v * ld + p] && cost.via_col(dist[m + p], v, p) == dist[v]
                        : !kept[p * ld + v - m] && cost.via_row(dist[p], p, v - m) == dist[v];
          };
          // The first settled tight predecessor, and whether tight ones already on the path come
          // before it (skipped: zero-cost cycles, from ties).
          const lanes::FirstHit hit = lanes::first_hit(walk, m - from, [&](int q) {
            const int s = state[side + from + q];
            return (s == node_settled || s == node_on_path) && tight(from + q) ? (s == node_settled ? 1 : 2) : 0;
          });
          const int p = from + hit.index;
          cycle = cycle || hit.earlier;
          lanes::single(walk, [&]() { cursor[v] = p + 1; });
          if (p == m) {
            lanes::single(walk, [&]() { state[v] = node_dead; });
            if (v == t) break;
            v = next[v];
          } else if (side == 0 || col_count[p] <= n) {
            lanes::single(walk, [&]() {
              state[side + p] = node_on_path;
              next[side + p] = v;
            });
            v = side + p;
          } else {
            // A root: flip the path from it, dropping (r, c) and keeping (r, next[r]).
            lanes::single(walk, [&]() {
              next[m + p] = v;
              for (int c = m + p;;) {
                const int r = next[c], c_next = next[r];
                kept[r * ld + c - m] = 0;
                kept[r * ld + c_next - m] = 1;
                --col_count[c - m];
                ++col_count[c_next - m];
                state[r] = state[c_next] = node_settled;
                if (c_next == t) break;
                c = c_next;
              }
            });
            --left;
            ++routed;
            break;
          }
        }
      }
    }
    // A search skips tight predecessors already on its path (zero-cost cycles, from ties), so
    // it may miss paths that a fresh pass over the same arcs finds.
    again = routed > 0 && cycle;
  }
}

/// Tiles of m ≤ 4, solved by enumeration: rows 0 … m−2 take every n-subset of the columns (in
/// increasing bit order, row 0 outermost), the last row the columns still one short; the first
/// N-regular mask with the largest Σ A (each row summed left to right, then the rows top to
/// bottom, in double) wins. At most 6³ = 216 candidates (2:4: 90 regular), each a few
/// additions and bit operations. Non-finite scores leave an empty (irregular) mask, as the
/// phases do.
/// The 90 transposable 2:4 masks of a 4×4 tile in exact_enumerate's order, each as its rows'
/// column subsets (two-column subsets, as indices in increasing bit order, and as bits), for the
/// kernel compiled for 2:4: its loop then has constant indices (the row sums stay in registers)
/// and no invalid candidates.
struct Masks24 {
  int row[90][4];  // subset indices
  int bits[90];    // the four rows' subsets, 4 bits each, row 0 lowest
  static KOKKOS_INLINE_FUNCTION constexpr int subset(int k) {
    return k < 3 ? (k == 0 ? 3 : k == 1 ? 5 : 6) : (k == 3 ? 9 : k == 4 ? 10 : 12);
  }
  static KOKKOS_INLINE_FUNCTION constexpr Masks24 generate() {
    Masks24 t{};
    int c = 0;
    for (int k0 = 0; k0 < 6; ++k0)
      for (int k1 = 0; k1 < 6; ++k1)
        for (int k2 = 0; k2 < 6; ++k2) {
          const int s0 = subset(k0), s1 = subset(k1), s2 = subset(k2);
          const int low = s0 ^ s1 ^ s2, high = (s0 & s1) | (s0 & s2) | (s1 & s2);
          const int once = ~high & low & 15, twice = high & ~low & 15;  // columns holding 1 and 2
          if ((once | twice) != 15) continue;
          for (int k3 = 0; k3 < 6; ++k3)
            if (subset(k3) == once) {
              t.row[c][0] = k0;
              t.row[c][1] = k1;
              t.row[c][2] = k2;
              t.row[c][3] = k3;
              t.bits[c] = s0 | s1 << 4 | s2 << 8 | once << 12;
              ++c;
            }
        }
    return t;
  }
};

template <class Shape, class Real>
KOKKOS_INLINE_FUNCTION void exact_enumerate(const rounding::TileMask& mask, const ExactCosts<Real>& cost) {
  const int m = tile_order<Shape>(mask), n = tile_kept<Shape>(mask), ld = mask.ld, last = m - 1, full = (1 << m) - 1;
  if constexpr (Shape::m == 4 && Shape::n == 2) {
    double sum[4][6];  // sum[i][k]: row i over subset k, left to right
    bool finite = true;
    const auto row_sums = [&](auto k) {
      constexpr int s = Masks24::subset(decltype(k)::value);
      constexpr int j1 = s & 1 ? 0 : s & 2 ? 1 : 2, j2 = s & 8 ? 3 : s & 4 ? 2 : 1;  // its two columns
      for (int i = 0; i < 4; ++i) {
        sum[i][decltype(k)::value] = cost.a(i, j1) + cost.a(i, j2);
        finite = finite && sum[i][decltype(k)::value] - sum[i][decltype(k)::value] == 0.0;
      }
    };
    for_each_constant(row_sums, std::make_integer_sequence<int, 6>{});
    double best = 0.0;
    int chosen = -1;
    const auto candidate = [&](auto c) {
      constexpr Masks24 table = Masks24::generate();
      constexpr int t = decltype(c)::value;
      const double total = ((sum[0][table.row[t][0]] + sum[1][table.row[t][1]]) + sum[2][table.row[t][2]]) +
                           sum[3][table.row[t][3]];
      if (chosen < 0 || total > best) {
        best = total;
        chosen = table.bits[t];
      }
    };
    for_each_constant(candidate, std::make_integer_sequence<int, 90>{});
    for (int i = 0; i < 4; ++i) {
      const int s = finite ? (chosen >> (4 * i)) & 15 : 0;
      for (int j = 0; j < 4; ++j) mask.kept[i * ld + j] = static_cast<std::uint8_t>((s >> j) & 1);
      mask.row_count[i] = mask.col_count[i] = finite ? 2 : 0;
    }
    return;
  }
  bool finite = true;
  // row_sum[i][s]: Σ A_ij over the columns j of subset s (bit j), left to right.
  double row_sum[4][16];
  int subset[6] = {0, 0, 0, 0, 0, 0}, subsets = 0;  // C(4, 2) = 6 at most
  for (int s = 1; s <= full; ++s) {
    int bits = 0;
    for (int j = 0; j < m; ++j) bits += (s >> j) & 1;
    if (bits != n) continue;
    subset[subsets++] = s;
    for (int i = 0; i < m; ++i) {
      double t = 0.0;
      for (int j = 0; j < m; ++j)
        if ((s >> j) & 1) t += cost.a(i, j);
      finite = finite && t - t == 0.0;
      row_sum[i][s] = t;
    }
  }
  // Column counts after rows 0 … 2 in two bit planes (count = 2·high + low, at most 3); the
  // columns holding count k: (k & 2 ? high : ~high) & (k & 1 ? low : ~low). Rows beyond m − 2
  // run their loop once with the empty set (m < 4).
  const auto holding = [full](int k, int high, int low) {
    return ((k & 2) ? high : ~high) & ((k & 1) ? low : ~low) & full;
  };
  const int count1 = last > 1 ? subsets : 1, count2 = last > 2 ? subsets : 1;
  double best = 0.0;
  int chosen[4] = {0, 0, 0, 0};
  bool found = false;
  for (int k0 = 0; finite && k0 < subsets; ++k0) {
    const int s0 = subset[k0];
    const double t0 = row_sum[0][s0];
    for (int k1 = 0; k1 < count1; ++k1) {
      const int s1 = last > 1 ? subset[k1] : 0;
      const double t1 = last > 1 ? t0 + row_sum[1][s1] : t0;
      for (int k2 = 0; k2 < count2; ++k2) {
        const int s2 = last > 2 ? subset[k2] : 0;
        const int low = s0 ^ s1 ^ s2, high = (s0 & s1) | (s0 & s2) | (s1 & s2);
        const int one_short = holding(n - 1, high, low);
        if ((one_short | holding(n, high, low)) != full) continue;
        const double total = (last > 2 ? t1 + row_sum[2][s2] : t1) + row_sum[last][one_short];
        if (!found || total > best) {
          found = true;
          best = total;
          chosen[0] = s0;
          chosen[1] = s1;
          chosen[2] = s2;
          chosen[last] = one_short;
        }
      }
    }
  }
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < m; ++j) mask.kept[i * ld + j] = found ? static_cast<std::uint8_t>((chosen[i] >> j) & 1) : 0;
    mask.row_count[i] = mask.col_count[i] = found ? n : 0;
  }
}

/// The 2:4 tiles that exact_enumerate_tiles enumerates at once: a tile in each of eight double lanes.
constexpr int enumerated_tiles = 8;

/// Tiles a host thread solves at once with the exact method and this compiled shape: enumerated_tiles for
/// 2:4 where the host compiler has vector extensions (exact_enumerate_tiles), else 1.
template <class Shape, class Member>
constexpr int exact_tiles_at_once() {
#if defined(TSENOR_HOST_VECTORS)
  if constexpr (lanes::single_lane<Member> && Shape::m == 4 && Shape::n == 2) return enumerated_tiles;
#endif
  return 1;
}

#if defined(TSENOR_HOST_VECTORS)
/// exact_enumerate at 2:4 for enumerated_tiles tiles, a tile in each lane of vectors of `bytes` bytes (rounds
/// of 2 with 16, of 4 with 32): the same row sums and totals in double, and the same winner — the first of
/// the 90 candidates with the largest total. Candidates run as six chains, one per row-0 subset (15
/// consecutive candidates each, a strict > inside), then the chains are joined in order with a strict >
/// again, so the first largest wins as in the single chain (no total is NaN: the row sums are finite).
/// No branches, where one tile's enumeration is a chain of 90 data-dependent ones.
template <int bytes, class Real>
inline void exact_enumerate_tiles_vectors(const rounding::TileMask* mask, const ExactCosts<Real>* cost) {
  using Lanes = HostVector<double, enumerated_tiles, bytes>;
  using Vec = typename Lanes::type;
  using Bits = typename HostVector<long long, enumerated_tiles, bytes>::type;
  constexpr int lanes = Lanes::lanes;
  constexpr Masks24 table = Masks24::generate();
  for (int first = 0; first < enumerated_tiles; first += lanes) {
    Vec a[4][4];  // a[i][j]: A_ij of each lane's tile
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j)
        for (int l = 0; l < lanes; ++l) a[i][j][l] = cost[first + l].a(i, j);
    Vec sum[4][6];  // as exact_enumerate's
    Bits finite = Bits{} == Bits{};
    const auto row_sums = [&](auto k) {
      constexpr int s = Masks24::subset(decltype(k)::value);
      constexpr int j1 = s & 1 ? 0 : s & 2 ? 1 : 2, j2 = s & 8 ? 3 : s & 4 ? 2 : 1;
      for (int i = 0; i < 4; ++i) {
        const Vec t = a[i][j1] + a[i][j2];
        sum[i][decltype(k)::value] = t;
        finite &= t - t == Vec{};
      }
    };
    for_each_constant(row_sums, std::make_integer_sequence<int, 6>{});
    Vec best[6];
    Bits chosen[6];
    const auto candidate = [&](auto c) {
      constexpr int t = decltype(c)::value, chain = table.row[t][0];
      const Vec total = ((sum[0][table.row[t][0]] + sum[1][table.row[t][1]]) + sum[2][table.row[t][2]]) +
                        sum[3][table.row[t][3]];
      if constexpr (t == 0 || table.row[t > 0 ? t - 1 : 0][0] != chain) {
        best[chain] = total;
        chosen[chain] = Bits{} + table.bits[t];
      } else {
        const Bits larger = total > best[chain];
        best[chain] = larger ? total : best[chain];
        chosen[chain] = larger ? Bits{} + table.bits[t] : chosen[chain];
      }
    };
    for_each_constant(candidate, std::make_integer_sequence<int, 90>{});
    for (int chain = 1; chain < 6; ++chain) {
      const Bits larger = best[chain] > best[0];
      best[0] = larger ? best[chain] : best[0];
      chosen[0] = larger ? chosen[chain] : chosen[0];
    }
    for (int l = 0; l < lanes; ++l) {
      const rounding::TileMask& tile = mask[first + l];
      const int bits = finite[l] ? static_cast<int>(chosen[0][l]) : 0, count = finite[l] ? 2 : 0;
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) tile.kept[i * tile.ld + j] = static_cast<std::uint8_t>((bits >> (4 * i + j)) & 1);
        tile.row_count[i] = tile.col_count[i] = count;
      }
    }
  }
}

#if defined(__x86_64__) && !defined(__AVX512F__)
/// x86-64 builds for targets without AVX-512 (the default): the enumeration with 64-byte vectors where
/// the CPU has AVX-512 (as exact_dual_start_avx2; 8 tiles a round, mask registers for the selects).
#define TSENOR_HOST_AVX512 1
inline bool host_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}
template <class Real>
__attribute__((target("avx512f"), flatten)) void exact_enumerate_tiles_avx512(const rounding::TileMask* mask,
                                                                             const ExactCosts<Real>* cost) {
  exact_enumerate_tiles_vectors<64, Real>(mask, cost);
}
#endif
#if defined(TSENOR_HOST_AVX2)
template <class Real>
__attribute__((target("avx2"), flatten)) void exact_enumerate_tiles_avx2(const rounding::TileMask* mask,
                                                                         const ExactCosts<Real>* cost) {
  exact_enumerate_tiles_vectors<32, Real>(mask, cost);
}
#endif

/// exact_enumerate for enumerated_tiles tiles (2:4 on a host), mask[k] from cost[k], with the widest
/// vectors the CPU has up to 64 bytes (the selects take one mask register instead of two-operation blends:
/// AVX-512 ~20 ms against AVX2's ~31 ms for launch_mask 4096² on 2 cores in session 17's uncommitted
/// experiment; the committed way to time it now: bench_device --launch). ALPS 4096² on 2 Xeon cores: its
/// projection 68–69 → 25–31 ms (perf/results/h200/README.md, session 17).
template <class Real>
inline void exact_enumerate_tiles(const rounding::TileMask* mask, const ExactCosts<Real>* cost) {
#if defined(__AVX512F__)
  exact_enumerate_tiles_vectors<64>(mask, cost);
#else
#if defined(TSENOR_HOST_AVX512)
  if (host_avx512()) return exact_enumerate_tiles_avx512(mask, cost);
#endif
#if defined(TSENOR_HOST_AVX2)
  if (host_avx2()) return exact_enumerate_tiles_avx2(mask, cost);
#endif
  exact_enumerate_tiles_vectors<host_vector_bytes>(mask, cost);
#endif
}
#endif
}  // namespace detail

/// Solves the tile exactly with the lanes of `team`: 0 < n < m ≤ 128, finite scores (others
/// make it stop with an irregular mask). `score` has the mask's leading dimension. Returns
/// the number of phases (Dijkstra runs; 0 for tiles of m ≤ 4, which are enumerated).
/// Shape: the m and n compiled in (constant loop bounds and only that order's code; a constant
/// n also lets the compiler drop the parts of the selection networks that do not lead to the
/// ranks n and n + 1), which must then equal mask.m and mask.n; 0 (the default) for any. Every
/// shape gives the same mask.
template <class Shape = TileShape<>, class Member, class Real>
KOKKOS_INLINE_FUNCTION int exact_solve_tile(const Member& team, const rounding::TileMask& mask, const Real* score,
                                            const ExactWorkspace& ws, ExactTuning tuning) {
  const int m = detail::tile_order<Shape>(mask);
  const detail::ExactCosts<Real> cost = detail::exact_costs<Shape>(team, mask, score, ws.potential);
  if constexpr (Shape::m <= 4) {  // (no enumeration compiled for larger orders)
    if (m <= 4) {
      lanes::single(team, [&]() { detail::exact_enumerate<Shape>(mask, cost); });
      return 0;
    }
  }
  int surplus = detail::exact_dual_start<Shape>(team, mask, cost, ws, tuning.select_by_rank, tuning.float_final);
  int phases = 0;
  while (surplus > 0) {
    ++phases;
    const int surplus_before = surplus;
    const double horizon = detail::exact_dijkstra<Shape>(team, mask, cost, ws, surplus);
    if (tuning.parallel_search) {
      detail::exact_augment<Shape>(team, mask, cost, ws, surplus);
    } else {
      lanes::single(team, [&](int& left) { detail::exact_augment<Shape>(lanes::OneLane{}, mask, cost, ws, left); }, surplus);
    }
    // With finite scores the first search always succeeds; only non-finite ones (which
    // callers reject) can stall a phase. Stop then: the irregular mask reports it.
    if (surplus == surplus_before) break;
    // Potentials: π ← π − min(dist, horizon) keeps every residual reduced cost ≥ 0 and
    // makes every arc of a shortest path among settled nodes tight (cost 0).
    lanes::for_each(team, 2 * m, [&](int v) {
      ws.potential[v] -= ws.state[v] != detail::node_open ? ws.dist[v] : horizon;
    });
  }
  return phases;
}

}  // namespace tsenor
