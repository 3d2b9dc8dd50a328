// Every tile of every mask is exactly N-regular: all methods, many patterns, random and
// adversarial scores, float and double.
#include <doctest/doctest.h>

#include <tsenor/tsenor.hpp>

#include "support/backend.hpp"
#include "support/check.hpp"
#include "support/generators.hpp"

using namespace tsenor_test;

namespace {

template <class Real>
std::vector<std::uint8_t> solve(const std::vector<double>& a, int rows, int cols, tsenor::Options o,
                                tsenor::Summary* summary = nullptr) {
  std::vector<Real> scores(a.begin(), a.end());
  std::vector<std::uint8_t> mask(a.size(), 7);
  with_backend([&](auto exec) {
    const tsenor::Summary s = tsenor::compute_mask(exec, scores.data(), rows, cols, cols, 1, mask.data(), o);
    if (summary) *summary = s;
  });
  return mask;
}

}  // namespace

TEST_CASE("every tile is N-regular for every method, pattern and score family") {
  const std::vector<std::pair<int, int>> patterns = {{2, 4}, {1, 4}, {3, 4}, {4, 8},  {3, 8},
                                                     {7, 8}, {8, 16}, {5, 16}, {16, 32}, {32, 64}};
  for (auto method : {tsenor::Method::exact, tsenor::Method::entropic, tsenor::Method::greedy}) {
    for (const auto& nm : patterns) {
      const int n = nm.first, m = nm.second;
      for (const auto& family : all_families()) {
        CAPTURE(tsenor::method_name(method));
        CAPTURE(n);
        CAPTURE(m);
        CAPTURE(family);
        const int rows = 2 * m, cols = 3 * m;
        const auto a = make_scores(family, rows, cols, 11u * n + m);
        tsenor::Options o;
        o.n = n;
        o.m = m;
        o.method = method;
        o.max_iterations = 60;  // validity must not depend on convergence
        tsenor::Summary s;
        const auto mask = solve<float>(a, rows, cols, o, &s);
        CHECK(irregular_tiles(mask, rows, cols, n, m) == 0);
        CHECK(s.feasible_tiles == s.tiles);
        CHECK(s.tiles == 6);
      }
    }
  }
}

TEST_CASE("double scores and extreme ranges stay valid, also at extreme tau") {
  for (double tau : {0.5, 50.0, 1000.0, 1e6}) {
    CAPTURE(tau);
    const auto a = make_scores("wide_range", 32, 32, 5);
    tsenor::Options o;
    o.n = 8;
    o.m = 16;
    o.method = tsenor::Method::entropic;
    o.tau = tau;
    CHECK(irregular_tiles(solve<double>(a, 32, 32, o), 32, 32, 8, 16) == 0);
    CHECK(irregular_tiles(solve<float>(a, 32, 32, o), 32, 32, 8, 16) == 0);
  }
}

TEST_CASE("the summary adds up the tiles") {
  const auto a = make_scores("gaussian", 64, 64, 3);
  tsenor::Options o;
  o.n = 4;
  o.m = 8;
  o.method = tsenor::Method::exact;
  tsenor::Summary s;
  const auto mask = solve<double>(a, 64, 64, o, &s);
  double kept = 0.0, total = 0.0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    total += a[k];
    kept += mask[k] ? a[k] : 0.0;
  }
  CHECK(s.tiles == 64);
  CHECK(s.rows == 64);
  CHECK(s.cols == 64);
  CHECK(s.method == tsenor::Method::exact);
  CHECK(s.objective == doctest::Approx(kept).epsilon(1e-12));
  CHECK(s.total_score == doctest::Approx(total).epsilon(1e-12));
}

TEST_CASE("zero padding crops border tiles and keeps at most N per row and column") {
  const int rows = 21, cols = 13, n = 2, m = 4;
  const auto a = make_scores("gaussian", rows, cols, 9);
  tsenor::Options o;
  o.n = n;
  o.m = m;
  o.zero_pad = true;
  tsenor::Summary s;
  const auto mask = solve<float>(a, rows, cols, o, &s);
  CHECK(s.tiles == 6 * 4);
  CHECK(s.padded_tiles == 6 + 4 - 1);
  CHECK(s.feasible_tiles == s.tiles - s.padded_tiles);  // a cropped border tile is not N-regular
  CHECK(s.invalid_tiles == 0);
  for (int r = 0; r < rows; ++r)
    for (int q = 0; q * m < cols; ++q) {
      int kept = 0;
      for (int c = q * m; c < std::min(cols, q * m + m); ++c) kept += mask[r * cols + c];
      CHECK(kept <= n);
      if (r < 20 && q < 3) CHECK(kept == n);
    }
}

namespace {

// Page-locked staging buffers allocated, counted through Kokkos Tools' allocation callback.
int staging_allocations = 0;
void count_staging(Kokkos_Profiling_SpaceHandle, const char* label, const void*, std::uint64_t) {
  if (std::string(label) == "tsenor::staging") ++staging_allocations;
}

}  // namespace

TEST_CASE("reserve_host_data makes the staging buffers that the next host-data call takes") {
  // The other tests' host-data calls are far smaller, so no buffer kept from them is large enough for this one.
  const int rows = 2048, cols = 2048;
  const auto a = make_scores("gaussian", rows, cols, 79);
  tsenor::Options o;
  o.n = 2;
  o.m = 4;
  o.device_memory = std::size_t(16) << 20;  // on a GPU: chunks of 488 rows, ~5 MiB staging buffers
  const auto reference = solve<float>(a, rows, cols, o);
  o.device_memory = std::size_t(32) << 20;  // two chunks of 1308 rows, ~13 MiB buffers: none kept fits
  struct Count {
    Count() { Kokkos::Tools::Experimental::set_allocate_data_callback(count_staging); }
    ~Count() { Kokkos::Tools::Experimental::set_allocate_data_callback(nullptr); }
  } count;
  with_backend([&](auto exec) {
    using Exec = decltype(exec);
    staging_allocations = 0;
    tsenor::reserve_host_data<float>(exec, rows, cols, o);
    const bool device = !Kokkos::SpaceAccessibility<Exec, Kokkos::HostSpace>::accessible;
    INFO("fewer on a GPU: a buffer kept from an earlier test was large enough (this test needs ~13 MiB ones)");
    CHECK(staging_allocations == (device ? tsenor::detail::HostDataPlan<float>(rows, cols, o).slots : 0));
    if (device) CHECK(tsenor::detail::HostDataPlan<float>(rows, cols, o).slots == 2);
  });
  staging_allocations = 0;
  CHECK(solve<float>(a, rows, cols, o) == reference);
  CHECK(staging_allocations == 0);
  with_backend([&](auto exec) {
    using Exec = decltype(exec);
    if (Kokkos::SpaceAccessibility<Exec, Kokkos::HostSpace>::accessible) return;
    // What the call would refuse, reserve_host_data refuses too.
    o.device_memory = 1000;
    CHECK_THROWS_WITH_AS(tsenor::reserve_host_data<float>(exec, rows, cols, o),
                         doctest::Contains("less than one row of tiles"), tsenor::Error);
  });
}

TEST_CASE("host data through a small device memory bound: chunks of tile rows, the same mask") {
  const int rows = 8 * 16 + 5, cols = 96;  // 9 tile rows, the last one ragged
  const auto a = make_scores("heavy_tailed", rows, cols, 77);
  for (auto method : {tsenor::Method::exact, tsenor::Method::entropic}) {
    CAPTURE(tsenor::method_name(method));
    tsenor::Options o;
    o.n = 8;
    o.m = 16;
    o.method = method;
    o.zero_pad = true;
    tsenor::Summary whole, chunked;
    const auto reference = solve<float>(a, rows, cols, o, &whole);
    // One tile row needs 16·96·5 bytes of scores and mask plus statuses: 3 fit in 32 KiB.
    o.device_memory = 32 * 1024;
    const auto mask = solve<float>(a, rows, cols, o, &chunked);
    CHECK(mask == reference);
    CHECK(chunked.tiles == whole.tiles);
    CHECK(chunked.feasible_tiles == whole.feasible_tiles);
    CHECK(chunked.padded_tiles == 6);
    // Every tile's status fits in half the bound: the totals are compute_mask's, bit for bit.
    CHECK(chunked.objective == whole.objective);
    CHECK(chunked.total_score == whole.total_score);
    CHECK(chunked.device_bytes > 0);
    // The same scores in Fortran order (strided, through the staging chunk).
    std::vector<float> fortran(a.size());
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) fortran[static_cast<std::size_t>(c) * rows + r] = static_cast<float>(a[r * cols + c]);
    std::vector<std::uint8_t> strided(a.size());
    with_backend([&](auto exec) { tsenor::compute_mask(exec, fortran.data(), rows, cols, 1, rows, strided.data(), o); });
    CHECK(strided == reference);
    with_backend([&](auto exec) {
      using Exec = decltype(exec);
      if (Kokkos::SpaceAccessibility<Exec, Kokkos::HostSpace>::accessible) return;
      CHECK(chunked.device_bytes <= o.device_memory);
      // Statuses too many for half the bound (1:2 tiles, 6 bytes of status an entry): totals chunk by chunk.
      const int tall = 512, narrow = 8;
      const auto b = make_scores("heavy_tailed", tall, narrow, 78);
      tsenor::Options pairs;
      pairs.n = 1;
      pairs.m = 2;
      pairs.method = method;
      tsenor::Summary one, parts;
      const auto pairs_reference = solve<float>(b, tall, narrow, pairs, &one);
      pairs.device_memory = 16 * 1024;
      CHECK(solve<float>(b, tall, narrow, pairs, &parts) == pairs_reference);
      CHECK(parts.feasible_tiles == one.feasible_tiles);
      CHECK(parts.objective == doctest::Approx(one.objective).epsilon(1e-12));
      CHECK(parts.device_bytes <= pairs.device_memory);
      // Less than one tile row: a clear error, not a crash.
      o.device_memory = 1000;
      std::vector<float> scores(a.begin(), a.end());
      std::vector<std::uint8_t> out(a.size());
      CHECK_THROWS_WITH_AS(tsenor::compute_mask(exec, scores.data(), rows, cols, cols, 1, out.data(), o),
                           doctest::Contains("less than one row of tiles"), tsenor::Error);
    });
  }
}
