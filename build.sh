#!/usr/bin/env bash
# The two commands of the README:
#   ./build.sh         build what is missing, then compute the mask of the built-in example
#   ./build.sh test    build what is missing, then build and run the whole test suite (with the Python
#                      package's: its wheel is built and installed into the venv of bootstrap.sh --python)
# Environment: BUILD_DIR (default build), JOBS (default nproc), Kokkos_ROOT (use this Kokkos).
set -euo pipefail
cd "$(dirname "$0")"
mode="${1:-run}"
build="${BUILD_DIR:-build}"
jobs="${JOBS:-$(nproc)}"
case "$mode" in
  run) kokkos=$(cmake/bootstrap.sh | tail -n 1) ;;
  test) kokkos=$(cmake/bootstrap.sh --tests | tail -n 1)
        venv=$(cmake/bootstrap.sh --python | tail -n 1) ;;
  *) echo "usage: ./build.sh [run|test]" >&2; exit 2 ;;
esac
tests=OFF python=()
[ "$mode" = test ] && tests=ON python=(-DTSENOR_PYTHON="$venv/bin/python")
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$kokkos" \
  -DTSENOR_ENABLE_TESTS="$tests" -DTSENOR_ENABLE_PERF="$tests" -DTSENOR_ENABLE_MPI="$tests" "${python[@]}" >/dev/null
cmake --build "$build" -j "$jobs"
if [ "$mode" = run ]; then
  "$build/bin/tsenor" mask --nm 8:16
else
  (cd "$build" && ctest --output-on-failure -j "$jobs")
fi
