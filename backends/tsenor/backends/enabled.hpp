// The execution spaces this build of Kokkos enables, named as the tool, the tests and the Python package name
// them ("serial", "openmp", "threads", "cuda", "hip": Kokkos' own space name in lower case). This is the only
// list of backends in the code: everything that picks a backend by name goes through with_execution_space.
#pragma once

#include <Kokkos_Core.hpp>
#include <cctype>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tsenor/compat.hpp"
#include "tsenor/error.hpp"

namespace tsenor::backends {

namespace detail {

template <class... Spaces>
struct SpaceList {};

// GPUs first: the order in which enabled_backends() lists them.
using EnabledSpaces = SpaceList<
#ifdef KOKKOS_ENABLE_CUDA
    Kokkos::Cuda,
#endif
#ifdef KOKKOS_ENABLE_HIP
    compat::HIP,
#endif
#ifdef KOKKOS_ENABLE_OPENMP
    Kokkos::OpenMP,
#endif
#ifdef KOKKOS_ENABLE_THREADS
    Kokkos::Threads,
#endif
#ifdef KOKKOS_ENABLE_SERIAL
    Kokkos::Serial,
#endif
    void>;  // ends the list after the last comma

template <class Space>
std::string space_name() {
  std::string name = Space::name();
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

template <class Space, class... Rest>
void append_names(SpaceList<Space, Rest...>, std::vector<std::string>& names) {
  if constexpr (!std::is_void_v<Space>) {
    names.push_back(space_name<Space>());
    append_names(SpaceList<Rest...>{}, names);
  }
}

template <class F, class Space, class... Rest>
void dispatch(SpaceList<Space, Rest...>, const std::string& name, F& f, bool& found) {
  if constexpr (!std::is_void_v<Space>) {
    if (!found && name == space_name<Space>()) {
      found = true;
      f(Space());
      return;
    }
    dispatch(SpaceList<Rest...>{}, name, f, found);
  }
}

}  // namespace detail

/// The names of the enabled backends, GPUs first.
inline std::vector<std::string> enabled_backends() {
  std::vector<std::string> names;
  detail::append_names(detail::EnabledSpaces{}, names);
  return names;
}

inline bool is_enabled(const std::string& name) {
  for (const std::string& enabled : enabled_backends())
    if (enabled == name) return true;
  return false;
}

/// The backend "auto" stands for: Kokkos' default execution space (the GPU in a GPU build), or its default host
/// space when the default is one tsenor does not run on (e.g. SYCL). Throws tsenor::Error when neither is.
inline std::string default_backend() {
  for (const std::string& name : {detail::space_name<Kokkos::DefaultExecutionSpace>(),
                                  detail::space_name<Kokkos::DefaultHostExecutionSpace>()})
    if (is_enabled(name)) return name;
  throw Error("Kokkos' default execution space " + std::string(Kokkos::DefaultExecutionSpace::name()) +
              " is not one tsenor runs on");
}

/// `name` itself if enabled ("auto": default_backend()); else throws tsenor::Error listing the enabled ones.
inline std::string resolve_backend(const std::string& name) {
  if (name == "auto") return default_backend();
  if (is_enabled(name)) return name;
  std::string list;
  for (const std::string& enabled : enabled_backends()) list += (list.empty() ? "" : ", ") + enabled;
  throw Error("backend '" + name + "' is not enabled in this build's Kokkos (enabled: " + list + ")");
}

/// Calls f(space) with a default instance of the execution space of the backend named `name` (or "auto").
/// Throws tsenor::Error for a backend that is not enabled.
template <class F>
void with_execution_space(const std::string& name, F&& f) {
  const std::string resolved = resolve_backend(name);
  bool found = false;
  detail::dispatch(detail::EnabledSpaces{}, resolved, f, found);
}

}  // namespace tsenor::backends
