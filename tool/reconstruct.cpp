#include "mask_bits.hpp"
#include "reconstruct.hpp"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <vector>

#include "library_error.hpp"
#include "tsenor/error.hpp"

#ifdef TSENOR_HAVE_LAYERS
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "tsenor/backends/enabled.hpp"
#include "tsenor/layers/prune_layer.hpp"
#include "tsenor/verify.hpp"
#endif

namespace tsenor::tool {

#ifdef TSENOR_HAVE_LAYERS

namespace {

using Unmanaged = Kokkos::MemoryTraits<Kokkos::Unmanaged>;
template <class T>
using HostMatrix = Kokkos::View<T**, Kokkos::LayoutRight, Kokkos::HostSpace, Unmanaged>;

// Activations are added into H this many rows at a time. Fixed, not an option: the blocks' sums are added in
// order, so the height is part of H's rounding.
constexpr std::uint64_t gram_block_rows = 2048;

[[noreturn]] void fail(const io::SafetensorsFile& file, const std::string& tensor, const std::string& what) {
  throw Error(file.path() + ": tensor '" + tensor + "': " + what);
}

// Reads a whole tensor of a float dtype (F64 too) as doubles, checking that every value is finite.
std::vector<double> read_doubles(const io::SafetensorsFile& file, const io::TensorInfo& t, std::uint64_t first,
                                 std::uint64_t count, const char* what) {
  const std::size_t elem = io::dtype_size(t.dtype);
  std::vector<unsigned char> raw(count * elem);
  file.read(t, first * elem, raw.size(), raw.data());
  std::vector<double> values(count);
  if (t.dtype == io::SafetensorsDType::F64) {
    std::memcpy(values.data(), raw.data(), raw.size());  // little-endian, as the host
  } else {
    std::vector<float> narrow(count);
    io::to_float(t.dtype, raw.data(), count, narrow.data());
    for (std::uint64_t k = 0; k < count; ++k) values[k] = narrow[k];
  }
  for (double v : values)
    if (!std::isfinite(v)) fail(file, t.name, std::string(what) + " hold NaN or infinite values");
  return values;
}

// H = Σ over blocks of XᵦᵀXᵦ, in double, on `exec`.
// `read_seconds` gets the time spent reading the file.
template <class Exec, class Memory = typename Exec::memory_space>
std::uint64_t accumulate_gram(const Exec& exec, const io::SafetensorsFile& file, const io::TensorInfo& t,
                              const Kokkos::View<double**, Kokkos::LayoutRight, Memory>& h, double& read_seconds) {
  using Span = Kokkos::pair<std::int64_t, std::int64_t>;
  const std::uint64_t cols = t.shape.back(), rows = t.elements() / cols;
  Kokkos::View<double**, Kokkos::LayoutRight, Memory> block(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::calibration_block"), std::min(rows, gram_block_rows),
      cols);
  Kokkos::deep_copy(exec, h, 0.0);
  for (std::uint64_t r0 = 0; r0 < rows; r0 += gram_block_rows) {
    const std::uint64_t height = std::min(gram_block_rows, rows - r0);
    const auto t0 = Clock::now();
    std::vector<double> values = read_doubles(file, t, r0 * cols, height * cols, "activations");
    read_seconds += seconds_since(t0);
    const auto x = Kokkos::subview(block, Span(0, static_cast<std::int64_t>(height)), Kokkos::ALL());
    Kokkos::deep_copy(exec, x, HostMatrix<double>(values.data(), height, cols));
    layers::detail::gemm(exec, "T", "N", 1.0, x, x, 1.0, h);
    exec.fence();  // before `values` and the block are reused
  }
  return rows;
}

// The checks of the mask that the summary reports: every M x M tile N-regular (transposable), or every group of
// M consecutive entries of a row keeping N (rows; a tile counts when all its row groups do).
void check_mask(const std::vector<std::uint8_t>& mask, std::uint64_t rows, std::uint64_t cols, const Args& args,
                Summary& s) {
  const int n = args.options.n, m = args.options.m;
  s.tiles = static_cast<std::int64_t>((rows / m) * (cols / m));
  if (!args.rows_pattern) {
    const HostMatrix<const std::uint8_t> view(mask.data(), rows, cols);
    s.invalid_tiles = verify_mask(Kokkos::DefaultHostExecutionSpace(), view, n, m, false).bad_tiles;
  } else {
    std::vector<std::uint8_t> bad(s.tiles, 0);
    for (std::uint64_t r = 0; r < rows; ++r)
      for (std::uint64_t c0 = 0; c0 < cols; c0 += m) {
        int kept = 0;
        for (int c = 0; c < m; ++c) kept += mask[r * cols + c0 + c];
        if (kept != n) bad[(r / m) * (cols / m) + c0 / m] = 1;
      }
    for (std::uint8_t b : bad) s.invalid_tiles += b;
  }
  s.feasible_tiles = s.tiles - s.invalid_tiles;
}

}  // namespace

bool have_layers() { return true; }

void fit_blas_kernels(char** argv) {
#if defined(__linux__) && defined(__GNUC__)
  std::string fit;
#if defined(__x86_64__)
  fit = layers::detail::process_blas_kernel_fit();
#endif
  const bool spins = layers::detail::process_blas_spins();
  if (fit.empty() && !spins) return;
  if (!fit.empty()) {
    std::fprintf(stderr, "tsenor: OpenBLAS chose its %s kernels, older than this CPU; starting again with OPENBLAS_CORETYPE=%s\n",
                 openblas_get_corename(), fit.c_str());
    std::fflush(stderr);
  }
  // (the thread timeout silently: the same results, only OpenBLAS's idle threads sleep sooner)
  const bool set = (fit.empty() || setenv("OPENBLAS_CORETYPE", fit.c_str(), 1) == 0) &&
                   (!spins || setenv("OPENBLAS_THREAD_TIMEOUT", layers::detail::openblas_thread_timeout, 1) == 0);
  if (set) execv("/proc/self/exe", argv);
  if (!fit.empty())
    std::fprintf(stderr, "tsenor: could not start again (%s): going on with OpenBLAS's %s kernels\n",
                 std::strerror(errno), openblas_get_corename());
  // As before, so that SparseGPT and ALPS warn about the kernels, and the report says what OpenBLAS runs with.
  if (!fit.empty()) unsetenv("OPENBLAS_CORETYPE");
  if (spins) unsetenv("OPENBLAS_THREAD_TIMEOUT");
#else
  (void)argv;
#endif
}

nlohmann::ordered_json openblas_facts() {
#if defined(__linux__) && defined(__GNUC__)
  if (!openblas_get_parallel || !openblas_get_corename || !openblas_get_num_threads) return nullptr;
  const int parallel = openblas_get_parallel();
  const char* const timeout = std::getenv("OPENBLAS_THREAD_TIMEOUT");
  return {{"corename", openblas_get_corename()},
          {"threading", parallel == 1 ? "pthreads" : parallel == 2 ? "openmp" : "sequential"},
          {"threads", openblas_get_num_threads()},
          {"thread_timeout", timeout ? nlohmann::ordered_json(timeout) : nlohmann::ordered_json(nullptr)}};
#else
  return nullptr;
#endif
}

PrunedTensor reconstruct_tensor(const PlannedTensor& it, const Args& args, const std::string& backend,
                                const io::SafetensorsFile& calibration, io::OutputFile* masks, io::OutputFile* apply) {
  const io::TensorInfo& t = *it.tensor.info;
  const io::TensorInfo& stats = *it.stats;
  const std::uint64_t rows = t.shape[0], cols = t.shape[1];
  const std::size_t elem = io::dtype_size(t.dtype);
  const auto t_start = Clock::now();
  PrunedTensor result;
  result.chunks = 1;
  result.chunk_rows = rows;
  StepTimes& times = result.times;

  // The weight, whole, as float (the precision of the reference implementations).
  auto t0 = Clock::now();
  std::vector<unsigned char> raw(rows * cols * elem);
  it.tensor.file->read(t, 0, raw.size(), raw.data());
  std::vector<float> w(rows * cols);
  io::to_float(t.dtype, raw.data(), w.size(), w.data());
  Summary& s = result.summary;
  for (std::uint64_t k = 0; k < w.size(); ++k) {
    if (!std::isfinite(w[k]))
      fail(*it.tensor.file, t.name, "weights hold NaN or infinite values (row " + std::to_string(k / cols) + ")");
    s.total_score += std::fabs(w[k]);
  }
  std::vector<double> gram;
  if (it.gram) gram = read_doubles(calibration, stats, 0, cols * cols, "the Gram matrix's entries");
  times.bytes_read += raw.size() + (it.gram ? stats.bytes() : 0);
  times.read += seconds_since(t0);

  // The layer on the backend: H (given, or accumulated from the activations), then SparseGPT or ALPS.
  t0 = Clock::now();
  std::vector<std::uint8_t> mask(rows * cols);
  layers::LayerOptions options;
  options.method = args.layer_method == "alps" ? layers::LayerMethod::alps : layers::LayerMethod::sparsegpt;
  options.mask = args.options;
  options.pattern = args.rows_pattern ? layers::Pattern::rows : layers::Pattern::transposable;
  options.damp = args.damp;
  Reconstruction& r = result.reconstruction.emplace();
  double calibration_read = 0;
  try {
    backends::with_execution_space(backend, [&](const auto& exec) {
      using Exec = std::decay_t<decltype(exec)>;
      using Memory = typename Exec::memory_space;
      Kokkos::View<float**, Kokkos::LayoutRight, Memory> w_view(
          Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::weights"), rows, cols);
      Kokkos::View<double**, Kokkos::LayoutRight, Memory> h_view(
          Kokkos::view_alloc(Kokkos::WithoutInitializing, "tsenor::gram"), cols, cols);
      Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Memory> mask_view("tsenor::mask", rows, cols);
      Kokkos::deep_copy(exec, w_view, HostMatrix<float>(w.data(), rows, cols));
      if (it.gram) {
        Kokkos::deep_copy(exec, h_view, HostMatrix<double>(gram.data(), cols, cols));
      } else {
        r.samples = accumulate_gram(exec, calibration, stats, h_view, calibration_read);
      }
      const layers::LayerReport report = layers::prune_layer<Exec, float>(exec, w_view, h_view, mask_view, options);
      Kokkos::deep_copy(exec, HostMatrix<float>(w.data(), rows, cols), w_view);
      Kokkos::deep_copy(exec, HostMatrix<std::uint8_t>(mask.data(), rows, cols), mask_view);
      exec.fence();
      r.error = report.error;
      r.masked_error = report.masked_error;
      r.strips = report.strips;
      r.iterations = report.iterations;
      r.rho = report.rho;
      r.linear_algebra = report.linear_algebra;
    });
  } catch (const Error& e) {
    fail(*it.tensor.file, t.name, without_function(e));
  }
  if (!it.gram) times.bytes_read += stats.bytes();
  times.read += calibration_read;
  times.solve += seconds_since(t0) - calibration_read;

  s.n = args.options.n;
  s.m = args.options.m;
  s.method = args.options.method == Method::automatic ? Method::exact : args.options.method;
  s.rows = static_cast<std::int64_t>(rows);
  s.cols = static_cast<std::int64_t>(cols);
  check_mask(mask, rows, cols, args, s);

  for (std::uint64_t k = 0; k < w.size(); ++k)
    if (!std::isfinite(w[k]))
      fail(*it.tensor.file, t.name, "the reconstructed weights are not finite (row " + std::to_string(k / cols) +
                                        "); raise --damp");
  // The objective: the kept share of the original |W|, decoded again from the file's bytes a block at a time.
  std::vector<float> original(std::min<std::uint64_t>(w.size(), std::uint64_t(1) << 16));
  for (std::uint64_t k0 = 0; k0 < w.size(); k0 += original.size()) {
    const std::uint64_t count = std::min<std::uint64_t>(original.size(), w.size() - k0);
    io::to_float(t.dtype, raw.data() + k0 * elem, count, original.data());
    for (std::uint64_t k = 0; k < count; ++k)
      if (mask[k0 + k]) s.objective += std::fabs(original[k]);
  }

  t0 = Clock::now();
  if (masks && args.mask_bits) {
    const std::vector<std::uint8_t> packed = pack_mask(mask.data(), mask.size());
    masks->write_at(it.mask_offset, packed.data(), packed.size());
  } else if (masks) {
    masks->write_at(it.mask_offset, mask.data(), mask.size());
  }
  if (apply) {
    io::from_float(t.dtype, w.data(), w.size(), raw.data());
    apply->write_at(it.apply_offset, raw.data(), raw.size());
  }
  times.write += seconds_since(t0);
  result.seconds = seconds_since(t_start);
  return result;
}

#else

bool have_layers() { return false; }

void fit_blas_kernels(char**) {}

nlohmann::ordered_json openblas_facts() { return nullptr; }

PrunedTensor reconstruct_tensor(const PlannedTensor& it, const Args&, const std::string&, const io::SafetensorsFile&,
                                io::OutputFile*, io::OutputFile*) {
  throw Error(it.tensor.file->path() + ": tensor '" + it.tensor.info->name +
              "': this build has no SparseGPT or ALPS (they need Kokkos Kernels and LAPACK: tsenor::layers)");
}

#endif

}  // namespace tsenor::tool
