// Running compute_mask on the backend named by --backend, shared by the tool's commands.
#pragma once

#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include "tsenor/compat.hpp"
#include "tsenor/tsenor.hpp"

namespace tsenor::tool {

// Solves strips of whole tile rows, one call each, to show progress on a terminal: 4M entries
// on the host, on a GPU as many as fit in the device memory bound (one chunk of the library's
// host-data call). Tiles are independent, so the mask does not depend on the strip height.
template <class Exec, class Real>
Summary solve_in_strips(const Exec& exec, const Real* scores, std::size_t rows, std::size_t cols, std::uint8_t* mask,
                        const Options& options, bool progress) {
  const std::size_t m = static_cast<std::size_t>(options.m);
  const bool on_host = Kokkos::SpaceAccessibility<Exec, Kokkos::HostSpace>::accessible;
  const std::size_t device_memory = options.device_memory > 0 ? options.device_memory : std::size_t(1) << 30;
  const std::size_t strip_entries = on_host ? std::size_t(1) << 22 : device_memory / (sizeof(Real) + 2);
  const std::size_t target_rows = cols > 0 ? strip_entries / cols : rows;
  const std::size_t strip = target_rows < m ? m : target_rows / m * m;
  Summary total;
  total.n = options.n;
  total.m = options.m;
  total.rows = static_cast<std::int64_t>(rows);
  total.cols = static_cast<std::int64_t>(cols);
  if (rows == 0 || cols == 0) return compute_mask(exec, scores, rows, cols, cols, 1, mask, options);
  for (std::size_t r0 = 0; r0 < rows; r0 += strip) {
    const std::size_t h = rows - r0 < strip ? rows - r0 : strip;
    const Summary part = compute_mask(exec, scores + r0 * cols, static_cast<std::int64_t>(h),
                                      static_cast<std::int64_t>(cols), static_cast<std::int64_t>(cols), 1,
                                      mask + r0 * cols, options);
    accumulate(total, part);
    if (progress) std::fprintf(stderr, "\r  solving: %3d%%", static_cast<int>(100.0 * (r0 + h) / rows));
  }
  if (progress) std::fprintf(stderr, "\n");
  return total;
}

// The backends this build's Kokkos enables, by their --backend names.
inline std::vector<std::string> enabled_backends() {
  std::vector<std::string> names;
#ifdef KOKKOS_ENABLE_CUDA
  names.push_back("cuda");
#endif
#ifdef KOKKOS_ENABLE_HIP
  names.push_back("hip");
#endif
#ifdef KOKKOS_ENABLE_OPENMP
  names.push_back("openmp");
#endif
#ifdef KOKKOS_ENABLE_SERIAL
  names.push_back("serial");
#endif
  return names;
}

// "auto" is Kokkos' default execution space: the GPU in a GPU build, else OpenMP or Serial.
inline std::string resolve_backend(const std::string& requested) {
  const auto names = enabled_backends();
  if (requested == "auto") {
    std::string name = Kokkos::DefaultExecutionSpace::name();
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
  }
  for (const auto& name : names)
    if (name == requested) return name;
  std::string list;
  for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
  throw Error("--backend " + requested + ": not enabled in this build's Kokkos (enabled: " + list + ")");
}

template <class Real>
Summary solve_on_backend(const std::string& backend, const Real* scores, std::size_t rows, std::size_t cols,
                         std::uint8_t* mask, const Options& options, bool progress) {
#ifdef KOKKOS_ENABLE_CUDA
  if (backend == "cuda") return solve_in_strips(Kokkos::Cuda(), scores, rows, cols, mask, options, progress);
#endif
#ifdef KOKKOS_ENABLE_HIP
  if (backend == "hip") return solve_in_strips(tsenor::compat::HIP(), scores, rows, cols, mask, options, progress);
#endif
#ifdef KOKKOS_ENABLE_OPENMP
  if (backend == "openmp") return solve_in_strips(Kokkos::OpenMP(), scores, rows, cols, mask, options, progress);
#endif
#ifdef KOKKOS_ENABLE_SERIAL
  if (backend == "serial") return solve_in_strips(Kokkos::Serial(), scores, rows, cols, mask, options, progress);
#endif
  throw Error("--backend " + backend + ": not enabled in this build's Kokkos");
}

}  // namespace tsenor::tool
