// Time from scores in the execution space's memory to the mask in that memory (no host
// copies), for each method and pattern: the figure a GPU user who keeps weights on the device
// sees. Scores are |N(0,1)|-like, generated on the device from a counter hash, so the input
// costs no transfer.
//
//   bench_device [--size S] [--patterns 2:4,8:16] [--methods exact,tsenor] [--repeat R]
//
// Prints one JSON object per run (the fastest of R, after one warm-up call).
#include <Kokkos_Core.hpp>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <sstream>
#include <string>
#include <tsenor/compat.hpp>
#include <tsenor/tsenor.hpp>
#include <vector>

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

// Sum of four uniforms from a counter hash: a bell-shaped magnitude, no library math.
KOKKOS_INLINE_FUNCTION float hashed_score(std::uint64_t key) {
  float s = 0.0f;
  for (int k = 0; k < 4; ++k) {
    key += 0x9e3779b97f4a7c15ull;
    std::uint64_t x = key;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    s += static_cast<float>(x >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }
  return s < 0.0f ? -s : s;
}

}  // namespace

int main(int argc, char** argv) {
  int size = 8192, repeat = 3;
  std::string patterns = "2:4,4:8,8:16,16:32", methods = "exact,tsenor";
  try {
    for (int k = 1; k + 1 < argc; k += 2) {
      const std::string opt = argv[k], value = argv[k + 1];
      if (opt == "--size") size = std::stoi(value);
      else if (opt == "--patterns") patterns = value;
      else if (opt == "--methods") methods = value;
      else if (opt == "--repeat") repeat = std::stoi(value);
      else throw std::invalid_argument("unknown option " + opt);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_device: bad command line: %s\n", e.what());
    return 2;
  }
  tsenor::compat::initialize(0);
  int status = 0;
  try {
    using Exec = Kokkos::DefaultExecutionSpace;
    Exec exec;
    Kokkos::View<float**, Kokkos::LayoutRight> scores("scores", size, size);
    Kokkos::View<std::uint8_t**, Kokkos::LayoutRight> mask("mask", size, size);
    const std::int64_t cols = size;
    Kokkos::parallel_for(
        "scores", Kokkos::RangePolicy<Exec>(exec, 0, static_cast<std::int64_t>(size) * size),
        KOKKOS_LAMBDA(std::int64_t k) { scores(k / cols, k % cols) = hashed_score(static_cast<std::uint64_t>(k)); });
    exec.fence();
    for (const auto& nm : split(patterns)) {
      for (const auto& method : split(methods)) {
        tsenor::Options o;
        o.n = std::stoi(nm.substr(0, nm.find(':')));
        o.m = std::stoi(nm.substr(nm.find(':') + 1));
        o.method = tsenor::parse_method(method);
        tsenor::compute_mask(exec, scores, mask, o);  // warm-up
        tsenor::Summary best;
        for (int r = 0; r < repeat; ++r) {
          const tsenor::Summary s = tsenor::compute_mask(exec, scores, mask, o);
          if (r == 0 || s.seconds < best.seconds) best = s;
        }
        std::printf(
            "{\"bench\": \"device-resident\", \"exec\": \"%s\", \"rows\": %d, \"cols\": %d, \"nm\": \"%s\", "
            "\"method\": \"%s\", \"seconds\": %.6f, \"tiles\": %lld, \"feasible_tiles\": %lld, \"tiles_per_second\": %.1f, "
            "\"objective\": %.17g, \"iterations\": %lld}\n",
            Exec::name(), size, size, nm.c_str(), method.c_str(), best.seconds, static_cast<long long>(best.tiles),
            static_cast<long long>(best.feasible_tiles), best.tiles / best.seconds, best.objective, static_cast<long long>(best.iterations));
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_device: error: %s\n", e.what());
    status = 2;
  }
  Kokkos::finalize();
  return status;
}
