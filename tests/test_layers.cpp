// SparseGPT and ALPS (tsenor::layers) on the selected backend: the same masks as on Serial, weights
// within a bound of Serial's (vendor GEMM and LAPACK: the same bits run to run on one backend, not
// across), and the same bits when run twice. The float64 reference implementations are
// python/tests/test_sparsegpt.py and test_alps.py.
#include <doctest/doctest.h>

#include <cmath>
#include <tsenor/layers/alps.hpp>
#include <tsenor/layers/sparsegpt.hpp>
#include <vector>

#include "support/backend.hpp"
#include "support/generators.hpp"

using namespace tsenor_test;

namespace {

struct Result {
  std::vector<float> weights;
  std::vector<std::uint8_t> mask;
  std::vector<double> gram;
  tsenor::layers::LayerReport report;
};

// ‖(A − B)X‖² / ‖BX‖² = tr((A−B) H (A−B)ᵀ) / tr(B H Bᵀ): how far apart the outputs of two weight matrices are.
double output_difference(const std::vector<float>& a, const std::vector<float>& b, const std::vector<double>& h,
                         int rows, int cols) {
  double difference = 0.0, reference = 0.0;
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < cols; ++i)
      for (int j = 0; j < cols; ++j) {
        const double di = a[r * cols + i] - b[r * cols + i], dj = a[r * cols + j] - b[r * cols + j];
        difference += di * h[i * cols + j] * dj;
        reference += static_cast<double>(b[r * cols + i]) * h[i * cols + j] * b[r * cols + j];
      }
  return difference / reference;
}

// A rows × cols layer and the Gram matrix of `samples` correlated inputs (input 5 always 0).
// SparseGPT with `o`, or ALPS with the same pattern and N:M when `alps`.
template <class Exec>
Result run(const Exec& exec, int rows, int cols, const tsenor::layers::SparseGPTOptions& o, bool alps) {
  using Memory = typename Exec::memory_space;
  const auto w0 = make_scores("gaussian", rows, cols, 3);
  const auto x = make_scores("low_rank", 256, cols, 4);
  Kokkos::View<float**, Kokkos::LayoutRight, Memory> w("w", rows, cols);
  Kokkos::View<double**, Kokkos::LayoutRight, Memory> h("h", cols, cols);
  Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Memory> mask("mask", rows, cols);
  auto w_host = Kokkos::create_mirror_view(w);
  auto h_host = Kokkos::create_mirror_view(h);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) w_host(r, c) = static_cast<float>(w0[r * cols + c] - 0.5);
  for (int i = 0; i < cols; ++i)
    for (int j = 0; j < cols; ++j) {
      double sum = 0.0;
      for (int s = 0; s < 256; ++s)
        if (i != 5 && j != 5) sum += x[s * cols + i] * x[s * cols + j];
      h_host(i, j) = sum;
    }
  Kokkos::deep_copy(w, w_host);
  Kokkos::deep_copy(h, h_host);
  Result result;
  if (alps) {
    tsenor::layers::AlpsOptions a;
    a.mask = o.mask;
    a.pattern = o.pattern;
    result.report = tsenor::layers::alps<Exec, float>(exec, w, h, mask, a);
  } else {
    result.report = tsenor::layers::sparsegpt<Exec, float>(exec, w, h, mask, o);
  }
  Kokkos::deep_copy(w_host, w);
  auto mask_host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), mask);
  result.weights.assign(w_host.data(), w_host.data() + w_host.span());
  result.mask.assign(mask_host.data(), mask_host.data() + mask_host.span());
  result.gram.assign(h_host.data(), h_host.data() + h_host.span());
  return result;
}

}  // namespace

#ifdef KOKKOS_ENABLE_SERIAL
TEST_CASE("SparseGPT and ALPS: the selected backend gives Serial's masks, close weights, the same bits twice") {
  for (const bool alps : {false, true})
  for (const auto pattern : {tsenor::layers::Pattern::transposable, tsenor::layers::Pattern::rows}) {
    for (const auto nm : {std::make_pair(2, 4), std::make_pair(8, 16)}) {
      CAPTURE(alps);
      CAPTURE(nm.first);
      CAPTURE(nm.second);
      tsenor::layers::SparseGPTOptions o;
      o.mask.n = nm.first;
      o.mask.m = nm.second;
      o.pattern = pattern;
      o.block = 32;
      const int rows = 48, cols = 64;
      const Result serial = run(Kokkos::Serial(), rows, cols, o, alps);
      with_backend([&](auto exec) {
        const Result first = run(exec, rows, cols, o, alps), second = run(exec, rows, cols, o, alps);
        CHECK(first.weights == second.weights);
        CHECK(first.mask == second.mask);
        CHECK(first.mask == serial.mask);
        double worst = 0.0;
        for (std::size_t k = 0; k < first.weights.size(); ++k) {
          worst = std::max(worst, std::abs(static_cast<double>(first.weights[k]) - serial.weights[k]));
          if (!first.mask[k]) CHECK(first.weights[k] == 0.0f);
        }
        // SparseGPT's weights agree entry by entry. ALPS's final conjugate gradients work on this
        // low-rank H (256 samples, damped): rounding moves its weights along directions H hardly sees,
        // so what must agree is the layer's output, ‖(Ŵ_backend − Ŵ_serial)X‖² / ‖Ŵ_serial X‖²
        // (measured on the H200: at most 2.2e-8, with cuBLAS/cuSOLVER and without; weights up to 0.045 apart).
        const double outputs = output_difference(first.weights, serial.weights, serial.gram, rows, cols);
        CAPTURE(worst);
        CAPTURE(outputs);
        if (!alps) CHECK(worst <= 1e-4);
        CHECK(outputs <= 1e-7);
        CHECK(first.report.error <= first.report.masked_error);
        CHECK(first.report.error == doctest::Approx(serial.report.error).epsilon(1e-4));
      });
    }
  }
}
#endif

TEST_CASE("advice when OpenBLAS runs kernels older than the CPU") {
  using tsenor::layers::detail::blas_kernel_advice;
  const std::string avx512 = blas_kernel_advice("Prescott", true, true);
  CHECK(avx512.find("OPENBLAS_CORETYPE=SkylakeX") != std::string::npos);
  CHECK(avx512.find("Prescott kernels on a CPU with AVX-512") != std::string::npos);
  CHECK(blas_kernel_advice("Core2", true, false).find("OPENBLAS_CORETYPE=Haswell") != std::string::npos);
  CHECK(blas_kernel_advice("SkylakeX", true, true).empty());
  CHECK(blas_kernel_advice("Haswell", true, true).empty());  // AVX2 kernels: slower than SkylakeX, not the fallback
  CHECK(blas_kernel_advice("Prescott", false, false).empty());  // an old CPU: its kernels fit
  using tsenor::layers::detail::blas_kernel_fit;  // what the tool starts again with
  CHECK(blas_kernel_fit("Prescott", true, true) == "SkylakeX");
  CHECK(blas_kernel_fit("Nehalem", true, false) == "Haswell");
  CHECK(blas_kernel_fit("Zen", true, false).empty());
  CHECK(blas_kernel_fit("Prescott", false, false).empty());
}
