// The exact method's equivalent dual-start selections (quickselect on one lane, rank
// counting on many, sorting networks for lines of up to 32 entries), tile padding and the
// solver compiled for one M must give the same tile masks bit for bit: GPUs use one set of
// choices, CPUs another.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <type_traits>
#include <tsenor/tsenor.hpp>
#include <vector>

#include "support/generators.hpp"

using namespace tsenor_test;

namespace {

// The network selection of width W when count fits, else the sorted pair itself.
template <int W>
void network_pair(const std::vector<double>& values, int k, double& kth, double& next) {
  tsenor::detail::kth_largest_pair_by_network<W>([&](int t) { return values[t]; }, static_cast<int>(values.size()), k,
                                                 kth, next);
}

}  // namespace

TEST_CASE("rank counting and the sorting networks return the same pair as quickselect") {
  std::mt19937_64 rng(3);
  for (int count : {2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 32, 64, 128}) {
    for (int distinct : {1, 2, 3, 1000000}) {
      std::uniform_int_distribution<int> d(0, distinct - 1);
      std::vector<double> values(count);
      for (double& v : values) v = 0.5 * d(rng) - 3.0;
      for (int k = 1; k < count; ++k) {
        CAPTURE(count);
        CAPTURE(distinct);
        CAPTURE(k);
        std::vector<double> x(values), tmp(count);
        double kth = 0.0, next = 0.0, kth_rank = 1.0, next_rank = 1.0;
        tsenor::detail::kth_largest_pair(x.data(), tmp.data(), count, k, false, 0.0, kth, next);
        tsenor::detail::kth_largest_pair_by_rank([&](int t) { return values[t]; }, count, k, kth_rank, next_rank);
        CHECK(kth == kth_rank);
        CHECK(next == next_rank);
        std::vector<double> sorted(values);
        std::sort(sorted.rbegin(), sorted.rend());
        CHECK(kth == sorted[k - 1]);
        CHECK(next == sorted[k]);
        // Every width that holds the values (pads below them).
        for (int width : {8, 16, 32}) {
          if (count > width) continue;
          CAPTURE(width);
          double kth_network = 1.0, next_network = 1.0;
          if (width == 8) network_pair<8>(values, k, kth_network, next_network);
          if (width == 16) network_pair<16>(values, k, kth_network, next_network);
          if (width == 32) network_pair<32>(values, k, kth_network, next_network);
          CHECK(kth_network == sorted[k - 1]);
          CHECK(next_network == sorted[k]);
        }
      }
    }
  }
}

namespace {

// Runs f(team, ws) on the host on a tile workspace (exact method, leading dimension m + pad) that holds
// the m×m tile `scores` (row-major).
template <class F>
void on_tile(const std::vector<float>& scores, int n, int m, int pad, const F& f) {
  using Exec = Kokkos::DefaultHostExecutionSpace;
  using Policy = Kokkos::TeamPolicy<Exec>;
  const int ld = m + pad;
  const std::size_t bytes = tsenor::TileWorkspace<float>::bytes(m, ld, tsenor::Method::exact);
  Kokkos::parallel_for(
      Policy(1, 1).set_scratch_size(0, Kokkos::PerTeam(bytes)), [&](const Policy::member_type& team) {
        const tsenor::TileWorkspace<float> ws(static_cast<char*>(team.team_scratch(0).get_shmem(bytes)), m, n, ld,
                                              tsenor::Method::exact);
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < m; ++j) ws.score[i * ld + j] = scores[i * m + j];
        f(team, ws);
      });
  Kokkos::fence();
}

// The exact mask of one m×m tile (row-major in `scores`) with the given selection (`by_rank`: rank
// counting, the path searches' parallel scan and the float-first last dual pass, as GPUs run them)
// and leading dimension, on the host; with `fixed_shape`, by the solver compiled for m (and n) where
// the batched launches have one (tsenor::detail::with_exact_shape).
std::vector<std::uint8_t> exact_tile(const std::vector<float>& scores, int n, int m, bool by_rank, int pad,
                                     bool fixed_shape = false) {
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(m) * m);
  on_tile(scores, n, m, pad, [&](const auto& team, const tsenor::TileWorkspace<float>& ws) {
    tsenor::ExactTuning tuning;
    tuning.select_by_rank = by_rank;
    tuning.parallel_search = by_rank;
    tuning.float_final = by_rank;
    const auto solve = [&](auto shape) {
      tsenor::exact_solve_tile<decltype(shape)>(team, ws.mask, ws.score, ws.exact, tuning);
    };
    if (fixed_shape)
      tsenor::detail::with_exact_shape(m, n, solve);
    else
      solve(tsenor::TileShape<>{});
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < m; ++j) mask[i * m + j] = ws.mask.kept[i * ws.mask.ld + j];
  });
  return mask;
}

}  // namespace

// (On hosts the compiled shapes of m = 8 … 32 run the dual start's selections a vector of lines at a
// time, TSENOR_HOST_VECTORS: the comparison with TileShape<> checks that path against the one-line one.)
TEST_CASE("exact tiles do not depend on the selection routine, the row padding or a compiled shape") {
  for (const auto& nm : std::vector<std::pair<int, int>>{{2, 4}, {3, 8}, {4, 8}, {8, 16}, {5, 16}, {16, 32}, {20, 64}}) {
    const int n = nm.first, m = nm.second;
    for (const auto& family : all_families()) {
      CAPTURE(n);
      CAPTURE(m);
      CAPTURE(family);
      const int tiles = m <= 16 ? 32 : m <= 32 ? 8 : 2;
      const auto a = make_scores(family, m, tiles * m, 40 + m);
      for (int t = 0; t < tiles; ++t) {
        std::vector<float> tile(static_cast<std::size_t>(m) * m);
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < m; ++j) tile[i * m + j] = static_cast<float>(a[i * tiles * m + t * m + j]);
        const auto reference = exact_tile(tile, n, m, false, 0);
        CHECK(exact_tile(tile, n, m, true, 0) == reference);
        CHECK(exact_tile(tile, n, m, true, 1) == reference);
        CHECK(exact_tile(tile, n, m, false, 3) == reference);
        if (m <= 32) CHECK(exact_tile(tile, n, m, false, 1, true) == reference);
      }
    }
  }
}

#if defined(TSENOR_HOST_VECTORS)
// Hosts' vector dual start with either vector width — 16 bytes (SSE; CPUs without AVX2) and 32 (AVX2, or
// lowered to pairs of 16-byte operations here when the build does not target AVX) — against the one-line
// path: the same potentials, row-optimal mask and column counts, bit for bit. (exact_solve_tile runs one
// width per CPU, so the suite on an AVX2 machine would not see the other.)
TEST_CASE("the hosts' vector dual start gives the one-line bits with 16- and 32-byte vectors") {
  for (const auto& nm : std::vector<std::pair<int, int>>{{4, 8}, {3, 8}, {8, 16}, {5, 16}, {16, 32}, {11, 32}}) {
    const int n = nm.first, m = nm.second, tiles = 8;
    for (const auto& family : all_families()) {
      CAPTURE(n);
      CAPTURE(m);
      CAPTURE(family);
      const auto a = make_scores(family, m, tiles * m, 70 + m);
      for (int t = 0; t < tiles; ++t) {
        std::vector<float> tile(static_cast<std::size_t>(m) * m);
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < m; ++j) tile[i * m + j] = static_cast<float>(a[i * tiles * m + t * m + j]);
        // [0]: the one-line path (TileShape<>), [1] and [2]: the vector path with 16 and 32 bytes.
        std::vector<double> potential[3];
        std::vector<std::uint8_t> kept[3];
        std::vector<int> columns[3];
        for (int way = 0; way < 3; ++way) {
          on_tile(tile, n, m, 0, [&](const auto& team, const tsenor::TileWorkspace<float>& ws) {
            if (way == 0) {
              const auto cost =
                  tsenor::detail::exact_costs<tsenor::TileShape<>>(team, ws.mask, ws.score, ws.exact.potential);
              tsenor::detail::exact_dual_start<tsenor::TileShape<>>(team, ws.mask, cost, ws.exact, false, false);
            } else {
              tsenor::detail::with_exact_shape(m, n, [&](auto shape) {
                using Shape = decltype(shape);
                if constexpr (Shape::m >= 8 && Shape::m <= 32) {
                  const int passes = tsenor::detail::exact_dual_passes(m);
                  if (way == 1)
                    tsenor::detail::exact_dual_start_vectors<16, Shape>(ws.mask, ws.score, ws.exact.dist,
                                                                        ws.exact.potential, passes);
                  else
                    tsenor::detail::exact_dual_start_vectors<32, Shape>(ws.mask, ws.score, ws.exact.dist,
                                                                        ws.exact.potential, passes);
                }
              });
            }
            potential[way].assign(ws.exact.potential, ws.exact.potential + 2 * m);
            kept[way].assign(ws.mask.kept, ws.mask.kept + m * m);
            columns[way].assign(ws.mask.col_count, ws.mask.col_count + m);
          });
        }
        for (int way = 1; way < 3; ++way) {
          CAPTURE(way);
          CHECK(potential[way] == potential[0]);
          CHECK(kept[way] == kept[0]);
          CHECK(columns[way] == columns[0]);
        }
      }
    }
  }
}
#endif
