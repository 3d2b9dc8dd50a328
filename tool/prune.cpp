// tsenor prune, the driver: plans the run (prune_plan), streams this rank's tensors into the output files (masks
// from scores through one pipeline, mask_stream; SparseGPT and ALPS a tensor at a time, reconstruct), copies the
// others for --apply, and keeps the MPI ranks in step so that a failure anywhere leaves every output path as it
// was; then the report (prune_report).
#include "prune.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backend.hpp"
#include "comm.hpp"
#include "interrupt.hpp"
#include "kokkos_session.hpp"
#include "mask_stream.hpp"
#include "outputs.hpp"
#include "prune_plan.hpp"
#include "prune_report.hpp"
#include "reconstruct.hpp"
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

// --apply: a tensor that is not pruned is copied as it is, in bounded pieces.
void copy_tensor(const PlannedTensor& it, io::OutputFile& apply, StepTimes& times) {
  const io::TensorInfo& t = *it.tensor.info;
  constexpr std::uint64_t piece = 64u << 20;
  std::vector<unsigned char> buffer(std::min<std::uint64_t>(piece, t.bytes()));
  for (std::uint64_t at = 0; at < t.bytes(); at += piece) {
    const std::uint64_t n = std::min(piece, t.bytes() - at);
    auto t0 = Clock::now();
    it.tensor.file->read(t, at, n, buffer.data());
    times.read += seconds_since(t0);
    times.bytes_read += n;
    t0 = Clock::now();
    apply.write_at(it.apply_offset + at, buffer.data(), n);
    times.write += seconds_since(t0);
  }
}

// The failure protocol of the ranks. A step that throws records the error on this rank, and the rank's later
// steps are skipped; at a check every rank learns whether any failed, and all stop together.
class RankSteps {
 public:
  explicit RankSteps(const Comm& comm) : comm_(comm) {}
  template <class Step>
  void run(Step&& step) {
    if (!error_.empty()) return;
    try {
      step();
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }
  bool any_failed() const { return comm_.any(!error_.empty()); }
  /// Stops every rank if any failed. A rank prints its own error, except that the others stay quiet when rank 0
  /// failed in the same deterministic step (the same message K times).
  void check(bool deterministic) const {
    if (!any_failed()) return;
    const bool root_failed = comm_.broadcast(error_.empty() ? 0 : 1) != 0;
    if (!error_.empty() && (comm_.rank() == 0 || !deterministic || !root_failed)) throw Error(error_);
    throw SilentFailure();
  }
  /// Stops this rank: with its own error, or silently when another rank failed.
  [[noreturn]] void stop() const {
    if (!error_.empty()) throw Error(error_);
    throw SilentFailure();
  }

 private:
  const Comm& comm_;
  std::string error_;
};

// The --output and --apply files of a run: temporary files until commit renames them onto their paths.
struct PruneOutputFiles {
  std::unique_ptr<io::OutputFile> masks, apply;

  // create: rank 0 creates the files (header written, data zero-filled); otherwise a rank attaches to them.
  void open(const std::vector<io::OutputTarget>& outputs, const PrunePlan& plan, long long pid, bool create) {
    if (const io::OutputTarget* out = find_output(outputs, "--output")) {
      masks = std::make_unique<io::OutputFile>(*out, pid, plan.masks.file_size, create);
      if (create) masks->write_at(0, plan.masks.header.data(), plan.masks.header.size());
    }
    if (const io::OutputTarget* out = find_output(outputs, "--apply")) {
      apply = std::make_unique<io::OutputFile>(*out, pid, plan.apply.file_size, create);
      if (create) apply->write_at(0, plan.apply.header.data(), plan.apply.header.size());
    }
  }
  void commit() {
    if (masks) masks->commit();
    if (apply) apply->commit();
  }
  void discard() {
    if (masks) masks->discard();
    if (apply) apply->discard();
  }
};

}  // namespace

int run_prune(const Args& args) {
  RunFacts facts;
  facts.start = Clock::now();
  catch_interrupts();
  Comm comm;
  facts.ranks = comm.size();
  RankSteps steps(comm);

  // The outputs are checked before any input is read, then against every input file once the headers are known;
  // nothing at an output path changes before the whole run has succeeded.
  std::vector<io::OutputTarget> outputs;
  std::unique_ptr<io::Checkpoint> checkpoint;
  std::unique_ptr<io::SafetensorsFile> stats;
  PrunePlan plan;
  steps.run([&] {
    if (!args.dry_run)
      outputs = check_outputs({{"--output", args.output}, {"--apply", args.apply}, {"--report", args.report}});
    for (const io::OutputTarget& out : outputs)
      if (out.stream >= 0 && comm.size() > 1)
        throw Error(out.option + " " + out.path +
                    ": a standard stream cannot take the output of several ranks; give a file");
    facts.backend = resolve_backend_option(args.backend);
    compat::checked_threads(args.threads, "--threads ");  // before any input is read
    checkpoint = std::make_unique<io::Checkpoint>(args.input);
    NamedPaths inputs;
    if (!checkpoint->index().empty()) inputs.push_back({"--input index", checkpoint->index()});
    for (const auto& file : checkpoint->files()) inputs.push_back({"--input checkpoint file", file->path()});
    if (!args.activations.empty()) inputs.push_back({"--activations file", args.activations});
    if (!args.calibration.empty()) inputs.push_back({"--calibration file", args.calibration});
    protect_inputs(outputs, inputs, comm.rank() == 0);
    if (!args.layer_method.empty() && !have_layers())
      throw Error("--method " + args.layer_method +
                  ": this build has no SparseGPT or ALPS (they need Kokkos Kernels and LAPACK: tsenor::layers)");
    const std::string& stats_path = args.layer_method.empty() ? args.activations : args.calibration;
    if (!stats_path.empty()) stats = std::make_unique<io::SafetensorsFile>(stats_path);
    plan = plan_prune(*checkpoint, stats.get(), args, comm.size());
  });
  steps.check(true);
  if (args.dry_run) {
    if (comm.rank() == 0) print_dry_run(plan, *checkpoint, args);
    return 0;
  }

  // Rank 0 creates the temporary files; the others attach to them.
  const long long pid = comm.broadcast(static_cast<long long>(::getpid()));
  PruneOutputFiles files;
  if (comm.rank() == 0) steps.run([&] { files.open(outputs, plan, pid, true); });
  steps.check(false);
  if (comm.rank() != 0) steps.run([&] { files.open(outputs, plan, pid, false); });
  steps.check(false);

  // One rank per GPU on a GPU node; on CPUs the node's cores are shared among its ranks.
  int threads = args.threads;
  if (threads == 0 && comm.local_size() > 1)
    threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / comm.local_size());
  std::optional<KokkosSession> kokkos;
  steps.run([&] { kokkos.emplace(threads, node_local_device(comm)); });
  steps.check(true);
  facts.threads_per_rank = facts.backend == "openmp" ? compat::concurrency(Kokkos::DefaultHostExecutionSpace()) : 1;

  nlohmann::ordered_json entries = nlohmann::ordered_json::array();
  StepTimes copies;
  std::size_t mine = 0;
  for (const PlannedTensor& it : plan.tensors) mine += it.selected && it.rank == comm.rank();
  const Progress progress(!args.quiet && comm.rank() == 0 && ::isatty(STDERR_FILENO), mine);
  steps.run([&] {
    // Masks from scores: every such tensor of this rank in one pipeline (mask_stream), then the others in order.
    std::vector<const PlannedTensor*> streamed;
    for (const PlannedTensor& it : plan.tensors)
      if (it.rank == comm.rank() && it.selected && args.layer_method.empty()) streamed.push_back(&it);
    const std::vector<PrunedTensor> results =
        stream_masks(streamed, args, facts.backend, stats.get(), files.masks.get(), files.apply.get(), facts.start,
                     [&](std::size_t k, double fraction) { progress.show(k, streamed[k]->tensor.info->name, fraction); });
    for (std::size_t k = 0; k < streamed.size(); ++k)
      entries.push_back(tensor_entry(*streamed[k], results[k], args, comm.rank()));
    std::size_t done = streamed.size();
    for (const PlannedTensor& it : plan.tensors) {
      if (it.rank != comm.rank()) continue;
      if (it.selected && !args.layer_method.empty()) {  // a whole tensor at a time: the progress line names it
        progress.show(done++, it.tensor.info->name + " (" + args.layer_method + ")", 0.0);
        const PrunedTensor result =
            reconstruct_tensor(it, args, facts.backend, *stats, files.masks.get(), files.apply.get());
        entries.push_back(tensor_entry(it, result, args, comm.rank()));
      } else if (!it.selected && files.apply) {
        copy_tensor(it, *files.apply, copies);
      }
    }
  });
  kokkos.reset();
  progress.finish();
  if (steps.any_failed()) {
    files.discard();
    steps.stop();
  }
  // Every rank has written and flushed its part before rank 0 renames the files.
  if (comm.rank() != 0) steps.run([&] { files.commit(); });
  if (steps.any_failed()) {
    files.discard();
    steps.stop();
  }
  const auto t_commit = Clock::now();
  if (comm.rank() == 0) files.commit();
  facts.commit_seconds = seconds_since(t_commit);

  const std::vector<std::string> parts = comm.gather(rank_part(entries, copies));
  if (comm.rank() != 0) return 0;
  return finish_report(parts, plan, *checkpoint, args, facts, find_output(outputs, "--report"));
}

}  // namespace tsenor::tool
