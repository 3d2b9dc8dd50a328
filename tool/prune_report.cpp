#include "prune_report.hpp"

#include "reconstruct.hpp"
#include "summary_json.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>

namespace tsenor::tool {

namespace {

using json = nlohmann::ordered_json;

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

}  // namespace

json tensor_entry(const PlannedTensor& planned, const PrunedTensor& result, const Args& args, int rank) {
  const io::TensorInfo& t = *planned.tensor.info;
  Summary total = result.summary;  // summed over the chunks, which leave the pattern to the caller
  total.n = args.options.n;
  total.m = args.options.m;
  json j;
  j["name"] = t.name;
  j["file"] = planned.tensor.file->path();
  j["dtype"] = io::dtype_name(t.dtype);
  j["shape"] = t.shape;
  put_summary(j, total, total.total_score > 0 ? total.objective / total.total_score : 0.0);
  j["scores"] = pruning_method(args);
  if (const auto& r = result.reconstruction) {
    j["pattern"] = args.rows_pattern ? "rows" : "transposable";
    j[planned.gram ? "gram" : "calibration_activations"] = planned.stats->name;
    j["calibration_samples"] = r->samples;
    j["damp"] = args.damp;
    j["linear_algebra"] = r->linear_algebra;
    j["reconstruction_error"] = r->error;
    j["masked_error"] = r->masked_error;
    if (args.layer_method == "alps") {
      j["admm_iterations"] = r->iterations;
      j["rho"] = r->rho;
    } else {
      j["strips"] = r->strips;
    }
  } else if (planned.stats) {
    j["activation_statistics"] = planned.stats->name;
  }
  j["chunks"] = result.chunks;
  j["chunk_rows"] = result.chunk_rows;
  j["rank"] = rank;
  j["bytes_read"] = result.times.bytes_read;
  j["seconds_read"] = result.times.read;
  j["seconds_solve"] = result.times.solve;
  j["seconds_write"] = result.times.write;
  j["seconds"] = result.seconds;
  if (!result.timeline.empty()) {
    json timeline = json::array();
    for (const ChunkSpan& c : result.timeline)
      timeline.push_back({{"first_row", c.first_row}, {"rows", c.rows}, {"read", {c.read[0], c.read[1]}},
                          {"solve", {c.solve[0], c.solve[1]}}, {"write", {c.write[0], c.write[1]}}});
    j["timeline"] = timeline;
  }
  return j;
}

std::string rank_part(const json& entries, const StepTimes& copies) {
  const json part = {{"tensors", entries}, {"peak_rss_mib", peak_rss_mib()},
                     {"copy", {{"bytes_read", copies.bytes_read}, {"seconds_read", copies.read},
                               {"seconds_write", copies.write}}}};
  return part.dump();
}

int finish_report(const std::vector<std::string>& parts, const PrunePlan& plan, const io::Checkpoint& checkpoint,
                  const Args& args, const RunFacts& facts, const io::OutputTarget* report) {
  // The per-tensor entries from every rank, in name order.
  std::vector<json> entries;
  double peak = 0;
  StepTimes sum;
  for (const std::string& text : parts) {
    const json p = json::parse(text);
    for (const json& e : p["tensors"]) entries.push_back(e);
    peak = std::max(peak, p["peak_rss_mib"].get<double>());
    sum.bytes_read += p["copy"]["bytes_read"].get<std::uint64_t>();
    sum.read += p["copy"]["seconds_read"].get<double>();
    sum.write += p["copy"]["seconds_write"].get<double>();
  }
  std::sort(entries.begin(), entries.end(),
            [](const json& a, const json& b) { return a["name"].get<std::string>() < b["name"].get<std::string>(); });
  std::int64_t tiles = 0, feasible = 0;
  double objective = 0, total_score = 0, error = 0, masked_error = 0;
  std::uint64_t weights = 0, largest = 0;
  for (const json& e : entries) {
    tiles += e["tiles"].get<std::int64_t>();
    feasible += e["feasible_tiles"].get<std::int64_t>();
    objective += e["objective"].get<double>();
    total_score += e["total_score"].get<double>();
    if (e.contains("reconstruction_error")) {
      error += e["reconstruction_error"].get<double>();
      masked_error += e["masked_error"].get<double>();
    }
    std::uint64_t n = 1;
    for (const json& d : e["shape"]) n *= d.get<std::uint64_t>();
    weights += n;
    sum.bytes_read += e["bytes_read"].get<std::uint64_t>();
    sum.read += e["seconds_read"].get<double>();
    sum.solve += e["seconds_solve"].get<double>();
    sum.write += e["seconds_write"].get<double>();
  }
  for (const PlannedTensor& it : plan.tensors)
    if (it.selected) largest = std::max<std::uint64_t>(largest, it.tensor.info->bytes());
  const double wall = seconds_since(facts.start);
  json skipped = json::array();
  for (const PlannedTensor& it : plan.tensors)
    if (!it.selected) skipped.push_back({{"name", it.tensor.info->name}, {"reason", it.reason}});
  const bool layers = !args.layer_method.empty() && !entries.empty();
  if (report) {
    json j;
    j["tool"] = std::string("tsenor ") + TSENOR_VERSION;
    j["kokkos_version"] = KOKKOS_VERSION;
    j["input"] = args.input;
    j["input_files"] = checkpoint.files().size();
    j["output"] = args.output;
    j["apply"] = args.apply;
    j["activations"] = args.activations;
    j["scores"] = pruning_method(args);
    j["calibration"] = args.calibration;
    j["pattern"] = args.rows_pattern ? "rows" : "transposable";
    j["n_kept"] = args.options.n;
    j["m"] = args.options.m;
    j["method"] = entries.empty() ? method_name(args.options.method) : entries[0]["method"].get<std::string>();
    j["backend"] = facts.backend;
    j["threads_per_rank"] = facts.threads_per_rank;
    j["ranks"] = facts.ranks;
    if (layers) j["openblas"] = openblas_facts();  // (what the layers' host GEMMs ran with)
    j["max_chunk_mb"] = args.max_chunk_mb;
    j["tensors"] = entries;
    j["skipped"] = skipped;
    j["totals"] = {{"tensors", entries.size()},
                   {"skipped", skipped.size()},
                   {"weights", weights},
                   {"tiles", tiles},
                   {"feasible_tiles", feasible},
                   {"objective", objective},
                   {"total_score", total_score},
                   {"kept_score_fraction", total_score > 0 ? objective / total_score : 0.0},
                   {"mean_reconstruction_error", layers ? json(error / entries.size()) : json(nullptr)},
                   {"mean_masked_error", layers ? json(masked_error / entries.size()) : json(nullptr)},
                   {"bytes_read", sum.bytes_read},
                   {"seconds", wall},
                   {"seconds_read", sum.read},
                   {"seconds_solve", sum.solve},
                   {"seconds_write", sum.write},
                   {"seconds_commit", facts.commit_seconds},
                   {"read_gb_per_s", sum.read > 0 ? sum.bytes_read / sum.read / 1e9 : 0.0},
                   {"end_to_end_gb_per_s", wall > 0 ? sum.bytes_read / wall / 1e9 : 0.0},
                   {"largest_tensor_mib", largest / 1048576.0},
                   {"peak_rss_mib", peak}};
    io::write_output(*report, j.dump(2) + "\n");
  }
  if (!args.quiet) {
    const std::size_t files = checkpoint.files().size();
    std::printf("tsenor prune: %s (%zu file%s), %d:%d (N kept per M)%s, method = %s, %d rank%s\n",
                args.input.c_str(), files, files == 1 ? "" : "s", args.options.n, args.options.m,
                args.rows_pattern ? " in rows" : "", pruning_method(args).c_str(), facts.ranks,
                facts.ranks == 1 ? "" : "s");
    std::printf("  tensors   %zu pruned, %zu skipped; %llu weights, %lld tiles, N-regular %lld\n", entries.size(),
                skipped.size(), static_cast<unsigned long long>(weights), static_cast<long long>(tiles),
                static_cast<long long>(feasible));
    std::printf("  kept      %.4f%% of the total %s\n", total_score > 0 ? 100.0 * objective / total_score : 0.0,
                layers ? "|W| (before the update)" : "score");
    if (layers)
      std::printf("  error     %.5f mean relative output error per layer (%.5f with the mask alone)\n",
                  error / entries.size(), masked_error / entries.size());
    std::printf("  time      %.2f s (%.2f GB/s read end to end); busy: read %.2f s, solve %.2f s, write %.2f s "
                "(they overlap); peak memory %.0f MiB\n",
                wall, wall > 0 ? sum.bytes_read / wall / 1e9 : 0.0, sum.read, sum.solve, sum.write, peak);
    if (!args.output.empty()) std::printf("  masks     %s\n", args.output.c_str());
    if (!args.apply.empty()) std::printf("  pruned    %s\n", args.apply.c_str());
    if (!args.report.empty()) std::printf("  report    %s\n", args.report.c_str());
  }
  return feasible == tiles ? 0 : 3;
}

}  // namespace tsenor::tool
