#include "commands.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "example.hpp"
#include "tsenor/compat.hpp"
#include "tsenor/io/npy.hpp"
#include "tsenor/tsenor.hpp"

namespace tsenor::tool {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// JSON has no inf or nan: a sum that overflowed is written as null.
std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}

// Writes text to path through a temporary file and a rename: never a partial file.
void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    f << text;
    f.close();
    if (!f) {
      std::remove(tmp.c_str());
      throw Error(path + ": cannot write the report");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(path + ": cannot write the report");
  }
}

void accumulate(Summary& total, const Summary& part) {
  total.method = part.method;
  total.tau = part.tau;
  total.max_iterations = part.max_iterations;
  total.tiles += part.tiles;
  total.feasible_tiles += part.feasible_tiles;
  total.converged_tiles += part.converged_tiles;
  total.repaired_tiles += part.repaired_tiles;
  total.padded_tiles += part.padded_tiles;
  total.iterations += part.iterations;
  if (part.max_tile_iterations > total.max_tile_iterations) total.max_tile_iterations = part.max_tile_iterations;
  total.objective += part.objective;
  total.total_score += part.total_score;
  total.seconds += part.seconds;
}

// Solves strips of whole tile rows, one call each, to show progress on a terminal. Tiles are
// independent, so the mask does not depend on the strip height.
template <class Exec, class Real>
Summary solve_in_strips(const Exec& exec, const Real* scores, std::size_t rows, std::size_t cols, std::uint8_t* mask,
                        const Options& options, bool progress) {
  const std::size_t m = static_cast<std::size_t>(options.m);
  const std::size_t target_rows = cols > 0 ? (std::size_t(1) << 22) / cols : rows;
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
std::vector<std::string> enabled_backends() {
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
std::string resolve_backend(const std::string& requested) {
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

std::string report_json(const Args& args, const Summary& s, const std::string& dtype, const std::string& backend,
                        int threads, double read_s, double write_s) {
  std::ostringstream j;
  j.precision(17);
  const double kept_share = s.total_score > 0 ? s.objective / s.total_score : 0.0;
  j << "{\n"
    << "  \"tool\": \"tsenor " << TSENOR_VERSION << "\",\n"
    << "  \"kokkos_version\": " << KOKKOS_VERSION << ",\n"
    << "  \"input\": " << json_string(args.input.empty() ? "(built-in example)" : args.input) << ",\n"
    << "  \"output\": " << json_string(args.output) << ",\n"
    << "  \"dtype\": " << json_string(dtype) << ",\n"
    << "  \"scores\": " << json_string(args.input_is_score ? "input" : "magnitude") << ",\n"
    << "  \"rows\": " << s.rows << ",\n  \"cols\": " << s.cols << ",\n"
    << "  \"n_kept\": " << s.n << ",\n  \"m\": " << s.m << ",\n"
    << "  \"method\": " << json_string(method_name(s.method)) << ",\n"
    << "  \"tau\": " << s.tau << ",\n  \"max_iterations\": " << s.max_iterations << ",\n"
    << "  \"backend\": " << json_string(backend) << ",\n  \"threads\": " << threads << ",\n"
    << "  \"tiles\": " << s.tiles << ",\n  \"feasible_tiles\": " << s.feasible_tiles << ",\n"
    << "  \"converged_tiles\": " << s.converged_tiles << ",\n  \"repaired_tiles\": " << s.repaired_tiles << ",\n"
    << "  \"padded_tiles\": " << s.padded_tiles << ",\n"
    << "  \"iterations\": " << s.iterations << ",\n  \"max_tile_iterations\": " << s.max_tile_iterations << ",\n"
    << "  \"objective\": " << json_number(s.objective) << ",\n  \"total_score\": " << json_number(s.total_score) << ",\n"
    << "  \"kept_score_fraction\": " << json_number(kept_share) << ",\n"
    << "  \"seconds_read\": " << read_s << ",\n  \"seconds_solve\": " << s.seconds << ",\n"
    << "  \"seconds_write\": " << write_s << ",\n"
    << "  \"tiles_per_second\": " << (s.seconds > 0 ? s.tiles / s.seconds : 0.0) << "\n}\n";
  return j.str();
}

}  // namespace

int run_mask(const Args& args) {
  const auto t_read = Clock::now();
  io::Matrix input;
  if (args.input.empty()) {
    input.rows = input.cols = 1024;
    input.f32 = example_weights(input.rows, input.cols);
  } else {
    input = io::read_npy_matrix(args.input);
  }
  if (input.rows == 0 || input.cols == 0)
    throw Error(args.input + ": the matrix is empty (" + std::to_string(input.rows) + "x" +
                std::to_string(input.cols) + ")");
  if (!args.input_is_score) {
    for (float& v : input.f32) v = std::fabs(v);
    for (double& v : input.f64) v = std::fabs(v);
  }
  const double read_s = since(t_read);

  // Unbound OpenMP threads unless the user chose otherwise: robust on shared machines, and it
  // silences Kokkos' warning about an unset OMP_PROC_BIND.
  const std::string backend = resolve_backend(args.backend);
  ::setenv("OMP_PROC_BIND", "false", 0);
  compat::initialize(args.threads);
  const int threads = backend == "openmp" ? compat::concurrency(Kokkos::DefaultHostExecutionSpace()) : 1;
  const bool progress = !args.quiet && ::isatty(STDERR_FILENO);
  std::vector<std::uint8_t> mask(input.rows * input.cols);
  Summary s;
  try {
    s = input.f64.empty()
            ? solve_on_backend(backend, input.f32.data(), input.rows, input.cols, mask.data(), args.options, progress)
            : solve_on_backend(backend, input.f64.data(), input.rows, input.cols, mask.data(), args.options, progress);
  } catch (...) {
    Kokkos::finalize();
    throw;
  }
  Kokkos::finalize();

  const auto t_write = Clock::now();
  if (!args.output.empty()) io::write_npy_u8(args.output, input.rows, input.cols, mask.data());
  const double write_s = since(t_write);
  const std::string dtype = args.input.empty() ? "float32" : io::dtype_name(input.stored_dtype);
  if (!args.report.empty()) write_atomically(args.report, report_json(args, s, dtype, backend, threads, read_s, write_s));

  if (!args.quiet) {
    std::printf("tsenor mask: %s, %zux%zu %s, scores = %s\n",
                args.input.empty() ? "built-in example" : args.input.c_str(), input.rows, input.cols, dtype.c_str(),
                args.input_is_score ? "input" : "|W|");
    std::printf("  pattern   %d:%d (%d kept per row and column of each %dx%d tile)\n", s.n, s.m, s.n, s.m, s.m);
    std::printf("  method    %s", method_name(s.method));
    if (s.method == Method::tsenor) std::printf(" (tau %g, at most %d iterations)", s.tau, s.max_iterations);
    std::printf(" on %s, %d thread%s\n", backend.c_str(), threads, threads == 1 ? "" : "s");
    std::printf("  tiles     %lld, N-regular %lld", static_cast<long long>(s.tiles),
                static_cast<long long>(s.feasible_tiles));
    if (s.padded_tiles) std::printf(", zero-padded border tiles %lld", static_cast<long long>(s.padded_tiles));
    if (s.repaired_tiles) std::printf(", repaired %lld", static_cast<long long>(s.repaired_tiles));
    std::printf("\n  kept      %.4f%% of the total score\n",
                s.total_score > 0 ? 100.0 * s.objective / s.total_score : 0.0);
    std::printf("  time      %.3f s solve (%.0f tiles/s), %.3f s read, %.3f s write\n", s.seconds,
                s.seconds > 0 ? s.tiles / s.seconds : 0.0, read_s, write_s);
    if (!args.output.empty()) std::printf("  mask      %s\n", args.output.c_str());
    if (!args.report.empty()) std::printf("  report    %s\n", args.report.c_str());
  }
  return s.feasible_tiles == s.tiles ? 0 : 3;
}

int run_verify(const Args& args) {
  std::size_t rows = 0, cols = 0;
  const std::vector<std::uint8_t> mask = io::read_npy_mask(args.mask, rows, cols);
  const std::size_t m = static_cast<std::size_t>(args.options.m), n = static_cast<std::size_t>(args.options.n);
  if (!args.options.zero_pad && (rows % m || cols % m))
    throw Error(args.mask + ": shape " + std::to_string(rows) + "x" + std::to_string(cols) +
                " is not a multiple of M = " + std::to_string(m) + " (use --zero-pad for cropped masks)");
  for (std::uint8_t v : mask)
    if (v > 1) throw Error(args.mask + ": entries must be 0 or 1, found " + std::to_string(v));
  const std::size_t tile_rows = (rows + m - 1) / m, tile_cols = (cols + m - 1) / m;
  std::size_t bad = 0;
  for (std::size_t p = 0; p < tile_rows; ++p)
    for (std::size_t q = 0; q < tile_cols; ++q) {
      const bool border = (p + 1) * m > rows || (q + 1) * m > cols;
      bool ok = true;
      for (std::size_t k = 0; k < m && ok; ++k) {
        std::size_t row_kept = 0, col_kept = 0;
        for (std::size_t l = 0; l < m; ++l) {
          const std::size_t r = p * m + k, c = q * m + l;
          if (r < rows && c < cols) row_kept += mask[r * cols + c];
          const std::size_t r2 = p * m + l, c2 = q * m + k;
          if (r2 < rows && c2 < cols) col_kept += mask[r2 * cols + c2];
        }
        ok = border ? (row_kept <= n && col_kept <= n) : (row_kept == n && col_kept == n);
      }
      if (!ok && ++bad <= 5)
        std::printf("  tile (%zu, %zu) at rows %zu.., cols %zu.. is not %zu:%zu-regular\n", p, q, p * m, q * m, n, m);
    }
  std::printf("tsenor verify: %s, %zux%zu, %zu:%zu, %zu tiles, %zu not N-regular\n", args.mask.c_str(), rows, cols,
              n, m, tile_rows * tile_cols, bad);
  return bad == 0 ? 0 : 1;
}

int run_version() {
  std::printf("tsenor %s (Kokkos %d.%d.%d;", TSENOR_VERSION, KOKKOS_VERSION / 10000, KOKKOS_VERSION / 100 % 100,
              KOKKOS_VERSION % 100);
  for (const auto& name : enabled_backends()) std::printf(" %s", name.c_str());
  std::printf(")\n");
  return 0;
}

}  // namespace tsenor::tool
