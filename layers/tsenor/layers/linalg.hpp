// The dense linear algebra the layer-wise methods need and Kokkos Kernels does not have (a Cholesky
// factorisation, a symmetric eigensolver): the thin interface to the vendor library. Today: LAPACK
// on the host (Debian's reference LAPACK or OpenBLAS), also for GPU backends through one host round
// trip per layer; cuSOLVER on CUDA is the next step (issue 11).
#pragma once

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tsenor/error.hpp"

extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dpotri_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
             const int* lwork, int* iwork, const int* liwork, int* info);
}

namespace tsenor::layers {

/// U, the upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU), of the symmetric positive definite n×n matrix H
/// in `h` (row-major on the host; the result replaces it, zero below the diagonal). What SparseGPT's
/// column updates read. Throws tsenor::Error when H is not positive definite.
inline void inverse_cholesky_upper(double* h, std::int64_t n) {
  TSENOR_REQUIRE(n <= 2147483647, "tsenor::layers: matrix too large for LAPACK's int");
  const int size = static_cast<int>(n);
  int info = 0;
  // H is symmetric, so the row-major array is H in LAPACK's column-major order too.
  dpotrf_("L", &size, h, &size, &info);
  TSENOR_REQUIRE(info == 0, "the layer's Gram matrix H is not positive definite (LAPACK dpotrf: leading minor " +
                                std::to_string(info) + "); raise the damping");
  dpotri_("L", &size, h, &size, &info);  // H⁻¹ in the lower triangle (column-major)
  TSENOR_REQUIRE(info == 0, "inverting the layer's Gram matrix failed (LAPACK dpotri: " + std::to_string(info) + ")");
  for (std::int64_t j = 0; j < n; ++j)  // mirror the lower triangle into the upper one
    for (std::int64_t i = j + 1; i < n; ++i) h[i * n + j] = h[j * n + i];
  dpotrf_("U", &size, h, &size, &info);  // column-major upper triangle: U(i, j) at h[i + j·n], i ≤ j
  TSENOR_REQUIRE(info == 0, "H⁻¹ is not positive definite in floating point (LAPACK dpotrf: " +
                                std::to_string(info) + "); raise the damping");
  // Row-major U: U(i, j) = h[i + j·n] for i ≤ j, 0 below.
  std::vector<double> u(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t i = 0; i <= j; ++i) u[i * n + j] = h[i + j * n];
  std::copy(u.begin(), u.end(), h);
}

/// The eigendecomposition H = Q diag(λ) Qᵀ of the symmetric n×n matrix in `h` (row-major on the host):
/// λ ascending into `eigenvalues`, and `h` replaced by Q, row-major (column k is the k-th eigenvector).
/// What ALPS's (H + ρI)⁻¹ reads for every ρ. Throws tsenor::Error when LAPACK does not converge.
inline void symmetric_eigen(double* h, std::int64_t n, double* eigenvalues) {
  TSENOR_REQUIRE(n <= 2147483647, "tsenor::layers: matrix too large for LAPACK's int");
  const int size = static_cast<int>(n);
  int info = 0, lwork = -1, liwork = -1, iwork_size = 0;
  double work_size = 0.0;
  dsyevd_("V", "L", &size, h, &size, eigenvalues, &work_size, &lwork, &iwork_size, &liwork, &info);  // query
  lwork = static_cast<int>(work_size);
  liwork = iwork_size;
  std::vector<double> work(static_cast<std::size_t>(lwork > 1 ? lwork : 1));
  std::vector<int> iwork(static_cast<std::size_t>(liwork > 1 ? liwork : 1));
  dsyevd_("V", "L", &size, h, &size, eigenvalues, work.data(), &lwork, iwork.data(), &liwork, &info);
  TSENOR_REQUIRE(info == 0, "the eigendecomposition of the layer's Gram matrix failed (LAPACK dsyevd: " +
                                std::to_string(info) + ")");
  // LAPACK left Q column-major: Q(i, k) at h[i + k·n]; row-major wants it at h[i·n + k].
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t k = i + 1; k < n; ++k) std::swap(h[i * n + k], h[k * n + i]);
}

}  // namespace tsenor::layers
