// The Kokkos side of the Python package: arrays described as DLPack describes them (pointer, shape,
// strides in elements, dtype, device), solved on the backend that owns their memory. Nothing here
// includes Python or nanobind, and module.cpp includes nothing from Kokkos.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tsenor/options.hpp"

namespace tsenor::python {

enum class DType { float16, bfloat16, float32, float64, uint8, boolean };
enum class DeviceKind { cpu, cuda, hip };

/// A rank-2 or rank-3 array in someone else's memory (rank 2 is stored as a batch of one).
struct Array {
  int rank = 2;  ///< 2 or 3 as given
  void* data = nullptr;
  std::int64_t shape[3] = {1, 0, 0};    ///< batch, rows, cols
  std::int64_t strides[3] = {0, 0, 0};  ///< in elements; may be negative or zero
  DType dtype = DType::float32;
  DeviceKind device = DeviceKind::cpu;
  int device_id = 0;
};

/// What the scores are made of: the array itself, |x| (prune) or x² (project).
enum class Transform { identity, absolute, square };

/// The run's totals and the backend that ran it ("openmp", "cuda", …).
struct Result {
  Summary summary;
  std::string backend;
};

/// stream: cudaStream_t / hipStream_t as an integer (0: the legacy default stream); unused on CPUs.
Result solve(const Array& scores, const Array& mask, const Options& options, Transform transform,
              std::uintptr_t stream);

/// out = x where mask is 1, +0 elsewhere (element bits copied: exact for every dtype). out may be x.
void apply_mask(const Array& x, const Array& mask, const Array& out, std::uintptr_t stream);

struct Check {
  std::int64_t tiles = 0, bad_tiles = 0, bad_values = 0;
  std::vector<std::int64_t> first_bad_tiles;
};
Check verify(const Array& mask, int n, int m, bool zero_pad, std::uintptr_t stream);

/// SparseGPT or ALPS on one layer (tsenor::layers): w (rows × cols, float32/float64, C order) is
/// replaced by the reconstructed weights, mask (uint8, C order) receives the mask (or holds it:
/// fixed_mask, SparseGPT), h is the cols × cols float64 Gram matrix (C order). Throws tsenor::Error
/// where the build has no tsenor::layers.
struct LayerArgs {
  bool alps = false;  ///< ALPS, else SparseGPT
  Options mask;
  bool rows_pattern = false;
  double damp = 0.01;
  int block = 128;          ///< SparseGPT
  bool fixed_mask = false;  ///< SparseGPT
  double rho = 0.1;         ///< ALPS
  int max_iterations = 300;  ///< ALPS
  bool report_errors = true;
};
struct LayerResult {
  double error = 0.0, masked_error = 0.0, seconds = 0.0;
  std::int64_t strips = 0, iterations = 0;
  std::vector<double> rho;
  std::vector<std::int64_t> support_changes;
  std::string linear_algebra;
};
LayerResult prune_layer(const Array& w, const Array& h, const Array& mask, const LayerArgs& args,
                        std::uintptr_t stream);
bool has_layers();

/// A zero-filled buffer in host or GPU memory (outputs for frameworks whose arrays are immutable).
struct DeviceBuffer {
  void* data = nullptr;
  std::size_t bytes = 0;
  DeviceKind device = DeviceKind::cpu;
};
DeviceBuffer allocate(std::size_t bytes, DeviceKind device);
void release(const DeviceBuffer& buffer) noexcept;

/// Kokkos is initialised on first use (threads: 0 = OpenMP's default; device: the first GPU array's) and
/// finalised by finalize() (registered with atexit by the module).
void initialize(int threads, int device);
bool initialized();
/// Frees what calls keep between them (workspaces, the buffer of converted scores), on every backend.
void empty_cache();
int gpu_device();  ///< the GPU Kokkos runs on
void finalize();
std::vector<std::string> backends();  ///< what this build runs: "serial", "openmp", "cuda", "hip"
std::string kokkos_version();

}  // namespace tsenor::python
