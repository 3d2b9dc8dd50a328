// Writing JSON by hand (reports, benchmark lines): a string as a JSON string literal.
#pragma once

#include <cstdio>
#include <string>

namespace tsenor::io {

/// `text` as the body of a JSON string: quotes, backslashes and control characters escaped.
inline std::string json_escape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\u%04x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

/// `text` as a JSON string literal, quotes included.
inline std::string json_string(const std::string& text) { return "\"" + json_escape(text) + "\""; }

}  // namespace tsenor::io
