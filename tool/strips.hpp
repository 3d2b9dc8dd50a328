// Streaming a matrix in strips of whole tile rows: the one loop behind 'mask' (strips solved one call each, to
// show progress) and 'prune' (chunks read, solved and written one at a time, to bound the memory). Tiles are
// independent, so the mask does not depend on the strip height.
#pragma once

#include <algorithm>
#include <cstddef>

namespace tsenor::tool {

/// The height of the strips of a rows×cols matrix with m×m tiles: as many whole tile rows as hold at most
/// `max_entries` entries, at least one tile row, at most `rows`.
inline std::size_t strip_rows(std::size_t rows, std::size_t cols, std::size_t m, std::size_t max_entries) {
  const std::size_t fit = cols > 0 ? max_entries / cols : rows;
  return std::min(rows, std::max(m, fit / m * m));
}

/// Calls visit(first_row, height) for each strip of `strip` rows from the top (the last one may be lower);
/// returns the number of strips.
template <class Visit>
std::size_t for_each_strip(std::size_t rows, std::size_t strip, Visit&& visit) {
  std::size_t strips = 0;
  for (std::size_t r0 = 0; r0 < rows; r0 += strip, ++strips) visit(r0, std::min(strip, rows - r0));
  return strips;
}

}  // namespace tsenor::tool
