#include "commands.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <exception>
#include <memory>
#include <optional>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "backend.hpp"
#include "example.hpp"
#include "interrupt.hpp"
#include "kokkos_session.hpp"
#include "outputs.hpp"
#include "summary_json.hpp"
#include "tsenor/compat.hpp"
#include "tsenor/io/npy.hpp"
#include "tsenor/tsenor.hpp"

namespace tsenor::tool {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The kept share of the total score. Near the top of the double range the summary's sums overflow; the share
// is then summed again here in long double (whose exponent range holds any sum of doubles).
template <class Real>
double kept_share(const Summary& s, const std::vector<Real>& scores, const std::vector<std::uint8_t>& mask) {
  if (std::isfinite(s.objective) && std::isfinite(s.total_score))
    return s.total_score > 0 ? s.objective / s.total_score : 0.0;
  long double kept = 0, total = 0;
  for (std::size_t k = 0; k < scores.size(); ++k) {
    total += scores[k];
    if (mask[k]) kept += scores[k];
  }
  return total > 0 ? static_cast<double>(kept / total) : 0.0;
}

nlohmann::ordered_json report_json(const Args& args, const Summary& s, double kept, const std::string& dtype,
                                   const std::string& backend, int threads, double read_s, double write_s) {
  nlohmann::ordered_json j;
  j["tool"] = std::string("tsenor ") + TSENOR_VERSION;
  j["kokkos_version"] = KOKKOS_VERSION;
  j["input"] = args.input.empty() ? "(built-in example)" : args.input;
  j["output"] = args.output;
  j["dtype"] = dtype;
  j["scores"] = args.input_is_score ? "input" : "magnitude";
  j["rows"] = s.rows;
  j["cols"] = s.cols;
  j["backend"] = backend;
  j["threads"] = threads;
  put_summary(j, s, kept);
  j["seconds_read"] = read_s;
  j["seconds_solve"] = s.seconds;
  j["seconds_write"] = write_s;
  j["device_bytes"] = s.device_bytes;
  j["tiles_per_second"] = s.seconds > 0 ? s.tiles / s.seconds : 0.0;
  return j;
}

}  // namespace

int run_mask(const Args& args) {
  catch_interrupts();
  // Every output is checked before the input is read; nothing at an output path changes before the end.
  const std::vector<io::OutputTarget> outputs = check_outputs({{"--output", args.output}, {"--report", args.report}});
  const io::OutputTarget* mask_out = find_output(outputs, "--output");
  const io::OutputTarget* report_out = find_output(outputs, "--report");
  if (args.input.empty() && mask_out && mask_out->exists && !mask_out->device)
    throw Error("--output " + args.output +
                " exists and no --input was given: refusing to replace it with the mask of the built-in example");
  const std::string input_name = args.input.empty() ? "built-in example" : args.input;
  protect_inputs(outputs, args.input.empty() ? NamedPaths{} : NamedPaths{{"--input file", args.input}}, true);
  const std::string backend = resolve_backend_option(args.backend);
  compat::checked_threads(args.threads, "--threads ");  // before any input is read

  const std::size_t m = static_cast<std::size_t>(args.options.m);
  // Once the input's header has been checked, its shape is checked and Kokkos starts. On a GPU the solve stages the
  // scores through page-locked buffers, which a fresh process has to allocate (about 0.4 ms a MiB on the H200's
  // host, 16 ms of a 35 ms solve of 8192² scores), and launches its kernels for the first time: another thread
  // does both (reserve_host_data) while the scores are read; the main thread makes no Kokkos call meanwhile.
  std::optional<KokkosSession> kokkos;
  std::exception_ptr reserve_error;
  std::thread reserving;
  struct Join {
    std::thread& thread;
    ~Join() {
      if (thread.joinable()) thread.join();
    }
  } join_reserving{reserving};
  double start_s = 0;  // Kokkos' start, during the read but not counted as reading
  const auto start_kokkos = [&](std::size_t rows, std::size_t cols, io::NpyDType dtype) {
    if (rows == 0 || cols == 0)
      throw Error(input_name + ": the matrix is empty (" + std::to_string(rows) + "x" + std::to_string(cols) + ")");
    if (!args.options.zero_pad && (rows % m || cols % m))
      throw Error(input_name + ": shape " + std::to_string(rows) + "x" + std::to_string(cols) +
                  " is not a multiple of M = " + std::to_string(m) +
                  " (--zero-pad pads the border tiles with zero scores and crops their masks)");
    const auto t_start = Clock::now();
    kokkos.emplace(args.threads, -1);
    start_s = since(t_start);
    if (backend != "cuda" && backend != "hip") return;  // host backends solve in the caller's memory
    reserving = std::thread([&, rows, cols, dtype] {
      try {
        if (dtype == io::NpyDType::float64)
          reserve_on_backend<double>(backend, rows, cols, args.options);
        else
          reserve_on_backend<float>(backend, rows, cols, args.options);
      } catch (...) {
        reserve_error = std::current_exception();
      }
    });
  };

  const auto t_read = Clock::now();
  io::Matrix input;
  if (args.input.empty()) {
    input.rows = input.cols = 1024;
    start_kokkos(input.rows, input.cols, io::NpyDType::float32);
    input.f32 = example_weights(input.rows, input.cols);
  } else {
    input = io::read_npy_matrix(args.input, start_kokkos);  // (which refuses the shape before the data is read)
  }
  if (!args.input_is_score) {
    for (float& v : input.f32) v = std::fabs(v);
    for (double& v : input.f64) v = std::fabs(v);
  }
  const double read_s = since(t_read) - start_s;

  std::vector<std::uint8_t> mask(input.rows * input.cols);
  Summary s;
  int threads = 1;
  if (backend == "openmp") threads = compat::concurrency(Kokkos::DefaultHostExecutionSpace());
  const bool progress = !args.quiet && ::isatty(STDERR_FILENO);
  try {
    const auto t_wait = Clock::now();  // for the reservation, if the read was quicker: counted as solving
    if (reserving.joinable()) reserving.join();
    if (reserve_error) std::rethrow_exception(reserve_error);
    const double wait_s = since(t_wait);
    const std::size_t rows = input.rows, cols = input.cols;
    s = input.f64.empty() ? solve_on_backend(backend, input.f32.data(), rows, cols, mask.data(), args.options, progress)
                          : solve_on_backend(backend, input.f64.data(), rows, cols, mask.data(), args.options, progress);
    s.seconds += wait_s;
  } catch (const Error& e) {
    throw Error(input_name + ": " + e.message());
  }
  kokkos.reset();
  const double kept = input.f64.empty() ? kept_share(s, input.f32, mask) : kept_share(s, input.f64, mask);

  // Both outputs are written completely before either replaces what is at its path.
  const auto t_write = Clock::now();
  const std::string dtype = args.input.empty() ? "float32" : io::dtype_name(input.stored_dtype);
  std::unique_ptr<io::OutputFile> mask_file, report_file;
  if (mask_out) {
    mask_file = std::make_unique<io::OutputFile>(*mask_out, ::getpid(), 0, true);
    io::write_npy_u8(*mask_file, input.rows, input.cols, mask.data());
  }
  const double write_s = since(t_write);
  if (report_out) {
    const std::string text = report_json(args, s, kept, dtype, backend, threads, read_s, write_s).dump(2) + "\n";
    report_file = std::make_unique<io::OutputFile>(*report_out, ::getpid(), 0, true);
    report_file->append(text.data(), text.size());
  }
  if (mask_file) mask_file->commit();
  if (report_file) report_file->commit();

  if (!args.quiet) {
    std::printf("tsenor mask: %s, %zux%zu %s, scores = %s\n", input_name.c_str(), input.rows, input.cols,
                dtype.c_str(), args.input_is_score ? "input" : "|W|");
    std::printf("  pattern   %d:%d (%d kept per row and column of each %dx%d tile)\n", s.n, s.m, s.n, s.m, s.m);
    std::printf("  method    %s", method_name(s.method));
    if (s.method == Method::entropic) std::printf(" (tau %g, at most %d iterations)", s.tau, s.max_iterations);
    std::printf(" on %s, %d thread%s\n", backend.c_str(), threads, threads == 1 ? "" : "s");
    std::printf("  tiles     %lld, N-regular %lld", static_cast<long long>(s.tiles),
                static_cast<long long>(s.feasible_tiles));
    if (s.padded_tiles)
      std::printf(", cropped border tiles %lld (at most %d per row and column)", static_cast<long long>(s.padded_tiles),
                  s.n);
    if (s.repaired_tiles) std::printf(", repaired %lld", static_cast<long long>(s.repaired_tiles));
    if (s.invalid_tiles)
      std::printf(", NOT N-regular %lld (a bug: please report it)", static_cast<long long>(s.invalid_tiles));
    std::printf("\n  kept      %.4f%% of the total score%s\n", 100.0 * kept,
                std::isfinite(s.total_score) ? "" : " (the score sums exceed the double range)");
    std::printf("  time      %.3f s solve (%.0f tiles/s), %.3f s read, %.3f s write\n", s.seconds,
                s.seconds > 0 ? s.tiles / s.seconds : 0.0, read_s, write_s);
    if (backend == "cuda" || backend == "hip")
      std::printf("  memory    %.1f MiB on the device at most\n", s.device_bytes / 1048576.0);
    if (mask_out) std::printf("  mask      %s\n", args.output.c_str());
    if (report_out) std::printf("  report    %s\n", args.report.c_str());
  }
  return s.invalid_tiles == 0 ? 0 : 3;
}

int run_verify(const Args& args) {
  std::size_t rows = 0, cols = 0;
  const std::vector<std::uint8_t> mask = io::read_npy_mask(args.mask, rows, cols);
  const std::size_t m = static_cast<std::size_t>(args.options.m), n = static_cast<std::size_t>(args.options.n);
  if (!args.options.zero_pad && (rows % m || cols % m))
    throw Error(args.mask + ": shape " + std::to_string(rows) + "x" + std::to_string(cols) +
                " is not a multiple of M = " + std::to_string(m) + " (use --zero-pad for cropped masks)");
  const KokkosSession kokkos(args.threads, -1);
  using Unmanaged = Kokkos::MemoryTraits<Kokkos::Unmanaged>;
  const Kokkos::View<const std::uint8_t**, Kokkos::LayoutRight, Kokkos::HostSpace, Unmanaged> view(mask.data(), rows,
                                                                                                    cols);
  const MaskCheck check = verify_mask(Kokkos::DefaultHostExecutionSpace(), view, static_cast<int>(n),
                                      static_cast<int>(m), args.options.zero_pad);
  if (check.bad_values)
    throw Error(args.mask + ": entries must be 0 or 1, found " + std::to_string(check.bad_values) + " others");
  const std::size_t tile_cols = (cols + m - 1) / m;
  for (const std::int64_t t : check.first_bad_tiles) {
    const std::size_t p = static_cast<std::size_t>(t) / tile_cols, q = static_cast<std::size_t>(t) % tile_cols;
    std::printf("  tile (%zu, %zu) at rows %zu.., cols %zu.. is not %zu:%zu-regular\n", p, q, p * m, q * m, n, m);
  }
  std::printf("tsenor verify: %s, %zux%zu, %zu:%zu, %zu tiles, %zu not N-regular\n", args.mask.c_str(), rows, cols,
              n, m, static_cast<std::size_t>(check.tiles), static_cast<std::size_t>(check.bad_tiles));
  return check.ok() ? 0 : 1;
}

int run_version() {
  std::printf("tsenor %s (Kokkos %d.%d.%d;", TSENOR_VERSION, KOKKOS_VERSION / 10000, KOKKOS_VERSION / 100 % 100,
              KOKKOS_VERSION % 100);
  for (const auto& name : backends::enabled_backends()) std::printf(" %s", name.c_str());
  std::printf(")\n");
  return 0;
}

}  // namespace tsenor::tool
