// Usage errors throw tsenor::Error with a message that names the problem.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <tsenor/tsenor.hpp>
#include <vector>

#include "support/backend.hpp"

using namespace tsenor_test;

namespace {

std::string error_of(std::vector<float> scores, int rows, int cols, const tsenor::Options& o) {
  std::vector<std::uint8_t> mask(scores.size());
  try {
    with_backend([&](auto exec) { tsenor::compute_mask(exec, scores.data(), rows, cols, cols, 1, mask.data(), o); });
  } catch (const tsenor::Error& e) {
    return e.what();
  }
  return "";
}

tsenor::Options pattern(int n, int m) {
  tsenor::Options o;
  o.n = n;
  o.m = m;
  return o;
}

}  // namespace

TEST_CASE("bad patterns, options and shapes are rejected") {
  const std::vector<float> ok(64, 1.0f);
  CHECK(error_of(ok, 8, 8, pattern(4, 4)).find("N = 4") != std::string::npos);
  CHECK(error_of(ok, 8, 8, pattern(0, 4)).find("N = 0") != std::string::npos);
  CHECK(error_of(ok, 8, 8, pattern(1, 1)).find("M = 1") != std::string::npos);
  CHECK(error_of(ok, 8, 8, pattern(2, 256)).find("M = 256") != std::string::npos);
  CHECK(error_of(std::vector<float>(60, 1.0f), 6, 10, pattern(2, 4)).find("not a multiple") != std::string::npos);
  tsenor::Options o = pattern(2, 4);
  o.tau = -1.0;
  CHECK(error_of(ok, 8, 8, o).find("tau") != std::string::npos);
  o = pattern(2, 4);
  o.max_iterations = -3;
  CHECK(error_of(ok, 8, 8, o).find("max_iterations") != std::string::npos);
  o = pattern(2, 4);
  o.local_search_steps = -1;
  CHECK(error_of(ok, 8, 8, o).find("local_search_steps") != std::string::npos);
  CHECK_THROWS_AS(tsenor::parse_method("fastest"), tsenor::Error);
  CHECK(error_of(ok, 8, 8, pattern(2, 4)).empty());
}

TEST_CASE("NaN, infinite and negative scores are rejected, not masked") {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity(), -1.0f}) {
    CAPTURE(bad);
    std::vector<float> s(64, 1.0f);
    s[37] = bad;
    CHECK(error_of(s, 8, 8, pattern(2, 4)).find("1 scores are NaN, infinite or negative") != std::string::npos);
  }
}

TEST_CASE("an empty matrix has no tiles") {
  std::vector<std::uint8_t> mask;
  with_backend([&](auto exec) {
    const auto s = tsenor::compute_mask(exec, static_cast<const float*>(nullptr), 0, 8, 8, 1, mask.data(), pattern(2, 4));
    CHECK(s.tiles == 0);
  });
}

namespace {

int regions_opened = 0, regions_open = 0;
void count_push(const char*) { ++regions_opened, ++regions_open; }
void count_pop() { --regions_open; }

}  // namespace

TEST_CASE("the profiling region closes when a call throws") {
  std::vector<float> s(64, 1.0f);
  s[37] = -1.0f;  // rejected by the score check, inside compute_mask's region
  Kokkos::Tools::Experimental::set_push_region_callback(count_push);
  Kokkos::Tools::Experimental::set_pop_region_callback(count_pop);
  const std::string rejected = error_of(s, 8, 8, pattern(2, 4));
  const std::string accepted = error_of(std::vector<float>(64, 1.0f), 8, 8, pattern(2, 4));
  Kokkos::Tools::Experimental::set_push_region_callback(nullptr);
  Kokkos::Tools::Experimental::set_pop_region_callback(nullptr);
  CHECK(rejected.find("negative") != std::string::npos);
  CHECK(accepted.empty());
  CHECK(regions_opened >= 2);
  CHECK(regions_open == 0);
}
