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

// The exact mask of one m×m tile (row-major in `scores`) with the given selection (`by_rank`: rank
// counting, the path searches' parallel scan and the float-first last dual pass, as GPUs run them)
// and leading dimension, on the host; with `fixed_shape`, by the solver compiled for m (and n) where
// the batched launches have one (tsenor::detail::with_exact_shape).
std::vector<std::uint8_t> exact_tile(const std::vector<float>& scores, int n, int m, bool by_rank, int pad,
                                     bool fixed_shape = false) {
  using Exec = Kokkos::DefaultHostExecutionSpace;
  using Policy = Kokkos::TeamPolicy<Exec>;
  const int ld = m + pad;
  const std::size_t bytes = tsenor::TileWorkspace<float>::bytes(m, ld, tsenor::Method::exact);
  std::vector<std::uint8_t> mask(static_cast<std::size_t>(m) * m);
  Kokkos::parallel_for(
      Policy(1, 1).set_scratch_size(0, Kokkos::PerTeam(bytes)), [&](const Policy::member_type& team) {
        const tsenor::TileWorkspace<float> ws(static_cast<char*>(team.team_scratch(0).get_shmem(bytes)), m, n, ld,
                                              tsenor::Method::exact);
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < m; ++j) ws.score[i * ld + j] = scores[i * m + j];
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
          for (int j = 0; j < m; ++j) mask[i * m + j] = ws.mask.kept[i * ld + j];
      });
  Kokkos::fence();
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
