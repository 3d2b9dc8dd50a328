// The portable exp and log and the fixed-order sum that keep results bit-identical everywhere.
#include <doctest/doctest.h>

#include <cmath>
#include <tsenor/portable_math.hpp>
#include <vector>

#include "support/backend.hpp"

TEST_CASE("portable_exp is within 2 ulp of the C library's exp and handles the extremes") {
  for (double x = -700.0; x <= 690.0; x += 0.37) {
    const double want = std::exp(x), got = tsenor::detail::portable_exp(x);
    CAPTURE(x);
    CHECK(std::fabs(got - want) <= 2.0 * (std::nextafter(want, 1e308) - want));
  }
  CHECK(tsenor::detail::portable_exp(0.0) == 1.0);
  CHECK(tsenor::detail::portable_exp(-1000.0) == 0.0);
  CHECK(tsenor::detail::portable_exp(-std::numeric_limits<double>::infinity()) == 0.0);
  CHECK(std::isfinite(tsenor::detail::portable_exp(5000.0)));
}

TEST_CASE("pairwise_sum is the adjacent-pairs tree, zero-padded to a power of two") {
  // Values chosen so that every association order gives a different float.
  const std::vector<float> x = {1e8f, 1.0f, -1e8f, 3.0f, 0.5f, 7.25f, 1e-3f};
  auto load = [&](int k) { return x[k]; };
  const float tree = ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + 0.0f));
  CHECK(tsenor::detail::pairwise_sum<float>(7, load) == tree);
  CHECK(tsenor::detail::pairwise_sum<float>(1, load) == x[0]);
  CHECK(tsenor::detail::pairwise_sum<float>(2, load) == x[0] + x[1]);
  CHECK(tsenor::detail::pairwise_sum<float>(3, load) == (x[0] + x[1]) + (x[2] + 0.0f));
}

TEST_CASE("portable_log is within 2 ulp of the C library's log, subnormals included") {
  for (double x = 1e-300; x < 1e300; x *= 1.7313) {
    const double want = std::log(x), got = tsenor::detail::portable_log(x);
    CAPTURE(x);
    CHECK(std::fabs(got - want) <= 2.0 * std::fabs(std::nextafter(want, 1e308) - want) + 1e-300);
  }
  CHECK(tsenor::detail::portable_log(1.0) == 0.0);
  CHECK(tsenor::detail::portable_log(4.9e-324) == doctest::Approx(std::log(4.9e-324)).epsilon(1e-15));
  CHECK(tsenor::detail::portable_log(0.0) < -1e299);
}

namespace {

// A KOKKOS_LAMBDA cannot live inside the generic lambda of with_backend, hence a template.
template <class Exec>
void check_portable_math_bits(const Exec& exec) {
  const int count = 4096;
  Kokkos::View<double*, typename Exec::memory_space> out("out", 3 * count);
  Kokkos::parallel_for(
      "portable_math_bits", Kokkos::RangePolicy<Exec>(exec, 0, count), KOKKOS_LAMBDA(int k) {
        const double x = -700.0 + 1390.0 * k / count;
        out(3 * k) = tsenor::detail::portable_exp(x);
        out(3 * k + 1) = tsenor::detail::portable_log(1e-300 * tsenor::detail::portable_exp(1.37 * (k + 1) / 8.0));
        const float base = 1.0f + static_cast<float>(k) / 7.0f;
        out(3 * k + 2) = tsenor::detail::pairwise_sum<float>(13, [&](int j) { return base / (j + 3.0f); });
      });
  auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out);
  for (int k = 0; k < count; ++k) {
    const double x = -700.0 + 1390.0 * k / count;
    const float base = 1.0f + static_cast<float>(k) / 7.0f;
    CAPTURE(k);
    REQUIRE(host(3 * k) == tsenor::detail::portable_exp(x));
    REQUIRE(host(3 * k + 1) == tsenor::detail::portable_log(1e-300 * tsenor::detail::portable_exp(1.37 * (k + 1) / 8.0)));
    REQUIRE(host(3 * k + 2) == tsenor::detail::pairwise_sum<float>(13, [&](int j) { return base / (j + 3.0f); }));
  }
}

}  // namespace

TEST_CASE("portable_exp, portable_log and pairwise_sum give the host's bits on the execution space") {
  tsenor_test::with_backend([](auto exec) { check_portable_math_bits(exec); });
}
