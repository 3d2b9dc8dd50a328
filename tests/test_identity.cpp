// Cross-backend identity: the same inputs give the same bits on every backend and thread
// count. In one process the selected backend is compared with Serial; across processes (every
// configuration) each run dumps its outputs (--dump=FILE) and ctest compares the files.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <fstream>
#include <tsenor/tsenor.hpp>

#include "support/backend.hpp"
#include "support/generators.hpp"

using namespace tsenor_test;

namespace {

// Mask, fractional solution and per-tile status of one solve, as raw bytes.
template <class Exec, class Real>
std::vector<char> outputs_bytes(const Exec& exec, const std::vector<Real>& scores, int rows, int cols,
                                const tsenor::Options& o) {
  using Memory = typename Exec::memory_space;
  const int tiles = ((rows + o.m - 1) / o.m) * ((cols + o.m - 1) / o.m);
  Kokkos::View<Real**, Kokkos::LayoutRight, Memory> s("scores", rows, cols);
  Kokkos::deep_copy(s, Kokkos::View<const Real**, Kokkos::LayoutRight, Kokkos::HostSpace,
                                    Kokkos::MemoryTraits<Kokkos::Unmanaged>>(scores.data(), rows, cols));
  Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Memory> mask("mask", rows, cols);
  tsenor::MaskOutputs<Memory> out;
  out.status = Kokkos::View<tsenor::TileStatus*, Memory>("status", tiles);
  out.fractional = Kokkos::View<float***, Kokkos::LayoutRight, Memory>("fractional", tiles, o.m, o.m);
  const tsenor::Summary summary = tsenor::compute_mask(exec, s, mask, o, out);
  auto h_mask = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), mask);
  auto h_frac = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.fractional);
  auto h_status = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.status);
  std::vector<char> bytes;
  auto append = [&](const void* p, std::size_t n) {
    bytes.insert(bytes.end(), static_cast<const char*>(p), static_cast<const char*>(p) + n);
  };
  append(h_mask.data(), h_mask.size());
  append(h_frac.data(), h_frac.size() * sizeof(float));
  for (int t = 0; t < tiles; ++t) {
    append(&h_status(t).flags, sizeof(std::uint32_t));
    append(&h_status(t).iterations, sizeof(std::int32_t));
    append(&h_status(t).objective, sizeof(double));
  }
  append(&summary.objective, sizeof(double));
  return bytes;
}

struct IdentityCase {
  int n, m;
  std::string family;
  tsenor::Method method;
  bool in_double;  // scores as double instead of float
  bool ragged;     // a shape that is not a multiple of M, with zero padding
};

std::vector<IdentityCase> identity_cases() {
  std::vector<IdentityCase> cases;
  const std::pair<int, int> patterns[] = {{2, 4}, {4, 8}, {8, 16}, {16, 32}, {3, 8}, {5, 16}, {7, 8},
                                          {3, 6}, {5, 12}};  // (the last two: M of no compiled kernel, idle lanes)
  for (auto method : {tsenor::Method::entropic, tsenor::Method::exact, tsenor::Method::greedy}) {
    for (auto [n, m] : patterns)
      for (const std::string& family : all_families()) cases.push_back({n, m, family, method, false, false});
    // Wide tiles (two columns a lane on GPUs), double scores, ragged shapes.
    for (auto [n, m] : std::vector<std::pair<int, int>>{{20, 64}, {64, 128}})
      for (const std::string family : {"gaussian", "ties"}) cases.push_back({n, m, family, method, false, false});
    for (auto [n, m] : std::vector<std::pair<int, int>>{{2, 4}, {8, 16}, {16, 32}})
      for (const std::string family : {"gaussian", "wide_range"}) {
        cases.push_back({n, m, family, method, true, false});
        cases.push_back({n, m, family, method, false, true});
      }
  }
  return cases;
}

template <class Exec>
std::vector<char> all_outputs(const Exec& exec) {
  std::vector<char> all;
  for (const IdentityCase& c : identity_cases()) {
    const int rows = 2 * c.m + (c.ragged ? 3 : 0), cols = 4 * c.m - (c.ragged ? 1 : 0);
    const auto a = make_scores(c.family, rows, cols, 1234 + c.m);
    tsenor::Options o;
    o.n = c.n;
    o.m = c.m;
    o.method = c.method;
    o.max_iterations = 200;
    o.zero_pad = c.ragged;
    const auto bytes = c.in_double ? outputs_bytes(exec, a, rows, cols, o)
                                   : outputs_bytes(exec, std::vector<float>(a.begin(), a.end()), rows, cols, o);
    all.insert(all.end(), bytes.begin(), bytes.end());
  }
  return all;
}

}  // namespace

TEST_CASE("identity inputs: outputs dumped for the cross-process comparison") {
  std::vector<char> bytes;
  with_backend([&](auto exec) { bytes = all_outputs(exec); });
  CHECK(bytes.size() > 100000);
  if (dump_path.empty()) return;
  std::ofstream f(dump_path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

namespace {
void check_same_bits(const std::vector<char>& reference, const std::vector<char>& other) {
  REQUIRE(reference.size() == other.size());
  std::size_t first = 0;
  while (first < reference.size() && reference[first] == other[first]) ++first;
  CHECK_MESSAGE(first == reference.size(), "first differing byte at offset " << first);
}
}  // namespace

TEST_CASE("the selected backend gives Serial's bits in one process") {
  if (selected_backend == "serial" || !tsenor::backends::is_enabled("serial")) return;  // nothing to compare
  std::vector<char> serial, selected;
  tsenor::backends::with_execution_space("serial", [&](auto exec) { serial = all_outputs(exec); });
  with_backend([&](auto exec) { selected = all_outputs(exec); });
  check_same_bits(serial, selected);
}
