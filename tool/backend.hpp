// Running compute_mask on the backend named by --backend, shared by the tool's commands.
#pragma once

#include <cstdio>
#include <string>
#include <type_traits>

#include "library_error.hpp"
#include "strips.hpp"
#include "tsenor/backends/enabled.hpp"
#include "tsenor/compat.hpp"
#include "tsenor/tsenor.hpp"

namespace tsenor::tool {

// The rows of a strip of solve_in_strips: whole tile rows, 4M entries on the host, on a GPU as many as fit in the
// device memory bound (one chunk of the library's host-data call).
template <class Exec, class Real>
std::size_t solve_strip_rows(std::size_t rows, std::size_t cols, const Options& options) {
  const bool on_host = Kokkos::SpaceAccessibility<Exec, Kokkos::HostSpace>::accessible;
  const std::size_t device_memory = options.device_memory > 0 ? options.device_memory : default_device_memory();
  const std::size_t max_entries = on_host ? std::size_t(1) << 22 : device_memory / (sizeof(Real) + 2);
  return strip_rows(rows, cols, static_cast<std::size_t>(options.m), max_entries);
}

// Solves strips of whole tile rows, one call each, to show progress on a terminal.
template <class Exec, class Real>
Summary solve_in_strips(const Exec& exec, const Real* scores, std::size_t rows, std::size_t cols, std::uint8_t* mask,
                        const Options& options, bool progress) {
  Summary total;
  total.n = options.n;
  total.m = options.m;
  total.rows = static_cast<std::int64_t>(rows);
  total.cols = static_cast<std::int64_t>(cols);
  if (rows == 0 || cols == 0) return compute_mask(exec, scores, rows, cols, cols, 1, mask, options);
  const std::size_t strip = solve_strip_rows<Exec, Real>(rows, cols, options);
  for_each_strip(rows, strip, [&](std::size_t r0, std::size_t h) {
    const Summary part = compute_mask(exec, scores + r0 * cols, static_cast<std::int64_t>(h),
                                      static_cast<std::int64_t>(cols), static_cast<std::int64_t>(cols), 1,
                                      mask + r0 * cols, options);
    accumulate(total, part);
    if (progress) std::fprintf(stderr, "\r  solving: %3d%%", static_cast<int>(100.0 * (r0 + h) / rows));
  });
  if (progress) std::fprintf(stderr, "\n");
  return total;
}

/// Solves on the backend named by --backend (already resolved); library usage errors come back without the
/// function name, for the caller to say which file (and tensor) they are about.
template <class Real>
Summary solve_on_backend(const std::string& backend, const Real* scores, std::size_t rows, std::size_t cols,
                         std::uint8_t* mask, const Options& options, bool progress) {
  Summary s;
  try {
    backends::with_execution_space(
        backend, [&](const auto& exec) { s = solve_in_strips(exec, scores, rows, cols, mask, options, progress); });
  } catch (const Error& e) {
    throw Error(without_function(e));
  }
  return s;
}

/// reserve_host_data for solve_on_backend's strips of rows×cols Real scores (nothing on host backends), from a
/// thread of the caller's: it makes Kokkos' GPU current on that thread first.
template <class Real>
void reserve_on_backend(const std::string& backend, std::size_t rows, std::size_t cols, const Options& options) {
  try {
    backends::with_execution_space(backend, [&](const auto& exec) {
      using Exec = std::decay_t<decltype(exec)>;
      compat::make_device_current(exec);
      reserve_host_data<Real>(exec, static_cast<std::int64_t>(solve_strip_rows<Exec, Real>(rows, cols, options)),
                              static_cast<std::int64_t>(cols), options);
    });
  } catch (const Error& e) {
    throw Error(without_function(e));
  }
}

/// resolve_backend for --backend: the error names the option (the library's message starts "backend ...").
inline std::string resolve_backend_option(const std::string& requested) {
  try {
    return backends::resolve_backend(requested);
  } catch (const Error& e) {
    throw Error("--" + e.message());  // "--backend 'cuda' is not enabled ..."
  }
}

}  // namespace tsenor::tool
