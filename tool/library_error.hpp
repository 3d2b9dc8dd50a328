// How the tool shows the library's usage errors (tsenor::Error) to its own users.
#pragma once

#include <string>

#include "tsenor/error.hpp"

namespace tsenor::tool {

/// A library usage error's message as the tool's user reads it: without the library function's name
/// ("tsenor::compute_mask: ", "parse_method: ") and without the source location (Error::message()).
inline std::string without_function(const Error& e) {
  const std::string& m = e.message();
  const auto colon = m.find(": ");
  const bool named = colon != std::string::npos &&
                     m.find_first_not_of("abcdefghijklmnopqrstuvwxyz_:") == colon + 1;  // an identifier, then ": "
  return named ? m.substr(colon + 2) : m;
}

}  // namespace tsenor::tool
