// Text for messages about files (private to tsenor's io and tool; not part of the API): text taken from a file
// kept short and printable so that a message stays one line, and shapes written the way each format does.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace tsenor::io::detail {

/// `text` cut to `max_length` characters (then "..."), each byte that is not printable ASCII shown as '?'.
inline std::string printable(const std::string& text, std::size_t max_length) {
  std::string out;
  for (const char c : text.substr(0, max_length)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return text.size() > max_length ? out + "..." : out;
}

/// A shape as safetensors headers write it: "[4096, 11008]".
template <class Extent>
std::string shape_text(const std::vector<Extent>& shape) {
  std::string out = "[";
  for (std::size_t k = 0; k < shape.size(); ++k) out += (k ? ", " : "") + std::to_string(shape[k]);
  return out + "]";
}

/// A shape as NumPy writes it, a Python tuple: "(3, 4)", "(3,)".
template <class Extent>
std::string shape_tuple_text(const std::vector<Extent>& shape) {
  std::string out = "(";
  for (std::size_t k = 0; k < shape.size(); ++k) out += (k ? ", " : "") + std::to_string(shape[k]);
  return out + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace tsenor::io::detail
