// The built-in example matrix of `tsenor mask` without --input.
#pragma once

#include <cstddef>
#include <vector>

namespace tsenor::tool {

/// rows×cols weights shaped like a trained linear layer: roughly Gaussian entries with
/// heavier tails, scaled per row and per column (outlier channels). Deterministic: the same
/// values on every machine (integer hashing and exactly rounded float operations only).
std::vector<float> example_weights(std::size_t rows, std::size_t cols);

}  // namespace tsenor::tool
