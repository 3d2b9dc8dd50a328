// Wanda's activation norms ||X_j|| from raw calibration activations, with Kokkos Kernels' BLAS.
#pragma once

#include <vector>

#include "tsenor/io/safetensors.hpp"

namespace tsenor::tool {

/// Whether this build has Kokkos Kernels (raw activations need it; norms files do not).
bool have_column_norms();

/// The 2-norm of every column of `tensor`, a (…, C) array of activations flattened to rows × C: each column's
/// sum of squares in double, by Kokkos Kernels' team dot product with one thread per column (so the order of the
/// sum is fixed: the same bits at every thread count), over blocks of a fixed number of rows; then sqrt and one
/// rounding to float. Reads the file a block at a time. Throws tsenor::Error on non-finite input.
std::vector<float> column_norms(const io::SafetensorsFile& file, const io::TensorInfo& tensor);

}  // namespace tsenor::tool
