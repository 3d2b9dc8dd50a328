// ALPS (Meng, Chen, Mazumder et al. 2024) with transposable N:M masks: ADMM on the layer problem
// min ‖(W − Ŵ)X‖² subject to Ŵ N:M, in the column-normalised variables, whose projection step is
// tsenor's exact solver on the squared iterate (per tile, the entries maximising Σ Z²; ties broken in
// one fixed order, so the ρ rule sees no spurious support changes); the reference's ρ schedule and
// stopping rule (mazumder-lab/ALPS, ALPS_admm), then conjugate gradients on the final support.
// (H + ρI)⁻¹ = Q diag(1/(λ+ρ)) Qᵀ from one eigendecomposition H = Q Λ Qᵀ (cuSOLVER or LAPACK), formed again
// (one GEMM) when ρ changes: each iteration is one GEMM, as the reference.
#pragma once

#include <KokkosBlas3_gemm.hpp>
#include <Kokkos_Core.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tsenor/layers/layer.hpp"
#include "tsenor/layers/linalg.hpp"
#include "tsenor/tsenor.hpp"

namespace tsenor::layers {

struct AlpsOptions {
  Options mask;                            ///< N, M and the tile solver's method (transposable pattern)
  Pattern pattern = Pattern::transposable;
  double damp = 0.01;                      ///< added to H's diagonal: damp × mean(diag H)
  double rho = 0.1;                        ///< initial ADMM penalty
  int max_iterations = 300;
  int update_every = 3;                    ///< ρ update period (iterations)
  int switch_iteration = 30;               ///< from here on, stop when the support settles
  int cg_iterations = 10;                  ///< conjugate-gradient steps on the final support
  bool report_errors = true;               ///< compute LayerReport::error and ::masked_error (3 GEMMs)
};

/// Prunes `w` (rows × cols, float or double, LayoutRight, in the execution space's memory) in place
/// with ALPS, the mask into `mask`, given the undamped Gram matrix `h` (cols × cols, double). cols must
/// be a multiple of M, and rows too for the transposable pattern. The report holds the ρ after each
/// update and the support changes that chose it. The ρ rule needs the support change on the host: one
/// synchronisation every `update_every` iterations; everything else stays on `exec`.
namespace detail {

/// inverse = Q diag(1/(λ + ρ)) Qᵀ = (H' + ρI)⁻¹ for H' = Q diag(λ) Qᵀ; q_scaled is scratch.
template <class Exec, class Real, class Memory>
void shifted_inverse(const Exec& exec, const Matrix<Real, Memory>& q, const Kokkos::View<Real*, Memory>& lambda,
                     double rho, const Matrix<Real, Memory>& q_scaled, const Matrix<Real, Memory>& inverse) {
  const std::int64_t cols = q.extent(0);
  const Real r = static_cast<Real>(rho);
  Kokkos::parallel_for(
      "tsenor::scale_eigenvectors", entries(exec, cols, cols),
      KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) { q_scaled(i, j) = q(i, j) / (lambda(j) + r); });
  gemm(exec, "N", "T", Real(1), q_scaled, q, Real(0), inverse);
}

}  // namespace detail

template <class Exec, class Real>
LayerReport alps(const Exec& exec, const Kokkos::View<Real**, Kokkos::LayoutRight, typename Exec::memory_space>& w,
                 const Kokkos::View<const double**, Kokkos::LayoutRight, typename Exec::memory_space>& h,
                 const Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, typename Exec::memory_space>& mask,
                 const AlpsOptions& options) {
  static_assert(std::is_same<Real, float>::value || std::is_same<Real, double>::value, "weights: float or double");
  using Memory = typename Exec::memory_space;
  using Range = Kokkos::RangePolicy<Exec, Kokkos::IndexType<std::int64_t>>;
  using Matrix = detail::Matrix<Real, Memory>;
  const compat::ScopedRegion region("tsenor::layers::alps");
  Kokkos::Timer timer;
  const std::int64_t rows = w.extent(0), cols = w.extent(1);
  const int n = options.mask.n, m = options.mask.m;
  const std::string f = "tsenor::layers::alps: ";
  detail::check_layer(f, rows, cols, h.extent(0), h.extent(1), mask.extent(0), mask.extent(1), n, m, options.pattern);
  detail::warn_if_blas_slow(exec);
  TSENOR_REQUIRE(options.rho > 0 && options.update_every > 0 && options.max_iterations >= 0 &&
                     options.cg_iterations >= 0 && options.damp >= 0.0,
                 f + "rho and update_every must be positive; damp and the iteration counts not negative");

  // Damping, the column norms, the normalised H' = H / (norm normᵀ) in Real for the iterations and in
  // double for its eigendecomposition (linalg.hpp: cuSOLVER or LAPACK).
  Kokkos::View<double**, Kokkos::LayoutRight, Memory> q_double(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::eigenvectors"), cols, cols);
  Kokkos::deep_copy(exec, q_double, h);
  detail::damp_diagonal(exec, q_double, options.damp, Kokkos::View<std::uint8_t*, Memory>());
  Kokkos::View<double*, Memory> norm(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::norm"), cols);
  Kokkos::parallel_for(
      "tsenor::column_norms", Range(exec, 0, cols),
      KOKKOS_LAMBDA(std::int64_t i) { norm(i) = ::sqrt(q_double(i, i)) + 1e-8; });  // ::sqrt: host and GPU alike
  Matrix h_normal(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::h_normal"), cols, cols);
  Kokkos::parallel_for(
      "tsenor::normalise_h", detail::entries(exec, cols, cols), KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) {
        q_double(i, j) /= norm(i) * norm(j);
        h_normal(i, j) = static_cast<Real>(q_double(i, j));
      });
  Kokkos::View<double*, Memory> eigenvalues(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::eigenvalues"),
                                            cols);
  FactorStatus<Memory> status("tsenor::eigen_status");
  symmetric_eigen(exec, q_double, eigenvalues, status);
  Matrix q(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::q"), cols, cols);
  Kokkos::View<Real*, Memory> lambda(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::lambda"), cols);
  Kokkos::View<Real*, Memory> scale(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::scale"), cols);
  Kokkos::parallel_for(
      "tsenor::eigen_real", detail::entries(exec, cols, cols),
      KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) { q(i, j) = static_cast<Real>(q_double(i, j)); });
  Kokkos::parallel_for(
      "tsenor::lambda_real", Range(exec, 0, cols), KOKKOS_LAMBDA(std::int64_t i) {
        lambda(i) = static_cast<Real>(eigenvalues(i));
        scale(i) = static_cast<Real>(norm(i));
      });

  // (H' + ρI)⁻¹ = (Q diag(1/(λ+ρ))) Qᵀ, formed for each ρ.
  Matrix inverse(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::inverse"), cols, cols);
  Matrix q_scaled(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::q_scaled"), cols, cols);
  auto form_inverse = [&](double rho_now) { detail::shifted_inverse(exec, q, lambda, rho_now, q_scaled, inverse); };

  // Device: B = W ⊙ norm (the normalised weights, rows × cols), YtX = B₀ H', the ADMM state.
  Matrix original;  // W itself, for the errors only
  if (options.report_errors) {
    original = Matrix(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::w0"), rows, cols);
    Kokkos::deep_copy(exec, original, w);
  }
  Matrix b0(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::b0"), rows, cols);
  Matrix b("tsenor::b", rows, cols), v("tsenor::v", rows, cols), d("tsenor::d", rows, cols), d0("tsenor::d0", rows, cols);
  Matrix target(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::ytx"), rows, cols);
  Matrix work(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::work"), rows, cols);
  Matrix scores(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::scores"), rows, cols);
  Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Memory> previous("tsenor::previous_mask", rows, cols);
  Kokkos::parallel_for(
      "tsenor::normalise", detail::entries(exec, rows, cols),
      KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) { b0(i, j) = w(i, j) * scale(j); });
  detail::gemm(exec, "N", "N", Real(1), b0, h_normal, Real(0), target);
  Kokkos::deep_copy(exec, b, b0);
  Options projection = options.mask;
  projection.zero_pad = false;
  // D = the projection of z; the mask follows it.
  auto project = [&](const Matrix& z, const Matrix& into) {
    detail::project_mask(exec, z, scores, mask, options.pattern, projection);
    detail::masked_copy(exec, z, mask, into);
  };
  project(b, d);
  Kokkos::deep_copy(exec, d0, d);
  Kokkos::deep_copy(exec, previous, mask);

  const double kept = static_cast<double>(rows) * cols * n / m;
  double rho = options.rho;
  bool rho_grew = false;
  LayerReport report;
  form_inverse(rho);
  for (int iteration = 0; iteration < options.max_iterations; ++iteration) {
    report.iterations = iteration + 1;
    // B = (YtX − V + ρD) (H' + ρI)⁻¹.
    const Real r = static_cast<Real>(rho);
    Kokkos::parallel_for(
        "tsenor::admm_rhs", detail::entries(exec, rows, cols),
        KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) { scores(i, j) = target(i, j) - v(i, j) + r * d(i, j); });
    detail::gemm(exec, "N", "N", Real(1), scores, inverse, Real(0), b);
    // D = P(B + V/ρ); V += ρ(B − D). Z and its squares in one pass, D and V in another.
    Kokkos::parallel_for(
        "tsenor::admm_z", detail::entries(exec, rows, cols), KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) {
          const Real z = b(i, j) + v(i, j) / r;
          work(i, j) = z;
          scores(i, j) = z * z;
        });
    detail::select_mask(exec, scores, mask, options.pattern, projection);
    Kokkos::parallel_for(
        "tsenor::admm_dual", detail::entries(exec, rows, cols), KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) {
          const Real kept = mask(i, j) ? work(i, j) : Real(0);
          d(i, j) = kept;
          v(i, j) += r * (b(i, j) - kept);
        });
    if ((iteration + 1) % options.update_every != 0) continue;
    // The ρ rule of the reference, on the number of entries whose support changed.
    std::int64_t changed = 0;
    Kokkos::parallel_reduce(
        "tsenor::support_change", detail::entries(exec, rows, cols),
        KOKKOS_LAMBDA(std::int64_t i, std::int64_t j, std::int64_t & count) {
          count += mask(i, j) != previous(i, j) ? 1 : 0;
        },
        changed);
    const double share = static_cast<double>(changed) / kept;
    bool stop = false;
    if (share > 0.1) {
      rho_grew = true;
      rho *= 1.3;
    } else if (share > 0.005) {
      rho_grew = true;
      rho *= 1.2;
    } else if (changed > 0) {
      if (rho_grew) {
        rho *= 1.1;
      } else {  // restart from the start with a smaller ρ
        rho /= 5;
        Kokkos::deep_copy(exec, b, b0);
        Kokkos::deep_copy(exec, d, d0);
        Kokkos::deep_copy(exec, v, Real(0));
      }
    } else if (rho_grew) {
      stop = true;
    } else {
      rho /= 5;
    }
    Kokkos::deep_copy(exec, previous, mask);
    rho = rho > 1e6 ? 1e6 : rho;
    report.rho.push_back(rho);
    report.support_changes.push_back(changed);
    form_inverse(rho);
    if (stop || (iteration >= options.switch_iteration && share < 0.0003)) break;
  }

  // The final support: the projection of B itself; then conjugate gradients on it (per row,
  // min ‖(B − B₀)·X‖ restricted to the support: B H' = YtX on the kept entries).
  project(b, d);
  Matrix residual = scores, direction = v, product = work;
  Kokkos::View<double*, Memory> rr("tsenor::cg_rr", rows);
  detail::gemm(exec, "N", "N", Real(1), d, h_normal, Real(0), product);
  // One team per row, its threads along the row (coalesced on GPUs); one thread a team on the host, so
  // each row's sums run in index order there.
  using Team = Kokkos::TeamPolicy<Exec>;
  using Member = typename Team::member_type;
  const int team_size = Kokkos::SpaceAccessibility<Kokkos::HostSpace, Memory>::accessible ? 1 : 256;
  const int row_count = static_cast<int>(rows), col_count = static_cast<int>(cols);
  Kokkos::parallel_for(
      "tsenor::cg_start", Team(exec, row_count, team_size), KOKKOS_LAMBDA(const Member& team) {
        const int i = team.league_rank();
        double sum = 0.0;
        Kokkos::parallel_reduce(
            Kokkos::TeamThreadRange(team, col_count),
            [&](int j, double& partial) {
              const Real g = mask(i, j) ? target(i, j) - product(i, j) : Real(0);
              residual(i, j) = g;
              direction(i, j) = g;
              partial += static_cast<double>(g) * static_cast<double>(g);
            },
            sum);
        Kokkos::single(Kokkos::PerTeam(team), [&]() { rr(i) = sum; });
      });
  for (int step = 0; step < options.cg_iterations; ++step) {
    detail::gemm(exec, "N", "N", Real(1), direction, h_normal, Real(0), product);
    Kokkos::parallel_for(
        "tsenor::cg_step", Team(exec, row_count, team_size), KOKKOS_LAMBDA(const Member& team) {
          const int i = team.league_rank();
          double curvature = 0.0, next = 0.0;
          Kokkos::parallel_reduce(
              Kokkos::TeamThreadRange(team, col_count),
              [&](int j, double& partial) {
                partial += static_cast<double>(direction(i, j)) * static_cast<double>(product(i, j));
              },
              curvature);
          const double alpha = curvature > 0 ? rr(i) / curvature : 0.0;
          Kokkos::parallel_reduce(
              Kokkos::TeamThreadRange(team, col_count),
              [&](int j, double& partial) {
                d(i, j) += static_cast<Real>(alpha) * direction(i, j);
                const Real g = mask(i, j) ? residual(i, j) - static_cast<Real>(alpha) * product(i, j) : Real(0);
                residual(i, j) = g;
                partial += static_cast<double>(g) * static_cast<double>(g);
              },
              next);
          const double beta = rr(i) > 0 ? next / rr(i) : 0.0;
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, col_count), [&](int j) {
            direction(i, j) = residual(i, j) + static_cast<Real>(beta) * direction(i, j);
          });
          team.team_barrier();  // every thread has read rr(i)
          Kokkos::single(Kokkos::PerTeam(team), [&]() { rr(i) = next; });
        });
  }
  // Back to the weights: Ŵ = D / norm.
  Kokkos::parallel_for(
      "tsenor::denormalise", detail::entries(exec, rows, cols),
      KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) { w(i, j) = d(i, j) / scale(j); });

  if (options.report_errors) {
    Matrix h_real(Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::h"), cols, cols);
    Kokkos::parallel_for(
        "tsenor::copy_h", detail::entries(exec, cols, cols),
        KOKKOS_LAMBDA(std::int64_t i, std::int64_t j) { h_real(i, j) = static_cast<Real>(h(i, j)); });
    detail::layer_errors(exec, original, Matrix(w), mask, h_real, scores, work, report);
  }
  exec.fence();
  check_status(status, check_symmetric_eigen);
  report.seconds = timer.seconds();
  report.linear_algebra = detail::linear_algebra(exec);
  return report;
}

}  // namespace tsenor::layers
