// Time from scores in the execution space's memory to the mask in that memory (no host
// copies), for each shape, pattern and method: the figure a GPU user who keeps weights on the
// device sees. By default the scores are |N(0,1)|-like, generated on the device from a counter
// hash (entry k = r·cols + c of a shape), so the input costs no transfer; --input instead reads
// score matrices from .npy files (float32, or float16 widened; copied to the device before any
// timing), so the timings are on the same scores as a `tsenor mask` run.
//
//   bench_device [--shapes RxC,RxC | --size S | --input A.npy,B.npy] [--patterns 2:4,8:16]
//                [--methods exact,tsenor] [--repeat R] [--host-data] [--launch]
//
// --shapes defaults to 8192x8192; --size S is short for --shapes SxS. Prints one JSON object
// per run (the fastest of R, after one warm-up call), with rows, cols and the summed Dykstra
// iterations. A run that fails prints a JSON object with an "error" member (and the message on
// stderr) and the others go on; the exit status is then 1. A bad command line exits with 2.
// --host-data: after each run, the same call on the scores in host memory (compute_mask's host-data path,
// host memory to host memory, warm, in this process: the fastest of R after a warm-up), one more JSON object
// with "bench": "host-data" and "same_mask" (whether its mask is the device-resident call's; if not, the exit
// status is 1).
// --launch: after each run, launch_mask alone (the solve kernel with no score check, statuses or totals; what
// ALPS and SparseGPT call), fenced: the fastest of R after a warm-up, one more JSON object with "bench":
// "launch" and "mask_fnv1a" (the FNV-1a hash of the mask's bytes, row after row), so that two revisions'
// masks can be compared; and whether that mask is the device-resident call's ("same_mask"; if not, the
// exit status is 1).
#include <Kokkos_Core.hpp>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <sstream>
#include <string>
#include <tsenor/compat.hpp>
#include "json_escape.hpp"
#include <tsenor/io/npy.hpp>
#include <tsenor/tsenor.hpp>
#include <vector>

namespace {

const char* const usage =
    "usage: bench_device [--shapes RxC,RxC | --size S | --input A.npy,B.npy] [--patterns 2:4,4:8,8:16,16:32] "
    "[--methods exact,tsenor] [--repeat R] [--host-data] [--launch]\n";

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

// A positive integer, all of `text` (std::stoll alone accepts "12abc" and "-3").
std::int64_t parse_positive(const std::string& what, const std::string& text) {
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || v <= 0 || text[0] == '+' || text[0] == ' ')
    throw std::invalid_argument(what + ": '" + text + "' is not a positive integer");
  return v;
}

struct Shape {
  std::int64_t rows, cols;
  std::string input;  ///< .npy file of the scores; empty: hashed scores
};

Shape parse_shape(const std::string& text) {
  const auto x = text.find_first_of("xX");
  if (x == std::string::npos) throw std::invalid_argument("--shapes: '" + text + "' is not of the form RxC");
  return {parse_positive("--shapes rows", text.substr(0, x)), parse_positive("--shapes cols", text.substr(x + 1)), ""};
}

struct Pattern {
  std::string text;
  int n, m;
};

Pattern parse_pattern(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) throw std::invalid_argument("--patterns: '" + text + "' is not of the form N:M");
  return {text, static_cast<int>(parse_positive("--patterns N", text.substr(0, colon))),
          static_cast<int>(parse_positive("--patterns M", text.substr(colon + 1)))};
}

// Sum of four uniforms from a counter hash: a bell-shaped magnitude, no library math.
KOKKOS_INLINE_FUNCTION float hashed_score(std::uint64_t key) {
  float s = 0.0f;
  for (int k = 0; k < 4; ++k) {
    key += 0x9e3779b97f4a7c15ull;
    std::uint64_t x = key;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    s += static_cast<float>(x >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }
  return s < 0.0f ? -s : s;
}

/// A mask in the execution space's memory, copied to host memory (row after row).
std::vector<std::uint8_t> mask_on_host(const Kokkos::View<std::uint8_t**, Kokkos::LayoutRight>& mask) {
  std::vector<std::uint8_t> to(mask.span());
  Kokkos::deep_copy(Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Kokkos::HostSpace,
                                 Kokkos::MemoryTraits<Kokkos::Unmanaged>>(to.data(), mask.extent(0), mask.extent(1)),
                    mask);
  return to;
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 3;
  bool host_data = false, launch = false;
  std::vector<Shape> shapes;
  std::vector<Pattern> patterns;
  std::vector<std::string> methods;
  try {
    std::string shape_text = "8192x8192", pattern_text = "2:4,4:8,8:16,16:32", method_text = "exact,tsenor";
    std::string input_text;
    bool size_given = false, shapes_given = false;
    for (int k = 1; k < argc; ++k) {
      const std::string opt = argv[k];
      if (opt == "-h" || opt == "--help") {
        std::printf("%s", usage);
        return 0;
      }
      if (opt == "--host-data" || opt == "--launch") {
        (opt == "--launch" ? launch : host_data) = true;
        continue;
      }
      if (k + 1 >= argc) throw std::invalid_argument(opt + " needs a value");
      const std::string value = argv[++k];
      if (opt == "--size") {
        const std::string s = std::to_string(parse_positive("--size", value));
        shape_text = s + "x" + s;
        size_given = true;
      } else if (opt == "--shapes") {
        shape_text = value;
        shapes_given = true;
      } else if (opt == "--input") {
        input_text = value;
      } else if (opt == "--patterns") {
        pattern_text = value;
      } else if (opt == "--methods") {
        method_text = value;
      } else if (opt == "--repeat") {
        repeat = static_cast<int>(parse_positive("--repeat", value));
      } else {
        throw std::invalid_argument("unknown option " + opt);
      }
    }
    if (size_given + shapes_given + !input_text.empty() > 1)
      throw std::invalid_argument("give one of --size, --shapes and --input");
    if (!input_text.empty())
      for (const auto& path : split(input_text)) shapes.push_back({0, 0, path});
    else
      for (const auto& s : split(shape_text)) shapes.push_back(parse_shape(s));
    for (const auto& p : split(pattern_text)) patterns.push_back(parse_pattern(p));
    for (const auto& m : split(method_text)) {
      tsenor::parse_method(m);  // throws on an unknown name
      methods.push_back(m);
    }
    if (shapes.empty() || patterns.empty() || methods.empty())
      throw std::invalid_argument("--shapes, --patterns and --methods must not be empty");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_device: bad command line: %s\n%s", e.what(), usage);
    return 2;
  }
  tsenor::compat::initialize(0);
  int status = 0;
  {
    using Exec = Kokkos::DefaultExecutionSpace;
    Exec exec;
    for (const Shape& shape : shapes) {
      // The input file is read first (its shape names the runs); hashed scores need no file.
      tsenor::io::Matrix host;
      std::string read_error;
      if (!shape.input.empty()) {
        try {
          host = tsenor::io::read_npy_matrix(shape.input);
          if (host.f32.empty() && !host.f64.empty())
            throw std::invalid_argument(shape.input + ": float64 scores; bench_device takes float32 (or float16)");
        } catch (const std::exception& e) {
          read_error = e.what();
        }
      }
      const std::int64_t rows = shape.input.empty() ? shape.rows : static_cast<std::int64_t>(host.rows);
      const std::int64_t cols = shape.input.empty() ? shape.cols : static_cast<std::int64_t>(host.cols);
      const std::string source = shape.input.empty() ? std::string("hashed") : shape.input;
      // One run's failure (e.g. a shape that is not a multiple of M, or memory) is reported and
      // the others go on.
      auto fail = [&](const std::string& nm, const std::string& method, const std::string& what) {
        std::fprintf(stderr, "bench_device: %s %lldx%lld%s%s%s%s: error: %s\n", source.c_str(),
                     static_cast<long long>(rows), static_cast<long long>(cols), nm.empty() ? "" : " ", nm.c_str(),
                     method.empty() ? "" : " ", method.c_str(), what.c_str());
        std::printf(
            "{\"bench\": \"device-resident\", \"exec\": \"%s\", \"scores\": \"%s\", \"rows\": %lld, "
            "\"cols\": %lld, \"nm\": \"%s\", \"method\": \"%s\", \"error\": \"%s\"}\n",
            Exec::name(), tsenor::perf::json_escape(source).c_str(), static_cast<long long>(rows),
            static_cast<long long>(cols),
            tsenor::perf::json_escape(nm).c_str(),
            tsenor::perf::json_escape(method).c_str(), tsenor::perf::json_escape(what).c_str());
        std::fflush(stdout);
        status = 1;
      };
      try {
        if (!read_error.empty()) throw std::runtime_error(read_error);
        Kokkos::View<float**, Kokkos::LayoutRight> scores("scores", rows, cols);
        Kokkos::View<std::uint8_t**, Kokkos::LayoutRight> mask("mask", rows, cols);
        if (shape.input.empty()) {
          Kokkos::parallel_for(
              "scores", Kokkos::RangePolicy<Exec, Kokkos::IndexType<std::int64_t>>(exec, 0, rows * cols),
              KOKKOS_LAMBDA(std::int64_t k) {
                scores(k / cols, k % cols) = hashed_score(static_cast<std::uint64_t>(k));
              });
        } else {
          Kokkos::View<const float**, Kokkos::LayoutRight, Kokkos::HostSpace,
                       Kokkos::MemoryTraits<Kokkos::Unmanaged>>
              from(host.f32.data(), rows, cols);
          Kokkos::deep_copy(exec, scores, from);
        }
        exec.fence();
        host = tsenor::io::Matrix();  // the host copy is no longer needed
        std::vector<float> host_scores;  // --host-data: the scores in host memory again
        if (host_data) {
          host_scores.resize(static_cast<std::size_t>(rows) * cols);
          Kokkos::deep_copy(Kokkos::View<float**, Kokkos::LayoutRight, Kokkos::HostSpace,
                                         Kokkos::MemoryTraits<Kokkos::Unmanaged>>(host_scores.data(), rows, cols),
                            scores);
        }
        for (const Pattern& p : patterns) {
          for (const auto& method : methods) {
            tsenor::Options o;
            o.n = p.n;
            o.m = p.m;
            try {
              o.method = tsenor::parse_method(method);
              // A workspace kept across calls, as a caller that solves again and again does: the warm-up
              // allocates the statuses and totals, the timed calls reuse them.
              tsenor::Workspace<typename Exec::memory_space> workspace;
              tsenor::compute_mask(exec, scores, mask, o, {}, &workspace);  // warm-up
              tsenor::Summary best;
              for (int r = 0; r < repeat; ++r) {
                const tsenor::Summary s = tsenor::compute_mask(exec, scores, mask, o, {}, &workspace);
                if (r == 0 || s.seconds < best.seconds) best = s;
              }
              std::printf(
                  "{\"bench\": \"device-resident\", \"exec\": \"%s\", \"scores\": \"%s\", \"rows\": %lld, "
                  "\"cols\": %lld, \"nm\": \"%s\", \"method\": \"%s\", \"repeat\": %d, \"seconds\": %.6f, \"tiles\": %lld, "
                  "\"feasible_tiles\": %lld, \"tiles_per_second\": %.1f, \"iterations\": %lld, "
                  "\"max_tile_iterations\": %d, \"tau\": %.17g, \"objective\": %.17g}\n",
                  Exec::name(), tsenor::perf::json_escape(source).c_str(), static_cast<long long>(rows),
                  static_cast<long long>(cols), tsenor::perf::json_escape(p.text).c_str(),
                  tsenor::perf::json_escape(method).c_str(), repeat, best.seconds,
                  static_cast<long long>(best.tiles), static_cast<long long>(best.feasible_tiles),
                  best.tiles / best.seconds, static_cast<long long>(best.iterations),
                  static_cast<int>(best.max_tile_iterations), best.tau, best.objective);
              std::fflush(stdout);
            } catch (const std::exception& e) {
              fail(p.text, method, e.what());
              continue;
            }
            if (launch) {
              try {
                // launch_mask alone into a mask of its own, then both masks in host memory: its hash, and
                // whether it is the device-resident call's.
                Kokkos::View<std::uint8_t**, Kokkos::LayoutRight> launched("launched", rows, cols);
                tsenor::launch_mask(exec, scores, launched, o);  // warm-up
                exec.fence();
                double best_launch = 0.0;
                for (int r = 0; r < repeat; ++r) {
                  Kokkos::Timer timer;
                  tsenor::launch_mask(exec, scores, launched, o);
                  exec.fence();
                  const double seconds = timer.seconds();
                  if (r == 0 || seconds < best_launch) best_launch = seconds;
                }
                const std::vector<std::uint8_t> launched_mask = mask_on_host(launched);
                const bool same = launched_mask == mask_on_host(mask);
                std::uint64_t hash = 14695981039346656037ull;
                for (const std::uint8_t b : launched_mask) hash = (hash ^ b) * 1099511628211ull;
                std::printf(
                    "{\"bench\": \"launch\", \"exec\": \"%s\", \"scores\": \"%s\", \"rows\": %lld, "
                    "\"cols\": %lld, \"nm\": \"%s\", \"method\": \"%s\", \"repeat\": %d, \"seconds\": %.6f, "
                    "\"mask_fnv1a\": \"%016llx\", \"same_mask\": %s}\n",
                    Exec::name(), tsenor::perf::json_escape(source).c_str(), static_cast<long long>(rows),
                    static_cast<long long>(cols), tsenor::perf::json_escape(p.text).c_str(),
                    tsenor::perf::json_escape(method).c_str(), repeat, best_launch,
                    static_cast<unsigned long long>(hash), same ? "true" : "false");
                std::fflush(stdout);
                if (!same) status = 1;
              } catch (const std::exception& e) {
                fail(p.text, method + " (launch)", e.what());
              }
            }
            if (!host_data) continue;
            try {
              // The same call on host memory (compute_mask's host-data path: copies through page-locked
              // buffers, chunks in flight), warm: the fastest of `repeat` after a warm-up, in this process, timed
              // from outside (the call's own clock stops before its buffers and instances are released); and
              // whether its mask is the device-resident call's.
              std::vector<std::uint8_t> host_mask(static_cast<std::size_t>(rows) * cols);
              const auto call = [&] {
                tsenor::compute_mask(exec, host_scores.data(), rows, cols, cols, 1, host_mask.data(), o);
              };
              call();
              double best_host = 0.0;
              for (int r = 0; r < repeat; ++r) {
                Kokkos::Timer timer;
                call();
                const double seconds = timer.seconds();
                if (r == 0 || seconds < best_host) best_host = seconds;
              }
              const std::vector<std::uint8_t> device_mask = mask_on_host(mask);
              std::printf(
                  "{\"bench\": \"host-data\", \"exec\": \"%s\", \"scores\": \"%s\", \"rows\": %lld, "
                  "\"cols\": %lld, \"nm\": \"%s\", \"method\": \"%s\", \"repeat\": %d, \"seconds\": %.6f, "
                  "\"same_mask\": %s}\n",
                  Exec::name(), tsenor::perf::json_escape(source).c_str(), static_cast<long long>(rows),
                  static_cast<long long>(cols), tsenor::perf::json_escape(p.text).c_str(),
                  tsenor::perf::json_escape(method).c_str(), repeat, best_host,
                  host_mask == device_mask ? "true" : "false");
              std::fflush(stdout);
              if (host_mask != device_mask) status = 1;
            } catch (const std::exception& e) {
              fail(p.text, method + " (host data)", e.what());
            }
          }
        }
      } catch (const std::exception& e) {
        fail("", "", e.what());
      }
    }
  }
  Kokkos::finalize();
  return status;
}
