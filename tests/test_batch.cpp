// Batches (rank-3 views: one launch for B matrices), workspaces kept between calls, and
// verify_mask — on device memory of the selected backend.
#include <doctest/doctest.h>

#include <cstdint>
#include <tsenor/tsenor.hpp>
#include <vector>

#include "support/backend.hpp"
#include "support/generators.hpp"

using namespace tsenor_test;

namespace {

// Host data of B matrices (rows × cols each, C order) in a rank-3 view of the execution space.
template <class Exec>
Kokkos::View<float***, Kokkos::LayoutRight, typename Exec::memory_space> to_device(const std::vector<float>& host, int b,
                                                                                 int rows, int cols) {
  Kokkos::View<float***, Kokkos::LayoutRight, typename Exec::memory_space> v("scores", b, rows, cols);
  auto mirror = Kokkos::create_mirror_view(v);
  for (int k = 0; k < b; ++k)
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) mirror(k, r, c) = host[(static_cast<std::size_t>(k) * rows + r) * cols + c];
  Kokkos::deep_copy(v, mirror);
  return v;
}

template <class View>
std::vector<std::uint8_t> to_host(const View& v) {
  auto mirror = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
  return std::vector<std::uint8_t>(mirror.data(), mirror.data() + mirror.span());
}

}  // namespace

TEST_CASE("a batch of matrices in one launch gives each matrix's own mask and summary") {
  const int b = 3, rows = 30, cols = 44;  // ragged: zero_pad crops each matrix's border tiles
  const auto a = make_scores("heavy_tailed", b * rows, cols, 5);
  const std::vector<float> host(a.begin(), a.end());
  for (auto method : {tsenor::Method::exact, tsenor::Method::entropic, tsenor::Method::greedy}) {
    CAPTURE(tsenor::method_name(method));
    tsenor::Options o;
    o.n = 4;
    o.m = 8;
    o.method = method;
    o.zero_pad = true;
    with_backend([&](auto exec) {
      using Exec = decltype(exec);
      using Memory = typename Exec::memory_space;
      const auto scores = to_device<Exec>(host, b, rows, cols);
      Kokkos::View<std::uint8_t***, Kokkos::LayoutRight, Memory> mask("mask", b, rows, cols);
      Kokkos::View<tsenor::TileStatus*, Memory> status("status", b * 4 * 6);
      const tsenor::Summary s = tsenor::compute_mask(exec, scores, mask, o, {status, {}});
      CHECK(s.matrices == b);
      CHECK(s.rows == rows);
      CHECK(s.cols == cols);
      CHECK(s.tiles == b * 4 * 6);
      CHECK(s.padded_tiles == b * (4 * 6 - 3 * 5));
      const auto batch = to_host(mask);
      const auto statuses = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), status);
      double objective = 0.0;
      for (int k = 0; k < b; ++k) {
        auto one_scores = Kokkos::subview(scores, k, Kokkos::ALL(), Kokkos::ALL());
        Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Memory> one_mask("one", rows, cols);
        Kokkos::View<tsenor::TileStatus*, Memory> one_status("one_status", 4 * 6);
        const tsenor::Summary one = tsenor::compute_mask(exec, one_scores, one_mask, o, {one_status, {}});
        objective += one.objective;
        const auto expected = to_host(one_mask);
        CHECK(std::equal(expected.begin(), expected.end(), batch.begin() + static_cast<std::ptrdiff_t>(k) * rows * cols));
        const auto one_host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), one_status);
        for (int t = 0; t < 4 * 6; ++t) {  // the batch's tiles: matrix by matrix
          CHECK(statuses(k * 24 + t).objective == one_host(t).objective);
          CHECK(statuses(k * 24 + t).flags == one_host(t).flags);
        }
      }
      CHECK(s.objective == doctest::Approx(objective).epsilon(1e-12));
    });
  }
}

TEST_CASE("a workspace kept between calls gives the same results, grows when needed and is then reused") {
  tsenor::Options o;
  o.n = 2;
  o.m = 4;
  with_backend([&](auto exec) {
    using Exec = decltype(exec);
    using Memory = typename Exec::memory_space;
    tsenor::Workspace<Memory> workspace;
    for (const int size : {64, 256, 128}) {
      CAPTURE(size);
      const auto a = make_scores("gaussian", size, size, static_cast<std::uint64_t>(size));
      const auto scores = to_device<Exec>(std::vector<float>(a.begin(), a.end()), 1, size, size);
      Kokkos::View<std::uint8_t***, Kokkos::LayoutRight, Memory> fresh("fresh", 1, size, size), kept("kept", 1, size, size);
      const tsenor::Summary without = tsenor::compute_mask(exec, scores, fresh, o);
      const void* before = workspace.status.data();
      const tsenor::Summary with = tsenor::compute_mask(exec, scores, kept, o, {}, &workspace);
      CHECK(to_host(fresh) == to_host(kept));
      CHECK(with.objective == without.objective);  // the same summation tree, bit for bit
      CHECK(with.feasible_tiles == without.feasible_tiles);
      CHECK(static_cast<std::int64_t>(workspace.status.extent(0)) >= with.tiles);
      if (size == 128) CHECK(workspace.status.data() == before);  // smaller than the last: reused
    }
  });
}

TEST_CASE("verify_mask finds tiles that break the pattern, values other than 0 and 1, and cropped tiles") {
  tsenor::Options o;
  o.n = 2;
  o.m = 4;
  o.zero_pad = true;
  const int rows = 12, cols = 10;
  const auto a = make_scores("gaussian", 2 * rows, cols, 9);
  with_backend([&](auto exec) {
    using Exec = decltype(exec);
    using Memory = typename Exec::memory_space;
    const auto scores = to_device<Exec>(std::vector<float>(a.begin(), a.end()), 2, rows, cols);
    Kokkos::View<std::uint8_t***, Kokkos::LayoutRight, Memory> mask("mask", 2, rows, cols);
    tsenor::compute_mask(exec, scores, mask, o);
    tsenor::MaskCheck check = tsenor::verify_mask(exec, mask, 2, 4, true);
    CHECK(check.ok());
    CHECK(check.tiles == 2 * 3 * 3);
    CHECK_THROWS_WITH_AS(tsenor::verify_mask(exec, mask, 2, 4, false), doctest::Contains("not a multiple of M"),
                         tsenor::Error);
    auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), mask);
    host(1, 5, 6) ^= 1;  // matrix 1, tile (1, 1)
    host(0, 0, 0) = 2;   // matrix 0, tile (0, 0)
    Kokkos::deep_copy(mask, host);
    check = tsenor::verify_mask(exec, mask, 2, 4, true);
    CHECK(check.bad_tiles == 2);
    CHECK(check.bad_values == 1);
    CHECK(check.first_bad_tiles == std::vector<std::int64_t>{0, 9 + 4});
    auto one = Kokkos::subview(mask, 1, Kokkos::ALL(), Kokkos::ALL());
    CHECK(tsenor::verify_mask(exec, one, 2, 4, true).first_bad_tiles == std::vector<std::int64_t>{4});
  });
}
