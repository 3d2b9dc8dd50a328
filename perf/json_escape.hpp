// The benchmark drivers print one JSON record a line with printf, in a fixed format that perf/*.py and the
// smoke tests read ("key": value, numbers as %.6f / %.17g); strings in them go through json_escape. The tool
// itself writes JSON with nlohmann (tool/prune_report.cpp, tool/commands.cpp).
#pragma once

#include <cstdio>
#include <string>

namespace tsenor::perf {

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

}  // namespace tsenor::perf
