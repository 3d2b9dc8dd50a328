// tsenor prune --method sparsegpt|alps: a weight is pruned whole by SparseGPT or ALPS (tsenor::layers) on the
// --backend, with the Gram matrix of its calibration inputs, and written back in its own dtype.
#pragma once

#include <string>

#include "args.hpp"
#include "prune_plan.hpp"
#include "prune_report.hpp"
#include "tsenor/io/files.hpp"
#include "tsenor/io/safetensors.hpp"

namespace tsenor::tool {

/// Whether this build has tsenor::layers (Kokkos Kernels and LAPACK).
bool have_layers();

/// For --method sparsegpt|alps, where the host BLAS is OpenBLAS (it reads these variables only when it loads):
/// starts the program again, `argv` unchanged, once, with
/// - OPENBLAS_CORETYPE set to the kernels that fit, on a CPU where OpenBLAS chose pre-AVX kernels (it does not know
///   some newer or virtual CPUs; measured on a 16-core Xeon VM: ALPS 45.6 s → 15.5 s for a 4096² layer), saying
///   so on stderr;
/// - OPENBLAS_THREAD_TIMEOUT=4 where it is unset and OpenBLAS is its pthreads build, silently: its idle threads
///   then sleep at once instead of spinning ~0.1 s against Kokkos' threads after each GEMM
///   (layers::detail::openblas_thread_timeout says what that measured).
/// A variable the user set is kept. Returns where there is nothing to do, or when starting again fails.
void fit_blas_kernels(char** argv);

/// OpenBLAS as this process runs it, for the report: corename, threading (pthreads, openmp, sequential), threads
/// and thread_timeout (OPENBLAS_THREAD_TIMEOUT, null where unset); null without OpenBLAS.
nlohmann::ordered_json openblas_facts();

/// Prunes `it` (its calibration attached by the plan): reads the weight and H (or accumulates H = XᵀX from raw
/// activations in double, with Kokkos Kernels' GEMM on the backend, in blocks of a fixed number of rows), runs
/// the method, writes the mask and the reconstructed weights (rounded to the weight's dtype, pruned entries +0)
/// at the plan's offsets. Throws tsenor::Error naming the file and tensor.
PrunedTensor reconstruct_tensor(const PlannedTensor& it, const Args& args, const std::string& backend,
                                const io::SafetensorsFile& calibration, io::OutputFile* masks, io::OutputFile* apply);

}  // namespace tsenor::tool
