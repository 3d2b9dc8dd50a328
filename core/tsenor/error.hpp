// Usage errors of the host API. Numerical outcomes never throw: they go into the per-tile status.
#pragma once

#include <stdexcept>
#include <string>

namespace tsenor {

/// Thrown by host entry points for bad options, shapes or scores. The message names the
/// function, the bad value and the source location, so one line tells the user what to fix.
class Error : public std::invalid_argument {
 public:
  explicit Error(const std::string& message, const std::string& location = "")
      : std::invalid_argument(location.empty() ? message : message + " [" + location + "]"), message_(message) {}
  /// The message without the source location: what an application shows its own users.
  const std::string& message() const noexcept { return message_; }

 private:
  std::string message_;
};

namespace detail {
[[noreturn]] inline void throw_error(const char* file, int line, const std::string& what) {
  std::string where(file);
  auto slash = where.find_last_of('/');
  if (slash != std::string::npos) where = where.substr(slash + 1);
  throw Error(what, where + ":" + std::to_string(line));
}
}  // namespace detail

}  // namespace tsenor

#define TSENOR_REQUIRE(cond, msg)                                          \
  do {                                                                     \
    if (!(cond)) ::tsenor::detail::throw_error(__FILE__, __LINE__, (msg)); \
  } while (0)
