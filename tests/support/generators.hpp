// Score matrices for tests: random families and adversarial tiles, deterministic per seed.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace tsenor_test {

/// A rows×cols row-major score matrix of a named family:
///   gaussian      |N(0,1)|
///   heavy_tailed  |Student-t(2)| · log-normal row scale · log-normal column scale
///   low_rank      |U Vᵀ + 0.1·noise|, rank 4
///   ties          small integers 0..3 (many exact ties)
///   constant      all 1
///   zero          all 0
///   dominant      zeros with one large entry per tile row block
///   wide_range    10^u with u uniform in [−30, 30]
inline std::vector<double> make_scores(const std::string& family, int rows, int cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<double> a(static_cast<std::size_t>(rows) * cols, 0.0);
  if (family == "gaussian") {
    for (double& v : a) v = std::fabs(normal(rng));
  } else if (family == "heavy_tailed") {
    std::student_t_distribution<double> t(2.0);
    std::vector<double> rs(rows), cs(cols);
    for (double& v : rs) v = std::exp(normal(rng));
    for (double& v : cs) v = std::exp(normal(rng));
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) a[i * cols + j] = std::fabs(t(rng)) * rs[i] * cs[j];
  } else if (family == "low_rank") {
    const int r = 4;
    std::vector<double> u(rows * r), w(cols * r);
    for (double& v : u) v = normal(rng);
    for (double& v : w) v = normal(rng);
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) {
        double s = 0.1 * normal(rng);
        for (int k = 0; k < r; ++k) s += u[i * r + k] * w[j * r + k];
        a[i * cols + j] = std::fabs(s);
      }
  } else if (family == "ties") {
    std::uniform_int_distribution<int> d(0, 3);
    for (double& v : a) v = d(rng);
  } else if (family == "constant") {
    for (double& v : a) v = 1.0;
  } else if (family == "dominant") {
    std::uniform_int_distribution<int> d(0, cols - 1);
    for (int i = 0; i < rows; ++i) a[i * cols + d(rng)] = 1e6;
  } else if (family == "wide_range") {
    std::uniform_real_distribution<double> u(-30.0, 30.0);
    for (double& v : a) v = std::pow(10.0, u(rng));
  } else if (family != "zero") {
    throw std::invalid_argument("make_scores: unknown family " + family);
  }
  return a;
}

inline const std::vector<std::string>& all_families() {
  static const std::vector<std::string> f = {"gaussian", "heavy_tailed", "low_rank", "ties",
                                             "constant", "zero",         "dominant", "wide_range"};
  return f;
}

}  // namespace tsenor_test
