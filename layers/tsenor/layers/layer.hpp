// What the layer-wise methods (SparseGPT, ALPS) share: the pattern, the per-layer report, the
// layer error tr(D H Dᵀ), and the N:M projection of a whole matrix.
#pragma once

#include <KokkosBlas3_gemm.hpp>
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tsenor/layers/cuda_vendor.hpp"
#include "tsenor/tsenor.hpp"

#if defined(__linux__) && defined(__GNUC__)
// OpenBLAS's own entry points, where the host BLAS is OpenBLAS (null otherwise).
extern "C" int openblas_get_parallel(void) __attribute__((weak));
extern "C" int openblas_get_num_threads(void) __attribute__((weak));
extern "C" char* openblas_get_corename(void) __attribute__((weak));
#endif

namespace tsenor::layers {

/// Which N:M pattern: transposable (N per row and per column of each M×M tile) or the standard one
/// (N of every M consecutive weights of a row, what cuSPARSELt accelerates).
enum class Pattern { transposable, rows };

/// Per layer: errors are ‖(W − Ŵ)X‖²_F / ‖WX‖²_F = tr((W−Ŵ)H(W−Ŵ)ᵀ) / tr(WHWᵀ) with the undamped H.
struct LayerReport {
  double error = 0.0;         ///< of the reconstructed weights Ŵ
  double masked_error = 0.0;  ///< of W ⊙ mask, the same mask without reconstruction
  std::int64_t strips = 0;    ///< SparseGPT: mask solves (one per strip of M columns)
  std::int64_t iterations = 0;  ///< ALPS: ADMM iterations
  /// ALPS: ρ after each update (every `update_every` iterations), and the support changes that set it
  std::vector<double> rho;
  std::vector<std::int64_t> support_changes;
  double seconds = 0.0;
  const char* linear_algebra = "";  ///< who did the GEMMs and factorisations: "cuBLAS+cuSOLVER" or "Kokkos Kernels+LAPACK"
};

namespace detail {

template <class Real, class Memory>
using Matrix = Kokkos::View<Real**, Kokkos::LayoutRight, Memory>;

/// The checks every layer method makes of W (rows × cols), H and the mask; `f` starts the messages.
inline void check_layer(const std::string& f, std::int64_t rows, std::int64_t cols, std::size_t h_rows,
                        std::size_t h_cols, std::size_t mask_rows, std::size_t mask_cols, int n, int m,
                        Pattern pattern) {
  TSENOR_REQUIRE(m >= 2 && m <= 128 && n > 0 && n < m,
                 f + "N:M = " + std::to_string(n) + ":" + std::to_string(m) + " needs 0 < N < M <= 128");
  TSENOR_REQUIRE(h_rows == static_cast<std::size_t>(cols) && h_cols == static_cast<std::size_t>(cols),
                 f + "H must be cols x cols (" + std::to_string(cols) + ")");
  TSENOR_REQUIRE(mask_rows == static_cast<std::size_t>(rows) && mask_cols == static_cast<std::size_t>(cols),
                 f + "mask must have W's shape");
  TSENOR_REQUIRE(cols % m == 0, f + std::to_string(cols) + " columns are not a multiple of M = " + std::to_string(m));
  TSENOR_REQUIRE(pattern == Pattern::rows || rows % m == 0,
                 f + std::to_string(rows) + " rows are not a multiple of M = " + std::to_string(m) +
                     " (the transposable pattern tiles rows too)");
}

/// Every (row, column) of a rows × cols row-major matrix in one 2-D launch (no index division per
/// entry: measured 2.5× slower element kernels with k / cols, k % cols on the CPU), in tiles of one row
/// and 256 columns: a GPU block's threads then run along a row. (Kokkos' GPU ranges give threadIdx.x to
/// the first index whatever the iteration order, and its default tiles made every element kernel read
/// and write across rows: H200, 4096², 318 µs a kernel against torch's 42–48 µs for the same work.)
template <class Exec>
using Entries = Kokkos::MDRangePolicy<Exec, Kokkos::Rank<2, Kokkos::Iterate::Right, Kokkos::Iterate::Right>,
                                      Kokkos::IndexType<std::int64_t>>;

template <class Exec>
Entries<Exec> entries(const Exec& exec, std::int64_t rows, std::int64_t cols) {
  return Entries<Exec>(exec, {0, 0}, {rows, cols}, {1, 256});
}

#if defined(KOKKOS_ENABLE_CUDA)
/// C = alpha·op(A)·op(B) + beta·C by cuBLAS on exec's stream, for row-major views (unit stride along
/// rows): cuBLAS sees their column-major transposes, so it computes Cᵀ = op(B)ᵀ·op(A)ᵀ.
template <class A, class B, class C>
void cublas_gemm(const CudaVendor& v, const Kokkos::Cuda& exec, const char* op_a, const char* op_b,
                 typename C::const_value_type alpha, const A& a, const B& b, typename C::const_value_type beta,
                 const C& c) {
  using Real = typename C::non_const_value_type;
  const bool ta = op_a[0] == 'T', tb = op_b[0] == 'T';
  const int m = static_cast<int>(c.extent(0)), n = static_cast<int>(c.extent(1));
  const int k = static_cast<int>(ta ? a.extent(0) : a.extent(1));
  const auto ld = [](const auto& x) { return static_cast<int>(x.extent(0) > 1 ? x.stride(0) : (x.extent(1) > 0 ? x.extent(1) : 1)); };
  TSENOR_REQUIRE(a.stride(1) == 1 && b.stride(1) == 1 && c.stride(1) == 1, "tsenor::layers: GEMM needs unit-stride rows");
  v.blas_set_stream(v.blas, exec.cuda_stream());
  const cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasStatus_t status;
  if constexpr (std::is_same<Real, float>::value)
    status = v.sgemm(v.blas, ob, oa, n, m, k, &alpha, b.data(), ld(b), a.data(), ld(a), &beta, c.data(), ld(c));
  else
    status = v.dgemm(v.blas, ob, oa, n, m, k, &alpha, b.data(), ld(b), a.data(), ld(a), &beta, c.data(), ld(c));
  TSENOR_REQUIRE(status == CUBLAS_STATUS_SUCCESS, "tsenor::layers: cuBLAS GEMM failed (status " +
                                                      std::to_string(static_cast<int>(status)) + ")");
}
#endif

/// C = alpha·op(A)·op(B) + beta·C: on CUDA by cuBLAS where it can be loaded (cuda_vendor.hpp), else
/// with Kokkos Kernels, on `exec` where Kokkos Kernels can (4.1 and later); Kokkos Kernels 3.4's gemm
/// runs on the default instance, so `exec` is fenced first.
template <class Exec, class A, class B, class C>
void gemm(const Exec& exec, const char* op_a, const char* op_b, typename C::const_value_type alpha, const A& a,
          const B& b, typename C::const_value_type beta, const C& c) {
#if defined(KOKKOS_ENABLE_CUDA)
  if constexpr (std::is_same<Exec, Kokkos::Cuda>::value) {
    if (const CudaVendor* v = cuda_vendor()) {
      if (c.extent(0) > 0 && c.extent(1) > 0) cublas_gemm(*v, exec, op_a, op_b, alpha, a, b, beta, c);
      return;
    }
  }
#endif
#if defined(KOKKOSKERNELS_VERSION) && KOKKOSKERNELS_VERSION >= 40100
  KokkosBlas::gemm(exec, op_a, op_b, alpha, a, b, beta, c);
#else
  exec.fence();
  KokkosBlas::gemm(op_a, op_b, alpha, a, b, beta, c);
  typename C::execution_space().fence();
#endif
}

/// The OPENBLAS_CORETYPE that fits a CPU on which OpenBLAS chose the kernels `corename`: "SkylakeX" (AVX-512)
/// or "Haswell" (AVX2) where those are pre-AVX kernels on an AVX2 CPU, "" where they fit. OpenBLAS 0.3.21
/// (Debian 12's) does not know some newer or virtual x86 CPUs and falls back to its Prescott (SSE3) kernels.
/// Measured on the H200's host (a 16-core Xeon VM): a 4096³ SGEMM 0.60 s, 0.125 s with
/// OPENBLAS_CORETYPE=SkylakeX; ALPS on a 4096² layer 45.6 s, 15.5 s.
inline std::string blas_kernel_fit(const std::string& corename, bool avx2, bool avx512) {
  static const char* const pre_avx[] = {"Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Core2",
                                        "Penryn", "Dunnington", "Nehalem", "Atom"};
  if (!avx2) return "";
  for (const char* old : pre_avx)
    if (corename == old) return avx512 ? "SkylakeX" : "Haswell";
  return "";
}

/// What to tell a user whose OpenBLAS runs kernels older than the CPU (blas_kernel_fit), "" when they fit.
inline std::string blas_kernel_advice(const std::string& corename, bool avx2, bool avx512) {
  const std::string fit = blas_kernel_fit(corename, avx2, avx512);
  if (fit.empty()) return "";
  return "OpenBLAS runs its " + corename + " kernels on a CPU with " + (avx512 ? "AVX-512" : "AVX2") +
         " (it does not recognise this CPU model): the layer's GEMMs run several times slower (measured: 4.8x). "
         "Set OPENBLAS_CORETYPE=" + fit + " in the environment before the program starts.";
}

#if defined(__linux__) && defined(__GNUC__) && defined(__x86_64__)
/// Whether this CPU runs OpenBLAS's SkylakeX kernels: AVX-512 F, VL, BW and DQ (OpenBLAS checks as much; a CPU
/// with F alone, such as Knights Landing, would fault on them).
inline bool cpu_has_avx512_kernels() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
}
#endif

/// This process's blas_kernel_fit: "" without OpenBLAS, off x86-64 Linux, or when OPENBLAS_CORETYPE is set
/// (the user's choice, or a run that set it already). OpenBLAS reads the variable only when it loads, so a
/// program can use the answer only by starting again (the tool does: tool/main.cpp).
inline std::string process_blas_kernel_fit() {
#if defined(__linux__) && defined(__GNUC__) && defined(__x86_64__)
  if (!openblas_get_corename || std::getenv("OPENBLAS_CORETYPE")) return "";
  return blas_kernel_fit(openblas_get_corename(), __builtin_cpu_supports("avx2"), cpu_has_avx512_kernels());
#else
  return "";
#endif
}

/// OPENBLAS_THREAD_TIMEOUT for the tool and the Python package where the user has not set it. OpenBLAS's pthreads
/// build keeps its worker threads spinning for 2^28 cycles (~0.1 s) after each call, 2^value with the variable
/// (read when OpenBLAS loads; 4, the least it takes, lets them sleep at once). Kokkos' threads run ALPS's projection
/// and element kernels right after its GEMM, against those spinning threads: on 2 cores (4096², 16:32, 33
/// iterations) the projection 57.9 → 47.9 ms and the element kernels 67.8 → 57.9 ms an iteration with 4, 52.3 and
/// 60.1 ms with 20 (perf/results/h200/README.md, session 18). python/tsenor/__init__.py sets the same value.
constexpr const char* openblas_thread_timeout = "4";

/// Whether the host BLAS is OpenBLAS's pthreads build with its default spinning (OPENBLAS_THREAD_TIMEOUT unset),
/// which a program can change only by starting again (the tool does: tool/main.cpp).
inline bool process_blas_spins() {
#if defined(__linux__) && defined(__GNUC__)
  return openblas_get_parallel && openblas_get_parallel() == 1 && !std::getenv("OPENBLAS_THREAD_TIMEOUT");
#else
  return false;
#endif
}

/// Warns once on stderr when the host's GEMMs would run slower than they should: on one thread while `exec`
/// runs several (the pthreads build of OpenBLAS sizes its pool from the cores the starting thread may use,
/// and with OMP_PROC_BIND set that thread is bound to one; measured on 16 cores: SparseGPT and ALPS's GEMMs
/// 6–23× slower; README "CPU threads"), or with kernels older than the CPU (blas_kernel_advice). Silent
/// where the user chose the BLAS threads (OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS) or kernels
/// (OPENBLAS_CORETYPE), on GPUs and without OpenBLAS.
template <class Exec>
void warn_if_blas_slow(const Exec& exec) {
#if defined(__linux__) && defined(__GNUC__)
  if (!Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Exec::memory_space>::accessible) return;
#if defined(__x86_64__)
  static const bool kernels_checked = [] {  // facts of the process: looked at once
    if (!process_blas_kernel_fit().empty())
      std::fprintf(stderr, "tsenor: warning: %s\n",
                   blas_kernel_advice(openblas_get_corename(), true, cpu_has_avx512_kernels()).c_str());
    return true;
  }();
  (void)kernels_checked;
#endif
  if (!openblas_get_parallel || !openblas_get_num_threads || openblas_get_parallel() != 1) return;
  if (std::getenv("OPENBLAS_NUM_THREADS") || std::getenv("GOTO_NUM_THREADS")) return;
  const int blas = openblas_get_num_threads(), kokkos = exec.concurrency();
  if (blas > 1 || kokkos < 2) return;
  static std::once_flag once;
  std::call_once(once, [kokkos] {
    std::fprintf(stderr,
                 "tsenor: warning: OpenBLAS runs the layer's GEMMs on 1 thread while Kokkos runs %d: OpenBLAS "
                 "sized its pool from the cores its starting thread may use (with OMP_PROC_BIND set, one). Unset "
                 "OMP_PROC_BIND (or set it to false) for SparseGPT and ALPS on the CPU.\n",
                 kokkos);
  });
#else
  (void)exec;
#endif
}

/// What runs the layer's dense linear algebra on `exec` (LayerReport::linear_algebra).
template <class Exec>
const char* linear_algebra(const Exec&) {
#if defined(KOKKOS_ENABLE_CUDA)
  if (std::is_same<Exec, Kokkos::Cuda>::value && cuda_vendor()) return "cuBLAS+cuSOLVER";
#endif
  return "Kokkos Kernels+LAPACK";
}

/// Damps the symmetric `h` in place as the references do: with a `dead` view (SparseGPT), a zero diagonal
/// entry (a dead input, always 0) becomes 1 and is flagged there; then damp × mean(diag) is added to the
/// diagonal. The mean
/// is summed in index order by one thread, so every backend adds the same value.
template <class Exec, class Memory>
void damp_diagonal(const Exec& exec, const Kokkos::View<double**, Kokkos::LayoutRight, Memory>& h, double damp,
                   const Kokkos::View<std::uint8_t*, Memory>& dead) {
  const std::int64_t n = h.extent(0);
  const bool flag = dead.extent(0) > 0;
  Kokkos::View<double, Memory> shift("tsenor::damping");
  Kokkos::parallel_for(
      "tsenor::mean_diagonal", Kokkos::RangePolicy<Exec>(exec, 0, 1), KOKKOS_LAMBDA(int) {
        double sum = 0.0;
        for (std::int64_t i = 0; i < n; ++i) {
          if (flag && h(i, i) == 0.0) {
            dead(i) = 1;
            h(i, i) = 1.0;
          }
          sum += h(i, i);
        }
        shift() = n > 0 ? damp * (sum / static_cast<double>(n)) : 0.0;
      });
  Kokkos::parallel_for(
      "tsenor::damp", Kokkos::RangePolicy<Exec, Kokkos::IndexType<std::int64_t>>(exec, 0, n),
      KOKKOS_LAMBDA(std::int64_t i) { h(i, i) += shift(); });
}

// tr(D H Dᵀ) in double: E = D·H by GEMM, then Σ E ⊙ D in a fixed order per row and over rows.
template <class Exec, class Real, class Memory>
double quadratic_form(const Exec& exec, const Matrix<Real, Memory>& d, const Matrix<Real, Memory>& h,
                      const Matrix<Real, Memory>& scratch) {
  gemm(exec, "N", "N", Real(1), d, h, Real(0), scratch);
  const std::int64_t rows = d.extent(0), cols = d.extent(1);
  Kokkos::View<double*, Memory> per_row(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::row_error"), rows);
  Kokkos::parallel_for(
      "tsenor::row_error", Kokkos::RangePolicy<Exec, Kokkos::IndexType<std::int64_t>>(exec, 0, rows),
      KOKKOS_LAMBDA(std::int64_t r) {
        double sum = 0.0;
        for (std::int64_t c = 0; c < cols; ++c) sum += static_cast<double>(scratch(r, c)) * static_cast<double>(d(r, c));
        per_row(r) = sum;
      });
  const auto host = Kokkos::create_mirror_view(per_row);
  Kokkos::deep_copy(exec, host, per_row);
  exec.fence();
  double total = 0.0;
  for (std::int64_t r = 0; r < rows; ++r) total += host(r);
  return total;
}

/// The layer's two errors for the pruned weights `w` and their mask, with the undamped H in Real:
/// LayerReport::error and ::masked_error. `difference` and `product` are rows × cols scratch.
template <class Exec, class Real, class Memory>
void layer_errors(const Exec& exec, const Matrix<Real, Memory>& original, const Matrix<Real, Memory>& w,
                  const Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Memory>& mask,
                  const Matrix<Real, Memory>& h, const Matrix<Real, Memory>& difference,
                  const Matrix<Real, Memory>& product, LayerReport& report) {
  const std::int64_t rows = w.extent(0), cols = w.extent(1);
  const double reference = quadratic_form(exec, original, h, product);
  Kokkos::parallel_for(
      "tsenor::reconstruction_difference", entries(exec, rows, cols),
      KOKKOS_LAMBDA(std::int64_t r, std::int64_t c) { difference(r, c) = original(r, c) - w(r, c); });
  report.error = reference > 0 ? quadratic_form(exec, difference, h, product) / reference : 0.0;
  Kokkos::parallel_for(
      "tsenor::masked_difference", entries(exec, rows, cols),
      KOKKOS_LAMBDA(std::int64_t r, std::int64_t c) { difference(r, c) = mask(r, c) ? Real(0) : original(r, c); });
  report.masked_error = reference > 0 ? quadratic_form(exec, difference, h, product) / reference : 0.0;
}

/// The standard N:M mask: in each row, each group of m consecutive entries keeps its n largest
/// scores (ties: the lower index).
template <class Exec, class ScoreView, class MaskView>
void rows_top_n(const Exec& exec, const ScoreView& scores, const MaskView& mask, int n, int m) {
  const std::int64_t groups = scores.extent(1) / m;
  Kokkos::parallel_for(
      "tsenor::rows_top_n",
      Kokkos::RangePolicy<Exec, Kokkos::IndexType<std::int64_t>>(exec, 0, static_cast<std::int64_t>(scores.extent(0)) * groups),
      KOKKOS_LAMBDA(std::int64_t k) {
        const std::int64_t r = k / groups, c0 = (k % groups) * m;
        for (int c = 0; c < m; ++c) {  // rank of entry c in its group: larger score, then lower index
          int rank = 0;
          for (int o = 0; o < m; ++o)
            rank += scores(r, c0 + o) > scores(r, c0 + c) || (scores(r, c0 + o) == scores(r, c0 + c) && o < c) ? 1 : 0;
          mask(r, c0 + c) = rank < n ? 1 : 0;
        }
      });
}

/// `mask` keeps, per tile (or row group), the entries with the largest sum of `scores`. Asynchronous on exec.
template <class Exec, class Real, class Memory>
void select_mask(const Exec& exec, const Matrix<Real, Memory>& scores,
                 const Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Memory>& mask, Pattern pattern,
                 const Options& options) {
  if (pattern == Pattern::transposable)
    launch_mask(exec, scores, mask, options);
  else
    rows_top_n(exec, scores, mask, options.n, options.m);
}

/// The N:M projection of z (what ADMM needs): `mask` keeps, per tile (or row group), the entries with
/// the largest sum of squares; `scores` (z², rows × cols) is scratch. Asynchronous on exec.
template <class Exec, class Real, class Memory>
void project_mask(const Exec& exec, const Matrix<Real, Memory>& z, const Matrix<Real, Memory>& scores,
                  const Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Memory>& mask, Pattern pattern,
                  const Options& options) {
  Kokkos::parallel_for(
      "tsenor::squares", entries(exec, z.extent(0), z.extent(1)),
      KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) { scores(i, j) = z(i, j) * z(i, j); });
  select_mask(exec, scores, mask, pattern, options);
}

/// into = z ⊙ mask.
template <class Exec, class Real, class Memory>
void masked_copy(const Exec& exec, const Matrix<Real, Memory>& z,
                 const Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Memory>& mask, const Matrix<Real, Memory>& into) {
  Kokkos::parallel_for(
      "tsenor::masked", entries(exec, z.extent(0), z.extent(1)),
      KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) { into(i, j) = mask(i, j) ? z(i, j) : Real(0); });
}

}  // namespace detail

}  // namespace tsenor::layers
