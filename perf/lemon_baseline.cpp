// Exact baseline: every M×M tile of a score matrix solved by LEMON's network simplex, OpenMP over tiles.
//
//   lemon_baseline scores.npy --nm N:M [--threads T] [--objectives out.bin]
//
// N counts the entries KEPT per row and per column of a tile (2:4 keeps half). Prints one JSON object. With
// --objectives, writes each tile's optimal objective as raw little-endian float64, tiles in row-major order over
// the tile grid (tile (p, q) = rows p·M…p·M+M-1, columns q·M…q·M+M-1): the reference perf/quality.py reads.
// The timing covers the solves only, not reading the file or converting it to double.
//
// Build: g++ -O2 -std=c++17 -fopenmp -Iio -Itests perf/lemon_baseline.cpp io/npy.cpp -llemon

#include <omp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/lemon_exact.hpp"
#include "json_escape.hpp"
#include "tsenor/io/npy.hpp"

namespace {

struct Args {
  std::string input, objectives;
  int n = 0, m = 0, threads = 0;
};

Args parse_args(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--nm") {
      const std::string nm = value();
      if (std::sscanf(nm.c_str(), "%d:%d", &args.n, &args.m) != 2) throw std::invalid_argument("--nm wants N:M");
    } else if (arg == "--threads") {
      args.threads = std::stoi(value());
    } else if (arg == "--objectives") {
      args.objectives = value();
    } else if (args.input.empty() && arg.rfind("--", 0) != 0) {
      args.input = arg;
    } else {
      throw std::invalid_argument("unknown argument " + arg);
    }
  }
  if (args.input.empty() || args.m <= 0)
    throw std::invalid_argument("usage: lemon_baseline scores.npy --nm N:M [--threads T] [--objectives out.bin]");
  return args;
}

// Writes doubles as raw little-endian float64.
void write_f64_le(const std::string& path, const std::vector<double>& values) {
  std::vector<unsigned char> bytes(values.size() * 8);
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::uint64_t bits;
    std::memcpy(&bits, &values[i], 8);
    for (int b = 0; b < 8; ++b) bytes[i * 8 + b] = static_cast<unsigned char>(bits >> (8 * b));
  }
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error(path + ": cannot write");
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse_args(argc, argv);
  const tsenor::io::Matrix matrix = tsenor::io::read_npy_matrix(args.input);
  const int m = args.m;
  if (matrix.rows % m != 0 || matrix.cols % m != 0)
    throw std::invalid_argument("matrix shape is not a multiple of M");
  std::vector<double> scores(matrix.rows * matrix.cols);
  for (std::size_t k = 0; k < scores.size(); ++k)
    scores[k] = matrix.f64.empty() ? matrix.f32[k] : matrix.f64[k];

  if (args.threads > 0) omp_set_num_threads(args.threads);
  const long tile_rows = static_cast<long>(matrix.rows) / m, tile_cols = static_cast<long>(matrix.cols) / m;
  const long tiles = tile_rows * tile_cols;
  std::vector<double> objective(tiles);
  int threads_used = 1;

  const auto start = std::chrono::steady_clock::now();
#pragma omp parallel
  {
#pragma omp single
    threads_used = omp_get_num_threads();
    tsenor_test::LemonTileSolver solver(m, args.n);  // one per thread: the graph and simplex are reused per tile
    std::vector<double> tile(static_cast<std::size_t>(m) * m);
#pragma omp for schedule(static)
    for (long t = 0; t < tiles; ++t) {
      const std::size_t row0 = static_cast<std::size_t>(t / tile_cols) * m;
      const std::size_t col0 = static_cast<std::size_t>(t % tile_cols) * m;
      for (int i = 0; i < m; ++i)
        std::memcpy(&tile[static_cast<std::size_t>(i) * m], &scores[(row0 + i) * matrix.cols + col0],
                    sizeof(double) * m);
      objective[t] = solver.solve(tile.data(), nullptr);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  double total = 0.0;
  for (double f : objective) total += f;
  if (!args.objectives.empty()) write_f64_le(args.objectives, objective);

  std::printf(
      "{\"solver\": \"lemon-network-simplex\", \"input\": \"%s\", \"rows\": %zu, \"cols\": %zu, \"n\": %d, "
      "\"m\": %d, \"threads\": %d, \"tiles\": %ld, \"seconds\": %.6f, \"tiles_per_second\": %.1f, "
      "\"objective_total\": %.17g}\n",
      tsenor::perf::json_escape(args.input).c_str(), matrix.rows, matrix.cols, args.n, m, threads_used, tiles, seconds,
      tiles / seconds, total);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "lemon_baseline: %s\n", e.what());
  return 1;
}
