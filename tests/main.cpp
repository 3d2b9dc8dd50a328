// Test driver: one binary, run once per backend configuration by ctest (see CMakeLists.txt):
//   tsenor_tests --backend=serial|openmp [--threads=T] [--dump=FILE] [doctest options]
// --dump writes the outputs of the cross-backend identity inputs to FILE; ctest then compares
// the files of all configurations byte for byte.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "support/backend.hpp"
#include "tsenor/compat.hpp"

namespace tsenor_test {
std::string selected_backend = "serial";
std::string dump_path;
}  // namespace tsenor_test

int main(int argc, char** argv) {
  int threads = 0;
  std::vector<char*> rest;
  for (int k = 0; k < argc; ++k) {
    const char* a = argv[k];
    if (std::strncmp(a, "--backend=", 10) == 0) {
      tsenor_test::selected_backend = a + 10;
    } else if (std::strncmp(a, "--threads=", 10) == 0) {
      threads = std::atoi(a + 10);
    } else if (std::strncmp(a, "--dump=", 7) == 0) {
      tsenor_test::dump_path = a + 7;
    } else {
      rest.push_back(argv[k]);
    }
  }
  tsenor::compat::initialize(threads);
  int status = 0;
  {
    doctest::Context context;
    context.applyCommandLine(static_cast<int>(rest.size()), rest.data());
    status = context.run();
  }
  Kokkos::finalize();
  return status;
}
