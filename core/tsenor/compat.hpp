// Differences between Kokkos 3.4.01 (Debian's) and Kokkos 4.x that the library touches.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>
#if KOKKOS_VERSION >= 40100
#include <Kokkos_Profiling_ScopedRegion.hpp>
#endif
#ifdef KOKKOS_ENABLE_OPENMP
#include <omp.h>
#endif
#if defined(KOKKOS_ENABLE_CUDA)
#include <cuda_runtime_api.h>
#elif defined(KOKKOS_ENABLE_HIP)
#include <hip/hip_runtime_api.h>
#endif

#include "tsenor/error.hpp"

namespace tsenor::compat {

#ifdef KOKKOS_ENABLE_HIP
/// The HIP execution space and its page-locked host memory: in Kokkos::Experimental up to Kokkos 3.7, in
/// Kokkos from 4.0.
#if KOKKOS_VERSION >= 40000
using HIP = Kokkos::HIP;
using HIPHostPinnedSpace = Kokkos::HIPHostPinnedSpace;
#else
using HIP = Kokkos::Experimental::HIP;
using HIPHostPinnedSpace = Kokkos::Experimental::HIPHostPinnedSpace;
#endif
#endif

/// Host memory that `ExecSpace` copies to and from without staging (page-locked on GPUs, so that copies
/// on an instance run asynchronously); HostSpace on host backends.
template <class ExecSpace>
struct Pinned {
  using type = Kokkos::HostSpace;
};
#ifdef KOKKOS_ENABLE_CUDA
template <>
struct Pinned<Kokkos::Cuda> {
  using type = Kokkos::CudaHostPinnedSpace;
};
#endif
#ifdef KOKKOS_ENABLE_HIP
template <>
struct Pinned<HIP> {
  using type = HIPHostPinnedSpace;
};
#endif
template <class ExecSpace>
using PinnedSpace = typename Pinned<ExecSpace>::type;

/// `count` instances of an execution space whose work can overlap: on GPUs each on a stream of its own
/// (created here, destroyed after the instances), on host backends copies of the default instance. Kokkos
/// 3.4 has no partition_space; both versions take a stream.
template <class ExecSpace>
class Instances {
 public:
  explicit Instances(int count) {
    for (int k = 0; k < count; ++k) {
#if defined(KOKKOS_ENABLE_CUDA)
      if constexpr (std::is_same<ExecSpace, Kokkos::Cuda>::value) {
        cudaStream_t stream = nullptr;
        TSENOR_REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess,
                       "tsenor: cannot create a CUDA stream");
        streams_.push_back(stream);
        instances_.emplace_back(stream);
        continue;
      }
#elif defined(KOKKOS_ENABLE_HIP)
      if constexpr (std::is_same<ExecSpace, HIP>::value) {
        hipStream_t stream = nullptr;
        TSENOR_REQUIRE(hipStreamCreateWithFlags(&stream, hipStreamNonBlocking) == hipSuccess,
                       "tsenor: cannot create a HIP stream");
        streams_.push_back(stream);
        instances_.emplace_back(stream);
        continue;
      }
#endif
      instances_.emplace_back();
    }
  }
  ~Instances() {
    for (const ExecSpace& exec : instances_) {
      try {
        exec.fence();
      } catch (...) {  // a device error, met on the way out of a failed call: that call's exception says so
      }
    }
    instances_.clear();
#if defined(KOKKOS_ENABLE_CUDA)
    for (cudaStream_t stream : streams_) cudaStreamDestroy(stream);
#elif defined(KOKKOS_ENABLE_HIP)
    for (hipStream_t stream : streams_) (void)hipStreamDestroy(stream);
#endif
  }
  Instances(const Instances&) = delete;
  Instances& operator=(const Instances&) = delete;
  int size() const { return static_cast<int>(instances_.size()); }
  const ExecSpace& operator[](int k) const { return instances_[static_cast<std::size_t>(k)]; }

 private:
  std::vector<ExecSpace> instances_;
#if defined(KOKKOS_ENABLE_CUDA)
  std::vector<cudaStream_t> streams_;
#elif defined(KOKKOS_ENABLE_HIP)
  std::vector<hipStream_t> streams_;
#endif
};

/// Makes the GPU of `exec` the calling thread's current device. A thread starts on device 0, and Kokkos before
/// 4.2 selects its device only on the thread that initialises it, so a second thread that calls Kokkos (or the
/// CUDA/HIP runtime) on a GPU other than 0 needs this first. Nothing on host backends.
template <class ExecSpace>
void make_device_current(const ExecSpace& exec) {
#if defined(KOKKOS_ENABLE_CUDA)
  if constexpr (std::is_same<ExecSpace, Kokkos::Cuda>::value)
    TSENOR_REQUIRE(cudaSetDevice(exec.cuda_device()) == cudaSuccess, "tsenor: cannot select the CUDA device");
#elif defined(KOKKOS_ENABLE_HIP)
  if constexpr (std::is_same<ExecSpace, HIP>::value)
    TSENOR_REQUIRE(hipSetDevice(exec.hip_device()) == hipSuccess, "tsenor: cannot select the HIP device");
#endif
  (void)exec;
}

/// Number of threads an execution space instance runs with. Kokkos 4 made concurrency()
/// a member of the instance; Kokkos 3.4 only has the static function.
template <class ExecSpace>
int concurrency(const ExecSpace& exec) {
#if KOKKOS_VERSION >= 40000
  return exec.concurrency();
#else
  (void)exec;
  return ExecSpace::concurrency();
#endif
}

/// The most threads Kokkos' OpenMP backend runs: its thread pool is a fixed array (MAX_THREAD_COUNT, 512 in
/// Kokkos 3.4 to 4.6), and more threads write past it (a crash inside Kokkos::initialize).
constexpr int max_openmp_threads = 512;
#if defined(KOKKOS_ENABLE_OPENMP) && KOKKOS_VERSION < 40000
static_assert(Kokkos::Impl::OpenMPExec::MAX_THREAD_COUNT == max_openmp_threads, "Kokkos' OpenMP pool size changed");
#endif

/// The thread count to initialise Kokkos with for `requested` threads (0 = Kokkos' default), given by
/// `option` (for the message: "--threads", "threads="): checked against what Kokkos' OpenMP backend runs,
/// also when the request comes from OMP_NUM_THREADS or KOKKOS_NUM_THREADS; the default is capped on
/// machines with more hardware threads. Throws tsenor::Error naming the option or variable.
inline int checked_threads(int requested, const std::string& option) {
  const int most = max_openmp_threads;
  if (requested < 0 || requested > most)
    throw Error(option + std::to_string(requested) + ": Kokkos' OpenMP backend runs 1 to " + std::to_string(most) +
                " threads (0: its default)");
  if (requested > 0) return requested;
  for (const char* variable : {"KOKKOS_NUM_THREADS", "OMP_NUM_THREADS"}) {
    const char* value = std::getenv(variable);
    if (!value || !*value) continue;
    char* end = nullptr;
    const long n = std::strtol(value, &end, 10);  // OMP_NUM_THREADS may be a list: its first entry counts
    if (n > most)
      throw Error(std::string(variable) + "=" + value + ": Kokkos' OpenMP backend runs at most " +
                  std::to_string(most) + " threads (set it lower, or pass " + option + ")");
  }
#ifdef KOKKOS_ENABLE_OPENMP
  if (omp_get_max_threads() > most) return most;  // a machine with more hardware threads than Kokkos supports
#endif
  return 0;
}

/// Kokkos::initialize with a thread count (0 = Kokkos' default) and a GPU (-1 = Kokkos' default); the settings
/// type was renamed in Kokkos 4.
inline void initialize(int threads, int device = -1) {
#if KOKKOS_VERSION >= 40000
  Kokkos::InitializationSettings settings;
  if (threads > 0) settings.set_num_threads(threads);
  if (device >= 0) settings.set_device_id(device);
  Kokkos::initialize(settings);
#else
  Kokkos::InitArguments arguments;
  if (threads > 0) arguments.num_threads = threads;
  if (device >= 0) arguments.device_id = device;
  Kokkos::initialize(arguments);
#endif
}

/// floor(x): Kokkos 3.4 keeps math functions in Kokkos::Experimental.
KOKKOS_INLINE_FUNCTION double floor(double x) {
#if KOKKOS_VERSION >= 30700
  return Kokkos::floor(x);
#else
  return Kokkos::Experimental::floor(x);
#endif
}

/// A Kokkos profiling region open for the lifetime of the object, so that it is closed on every way
/// out of the scope, exceptions included: Kokkos::Profiling::ScopedRegion from Kokkos 4.1, the same
/// push/pop pair before.
#if KOKKOS_VERSION >= 40100
using ScopedRegion = Kokkos::Profiling::ScopedRegion;
#else
class [[nodiscard]] ScopedRegion {
 public:
  explicit ScopedRegion(const std::string& name) { Kokkos::Profiling::pushRegion(name); }
  ~ScopedRegion() { Kokkos::Profiling::popRegion(); }
  ScopedRegion(const ScopedRegion&) = delete;
  ScopedRegion& operator=(const ScopedRegion&) = delete;
};
#endif

}  // namespace tsenor::compat
