#!/usr/bin/env bash
# ctest python.wheel: builds the Python package's wheel — what CI ships — with the test venv's pip
# (no build isolation: nanobind and scikit-build-core come from the venv, nothing is downloaded),
# with this build's compiler and Kokkos, then installs it into the venv for the python test.
#   python_wheel.sh PYTHON CXX_COMPILER KOKKOS_DIR WHEEL_DIR SOURCE_DIR
set -euo pipefail
python=$1 cxx=$2 kokkos_dir=$3 wheels=$4 source=$5
rm -f "$wheels"/tsenor-*.whl
CMAKE_ARGS="-DCMAKE_CXX_COMPILER=$cxx -DKokkos_DIR=$kokkos_dir" "$python" -m pip wheel --no-build-isolation \
  --no-deps --config-settings=build-dir="$wheels/build" -w "$wheels" "$source/python"
"$python" -m pip install --no-deps --force-reinstall "$wheels"/tsenor-*.whl
"$python" -c "import tsenor; print('installed tsenor', tsenor.__version__, 'backends', tsenor.backends())"
