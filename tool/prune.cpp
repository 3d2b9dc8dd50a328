// tsenor prune: transposable N:M masks for the linear layers of a safetensors checkpoint, streamed a chunk of
// tile rows at a time, optionally spread over MPI ranks. The output files are laid out from the headers alone
// (names, dtypes, shapes), so every rank knows where each tensor goes and writes its own tensors there: the bytes
// do not depend on the number of ranks.
#include "prune.hpp"

#include <fnmatch.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backend.hpp"
#include "column_norms.hpp"
#include "comm.hpp"
#include "interrupt.hpp"
#include "kokkos_session.hpp"
#include "outputs.hpp"
#include "tsenor/compat.hpp"
#include "tsenor/io/safetensors.hpp"
#include "tsenor/tsenor.hpp"

#if defined(KOKKOS_ENABLE_CUDA)
#include <cuda_runtime_api.h>
#elif defined(KOKKOS_ENABLE_HIP)
#include <hip/hip_runtime_api.h>
#endif

namespace tsenor::tool {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A tensor of the checkpoint and what the run does with it.
struct Item {
  io::CheckpointTensor tensor;
  bool selected = false;
  std::string reason;                   ///< why it is not selected
  const io::TensorInfo* stats = nullptr;  ///< its activation statistics (Wanda)
  int rank = 0;                         ///< the MPI rank that processes (or, for --apply, copies) it
  std::uint64_t mask_offset = 0, apply_offset = 0;
};

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string out = "[";
  for (std::size_t k = 0; k < shape.size(); ++k) out += (k ? ", " : "") + std::to_string(shape[k]);
  return out + "]";
}

std::vector<std::string> split_name(const std::string& name) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t k = 0; k <= name.size(); ++k)
    if (k == name.size() || name[k] == '.') {
      parts.push_back(name.substr(start, k - start));
      start = k + 1;
    }
  return parts;
}

// The default rule: the weight of a linear layer, not an embedding, output head, norm or bias. "" = selected.
std::string default_rule(const std::string& name) {
  const auto parts = split_name(name);
  if (parts.back() != "weight") return "not a weight (" + parts.back() + ")";
  for (std::size_t k = 0; k + 1 < parts.size(); ++k) {
    std::string p = parts[k];
    for (char& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (p.find("embed") != std::string::npos || p == "wte" || p == "wpe") return "embedding";
    if (p == "lm_head" || p == "head" || (parts.size() == 2 && p == "output")) return "output head";
    if (p.find("norm") != std::string::npos || p == "ln" || p.rfind("ln_", 0) == 0) return "norm";
  }
  return "";
}

bool matches(const std::vector<std::string>& patterns, const std::string& name, std::string* which = nullptr) {
  for (const auto& p : patterns)
    if (::fnmatch(p.c_str(), name.c_str(), 0) == 0) {
      if (which) *which = p;
      return true;
    }
  return false;
}

void select(std::vector<Item>& items, const Args& args) {
  const std::uint64_t m = static_cast<std::uint64_t>(args.options.m);
  for (Item& it : items) {
    const io::TensorInfo& t = *it.tensor.info;
    std::string pattern;
    if (!args.include.empty())
      it.reason = matches(args.include, t.name) ? "" : "not matched by --include";
    else
      it.reason = default_rule(t.name);
    if (it.reason.empty() && matches(args.exclude, t.name, &pattern)) it.reason = "excluded by --exclude '" + pattern + "'";
    if (it.reason.empty() && t.shape.size() != 2) it.reason = std::to_string(t.shape.size()) + "-D, not a matrix";
    if (it.reason.empty() && !io::st_is_prunable(t.dtype))
      it.reason = std::string("dtype ") + io::st_dtype_name(t.dtype) + " is not F32, F16 or BF16";
    if (it.reason.empty() && (t.shape[0] % m || t.shape[1] % m || t.shape[0] == 0 || t.shape[1] == 0))
      it.reason = "shape is not a multiple of M = " + std::to_string(m);
    it.selected = it.reason.empty();
  }
}

// Wanda statistics: the tensor named like the weight, or like its layer (the weight's name without ".weight").
void attach_stats(std::vector<Item>& items, const io::SafetensorsFile& stats) {
  for (Item& it : items) {
    if (!it.selected) continue;
    const std::string& name = it.tensor.info->name;
    const std::string layer = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0
                                  ? name.substr(0, name.size() - 7) : name;
    it.stats = stats.find(name);
    if (!it.stats) it.stats = stats.find(layer);
    if (!it.stats)
      throw Error(stats.path() + ": no activation statistics for tensor '" + name + "' (looked for '" + name +
                  "' and '" + layer + "')");
    const io::TensorInfo& s = *it.stats;
    const std::uint64_t cols = it.tensor.info->shape[1];
    if (!io::st_is_prunable(s.dtype))
      throw Error(stats.path() + ": tensor '" + s.name + "': dtype " + io::st_dtype_name(s.dtype) +
                  " is not F32, F16 or BF16");
    if (s.shape.empty() || s.shape.back() != cols)
      throw Error(stats.path() + ": tensor '" + s.name + "': shape " + shape_text(s.shape) + " does not end in " +
                  std::to_string(cols) + ", the input size of '" + name + "'");
    if (s.shape.size() > 1 && !have_column_norms())
      throw Error(stats.path() + ": tensor '" + s.name +
                  "': raw activations need a build with Kokkos Kernels; pass 1-D column norms instead");
  }
}

// Deterministic assignment to ranks: the selected tensors by decreasing size (then name), each to the least
// loaded rank (then the lowest); the tensors --apply only copies, round robin. Depends on nothing but the
// headers and the number of ranks.
void assign_ranks(std::vector<Item>& items, int ranks) {
  std::vector<Item*> order;
  for (Item& it : items)
    if (it.selected) order.push_back(&it);
  std::stable_sort(order.begin(), order.end(), [](const Item* a, const Item* b) {
    return a->tensor.info->elements() > b->tensor.info->elements();
  });
  std::vector<std::uint64_t> load(static_cast<std::size_t>(ranks), 0);
  for (Item* it : order) {
    const auto least = std::min_element(load.begin(), load.end());
    it->rank = static_cast<int>(least - load.begin());
    *least += it->tensor.info->elements();
  }
  int next = 0;
  for (Item& it : items)
    if (!it.selected) it.rank = next++ % ranks;
}

struct Layouts {
  io::SafetensorsLayout masks, apply;
};

Layouts plan_outputs(std::vector<Item>& items, const Args& args) {
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"tsenor", std::string("transposable N:M masks, 1 = kept, tsenor ") + TSENOR_VERSION},
      {"n_kept", std::to_string(args.options.n)},
      {"m", std::to_string(args.options.m)},
      {"method", method_name(args.options.method)},
      {"scores", args.activations.empty() ? "magnitude" : "wanda"}};
  std::vector<io::OutputTensor> masks, apply;
  for (const Item& it : items) {
    const io::TensorInfo& t = *it.tensor.info;
    if (it.selected) masks.push_back({t.name, io::StDType::U8, t.shape});
    apply.push_back({t.name, t.dtype, t.shape});
  }
  Layouts l;
  l.masks = io::plan_safetensors(masks, metadata);
  std::map<std::string, std::string> apply_metadata = metadata;
  apply_metadata["tsenor"] = std::string("weights pruned with transposable N:M masks, tsenor ") + TSENOR_VERSION;
  l.apply = io::plan_safetensors(apply, apply_metadata);
  std::size_t k = 0, a = 0;
  for (Item& it : items) {
    if (it.selected) it.mask_offset = l.masks.offsets[k++];
    it.apply_offset = l.apply.offsets[a++];
  }
  return l;
}

// The GPU of this rank: its node-local rank modulo the node's GPUs (-1: no GPU backend, Kokkos' default).
int node_local_device(const Comm& comm) {
  int count = 0;
#if defined(KOKKOS_ENABLE_CUDA)
  if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
#elif defined(KOKKOS_ENABLE_HIP)
  if (hipGetDeviceCount(&count) != hipSuccess) count = 0;
#endif
  return count > 0 ? comm.local_rank() % count : -1;
}

// Peak resident memory of this process. Linux's VmHWM first: getrusage's ru_maxrss survives execve, so a
// process started by a large parent (a Python test, a launcher) would report the parent's peak.
double peak_rss_mib() {
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    long kib = -1;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    std::fclose(f);
    if (kib >= 0) return static_cast<double>(kib) / 1024.0;
  }
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

struct Times {
  double read = 0, solve = 0, write = 0;
  std::uint64_t bytes_read = 0;
};

std::vector<float> load_norms(const io::SafetensorsFile& file, const io::TensorInfo& stats, Times& times) {
  const auto t0 = Clock::now();
  std::vector<float> norms;
  if (stats.shape.size() == 1) {
    std::vector<unsigned char> raw(stats.bytes());
    file.read(stats, 0, raw.size(), raw.data());
    norms.resize(stats.shape[0]);
    io::to_float(stats.dtype, raw.data(), norms.size(), norms.data());
    for (float v : norms)
      if (!(v >= 0.0f && std::isfinite(v)))
        throw Error(file.path() + ": tensor '" + stats.name + "': norms must be finite and >= 0");
  } else {
    norms = column_norms(file, stats);
  }
  times.bytes_read += stats.bytes();
  times.read += since(t0);
  return norms;
}

class Progress {
 public:
  Progress(bool on, std::size_t total) : on_(on), total_(total) {}
  void show(std::size_t done, const std::string& name, double fraction) const {
    if (!on_) return;
    std::fprintf(stderr, "\r\033[K  [%zu/%zu] %s %3d%%", done + 1, total_, name.c_str(), static_cast<int>(100 * fraction));
    std::fflush(stderr);
  }
  void finish() const {
    if (on_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool on_;
  std::size_t total_;
};

// Masks one tensor, a chunk of whole tile rows at a time, writing each chunk's mask (and pruned weights) at once.
json prune_tensor(const Item& it, const Args& args, const std::string& backend, const io::SafetensorsFile* stats_file,
                  io::OutputFile* masks, io::OutputFile* apply, const Progress& progress, std::size_t index,
                  int rank) {
  const io::TensorInfo& t = *it.tensor.info;
  const std::uint64_t rows = t.shape[0], cols = t.shape[1], m = static_cast<std::uint64_t>(args.options.m);
  const std::size_t elem = io::st_dtype_size(t.dtype);
  const std::uint64_t budget_rows = static_cast<std::uint64_t>(args.max_chunk_mb) * 1048576 / (4 * cols);
  std::uint64_t chunk_rows = std::max<std::uint64_t>(m, budget_rows / m * m);
  chunk_rows = std::min(chunk_rows, rows);
  const auto t_start = Clock::now();
  Times times;
  std::vector<float> norms;
  if (it.stats) norms = load_norms(*stats_file, *it.stats, times);
  std::vector<unsigned char> raw(chunk_rows * cols * elem);
  std::vector<float> scores(chunk_rows * cols);
  std::vector<std::uint8_t> mask(chunk_rows * cols);
  Summary total;
  std::size_t chunks = 0;
  for (std::uint64_t r0 = 0; r0 < rows; r0 += chunk_rows, ++chunks) {
    const std::uint64_t h = std::min(chunk_rows, rows - r0), count = h * cols;
    auto t0 = Clock::now();
    it.tensor.file->read(t, r0 * cols * elem, count * elem, raw.data());
    io::to_float(t.dtype, raw.data(), count, scores.data());
    for (std::uint64_t k = 0; k < count; ++k) {
      if (!std::isfinite(scores[k]))
        throw Error(it.tensor.file->path() + ": tensor '" + t.name + "': weights hold NaN or infinite values (row " +
                    std::to_string(r0 + k / cols) + ")");
      scores[k] = std::fabs(scores[k]);
    }
    if (!norms.empty())
      for (std::uint64_t k = 0; k < count; ++k) scores[k] *= norms[k % cols];
    times.bytes_read += count * elem;
    times.read += since(t0);
    t0 = Clock::now();
    const Summary part = solve_on_backend(backend, scores.data(), h, cols, mask.data(), args.options, false);
    accumulate(total, part);
    times.solve += since(t0);
    t0 = Clock::now();
    if (masks) masks->write_at(it.mask_offset + r0 * cols, mask.data(), count);
    if (apply) {
      for (std::uint64_t k = 0; k < count; ++k)
        if (!mask[k]) std::memset(raw.data() + k * elem, 0, elem);  // +0 in every float format; kept bits unchanged
      apply->write_at(it.apply_offset + r0 * cols * elem, raw.data(), count * elem);
    }
    times.write += since(t0);
    progress.show(index, t.name, static_cast<double>(r0 + h) / rows);
  }
  json j;
  j["name"] = t.name;
  j["file"] = it.tensor.file->path();
  j["dtype"] = io::st_dtype_name(t.dtype);
  j["shape"] = t.shape;
  j["n_kept"] = args.options.n;
  j["m"] = args.options.m;
  j["method"] = method_name(total.method);
  j["tiles"] = total.tiles;
  j["feasible_tiles"] = total.feasible_tiles;
  j["repaired_tiles"] = total.repaired_tiles;
  j["iterations"] = total.iterations;
  j["max_tile_iterations"] = total.max_tile_iterations;
  j["objective"] = total.objective;
  j["total_score"] = total.total_score;
  j["kept_score_fraction"] = total.total_score > 0 ? total.objective / total.total_score : 0.0;
  j["scores"] = it.stats ? "wanda" : "magnitude";
  if (it.stats) j["activation_statistics"] = it.stats->name;
  j["chunks"] = chunks;
  j["chunk_rows"] = chunk_rows;
  j["rank"] = rank;
  j["bytes_read"] = times.bytes_read;
  j["seconds_read"] = times.read;
  j["seconds_solve"] = times.solve;
  j["seconds_write"] = times.write;
  j["seconds"] = since(t_start);
  return j;
}

// --apply: a tensor that is not pruned is copied as it is, in bounded pieces.
void copy_tensor(const Item& it, io::OutputFile& apply, Times& times) {
  const io::TensorInfo& t = *it.tensor.info;
  constexpr std::uint64_t piece = 64u << 20;
  std::vector<unsigned char> buffer(std::min<std::uint64_t>(piece, t.bytes()));
  for (std::uint64_t at = 0; at < t.bytes(); at += piece) {
    const std::uint64_t n = std::min(piece, t.bytes() - at);
    auto t0 = Clock::now();
    it.tensor.file->read(t, at, n, buffer.data());
    times.read += since(t0);
    times.bytes_read += n;
    t0 = Clock::now();
    apply.write_at(it.apply_offset + at, buffer.data(), n);
    times.write += since(t0);
  }
}

void dry_run(const std::vector<Item>& items, const io::Checkpoint& checkpoint, const Args& args) {
  std::size_t selected = 0;
  std::uint64_t weights = 0;
  std::printf("tsenor prune --dry-run: %s (%zu file%s, %zu tensors), %d:%d (N kept per M), scores = %s\n",
              args.input.c_str(), checkpoint.files().size(), checkpoint.files().size() == 1 ? "" : "s", items.size(),
              args.options.n, args.options.m, args.activations.empty() ? "|W|" : "Wanda");
  for (const Item& it : items) {
    const io::TensorInfo& t = *it.tensor.info;
    if (it.selected) {
      ++selected;
      weights += t.elements();
      std::printf("  prune  %s  %s %s%s%s\n", t.name.c_str(), io::st_dtype_name(t.dtype), shape_text(t.shape).c_str(),
                  it.stats ? "  activations " : "", it.stats ? it.stats->name.c_str() : "");
    } else {
      std::printf("  skip   %s  %s %s  (%s)\n", t.name.c_str(), io::st_dtype_name(t.dtype), shape_text(t.shape).c_str(),
                  it.reason.c_str());
    }
  }
  std::printf("would prune %zu of %zu tensors (%llu weights); nothing written\n", selected, items.size(),
              static_cast<unsigned long long>(weights));
}

}  // namespace

int run_prune(const Args& args) {
  const auto t_start = Clock::now();
  catch_interrupts();
  Comm comm;
  std::string error;  // this rank's failure, if any
  auto guarded = [&](auto&& step) {
    if (!error.empty()) return;
    try {
      step();
    } catch (const std::exception& e) {
      error = e.what();
    }
  };
  // After a step every rank learns whether any failed. A rank prints its own error, except that the
  // others stay quiet when rank 0 failed in the same deterministic step (the same message K times).
  auto check = [&](bool deterministic) {
    if (!comm.any(!error.empty())) return;
    const bool root_failed = comm.broadcast(error.empty() ? 0 : 1) != 0;
    if (!error.empty() && (comm.rank() == 0 || !deterministic || !root_failed)) throw Error(error);
    throw SilentFailure();
  };

  // The outputs are checked before any input is read, then against every input file once the headers are known;
  // nothing at an output path changes before the whole run has succeeded.
  std::vector<io::OutputTarget> outputs;
  std::unique_ptr<io::Checkpoint> checkpoint;
  std::unique_ptr<io::SafetensorsFile> stats;
  std::vector<Item> items;
  Layouts layouts;
  std::string backend;
  guarded([&] {
    if (!args.dry_run) outputs = check_outputs({{"--output", args.output}, {"--apply", args.apply}, {"--report", args.report}});
    backend = resolve_backend_option(args.backend);
    kokkos_threads(args.threads);
    checkpoint = std::make_unique<io::Checkpoint>(args.input);
    NamedPaths inputs;
    if (!checkpoint->index().empty()) inputs.push_back({"--input index", checkpoint->index()});
    for (const auto& file : checkpoint->files()) inputs.push_back({"--input checkpoint file", file->path()});
    if (!args.activations.empty()) inputs.push_back({"--activations file", args.activations});
    io::check_distinct(outputs, inputs);
    if (comm.rank() == 0) protect_inputs(outputs, inputs);
    for (const auto& t : checkpoint->tensors()) items.push_back(Item{t});
    select(items, args);
    if (!args.activations.empty()) {
      stats = std::make_unique<io::SafetensorsFile>(args.activations);
      attach_stats(items, *stats);
    }
    if (std::none_of(items.begin(), items.end(), [](const Item& it) { return it.selected; }))
      throw Error(args.input + ": no tensor is selected for pruning (see 'tsenor prune --dry-run')");
    assign_ranks(items, comm.size());
    layouts = plan_outputs(items, args);
  });
  check(true);
  if (args.dry_run) {
    if (comm.rank() == 0) dry_run(items, *checkpoint, args);
    return 0;
  }

  // Rank 0 creates the temporary files (header written, data zero-filled); the others attach to them.
  const long long pid = comm.broadcast(static_cast<long long>(::getpid()));
  std::unique_ptr<io::OutputFile> masks, apply;
  auto open_outputs = [&](bool create) {
    if (const io::OutputTarget* out = find_output(outputs, "--output")) {
      masks = std::make_unique<io::OutputFile>(*out, pid, layouts.masks.file_size, create);
      if (create) masks->write_at(0, layouts.masks.header.data(), layouts.masks.header.size());
    }
    if (const io::OutputTarget* out = find_output(outputs, "--apply")) {
      apply = std::make_unique<io::OutputFile>(*out, pid, layouts.apply.file_size, create);
      if (create) apply->write_at(0, layouts.apply.header.data(), layouts.apply.header.size());
    }
  };
  if (comm.rank() == 0) guarded([&] { open_outputs(true); });
  check(false);
  if (comm.rank() != 0) guarded([&] { open_outputs(false); });
  check(false);

  // One rank per GPU on a GPU node; on CPUs the node's cores are shared among its ranks.
  int threads = args.threads;
  if (threads == 0 && comm.local_size() > 1)
    threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / comm.local_size());
  std::optional<KokkosSession> kokkos;
  guarded([&] { kokkos.emplace(threads, node_local_device(comm)); });
  check(true);
  const int used_threads = backend == "openmp" ? compat::concurrency(Kokkos::DefaultHostExecutionSpace()) : 1;

  json tensors = json::array();
  Times copy_times;
  std::size_t mine = 0;
  for (const Item& it : items) mine += it.selected && it.rank == comm.rank();
  const Progress progress(!args.quiet && comm.rank() == 0 && ::isatty(STDERR_FILENO), mine);
  guarded([&] {
    std::size_t done = 0;
    for (const Item& it : items) {
      if (it.rank != comm.rank()) continue;
      if (it.selected) {
        tensors.push_back(prune_tensor(it, args, backend, stats.get(), masks.get(), apply.get(), progress, done++,
                                       comm.rank()));
      } else if (apply) {
        copy_tensor(it, *apply, copy_times);
      }
    }
  });
  kokkos.reset();
  progress.finish();
  const bool failed = comm.any(!error.empty());
  if (failed) {
    if (masks) masks->discard();
    if (apply) apply->discard();
    if (!error.empty()) throw Error(error);
    throw SilentFailure();
  }
  // Every rank has written and flushed its part before rank 0 renames the files.
  auto commit = [&] {
    if (masks) masks->commit();
    if (apply) apply->commit();
  };
  if (comm.rank() != 0) guarded(commit);
  if (comm.any(!error.empty())) {
    if (masks) masks->discard();
    if (apply) apply->discard();
    if (!error.empty()) throw Error(error);
    throw SilentFailure();
  }
  const auto t_commit = Clock::now();
  if (comm.rank() == 0) commit();
  const double commit_s = since(t_commit);

  // The report: per-tensor entries from every rank, in name order.
  json mine_json = {{"tensors", tensors}, {"peak_rss_mib", peak_rss_mib()},
                    {"copy", {{"bytes_read", copy_times.bytes_read}, {"seconds_read", copy_times.read},
                              {"seconds_write", copy_times.write}}}};
  const std::vector<std::string> parts = comm.gather(mine_json.dump());
  if (comm.rank() != 0) return 0;
  std::vector<json> entries;
  double peak = 0;
  Times sum;
  sum.bytes_read = 0;
  for (const std::string& part : parts) {
    const json p = json::parse(part);
    for (const json& e : p["tensors"]) entries.push_back(e);
    peak = std::max(peak, p["peak_rss_mib"].get<double>());
    sum.bytes_read += p["copy"]["bytes_read"].get<std::uint64_t>();
    sum.read += p["copy"]["seconds_read"].get<double>();
    sum.write += p["copy"]["seconds_write"].get<double>();
  }
  std::sort(entries.begin(), entries.end(),
            [](const json& a, const json& b) { return a["name"].get<std::string>() < b["name"].get<std::string>(); });
  std::int64_t tiles = 0, feasible = 0;
  double objective = 0, total_score = 0;
  std::uint64_t weights = 0, largest = 0;
  for (const json& e : entries) {
    tiles += e["tiles"].get<std::int64_t>();
    feasible += e["feasible_tiles"].get<std::int64_t>();
    objective += e["objective"].get<double>();
    total_score += e["total_score"].get<double>();
    std::uint64_t n = 1;
    for (const json& d : e["shape"]) n *= d.get<std::uint64_t>();
    weights += n;
    sum.bytes_read += e["bytes_read"].get<std::uint64_t>();
    sum.read += e["seconds_read"].get<double>();
    sum.solve += e["seconds_solve"].get<double>();
    sum.write += e["seconds_write"].get<double>();
  }
  for (const Item& it : items)
    if (it.selected) largest = std::max<std::uint64_t>(largest, it.tensor.info->bytes());
  const double wall = since(t_start);
  json skipped = json::array();
  for (const Item& it : items)
    if (!it.selected) skipped.push_back({{"name", it.tensor.info->name}, {"reason", it.reason}});
  json report;
  report["tool"] = std::string("tsenor ") + TSENOR_VERSION;
  report["kokkos_version"] = KOKKOS_VERSION;
  report["input"] = args.input;
  report["input_files"] = checkpoint->files().size();
  report["output"] = args.output;
  report["apply"] = args.apply;
  report["activations"] = args.activations;
  report["scores"] = args.activations.empty() ? "magnitude" : "wanda";
  report["n_kept"] = args.options.n;
  report["m"] = args.options.m;
  report["method"] = entries.empty() ? method_name(args.options.method) : entries[0]["method"].get<std::string>();
  report["backend"] = backend;
  report["threads_per_rank"] = used_threads;
  report["ranks"] = comm.size();
  report["max_chunk_mb"] = args.max_chunk_mb;
  report["tensors"] = entries;
  report["skipped"] = skipped;
  report["totals"] = {{"tensors", entries.size()},
                      {"skipped", skipped.size()},
                      {"weights", weights},
                      {"tiles", tiles},
                      {"feasible_tiles", feasible},
                      {"objective", objective},
                      {"total_score", total_score},
                      {"kept_score_fraction", total_score > 0 ? objective / total_score : 0.0},
                      {"bytes_read", sum.bytes_read},
                      {"seconds", wall},
                      {"seconds_read", sum.read},
                      {"seconds_solve", sum.solve},
                      {"seconds_write", sum.write},
                      {"seconds_commit", commit_s},  // fsync and rename of the outputs, on rank 0
                      {"read_gb_per_s", sum.read > 0 ? sum.bytes_read / sum.read / 1e9 : 0.0},
                      {"end_to_end_gb_per_s", wall > 0 ? sum.bytes_read / wall / 1e9 : 0.0},
                      {"largest_tensor_mib", largest / 1048576.0},
                      {"peak_rss_mib", peak}};
  if (const io::OutputTarget* out = find_output(outputs, "--report")) io::write_output(*out, report.dump(2) + "\n");
  if (!args.quiet) {
    std::printf("tsenor prune: %s (%zu file%s), %d:%d (N kept per M), scores = %s, %d rank%s\n", args.input.c_str(),
                checkpoint->files().size(), checkpoint->files().size() == 1 ? "" : "s", args.options.n,
                args.options.m, args.activations.empty() ? "|W|" : "Wanda", comm.size(), comm.size() == 1 ? "" : "s");
    std::printf("  tensors   %zu pruned, %zu skipped; %llu weights, %lld tiles, N-regular %lld\n", entries.size(),
                skipped.size(), static_cast<unsigned long long>(weights), static_cast<long long>(tiles),
                static_cast<long long>(feasible));
    std::printf("  kept      %.4f%% of the total score\n", total_score > 0 ? 100.0 * objective / total_score : 0.0);
    std::printf("  time      %.2f s: read %.2f s (%.2f GB/s), solve %.2f s, write %.2f s; peak memory %.0f MiB\n",
                wall, sum.read, sum.read > 0 ? sum.bytes_read / sum.read / 1e9 : 0.0, sum.solve, sum.write, peak);
    if (!args.output.empty()) std::printf("  masks     %s\n", args.output.c_str());
    if (!args.apply.empty()) std::printf("  pruned    %s\n", args.apply.c_str());
    if (!args.report.empty()) std::printf("  report    %s\n", args.report.c_str());
  }
  return feasible == tiles ? 0 : 3;
}

}  // namespace tsenor::tool
