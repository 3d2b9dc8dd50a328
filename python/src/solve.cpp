// The Kokkos side of the Python package (see solve.hpp): views on the caller's memory, the
// execution space instance on the caller's stream, one compute_mask launch per call.
#include "solve.hpp"

#include <Kokkos_Core.hpp>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>

#include "tsenor/backends/enabled.hpp"
#include "tsenor/compat.hpp"
#include "tsenor/float16.hpp"
#include "tsenor/tsenor.hpp"
#ifdef TSENOR_HAVE_LAYERS
#include "tsenor/layers/prune_layer.hpp"
#endif

namespace tsenor::python {
namespace {

using Unmanaged = Kokkos::MemoryTraits<Kokkos::Unmanaged>;
template <class T, class Memory>
using Strided = Kokkos::View<T***, Kokkos::LayoutStride, Memory, Unmanaged>;

// One call at a time: Kokkos 3.4's host backends are not safe for concurrent dispatch, and the
// instance cache below is shared. Calls release the GIL, so other Python threads go on meanwhile.
std::mutex call_mutex;
int kokkos_device = -1;  // the GPU Kokkos was initialised on
// The thread that initialised Kokkos: a thread-local flag, not a thread id (ids of ended threads are
// reused, and OpenMP must not be entered from another thread that got the same id).
thread_local bool kokkos_thread = false;

Kokkos::LayoutStride layout(const Array& a) {
  return Kokkos::LayoutStride(a.shape[0], a.strides[0], a.shape[1], a.strides[1], a.shape[2], a.strides[2]);
}

// Kokkos' strides are unsigned: a negative (reversed) or zero (broadcast) stride needs a copy.
bool plain_strides(const Array& a) {
  for (int d = 0; d < 3; ++d)
    if (a.shape[d] > 1 && a.strides[d] <= 0) return false;
  return true;
}

template <class Real>
KOKKOS_INLINE_FUNCTION Real read_as(const void* data, DType dtype, std::int64_t offset) {
  switch (dtype) {
    case DType::float16: return static_cast<Real>(float16_to_float(static_cast<const std::uint16_t*>(data)[offset]));
    case DType::bfloat16: return static_cast<Real>(bfloat16_to_float(static_cast<const std::uint16_t*>(data)[offset]));
    case DType::float32: return static_cast<Real>(static_cast<const float*>(data)[offset]);
    default: return static_cast<Real>(static_cast<const double*>(data)[offset]);
  }
}

struct Index3 {
  std::int64_t shape[3], strides[3];
  explicit Index3(const Array& a) {
    for (int d = 0; d < 3; ++d) {
      shape[d] = a.shape[d];
      strides[d] = a.strides[d];
    }
  }
  KOKKOS_INLINE_FUNCTION std::int64_t offset(std::int64_t k) const {  // k: C-order position
    const std::int64_t c = k % shape[2], r = (k / shape[2]) % shape[1], b = k / (shape[2] * shape[1]);
    return b * strides[0] + r * strides[1] + c * strides[2];
  }
};

std::int64_t size_of(const Array& a) { return a.shape[0] * a.shape[1] * a.shape[2]; }

// What one execution space instance keeps between calls: compute_mask's workspace and the staging
// buffer of converted scores, allocated once and grown (freeing GPU memory would wait for the device).
template <class Memory>
struct State {
  Workspace<Memory> workspace;
  Kokkos::View<float*, Memory> staged_float;
  Kokkos::View<double*, Memory> staged_double;
  Kokkos::View<float*, Memory>* staged(float) { return &staged_float; }
  Kokkos::View<double*, Memory>* staged(double) { return &staged_double; }
};

// C order, as torch.empty and numpy.empty make arrays (extents of 1 may have any stride).
bool c_contiguous(const Array& a) {
  return (a.shape[2] <= 1 || a.strides[2] == 1) && (a.shape[1] <= 1 || a.strides[1] == a.shape[2]) &&
         (a.shape[0] <= 1 || a.strides[0] == a.shape[1] * a.shape[2]);
}

// compute_mask on scores at `data` laid out as `scores` says: LayoutRight views when scores and mask
// are in C order (the common case; measured ~3% faster on an H200 than strided indexing), else strided.
template <class Real, class Exec>
Summary launch(const Exec& exec, State<typename Exec::memory_space>& state, const Real* data, const Array& scores,
               const Array& mask, const Options& options) {
  using Memory = typename Exec::memory_space;
  auto* const keep = static_cast<std::uint8_t*>(mask.data);
  if (c_contiguous(scores) && c_contiguous(mask)) {
    using Right = Kokkos::View<const Real***, Kokkos::LayoutRight, Memory, Unmanaged>;
    using RightMask = Kokkos::View<std::uint8_t***, Kokkos::LayoutRight, Memory, Unmanaged>;
    return compute_mask(exec, Right(data, scores.shape[0], scores.shape[1], scores.shape[2]),
                        RightMask(keep, mask.shape[0], mask.shape[1], mask.shape[2]), options, {}, &state.workspace);
  }
  return compute_mask(exec, Strided<const Real, Memory>(data, layout(scores)),
                      Strided<std::uint8_t, Memory>(keep, layout(mask)), options, {}, &state.workspace);
}

template <class Real, class Exec>
Summary solve_on(const Exec& exec, State<typename Exec::memory_space>& state, const Array& scores, const Array& mask,
                 const Options& options, Transform transform) {
  const bool zero_copy = transform == Transform::identity && plain_strides(scores) &&
                         scores.dtype == (sizeof(Real) == 4 ? DType::float32 : DType::float64);
  if (zero_copy) return launch(exec, state, static_cast<const Real*>(scores.data), scores, mask, options);
  // Staged: the scores made from the array (converted, |x| or x²) in a C-order buffer.
  const std::int64_t total = size_of(scores);
  const auto staged = detail::reserve(state.staged(Real()), total, "tsenor::staged_scores");
  const Index3 index(scores);
  const void* const data = scores.data;
  const DType dtype = scores.dtype;
  Kokkos::parallel_for(
      "tsenor::stage_scores", Kokkos::RangePolicy<Exec, Kokkos::IndexType<std::int64_t>>(exec, 0, total),
      KOKKOS_LAMBDA(std::int64_t k) {
        const Real v = read_as<Real>(data, dtype, index.offset(k));
        staged(k) = transform == Transform::square ? v * v : transform == Transform::absolute ? (v < 0 ? -v : v) : v;
      });
  Array c_order = scores;
  c_order.strides[0] = scores.shape[1] * scores.shape[2];
  c_order.strides[1] = scores.shape[2];
  c_order.strides[2] = 1;
  return launch(exec, state, staged.data(), c_order, mask, options);
}

template <class Exec>
void apply_on(const Exec& exec, const Array& x, const Array& mask, const Array& out) {
  const std::int64_t total = size_of(x);
  const Index3 xi(x), mi(mask), oi(out);
  const auto* const src = static_cast<const char*>(x.data);
  const auto* const keep = static_cast<const std::uint8_t*>(mask.data);
  auto* const dst = static_cast<char*>(out.data);
  const int bytes = x.dtype == DType::float64 ? 8 : x.dtype == DType::float32 ? 4 : 2;
  Kokkos::parallel_for(
      "tsenor::apply_mask", Kokkos::RangePolicy<Exec, Kokkos::IndexType<std::int64_t>>(exec, 0, total),
      KOKKOS_LAMBDA(std::int64_t k) {
        const bool kept = keep[mi.offset(k)] != 0;
        const char* s = src + xi.offset(k) * bytes;
        char* d = dst + oi.offset(k) * bytes;
        for (int b = 0; b < bytes; ++b) d[b] = kept ? s[b] : char(0);
      });
  exec.fence();
}

template <class Exec>
Check verify_on(const Exec& exec, const Array& mask, int n, int m, bool zero_pad) {
  const MaskCheck c = verify_mask(
      exec, Strided<const std::uint8_t, typename Exec::memory_space>(static_cast<const std::uint8_t*>(mask.data),
                                                                     layout(mask)),
      n, m, zero_pad);
  return Check{c.tiles, c.bad_tiles, c.bad_values, c.first_bad_tiles};
}

void require_initialized(const Array& a) {
  if (!Kokkos::is_initialized()) initialize(0, a.device == DeviceKind::cpu ? -1 : a.device_id);
  if (a.device == DeviceKind::cpu) return;
  if (a.device_id != kokkos_device)
    throw Error("tsenor runs on GPU " + std::to_string(kokkos_device) +
                " in this process (the device of its first GPU array); this array is on GPU " +
                std::to_string(a.device_id));
}

#if defined(KOKKOS_ENABLE_CUDA)
using Gpu = Kokkos::Cuda;
using GpuStream = cudaStream_t;
constexpr DeviceKind gpu_kind = DeviceKind::cuda;
#elif defined(KOKKOS_ENABLE_HIP)
using Gpu = compat::HIP;
using GpuStream = hipStream_t;
constexpr DeviceKind gpu_kind = DeviceKind::hip;
#endif

// What the host backend keeps; one instance per GPU stream, made once (a new instance allocates its own
// scratch) with what it keeps; it does not own the stream. All cleared before Kokkos is finalised.
std::unique_ptr<State<Kokkos::HostSpace>> host_state;
#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP)
struct GpuInstance {
  Gpu exec;
  State<typename Gpu::memory_space> state;
};
std::map<std::uintptr_t, GpuInstance> instances;
#endif

#ifdef KOKKOS_ENABLE_CUDA
void set_device(int device) { cudaSetDevice(device); }
int current_device() {
  int device = 0;
  cudaGetDevice(&device);
  return device;
}
#elif defined(KOKKOS_ENABLE_HIP)
void set_device(int device) { (void)hipSetDevice(device); }
int current_device() {
  int device = 0;
  (void)hipGetDevice(&device);
  return device;
}
#endif

// Runs f(exec, state) on the execution space that owns the array's memory, under the call lock.
template <class F>
auto dispatch(const Array& a, std::uintptr_t stream, F&& f) {
  const std::lock_guard<std::mutex> lock(call_mutex);
  require_initialized(a);
  if (a.device == DeviceKind::cpu) {
    if (!host_state) host_state = std::make_unique<State<Kokkos::HostSpace>>();
#ifdef KOKKOS_ENABLE_SERIAL
    // Kokkos 3.4's OpenMP backend runs only on the thread that initialised it (its instance is
    // thread-local): calls from other threads run on Serial, with the same bits.
    if (!kokkos_thread) return f(Kokkos::Serial(), *host_state);
#endif
    return f(Kokkos::DefaultHostExecutionSpace(), *host_state);
  }
#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP)
  if (a.device == gpu_kind) {
    auto found = instances.find(stream);
    if (found == instances.end())
      found = instances.emplace(stream, GpuInstance{Gpu(reinterpret_cast<GpuStream>(stream)), {}}).first;
    // Kokkos launches on the current device: the caller's may be another one (torch.cuda.set_device).
    const int caller_device = current_device();
    set_device(kokkos_device);
    struct Restore {
      int device;
      ~Restore() { set_device(device); }
    } restore{caller_device};
    return f(found->second.exec, found->second.state);
  }
#else
  (void)stream;
#endif
  throw Error(std::string("this build of tsenor has no ") + (a.device == DeviceKind::cuda ? "CUDA" : "HIP") +
              " backend (it runs " + [] {
                std::string list;
                for (const auto& b : backends::enabled_backends()) list += (list.empty() ? "" : ", ") + b;
                return list;
              }() + "); rebuild it against a Kokkos with that backend");
}

}  // namespace

Result solve(const Array& scores, const Array& mask, const Options& options, Transform transform,
             std::uintptr_t stream) {
  // Scores in double for float64 arrays, else in float (float16/bfloat16 convert to float exactly).
  return dispatch(scores, stream, [&](const auto& exec, auto& state) {
    using Exec = std::decay_t<decltype(exec)>;
    // Squares (project) in double too: z² of a float overflows from |z| ≈ 1.8e19.
    const bool in_double = scores.dtype == DType::float64 || transform == Transform::square;
    return Result{in_double ? solve_on<double>(exec, state, scores, mask, options, transform)
                            : solve_on<float>(exec, state, scores, mask, options, transform),
                  backends::detail::space_name<Exec>()};
  });
}

void apply_mask(const Array& x, const Array& mask, const Array& out, std::uintptr_t stream) {
  dispatch(x, stream, [&](const auto& exec, auto&) { apply_on(exec, x, mask, out); });
}

Check verify(const Array& mask, int n, int m, bool zero_pad, std::uintptr_t stream) {
  return dispatch(mask, stream, [&](const auto& exec, auto&) { return verify_on(exec, mask, n, m, zero_pad); });
}

bool has_layers() {
#ifdef TSENOR_HAVE_LAYERS
  return true;
#else
  return false;
#endif
}

LayerResult prune_layer(const Array& w, const Array& h, const Array& mask, const LayerArgs& args,
                        std::uintptr_t stream) {
#ifdef TSENOR_HAVE_LAYERS
  for (const Array* a : {&w, &h, &mask})
    TSENOR_REQUIRE(a->shape[0] == 1 && c_contiguous(*a), "prune_layer: 2-D arrays in C order");
  const layers::Pattern pattern = args.rows_pattern ? layers::Pattern::rows : layers::Pattern::transposable;
  return dispatch(w, stream, [&](const auto& exec, auto&) {
    using Exec = std::decay_t<decltype(exec)>;
    using Memory = typename Exec::memory_space;
    const Kokkos::View<const double**, Kokkos::LayoutRight, Memory, Unmanaged> gram(static_cast<const double*>(h.data),
                                                                                   h.shape[1], h.shape[2]);
    const Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, Memory, Unmanaged> keep(
        static_cast<std::uint8_t*>(mask.data), mask.shape[1], mask.shape[2]);
    auto run = [&](auto* data) {
      using Real = std::remove_pointer_t<decltype(data)>;
      const Kokkos::View<Real**, Kokkos::LayoutRight, Memory, Unmanaged> weights(data, w.shape[1], w.shape[2]);
      layers::LayerOptions o;
      o.method = args.alps ? layers::LayerMethod::alps : layers::LayerMethod::sparsegpt;
      o.mask = args.mask;
      o.pattern = pattern;
      o.damp = args.damp;
      o.block = args.block;
      o.fixed_mask = args.fixed_mask;
      o.rho = args.rho;
      o.max_iterations = args.max_iterations;
      o.report_errors = args.report_errors;
      const layers::LayerReport r = layers::prune_layer<Exec, Real>(exec, weights, gram, keep, o);
      return LayerResult{r.error,      r.masked_error, r.seconds, r.strips, r.iterations, r.rho, r.support_changes,
                         r.linear_algebra};
    };
    return w.dtype == DType::float64 ? run(static_cast<double*>(w.data)) : run(static_cast<float*>(w.data));
  });
#else
  (void)w, (void)h, (void)mask, (void)args, (void)stream;
  throw Error("this build of tsenor has no SparseGPT or ALPS: they need Kokkos Kernels and LAPACK (tsenor::layers)");
#endif
}

DeviceBuffer allocate(std::size_t bytes, DeviceKind device) {
  Array where;
  where.device = device;
  where.device_id = kokkos_device < 0 ? 0 : kokkos_device;
  DeviceBuffer buffer;
  buffer.bytes = bytes;
  buffer.device = device;
  dispatch(where, 0, [&](const auto& exec, auto&) {
    using Memory = typename std::decay_t<decltype(exec)>::memory_space;
    buffer.data = Kokkos::kokkos_malloc<Memory>("tsenor::output", bytes > 0 ? bytes : 1);
    Kokkos::View<char*, Memory, Unmanaged> zero(static_cast<char*>(buffer.data), bytes);
    Kokkos::deep_copy(exec, zero, char(0));
    exec.fence();
  });
  return buffer;
}

void release(const DeviceBuffer& buffer) noexcept {
  if (!buffer.data || !Kokkos::is_initialized()) return;  // after finalize the process is exiting
  const std::lock_guard<std::mutex> lock(call_mutex);
#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP)
  if (buffer.device != DeviceKind::cpu) {
    Kokkos::kokkos_free<typename Gpu::memory_space>(buffer.data);
    return;
  }
#endif
  Kokkos::kokkos_free<Kokkos::HostSpace>(buffer.data);
}

void initialize(int threads, int device) {
  if (Kokkos::is_initialized()) return;
  ::setenv("OMP_PROC_BIND", "false", 0);  // as the tool: unbound threads, and no Kokkos warning about it
  compat::initialize(compat::checked_threads(threads, "threads="), device < 0 ? 0 : device);
  kokkos_thread = true;
  kokkos_device = device < 0 ? 0 : device;
}

bool initialized() { return Kokkos::is_initialized(); }

void empty_cache() {
  const std::lock_guard<std::mutex> lock(call_mutex);
  host_state.reset();
#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP)
  for (auto& entry : instances) entry.second.state = {};
#endif
}

int gpu_device() { return kokkos_device; }

void finalize() {
  if (!Kokkos::is_initialized()) return;
  const std::lock_guard<std::mutex> lock(call_mutex);
  host_state.reset();
#if defined(KOKKOS_ENABLE_CUDA) || defined(KOKKOS_ENABLE_HIP)
  instances.clear();
#endif
  Kokkos::finalize();
}

std::vector<std::string> backends() { return backends::enabled_backends(); }

std::string kokkos_version() {
  return std::to_string(KOKKOS_VERSION / 10000) + "." + std::to_string(KOKKOS_VERSION / 100 % 100) + "." +
         std::to_string(KOKKOS_VERSION % 100);
}

}  // namespace tsenor::python
