// Uses tsenor as an outside project would: the umbrella header, tsenor::compute_mask on host Views,
// the io library when the consumed tsenor has it (TSENOR_INSTALL_TEST_IO), SparseGPT when it has
// tsenor::layers (TSENOR_INSTALL_TEST_LAYERS). Exits non-zero unless every 4x4 tile keeps exactly 2 per
// row and per column and the exact method reaches the brute-force optimum of every tile, and SparseGPT's
// mask is 2:4-regular with its error below the mask alone's.
#include <cstdint>
#include <cstdio>
#include <cstring>

#include <tsenor/tsenor.hpp>
#ifdef TSENOR_INSTALL_TEST_IO
#include <tsenor/io/npy.hpp>
#endif
#ifdef TSENOR_INSTALL_TEST_LAYERS
#include <tsenor/layers/sparsegpt.hpp>
#endif

namespace {

constexpr int n = 2, m = 4, size = 16;

double score(int i, int j) { return static_cast<double>((i * 37 + j * 11) % 23) + 0.01 * (i + j); }

// The best kept sum of one 4x4 tile over all 2-regular masks, by brute force over 2-subsets of each row.
double best_tile(int r0, int c0) {
  const int pairs[6] = {0x3, 0x5, 0x6, 0x9, 0xa, 0xc};
  double best = -1.0;
  for (int code = 0; code < 6 * 6 * 6 * 6; ++code) {
    int column_count[m] = {0, 0, 0, 0};
    double kept = 0.0;
    for (int i = 0, c = code; i < m; ++i, c /= 6)
      for (int j = 0; j < m; ++j)
        if (pairs[c % 6] >> j & 1) {
          ++column_count[j];
          kept += score(r0 + i, c0 + j);
        }
    bool regular = true;
    for (int j = 0; j < m; ++j) regular = regular && column_count[j] == n;
    if (regular && kept > best) best = kept;
  }
  return best;
}

int check() {
  using Exec = Kokkos::DefaultHostExecutionSpace;
  Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace> scores("scores", size, size);
  Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Kokkos::HostSpace> mask("mask", size, size);
  for (int i = 0; i < size; ++i)
    for (int j = 0; j < size; ++j) scores(i, j) = score(i, j);

  tsenor::Options options;
  options.n = n;
  options.m = m;
  options.method = tsenor::Method::exact;
  const tsenor::Summary summary = tsenor::compute_mask(Exec(), scores, mask, options);

  int failures = 0;
  for (int p = 0; p < size; p += m)
    for (int q = 0; q < size; q += m) {
      double kept = 0.0;
      for (int k = 0; k < m; ++k) {
        int in_row = 0, in_column = 0;
        for (int l = 0; l < m; ++l) {
          in_row += mask(p + k, q + l);
          in_column += mask(p + l, q + k);
          kept += mask(p + k, q + l) ? score(p + k, q + l) : 0.0;
        }
        if (in_row != n || in_column != n) {
          std::fprintf(stderr, "tile (%d, %d): row/column %d keeps %d/%d, expected %d\n", p / m, q / m, k, in_row,
                       in_column, n);
          ++failures;
        }
      }
      if (kept < best_tile(p, q) - 1e-9) {
        std::fprintf(stderr, "tile (%d, %d): kept %g, optimum %g\n", p / m, q / m, kept, best_tile(p, q));
        ++failures;
      }
    }
  if (summary.tiles != 16 || summary.feasible_tiles != 16) {
    std::fprintf(stderr, "summary: %lld tiles, %lld feasible, expected 16 and 16\n",
                 static_cast<long long>(summary.tiles), static_cast<long long>(summary.feasible_tiles));
    ++failures;
  }
#ifdef TSENOR_INSTALL_TEST_IO
  if (std::strcmp(tsenor::io::dtype_name(tsenor::io::NpyDType::float32), "float32") != 0) {
    std::fprintf(stderr, "tsenor::io::dtype_name is wrong\n");
    ++failures;
  }
#endif
#ifdef TSENOR_INSTALL_TEST_LAYERS
  {  // SparseGPT on the scores as weights, H = the Gram matrix of 32 inputs built from the same scores
    Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace> w("w", size, size);
    Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace> h("h", size, size);
    Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Kokkos::HostSpace> keep("keep", size, size);
    for (int i = 0; i < size; ++i)
      for (int j = 0; j < size; ++j) {
        w(i, j) = static_cast<float>(score(i, j) - 11.0);
        for (int s = 0; s < 32; ++s) h(i, j) += (score(s, i) - 11.0) * (score(s, j) - 11.0);
      }
    tsenor::layers::SparseGPTOptions o;
    o.mask.n = n;
    o.mask.m = m;
    o.block = 8;
    const tsenor::layers::LayerReport report = tsenor::layers::sparsegpt<Exec, float>(Exec(), w, h, keep, o);
    if (!tsenor::verify_mask(Exec(), keep, n, m, false).ok()) ++failures;
    if (!(report.error <= report.masked_error)) ++failures;
    std::printf("tsenor::layers: SparseGPT error %g (mask alone %g)\n", report.error, report.masked_error);
  }
#endif
  std::printf("tsenor: %lld tiles, %lld 2:4-regular, %d failures\n", static_cast<long long>(summary.tiles),
              static_cast<long long>(summary.feasible_tiles), failures);
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  Kokkos::initialize(argc, argv);
  int failures = 0;
  try {
    failures = check();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    failures = 1;
  }
  Kokkos::finalize();
  return failures == 0 ? 0 : 1;
}
