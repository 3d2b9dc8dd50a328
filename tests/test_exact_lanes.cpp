// The exact method's equivalent dual-start selections (quickselect on one lane, rank
// counting on many, sorting networks for lines of up to 32 entries), tile padding and the
// solver compiled for one M must give the same tile masks bit for bit: GPUs use one set of
// choices, CPUs another.
#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
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
namespace {

// f(n, m, tile) for eight m×m tiles (row-major) of every score family (seed + m) at the hosts' vector shapes:
// M = 8, 16, 32 with N = M/2 and an odd N.
template <class F>
void for_each_host_shape_tile(int seed, const F& f) {
  for (const auto& nm : std::vector<std::pair<int, int>>{{4, 8}, {3, 8}, {8, 16}, {5, 16}, {16, 32}, {11, 32}}) {
    const int n = nm.first, m = nm.second, tiles = 8;
    for (const auto& family : all_families()) {
      CAPTURE(n);
      CAPTURE(m);
      CAPTURE(family);
      const auto a = make_scores(family, m, tiles * m, seed + m);
      for (int t = 0; t < tiles; ++t) {
        std::vector<float> tile(static_cast<std::size_t>(m) * m);
        for (int i = 0; i < m; ++i)
          for (int j = 0; j < m; ++j) tile[i * m + j] = static_cast<float>(a[i * tiles * m + t * m + j]);
        f(n, m, tile);
      }
    }
  }
}

}  // namespace

// Hosts' vector dual start with either vector width — 16 bytes (SSE; CPUs without AVX2) and 32 (AVX2, or
// lowered to pairs of 16-byte operations here when the build does not target AVX) — against the one-line
// path: the same potentials, row-optimal mask and column counts, bit for bit. (exact_solve_tile runs one
// width per CPU, so the suite on an AVX2 machine would not see the other.)
TEST_CASE("the hosts' vector dual start gives the one-line bits with 16- and 32-byte vectors") {
  for_each_host_shape_tile(70, [](int n, int m, const std::vector<float>& tile) {
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
  });
}

// Hosts' Dijkstra (exact_dijkstra_host: the rows' and the columns' least keys apart) with 16- and 32-byte vectors
// against the scan of the union (the one-line path, TileShape<>), after the same dual start: the same horizon,
// node states and keys, and the same distances of the settled nodes, bit for bit.
TEST_CASE("the hosts' Dijkstra settles the union scan's nodes at its distances with 16- and 32-byte vectors") {
  int searched = 0;
  for_each_host_shape_tile(90, [&](int n, int m, const std::vector<float>& tile) {
    // [0]: the union scan, [1] and [2]: exact_dijkstra_host with 16 and 32 bytes.
    std::vector<double> found[3];
    for (int way = 0; way < 3; ++way) {
      on_tile(tile, n, m, 0, [&](const auto& team, const tsenor::TileWorkspace<float>& ws) {
        tsenor::detail::with_exact_shape(m, n, [&](auto shape) {
          using Shape = decltype(shape);
          if constexpr (Shape::m >= 8) {
            const auto cost = tsenor::detail::exact_costs<Shape>(team, ws.mask, ws.score, ws.exact.potential);
            const int surplus = tsenor::detail::exact_dual_start<Shape>(team, ws.mask, cost, ws.exact, false, false);
            if (surplus == 0) return;
            using tsenor::detail::exact_dijkstra_host;
            const double horizon =
                way == 0 ? tsenor::detail::exact_dijkstra<tsenor::TileShape<>>(team, ws.mask, cost, ws.exact, surplus)
                : way == 1 ? exact_dijkstra_host<16, Shape>(ws.mask, cost, ws.exact, surplus)
                           : exact_dijkstra_host<32, Shape>(ws.mask, cost, ws.exact, surplus);
            found[way].push_back(horizon);
            for (int v = 0; v < 2 * m; ++v) {
              found[way].push_back(ws.exact.state[v]);
              found[way].push_back(ws.exact.key[v]);
              found[way].push_back(ws.exact.state[v] == tsenor::detail::node_settled ? ws.exact.dist[v] : -1.0);
            }
          }
        });
      });
    }
    searched += !found[0].empty();
    for (int way = 1; way < 3; ++way) {
      CAPTURE(way);
      CHECK(found[way] == found[0]);
    }
  });
  CHECK(searched >= 100);  // (tiles whose dual start left a surplus: the comparison above is not empty)
}
#endif

#if defined(TSENOR_HOST_VECTORS)
namespace {

// The 2:4 masks and row and column counts of eight 4×4 tiles (`scores`: tile after tile, each row-major):
// way 0 tile by tile (exact_enumerate), 16/32/64 by exact_enumerate_tiles_vectors with that many bytes
// (lowered to narrower operations where the build does not target them), 1 by exact_enumerate_tiles (the
// widest vectors this CPU has). Every byte of each tile's output.
template <class Real>
std::vector<int> enumerated(const std::vector<Real>& scores, int way) {
  std::vector<std::uint8_t> kept(8 * 16, 7);
  std::vector<int> counts(8 * 8, -1), out;
  using Policy = Kokkos::TeamPolicy<Kokkos::DefaultHostExecutionSpace>;
  Kokkos::parallel_for(Policy(1, 1), [&](const Policy::member_type& team) {
    tsenor::rounding::TileMask mask[8];
    tsenor::detail::ExactCosts<Real> cost[8];
    for (int k = 0; k < 8; ++k) {
      mask[k].m = 4;
      mask[k].n = 2;
      mask[k].ld = 4;
      mask[k].kept = kept.data() + 16 * k;
      mask[k].row_count = counts.data() + 8 * k;
      mask[k].col_count = counts.data() + 8 * k + 4;
      cost[k] = tsenor::detail::exact_costs<tsenor::TileShape<4, 2>>(team, mask[k], scores.data() + 16 * k, nullptr);
    }
    using tsenor::detail::exact_enumerate_tiles_vectors;
    if (way == 0)
      for (int k = 0; k < 8; ++k) tsenor::detail::exact_enumerate<tsenor::TileShape<4, 2>>(mask[k], cost[k]);
    if (way == 1) tsenor::detail::exact_enumerate_tiles(mask, cost);
    if (way == 16) exact_enumerate_tiles_vectors<16>(mask, cost);
    if (way == 32) exact_enumerate_tiles_vectors<32>(mask, cost);
    if (way == 64) exact_enumerate_tiles_vectors<64>(mask, cost);
  });
  Kokkos::fence();
  out.assign(kept.begin(), kept.end());
  out.insert(out.end(), counts.begin(), counts.end());
  return out;
}

}  // namespace

// Hosts solve 2:4 eight tiles at once, a tile in each vector lane (exact_enumerate_tiles): every width
// against the one-tile enumeration, on every family, float and double (wide_range in double exercises
// the 2^-512 scale), with ties between candidates, and with NaN and infinite scores (launch_mask does not
// check them: an empty, irregular mask for that tile only).
TEST_CASE("the hosts' 2:4 enumeration of eight tiles at once gives each tile's mask with every vector width") {
  int groups = 0;
  const auto check_all = [&](const auto& scores) {
    ++groups;
    const auto reference = enumerated(scores, 0);
    for (int way : {1, 16, 32, 64}) {
      CAPTURE(way);
      CHECK(enumerated(scores, way) == reference);
    }
  };
  for (const auto& family : all_families()) {
    CAPTURE(family);
    const auto a = make_scores(family, 4, 4 * 8 * 16, 90);  // 16 groups of eight tiles
    for (int g = 0; g < 16; ++g) {
      std::vector<double> tiles(8 * 16);
      for (int k = 0; k < 8; ++k)
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) tiles[16 * k + 4 * i + j] = a[i * 4 * 8 * 16 + (8 * g + k) * 4 + j];
      check_all(std::vector<float>(tiles.begin(), tiles.end()));
      if (family == "wide_range") {
        for (double& v : tiles) v *= 1e270;  // up to 1e300: scaled by 2^-512 in some tiles
        check_all(tiles);
      } else {
        check_all(tiles);
      }
      if (g == 0) {  // non-finite entries in tiles 2 and 5
        std::vector<float> bad(tiles.begin(), tiles.end());
        bad[16 * 2 + 5] = std::numeric_limits<float>::quiet_NaN();
        bad[16 * 5 + 15] = std::numeric_limits<float>::infinity();
        check_all(bad);
        const auto masks = enumerated(bad, 1);
        CHECK(std::all_of(masks.begin() + 32, masks.begin() + 48, [](int v) { return v == 0; }));
      }
    }
  }
  CHECK(groups == 8 * 16 * 2 + 8);
}
#endif

// The batched launch at 2:4, where hosts solve eight consecutive tiles at once: a ragged batch of three
// matrices whose 77 tiles each (7 × 11, the last row and column of tiles padded) put groups across tile
// rows and matrices and leave a last group short. Every tile's mask is the one-tile solver's.
TEST_CASE("2:4 launches over groups of tiles give every tile the one-tile mask, across rows, matrices and borders") {
  const int b = 3, rows = 26, cols = 42, tile_rows = 7, tile_cols = 11;
  for (const auto& family : all_families()) {
    CAPTURE(family);
    const auto a = make_scores(family, b * rows, cols, 17);
    const std::vector<float> host(a.begin(), a.end());
    using Exec = Kokkos::DefaultHostExecutionSpace;
    Kokkos::View<float***, Kokkos::LayoutRight, Exec> scores("scores", b, rows, cols);
    Kokkos::View<std::uint8_t***, Kokkos::LayoutRight, Exec> mask("mask", b, rows, cols);
    std::copy(host.begin(), host.end(), scores.data());
    tsenor::Options o;
    o.n = 2;
    o.m = 4;
    o.method = tsenor::Method::exact;
    o.zero_pad = true;
    const tsenor::Summary s = tsenor::compute_mask(Exec(), scores, mask, o);
    CHECK(s.tiles == b * tile_rows * tile_cols);
    CHECK(s.feasible_tiles + s.padded_tiles == s.tiles);
    for (int k = 0; k < b; ++k)
      for (int p = 0; p < tile_rows; ++p)
        for (int q = 0; q < tile_cols; ++q) {
          std::vector<float> tile(16, 0.0f);
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j)
              if (4 * p + i < rows && 4 * q + j < cols) tile[4 * i + j] = scores(k, 4 * p + i, 4 * q + j);
          const auto expected = exact_tile(tile, 2, 4, false, 0);
          bool same = true;
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j)
              if (4 * p + i < rows && 4 * q + j < cols) same = same && mask(k, 4 * p + i, 4 * q + j) == expected[4 * i + j];
          CAPTURE(k);
          CAPTURE(p);
          CAPTURE(q);
          CHECK(same);
        }
  }
}
