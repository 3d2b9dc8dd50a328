#include "example.hpp"

#include <cstdint>

namespace tsenor::tool {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Sum of four uniforms on [−1, 1): a bell shape without library math.
float bell(std::uint64_t key) {
  float s = 0.0f;
  for (int k = 0; k < 4; ++k) {
    key = splitmix64(key);
    s += static_cast<float>(key >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }
  return s;
}

float channel_scale(std::uint64_t key) {
  const std::uint64_t h = splitmix64(key) % 64;
  return h == 0 ? 8.0f : (h < 8 ? 2.0f : 1.0f);  // a few outlier channels
}

}  // namespace

std::vector<float> example_weights(std::size_t rows, std::size_t cols) {
  std::vector<float> w(rows * cols);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) {
      const float b = bell((i << 32) ^ j);
      const float tail = (splitmix64(i * 7919 + j) % 97 == 0) ? 4.0f : 1.0f;
      w[i * cols + j] = b * tail * channel_scale(i) * channel_scale(j + (1ull << 40)) * 0.02f;
    }
  return w;
}

}  // namespace tsenor::tool
