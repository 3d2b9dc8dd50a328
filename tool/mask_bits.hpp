// --mask-format bits: a mask row of 0/1 bytes packed 8 to a byte, column 8k+j in bit j of byte k (numpy's
// packbits/unpackbits with bitorder='little'). One packing for the GPU kernels and the host.
#pragma once

#include <Kokkos_Core.hpp>
#include <cstdint>
#include <vector>

namespace tsenor::tool {

/// Byte k of a packed mask: the 8 mask bytes from `mask` (0 or 1).
KOKKOS_INLINE_FUNCTION std::uint8_t pack_byte(const std::uint8_t* mask) {
  unsigned byte = 0;
  for (int j = 0; j < 8; ++j) byte |= static_cast<unsigned>(mask[j] != 0) << j;
  return static_cast<std::uint8_t>(byte);
}

/// `count` mask bytes (a multiple of 8: whole rows of a multiple of 8 columns) packed.
inline std::vector<std::uint8_t> pack_mask(const std::uint8_t* mask, std::size_t count) {
  std::vector<std::uint8_t> packed(count / 8);
  for (std::size_t k = 0; k < packed.size(); ++k) packed[k] = pack_byte(mask + 8 * k);
  return packed;
}

}  // namespace tsenor::tool
