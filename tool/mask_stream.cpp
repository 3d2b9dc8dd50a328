// The prune pipeline. Three threads share a ring of chunk slots (host buffers, page-locked on GPUs):
//   reader:  reads a chunk's raw weights (2 bytes a weight for BF16/F16) into a free slot;
//   backend: (this thread, the only one that calls Kokkos) uploads the raw bytes, decodes them and forms
//            the |W| or Wanda scores, solves the tiles, zeroes the pruned weights for --apply and downloads
//            the mask, all queued on one of several execution space instances (streams) without waiting,
//            so that one chunk's copies overlap another's kernels; it waits for an instance only when it
//            needs it again, and then hands the chunk to
//   writer:  writes the chunk's mask and pruned weights, and frees the slot.
// On host backends the slots are the kernels' memory (no copies) and one instance runs on all threads: the
// reading and the writing overlap the solve.
//
// A chunk's bytes do not depend on which instance solved it, or when; a failure stops the pipeline at the
// failing chunk, and the error reported is the first chunk's in order, as when the chunks ran one by one.
#include "mask_stream.hpp"

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>

#include "column_norms.hpp"
#include "library_error.hpp"
#include "mask_bits.hpp"
#include "strips.hpp"
#include "tsenor/backends/enabled.hpp"
#include "tsenor/compat.hpp"
#include "tsenor/float16.hpp"
#include "tsenor/tsenor.hpp"

namespace tsenor::tool {

namespace {

constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

/// A chunk of whole tile rows of one tensor.
struct Job {
  std::size_t tensor = 0;
  std::uint64_t first_row = 0, rows = 0;
};

/// How a kernel decodes a weight.
enum Encoding : int { f32 = 0, f16 = 1, bf16 = 2 };

Encoding encoding_of(io::SafetensorsDType dtype) {
  switch (dtype) {
    case io::SafetensorsDType::F32: return f32;
    case io::SafetensorsDType::F16: return f16;
    case io::SafetensorsDType::BF16: return bf16;
    default: throw Error(std::string("prune: dtype ") + io::dtype_name(dtype) + " is not F32, F16 or BF16");
  }
}

/// |w| of the little-endian weight at `bytes`, exactly as std::fabs of io::to_float's value (the sign bit
/// cleared, NaN and infinities kept).
KOKKOS_INLINE_FUNCTION float weight_magnitude(int encoding, const unsigned char* bytes) {
  std::uint32_t bits;
  if (encoding == f32) {
    bits = static_cast<std::uint32_t>(bytes[0]) | static_cast<std::uint32_t>(bytes[1]) << 8 |
           static_cast<std::uint32_t>(bytes[2]) << 16 | static_cast<std::uint32_t>(bytes[3]) << 24;
  } else {
    const auto half = static_cast<std::uint16_t>(bytes[0] | bytes[1] << 8);
    bits = bit_cast<std::uint32_t>(encoding == f16 ? float16_to_float(half) : bfloat16_to_float(half));
  }
  return bit_cast<float>(bits & 0x7fffffffu);
}

KOKKOS_INLINE_FUNCTION bool is_finite(float v) { return v <= 3.402823466e+38f; }  // false for NaN and ±inf

/// Loads the Wanda norms of a tensor: a vector in the statistics file, or the column norms of its activations.
std::vector<float> load_norms(const io::SafetensorsFile& file, const io::TensorInfo& stats) {
  if (stats.shape.size() != 1) return column_norms(file, stats);
  std::vector<unsigned char> raw(stats.bytes());
  file.read(stats, 0, raw.size(), raw.data());
  std::vector<float> norms(stats.shape[0]);
  io::to_float(stats.dtype, raw.data(), norms.size(), norms.data());
  for (float v : norms)
    if (!(v >= 0.0f && std::isfinite(v)))
      throw Error(file.path() + ": tensor '" + stats.name + "': norms must be finite and >= 0");
  return norms;
}

/// The error of a chunk whose weights or Wanda scores are not finite, found again on the host from the file:
/// the first bad weight in order, as the message names it.
[[noreturn]] void explain_bad_scores(const PlannedTensor& it, const Job& job, const std::vector<float>& norms) {
  const io::TensorInfo& t = *it.tensor.info;
  const std::uint64_t cols = t.shape[1], count = job.rows * cols, elem = io::dtype_size(t.dtype);
  const std::string where = it.tensor.file->path() + ": tensor '" + t.name + "': ";
  std::vector<unsigned char> raw(count * elem);
  it.tensor.file->read(t, job.first_row * cols * elem, raw.size(), raw.data());
  std::vector<float> w(count);
  io::to_float(t.dtype, raw.data(), count, w.data());
  for (std::uint64_t k = 0; k < count; ++k)
    if (!std::isfinite(w[k]))
      throw Error(where + "weights hold NaN or infinite values (row " + std::to_string(job.first_row + k / cols) + ")");
  for (std::uint64_t k = 0; k < count && !norms.empty(); ++k)
    if (!std::isfinite(std::fabs(w[k]) * norms[k % cols]))
      throw Error(where + "the Wanda score |W|*||X|| overflows float32 (row " + std::to_string(job.first_row + k / cols) +
                  ", column " + std::to_string(k % cols) + ")");
  throw Error(where + "its scores are not finite in rows " + std::to_string(job.first_row) + " to " +
              std::to_string(job.first_row + job.rows - 1));
}

/// Calls read(offset, n) for `bytes` bytes in up to 4 pieces of at least 4 MiB, on as many threads at once: one
/// thread copies from the page cache at about 5 GB/s (measured on the H200's host, where `cat` reads at 7), and a
/// disk serves several requests at a time. (Writes stay on one thread: Linux serialises buffered writes to one
/// file, and 4 writer threads were measured no faster.)
template <class Read>
void read_in_parts(std::uint64_t bytes, Read&& read) {
  constexpr std::uint64_t most = 4, least = 4u << 20;
  const std::uint64_t parts = std::max<std::uint64_t>(1, std::min(most, bytes / least));
  const std::uint64_t piece = (bytes + parts - 1) / parts;
  std::vector<std::exception_ptr> errors(parts);
  const auto part = [&](std::uint64_t k) {
    try {
      read(k * piece, std::min(piece, bytes - k * piece));
    } catch (...) {
      errors[k] = std::current_exception();
    }
  };
  std::vector<std::thread> helpers;
  for (std::uint64_t k = 1; k < parts; ++k) helpers.emplace_back(part, k);
  part(0);
  for (std::thread& h : helpers) h.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

/// Writes a chunk at `offset` of `out`, then starts its writeback to the disk.
void write_chunk(io::OutputFile& out, std::uint64_t offset, const unsigned char* data, std::uint64_t bytes) {
  out.write_at(offset, data, bytes);
  out.start_writeback(offset, bytes);
}

enum class SlotState { free, read, solved };

/// The slots' states, shared by the three threads, and the first failure. A failure at job j stops every
/// thread before job j; the jobs before it still run, so that the error kept is the first job's in order.
class Board {
 public:
  explicit Board(std::size_t slots) : state_(slots, SlotState::free) {}
  /// Waits until slot `slot` is in `state`; false when job `job` is not to run (a job before it failed).
  bool wait(std::size_t slot, SlotState state, std::size_t job) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return job >= limit_ || state_[slot] == state; });
    return job < limit_;
  }
  void set(std::size_t slot, SlotState state) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      state_[slot] = state;
    }
    changed_.notify_all();
  }
  void fail(std::size_t job, std::exception_ptr error) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (job < limit_) {
        limit_ = job;
        error_ = error;
      }
    }
    changed_.notify_all();
  }
  /// Runs step(), recording what it throws as job `job`'s failure; false when it threw.
  template <class Step>
  bool run(std::size_t job, Step&& step) {
    try {
      step();
      return true;
    } catch (...) {
      fail(job, std::current_exception());
      return false;
    }
  }
  bool stopped_before(std::size_t job) {
    const std::lock_guard<std::mutex> lock(mutex_);
    return job >= limit_;
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<SlotState> state_;
  std::size_t limit_ = none;
  std::exception_ptr error_;
};

// Public but for its data: nvcc takes device lambdas only in public member functions of classes whose types
// they use are public.
template <class Exec>
class Pipeline {
 public:
  using Memory = typename Exec::memory_space;
  using Pinned = compat::PinnedSpace<Exec>;
  using Unmanaged = Kokkos::MemoryTraits<Kokkos::Unmanaged>;
  using Bytes = Kokkos::View<unsigned char*, Memory, Unmanaged>;
  using Range = Kokkos::RangePolicy<Exec, Kokkos::IndexType<std::int64_t>>;
  /// Host backends: the kernels read and write the slots themselves.
  static constexpr bool on_host = Kokkos::SpaceAccessibility<Kokkos::HostSpace, Memory>::accessible;

  struct Slot {
    Kokkos::View<unsigned char*, Pinned> raw;
    Kokkos::View<std::uint8_t*, Pinned> mask;
    Kokkos::View<std::uint8_t*, Pinned> packed;  ///< --mask-format bits: what is written
  };

  /// An execution space instance and the device memory of the chunk it works on.
  struct Lane {
    Kokkos::View<unsigned char*, Memory> raw;
    Kokkos::View<float*, Memory> scores;
    Kokkos::View<std::uint8_t*, Memory> mask;
    Kokkos::View<std::uint8_t*, Memory> packed;
    Kokkos::View<float*, Memory> norms;
    std::size_t norms_of = none;  ///< the tensor whose norms are in `norms`
    Kokkos::View<std::int64_t, Memory> bad;
    Kokkos::View<std::int64_t, Pinned> bad_host;
    MaskLaunch<Exec> launch;
    std::size_t job = none;
    Clock::time_point started;
  };

  Pipeline(const std::vector<const PlannedTensor*>& tensors, const Args& args, const io::SafetensorsFile* stats_file,
           io::OutputFile* masks, io::OutputFile* apply, Clock::time_point start,
           const std::function<void(std::size_t, double)>& written)
      : tensors_(tensors), args_(args), stats_file_(stats_file), masks_(masks), apply_(apply), start_(start),
        written_(written), pack_(args.mask_bits && masks), results_(tensors.size()), norms_(tensors.size()),
        stats_reads_(tensors.size()) {}

  std::vector<PrunedTensor> run() {
    const int lanes = on_host ? 1 : 2;  // two streams: one's copies overlap the other's kernels
    plan_jobs(lanes);
    compat::Instances<Exec> instances(lanes);
    allocate(instances);
    Board board(slots_.size());
    std::thread reader([&] { read_all(board); });
    std::thread writer([&] { write_all(board); });
    solve_all(board, instances);
    reader.join();
    writer.join();
    board.rethrow();
    for (std::size_t k = 0; k < tensors_.size(); ++k) {
      results_[k].times.bytes_read += stats_reads_[k].first;
      results_[k].times.read += stats_reads_[k].second;
      results_[k].seconds = results_[k].timeline.empty()
                                ? 0.0
                                : results_[k].timeline.back().write[1] - results_[k].timeline.front().read[0];
    }
    return std::move(results_);
  }

  double now() const { return seconds_since(start_); }

  // Chunks of whole tile rows: at most --max-chunk-mb MiB of float32 scores, and on a GPU the lanes' device
  // memory (raw weights, scores, mask) within --device-memory.
  void plan_jobs(int lanes) {
    const std::uint64_t m = static_cast<std::uint64_t>(args_.options.m);
    std::uint64_t max_entries = static_cast<std::uint64_t>(args_.max_chunk_mb) * (1048576 / sizeof(float));
    if (!on_host) {
      const std::size_t budget =
          args_.options.device_memory > 0 ? args_.options.device_memory : default_device_memory();
      // Per weight and lane: raw (at most 4 bytes), scores (4), mask (1), packed mask (1/8), and the tiles'
      // statuses and totals (1/M² of a tile's).
      const double per_entry = 9.0 + (pack_ ? 0.125 : 0.0) +
                               static_cast<double>(sizeof(TileStatus) + sizeof(Summary)) / static_cast<double>(m * m);
      max_entries = std::min<std::uint64_t>(
          max_entries, static_cast<std::uint64_t>(static_cast<double>(budget) / (lanes * per_entry)));
    }
    for (std::size_t k = 0; k < tensors_.size(); ++k) {
      const io::TensorInfo& t = *tensors_[k]->tensor.info;
      const std::uint64_t rows = t.shape[0], cols = t.shape[1], elem = io::dtype_size(t.dtype);
      encoding_of(t.dtype);  // a dtype the kernels decode
      const std::uint64_t chunk_rows = strip_rows(rows, cols, m, max_entries);
      results_[k].chunk_rows = chunk_rows;
      results_[k].chunks = for_each_strip(rows, chunk_rows, [&](std::uint64_t r0, std::uint64_t h) {
        jobs_.push_back({k, r0, h});
        max_entries_ = std::max(max_entries_, h * cols);
        max_bytes_ = std::max(max_bytes_, h * cols * elem);
        max_cols_ = std::max(max_cols_, cols);
      });
      results_[k].timeline.resize(results_[k].chunks);
    }
  }

  void allocate(const compat::Instances<Exec>& instances) {
    const auto alloc = [](const char* label) { return Kokkos::view_alloc(Kokkos::WithoutInitializing, std::string(label)); };
    slots_.resize(static_cast<std::size_t>(instances.size()) + 2);  // one reading, one writing, one per lane
    for (Slot& s : slots_) {
      s.raw = decltype(s.raw)(alloc("tsenor::prune_raw_host"), max_bytes_);
      s.mask = decltype(s.mask)(alloc("tsenor::prune_mask_host"), max_entries_);
      if (pack_) s.packed = decltype(s.packed)(alloc("tsenor::prune_packed_host"), max_entries_ / 8);
    }
    lanes_.resize(static_cast<std::size_t>(instances.size()));
    for (Lane& lane : lanes_) {
      if (!on_host) {
        lane.raw = decltype(lane.raw)(alloc("tsenor::prune_raw"), max_bytes_);
        lane.mask = decltype(lane.mask)(alloc("tsenor::prune_mask"), max_entries_);
        if (pack_) lane.packed = decltype(lane.packed)(alloc("tsenor::prune_packed"), max_entries_ / 8);
      }
      lane.scores = decltype(lane.scores)(alloc("tsenor::prune_scores"), max_entries_);
      lane.norms = decltype(lane.norms)(alloc("tsenor::prune_norms"), max_cols_);
      lane.bad = decltype(lane.bad)("tsenor::prune_bad");
      lane.bad_host = decltype(lane.bad_host)("tsenor::prune_bad_host");
    }
  }

  const io::TensorInfo& info(const Job& job) const { return *tensors_[job.tensor]->tensor.info; }
  std::size_t chunk_index(const Job& job) const { return job.first_row / results_[job.tensor].chunk_rows; }
  ChunkSpan& span(const Job& job) { return results_[job.tensor].timeline[chunk_index(job)]; }

  // A host stage: for each job in order, waits for its slot to be in `from`, runs step(job, slot) and moves the
  // slot to `to`; stops at a failure (its own, recorded, or an earlier job's).
  template <class Step>
  void stage(Board& board, SlotState from, SlotState to, Step&& step) {
    for (std::size_t j = 0; j < jobs_.size(); ++j) {
      const std::size_t s = j % slots_.size();
      if (!board.wait(s, from, j) || !board.run(j, [&] { step(jobs_[j], slots_[s]); })) return;
      board.set(s, to);
    }
  }

  // The kernel starts reading job j's bytes into the page cache now (a hint).
  void prefetch(std::size_t j) const {
    if (j >= jobs_.size()) return;
    const Job& job = jobs_[j];
    const io::TensorInfo& t = info(job);
    const std::uint64_t row_bytes = t.shape[1] * io::dtype_size(t.dtype);
    tensors_[job.tensor]->tensor.file->prefetch(t, job.first_row * row_bytes, job.rows * row_bytes);
  }

  void read_all(Board& board) {
    std::size_t j = 0;  // the job being read (stage() takes them in order)
    stage(board, SlotState::free, SlotState::read, [&](const Job& job, const Slot& slot) {
      // Two chunks ahead asked of the disk, so that it never idles between reads (cold page cache; measured
      // on the H200's host: the reads alone were the slower stage).
      if (j == 0) prefetch(1);
      prefetch(j + 2);
      ++j;
      const PlannedTensor& it = *tensors_[job.tensor];
      const io::TensorInfo& t = info(job);
      ChunkSpan& sp = span(job);
      sp.first_row = job.first_row;
      sp.rows = job.rows;
      sp.read[0] = now();
      const std::uint64_t row_bytes = t.shape[1] * io::dtype_size(t.dtype);
      const std::uint64_t bytes = job.rows * row_bytes, offset = job.first_row * row_bytes;
      unsigned char* raw = slot.raw.data();
      read_in_parts(bytes,
                    [&](std::uint64_t at, std::uint64_t n) { it.tensor.file->read(t, offset + at, n, raw + at); });
      sp.read[1] = now();
      results_[job.tensor].times.bytes_read += bytes;
      results_[job.tensor].times.read += sp.read[1] - sp.read[0];
    });
  }

  void write_all(Board& board) {
    stage(board, SlotState::solved, SlotState::free, [&](const Job& job, const Slot& slot) {
      const PlannedTensor& it = *tensors_[job.tensor];
      const io::TensorInfo& t = info(job);
      const std::uint64_t cols = t.shape[1], count = job.rows * cols, elem = io::dtype_size(t.dtype);
      ChunkSpan& sp = span(job);
      sp.write[0] = now();
      if (pack_)
        write_chunk(*masks_, it.mask_offset + job.first_row * cols / 8, slot.packed.data(), count / 8);
      else if (masks_)
        write_chunk(*masks_, it.mask_offset + job.first_row * cols, slot.mask.data(), count);
      if (apply_) write_chunk(*apply_, it.apply_offset + job.first_row * cols * elem, slot.raw.data(), count * elem);
      sp.write[1] = now();
      results_[job.tensor].times.write += sp.write[1] - sp.write[0];
      written_(job.tensor, static_cast<double>(job.first_row + job.rows) / t.shape[0]);
    });
  }

  // This thread: the only one that calls Kokkos.
  void solve_all(Board& board, const compat::Instances<Exec>& instances) {
    for (std::size_t j = 0; j < jobs_.size(); ++j) {
      const std::size_t l = j % lanes_.size();
      if (lanes_[l].job != none && !finish(board, instances[static_cast<int>(l)], lanes_[l])) break;
      if (!board.wait(j % slots_.size(), SlotState::read, j)) break;
      if (!board.run(j, [&] {
            const PlannedTensor& it = *tensors_[jobs_[j].tensor];
            if (jobs_[j].first_row == 0 && it.stats) {  // on this thread: raw activations' norms run kernels
              const auto t0 = Clock::now();
              norms_[jobs_[j].tensor] = load_norms(*stats_file_, *it.stats);
              stats_reads_[jobs_[j].tensor] = {it.stats->bytes(), seconds_since(t0)};
            }
            try {
              enqueue(instances[static_cast<int>(l)], lanes_[l], j);
            } catch (const Error& e) {  // about this tensor, without the library's function name
              throw Error(it.tensor.file->path() + ": tensor '" + it.tensor.info->name + "': " + without_function(e));
            }
          }))
        break;
    }
    // Every lane's work is waited for, also after a failure: the kernels use the slots.
    for (std::size_t k = 0; k < lanes_.size(); ++k) {
      const std::size_t l = (jobs_.size() + k) % lanes_.size();  // in job order
      if (lanes_[l].job != none) finish(board, instances[static_cast<int>(l)], lanes_[l]);
    }
  }

  void enqueue(const Exec& exec, Lane& lane, std::size_t j) {
    const Job& job = jobs_[j];
    const io::TensorInfo& t = info(job);
    const Slot& slot = slots_[j % slots_.size()];
    const std::int64_t cols = static_cast<std::int64_t>(t.shape[1]), count = static_cast<std::int64_t>(job.rows) * cols;
    const std::size_t elem = io::dtype_size(t.dtype), bytes = static_cast<std::size_t>(count) * elem;
    lane.job = j;
    lane.started = Clock::now();
    span(job).solve[0] = now();
    const std::vector<float>& norms = norms_[job.tensor];
    const bool wanda = !norms.empty();
    if (wanda && lane.norms_of != job.tensor) {
      Kokkos::View<const float*, Kokkos::HostSpace, Unmanaged> host(norms.data(), norms.size());
      Kokkos::deep_copy(exec, Kokkos::subview(lane.norms, std::make_pair(std::size_t(0), norms.size())), host);
      lane.norms_of = job.tensor;
    }
    const Bytes raw(on_host ? slot.raw.data() : lane.raw.data(), bytes);
    const Kokkos::View<std::uint8_t*, Memory, Unmanaged> mask(on_host ? slot.mask.data() : lane.mask.data(),
                                                               static_cast<std::size_t>(count));
    if (!on_host)
      Kokkos::deep_copy(exec, raw, Kokkos::View<const unsigned char*, Pinned, Unmanaged>(slot.raw.data(), bytes));
    // The scores: |W|, times the column's norm for Wanda (float, in this order, as on the host); a weight or
    // score that is not finite is counted (and scored 0), and the chunk fails once it is known.
    const auto scores = lane.scores;
    const auto norm = lane.norms;
    const int encoding = encoding_of(t.dtype);
    const std::int64_t width = static_cast<std::int64_t>(elem);
    Kokkos::parallel_reduce(
        "tsenor::prune_scores", Range(exec, 0, count),
        KOKKOS_LAMBDA(std::int64_t k, std::int64_t& bad) {
          float s = weight_magnitude(encoding, &raw(k * width));
          if (!is_finite(s)) {
            ++bad;
            s = 0.0f;
          }
          if (wanda) {
            s *= norm(k % cols);
            if (!is_finite(s)) {
              ++bad;
              s = 0.0f;
            }
          }
          scores(k) = s;
        },
        lane.bad);
    lane.launch.start(exec,
                      Kokkos::View<const float**, Kokkos::LayoutRight, Memory, Unmanaged>(
                          scores.data(), static_cast<std::int64_t>(job.rows), cols),
                      Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Memory, Unmanaged>(
                          mask.data(), static_cast<std::int64_t>(job.rows), cols),
                      args_.options);
    if (apply_) {  // +0 in every float format; kept bits unchanged
      Kokkos::parallel_for(
          "tsenor::prune_apply", Range(exec, 0, count), KOKKOS_LAMBDA(std::int64_t k) {
            if (!mask(k))
              for (std::int64_t b = 0; b < width; ++b) raw(k * width + b) = 0;
          });
      if (!on_host)
        Kokkos::deep_copy(exec, Kokkos::View<unsigned char*, Pinned, Unmanaged>(slot.raw.data(), bytes), raw);
    }
    if (pack_) {  // packed where the mask is; only the packed bytes come back
      const Kokkos::View<std::uint8_t*, Memory, Unmanaged> packed(on_host ? slot.packed.data() : lane.packed.data(),
                                                                  static_cast<std::size_t>(count / 8));
      Kokkos::parallel_for(
          "tsenor::prune_pack", Range(exec, 0, count / 8),
          KOKKOS_LAMBDA(std::int64_t k) { packed(k) = pack_byte(&mask(8 * k)); });
      if (!on_host)
        Kokkos::deep_copy(exec, Kokkos::View<std::uint8_t*, Pinned, Unmanaged>(slot.packed.data(), count / 8), packed);
    } else if (!on_host) {
      Kokkos::deep_copy(exec, Kokkos::View<std::uint8_t*, Pinned, Unmanaged>(slot.mask.data(), count), mask);
    }
    Kokkos::deep_copy(exec, lane.bad_host, lane.bad);
  }

  // Waits for the lane's chunk and hands it to the writer; false when the chunk failed.
  bool finish(Board& board, const Exec& exec, Lane& lane) {
    const std::size_t j = lane.job;
    lane.job = none;
    const Job& job = jobs_[j];
    return board.run(j, [&] {
      exec.fence();
      PrunedTensor& result = results_[job.tensor];
      ChunkSpan& sp = span(job);
      sp.solve[1] = now();
      if (lane.bad_host() != 0) explain_bad_scores(*tensors_[job.tensor], job, norms_[job.tensor]);
      Summary part = lane.launch.summary();
      part.seconds = sp.solve[1] - sp.solve[0];
      accumulate(result.summary, part);
      result.times.solve += part.seconds;
      board.set(j % slots_.size(), SlotState::solved);
    });
  }

 private:
  const std::vector<const PlannedTensor*>& tensors_;
  const Args& args_;
  const io::SafetensorsFile* stats_file_;
  io::OutputFile *masks_, *apply_;
  Clock::time_point start_;
  const std::function<void(std::size_t, double)>& written_;
  const bool pack_;  ///< --mask-format bits, with masks to write: packed on the backend, packed bytes written
  std::vector<PrunedTensor> results_;
  std::vector<std::vector<float>> norms_;  ///< per tensor, Wanda's column norms
  std::vector<std::pair<std::uint64_t, double>> stats_reads_;  ///< per tensor, the norms' bytes and seconds
  std::vector<Job> jobs_;
  std::uint64_t max_entries_ = 0, max_bytes_ = 0, max_cols_ = 0;
  std::vector<Slot> slots_;
  std::vector<Lane> lanes_;
};

}  // namespace

std::vector<PrunedTensor> stream_masks(const std::vector<const PlannedTensor*>& tensors, const Args& args,
                                       const std::string& backend, const io::SafetensorsFile* stats_file,
                                       io::OutputFile* masks, io::OutputFile* apply, Clock::time_point start,
                                       const std::function<void(std::size_t, double)>& written) {
  std::vector<PrunedTensor> results;
  if (tensors.empty()) return results;
  backends::with_execution_space(backend, [&](const auto& exec) {
    results = Pipeline<std::decay_t<decltype(exec)>>(tensors, args, stats_file, masks, apply, start, written).run();
  });
  return results;
}

}  // namespace tsenor::tool
