// The backend a test binary run exercises, chosen on its command line, so that each test is
// written once and ctest runs it once per enabled backend.
#pragma once

#include <string>
#include <tsenor/backends/enabled.hpp>
#include <utility>

namespace tsenor_test {

extern std::string selected_backend;  ///< a name from tsenor::backends::enabled_backends()
extern std::string dump_path;         ///< where the identity test writes its outputs ("" = skip)

/// Calls f(execution space instance) for the selected backend.
template <class F>
void with_backend(F&& f) {
  tsenor::backends::with_execution_space(selected_backend, std::forward<F>(f));
}

}  // namespace tsenor_test
