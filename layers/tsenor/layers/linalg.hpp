// The dense linear algebra the layer-wise methods need and Kokkos Kernels does not have (a Cholesky
// factorisation, a symmetric eigensolver): the thin interface to the vendor library, on the caller's
// execution-space instance. CUDA: cuSOLVER on the instance's stream where it can be loaded
// (cuda_vendor.hpp), with no host synchronisation; its status words stay in device memory until the
// caller reads them with the layer's results (check_*). Otherwise LAPACK on the host (Debian's
// reference LAPACK or OpenBLAS), through one host round trip for a GPU backend (HIP: Debian has no
// rocSOLVER), and an error is thrown at once.
#pragma once

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tsenor/error.hpp"
#include "tsenor/layers/cuda_vendor.hpp"

extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dtrtri_(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info);
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
             const int* lwork, int* iwork, const int* liwork, int* info);
}

namespace tsenor::layers {

/// The status words of a factorisation (LAPACK's or cuSOLVER's info, one per step), in the memory of the
/// execution space that ran it: 0 when every step succeeded.
template <class Memory>
using FactorStatus = Kokkos::View<int[2], Memory>;

/// Throws tsenor::Error for the status of inverse_cholesky_upper.
inline void check_inverse_cholesky(const int* info) {
  TSENOR_REQUIRE(info[0] == 0, "the layer's Gram matrix H is not positive definite (Cholesky: leading minor " +
                                   std::to_string(info[0]) + "); raise the damping");
  TSENOR_REQUIRE(info[1] == 0, "inverting the Cholesky factor of the layer's Gram matrix failed (trtri: " +
                                   std::to_string(info[1]) + ")");
}

/// Throws tsenor::Error for the status of symmetric_eigen.
inline void check_symmetric_eigen(const int* info) {
  TSENOR_REQUIRE(info[0] == 0, "the eigendecomposition of the layer's Gram matrix failed (syevd: " +
                                   std::to_string(info[0]) + ")");
}

/// Reads a status back (after the caller's fence) and throws if a step failed.
template <class Memory>
void check_status(const FactorStatus<Memory>& status, void (*check)(const int*)) {
  const auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), status);
  check(host.data());
}

namespace detail {

inline int lapack_size(std::int64_t n) {
  TSENOR_REQUIRE(n <= 2147483647, "tsenor::layers: matrix too large for a 32-bit LAPACK index");
  return static_cast<int>(n);
}

// U with H⁻¹ = UᵀU for the row-major n×n H at h (replaced), by LAPACK; info[0..1] as FactorStatus. With J the
// reversal (J_ij = 1 where i + j = n − 1): JHJ = U'ᵀU' (Cholesky), so H⁻¹ = J U'⁻¹U'⁻ᵀ J = UᵀU for
// U = J U'⁻ᵀ J, an upper triangle with a positive diagonal: one factorisation and one triangular inverse, n³/3
// flops each, where forming H⁻¹ (potri) and factorising it again take 4n³/3. JHJ of a row-major array is the
// array reversed, and so is U of the column-major U'⁻¹: U(i, j) = U'⁻¹(n−1−j, n−1−i) = a[n²−1−(i·n + j)].
inline void lapack_inverse_cholesky_upper(double* h, std::int64_t n, int* info) {
  const int size = lapack_size(n);
  std::reverse(h, h + n * n);  // JHJ, symmetric: the same array in column-major order
  dpotrf_("U", &size, h, &size, &info[0]);
  if (info[0] != 0) return;
  dtrtri_("U", "N", &size, h, &size, &info[1]);  // U'⁻¹ in the upper triangle (column-major)
  if (info[1] != 0) return;
  std::reverse(h, h + n * n);
  for (std::int64_t i = 1; i < n; ++i) std::fill(h + i * n, h + i * n + i, 0.0);  // (JHJ's entries were there)
}

// H = Q diag(λ) Qᵀ by LAPACK for the row-major n×n H at h, replaced by Q (row-major); info[0].
inline void lapack_symmetric_eigen(double* h, std::int64_t n, double* eigenvalues, int* info) {
  const int size = lapack_size(n);
  int lwork = -1, liwork = -1, iwork_size = 0;
  double work_size = 0.0;
  dsyevd_("V", "L", &size, h, &size, eigenvalues, &work_size, &lwork, &iwork_size, &liwork, &info[0]);  // query
  lwork = static_cast<int>(work_size);
  liwork = iwork_size;
  std::vector<double> work(static_cast<std::size_t>(lwork > 1 ? lwork : 1));
  std::vector<int> iwork(static_cast<std::size_t>(liwork > 1 ? liwork : 1));
  dsyevd_("V", "L", &size, h, &size, eigenvalues, work.data(), &lwork, iwork.data(), &liwork, &info[0]);
  if (info[0] != 0) return;
  // LAPACK left Q column-major: Q(i, k) at h[i + k·n]; row-major wants it at h[i·n + k].
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t k = i + 1; k < n; ++k) std::swap(h[i * n + k], h[k * n + i]);
}

// Runs `lapack` on host copies of the views (the views themselves when the host can read them), then
// throws if it failed.
template <class Exec, class Matrix, class Vector, class Status, class Lapack>
void on_host(const Exec& exec, const Matrix& h, const Vector& values, const Status& status, Lapack&& lapack,
             void (*check)(const int*)) {
  const auto h_host = Kokkos::create_mirror_view(h);
  const auto values_host = Kokkos::create_mirror_view(values);
  const auto status_host = Kokkos::create_mirror_view(status);
  Kokkos::deep_copy(exec, h_host, h);
  exec.fence();
  lapack(h_host.data(), values_host.data(), status_host.data());
  Kokkos::deep_copy(exec, h, h_host);
  Kokkos::deep_copy(exec, values, values_host);
  Kokkos::deep_copy(exec, status, status_host);
  check(status_host.data());
}

#if defined(KOKKOS_ENABLE_CUDA)
inline void require_cusolver(cusolverStatus_t status, const char* what) {
  TSENOR_REQUIRE(status == CUSOLVER_STATUS_SUCCESS,
                 std::string("tsenor::layers: cuSOLVER ") + what + " failed (status " +
                     std::to_string(static_cast<int>(status)) + ")");
}
#endif

}  // namespace detail

/// U, the upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU), of the symmetric positive definite n×n matrix in
/// `h` (row-major, in exec's memory; replaced by U, zero below the diagonal): what SparseGPT's column
/// updates read. `status` gets the steps' status words (check_inverse_cholesky). The factorisation of the
/// reversed H and a triangular inverse (lapack_inverse_cholesky_upper): by cuSOLVER on CUDA, else by LAPACK on
/// the host (HIP's data makes the round trip).
template <class Exec, class Memory>
void inverse_cholesky_upper(const Exec& exec, const Kokkos::View<double**, Kokkos::LayoutRight, Memory>& h,
                            const FactorStatus<Memory>& status) {
  const std::int64_t n = h.extent(0);
#if defined(KOKKOS_ENABLE_CUDA)
  if constexpr (std::is_same<Exec, Kokkos::Cuda>::value) {
    if (const detail::CudaVendor* v = detail::cuda_vendor()) {
      // As lapack_inverse_cholesky_upper: the array reversed (JHJ), its upper Cholesky factor U', U'⁻¹, the array
      // reversed again, zero below the diagonal.
      const int size = detail::lapack_size(n);
      const std::int64_t count = n * n;
      v->solver_set_stream(v->solver, exec.cuda_stream());
      const auto reverse = [&]() {
        Kokkos::parallel_for(
            "tsenor::reverse_matrix", Kokkos::RangePolicy<Exec, Kokkos::IndexType<std::int64_t>>(exec, 0, count / 2),
            KOKKOS_LAMBDA(std::int64_t k) {
              double* const a = h.data();
              const double t = a[k];
              a[k] = a[count - 1 - k];
              a[count - 1 - k] = t;
            });
      };
      int lwork = 1;
      detail::require_cusolver(v->potrf_size(v->solver, CUBLAS_FILL_MODE_UPPER, size, h.data(), size, &lwork), "potrf");
      std::size_t trtri_device = 0, trtri_host = 0;
      detail::require_cusolver(v->trtri_size(v->solver, CUBLAS_FILL_MODE_UPPER, CUBLAS_DIAG_NON_UNIT, n, CUDA_R_64F,
                                             h.data(), n, &trtri_device, &trtri_host),
                               "trtri");
      const std::size_t work_doubles =
          std::max<std::size_t>({1, static_cast<std::size_t>(lwork), (trtri_device + sizeof(double) - 1) / sizeof(double)});
      Kokkos::View<double*, Memory> work(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::cusolver_work"),
                                         work_doubles);
      std::vector<char> host_work(trtri_host);
      reverse();
      detail::require_cusolver(
          v->potrf(v->solver, CUBLAS_FILL_MODE_UPPER, size, h.data(), size, work.data(), static_cast<int>(work_doubles),
                   status.data()),
          "potrf");
      detail::require_cusolver(v->trtri(v->solver, CUBLAS_FILL_MODE_UPPER, CUBLAS_DIAG_NON_UNIT, n, CUDA_R_64F, h.data(),
                                        n, work.data(), work_doubles * sizeof(double), host_work.data(), trtri_host,
                                        status.data() + 1),
                               "trtri");
      reverse();
      using Pairs = Kokkos::MDRangePolicy<Exec, Kokkos::Rank<2>, Kokkos::IndexType<std::int64_t>>;
      Kokkos::parallel_for(  // (JHJ's entries were there)
          "tsenor::zero_below_diagonal", Pairs(exec, {0, 0}, {n, n}), KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) {
            if (i > j) h(i, j) = 0.0;
          });
      if (trtri_host > 0) exec.fence();  // (the host workspace ends with this call)
      return;
    }
  }
#endif
  const Kokkos::View<double*, Memory> none("tsenor::none", 0);
  detail::on_host(
      exec, h, none, status, [&](double* a, double*, int* info) { detail::lapack_inverse_cholesky_upper(a, n, info); },
      check_inverse_cholesky);
}

/// The eigendecomposition H = Q diag(λ) Qᵀ of the symmetric n×n matrix in `h` (row-major, in exec's
/// memory): λ ascending into `eigenvalues`, and `h` replaced by Q, row-major (column k is the k-th
/// eigenvector): what ALPS's (H + ρI)⁻¹ reads for every ρ. `status`: check_symmetric_eigen.
template <class Exec, class Memory>
void symmetric_eigen(const Exec& exec, const Kokkos::View<double**, Kokkos::LayoutRight, Memory>& h,
                     const Kokkos::View<double*, Memory>& eigenvalues, const FactorStatus<Memory>& status) {
  const std::int64_t n = h.extent(0);
#if defined(KOKKOS_ENABLE_CUDA)
  if constexpr (std::is_same<Exec, Kokkos::Cuda>::value) {
    if (const detail::CudaVendor* v = detail::cuda_vendor()) {
      const int size = detail::lapack_size(n);
      v->solver_set_stream(v->solver, exec.cuda_stream());
      int lwork = 0;
      detail::require_cusolver(v->syevd_size(v->solver, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, size,
                                             h.data(), size, eigenvalues.data(), &lwork),
                               "syevd");
      Kokkos::View<double*, Memory> work(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::cusolver_work"),
                                         std::max(lwork, 1));
      detail::require_cusolver(v->syevd(v->solver, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, size, h.data(),
                                        size, eigenvalues.data(), work.data(), lwork, status.data()),
                               "syevd");
      using Pairs = Kokkos::MDRangePolicy<Exec, Kokkos::Rank<2>, Kokkos::IndexType<std::int64_t>>;
      Kokkos::parallel_for(  // column-major Q to row-major
          "tsenor::transpose_eigenvectors", Pairs(exec, {0, 0}, {n, n}),
          KOKKOS_LAMBDA(std::int64_t i, std::int64_t k) {
            if (i < k) {
              const double t = h(i, k);
              h(i, k) = h(k, i);
              h(k, i) = t;
            }
          });
      return;
    }
  }
#endif
  detail::on_host(
      exec, h, eigenvalues, status,
      [&](double* a, double* values, int* info) { detail::lapack_symmetric_eigen(a, n, values, info); },
      check_symmetric_eigen);
}

}  // namespace tsenor::layers
