#!/usr/bin/env python3
"""The symmetric eigendecomposition behind ALPS on a GPU: cuSOLVER's legacy cusolverDnDsyevd (what
tsenor::layers calls), its 64-bit API cusolverDnXsyevd, and torch.linalg.eigh (cuSOLVER or MAGMA), on the
same float64 Gram matrix, in one process. cuSOLVER is called through ctypes from the library torch loaded.

  python3 perf/eigh_probe.py [--size 4096] [--repeat 3]

Prints one line per call: the fastest of --repeat after a warm-up, and the largest eigenvalue difference
against torch's.
"""
import argparse
import ctypes
import glob
import os
import time

import torch

VECTOR, LOWER, R64F = 1, 0, 1  # CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, CUDA_R_64F


def cusolver():
    root = os.path.dirname(os.path.dirname(torch.__file__))
    found = sorted(glob.glob(os.path.join(root, "nvidia", "**", "libcusolver.so*"), recursive=True))
    if not found:
        raise SystemExit("eigh_probe: no libcusolver beside torch")
    return ctypes.CDLL(found[0]), found[0]


def fastest(call, repeat):
    call()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = call()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    n = a.size
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(2 * n, n, device="cuda", dtype=torch.float64, generator=g)
    h = x.T @ x
    h += 0.01 * h.diagonal().mean() * torch.eye(n, device="cuda", dtype=torch.float64)
    lib, path = cusolver()
    print(f"{torch.cuda.get_device_name()}, n = {n}, float64, {os.path.basename(path)}")

    handle = ctypes.c_void_p()
    assert lib.cusolverDnCreate(ctypes.byref(handle)) == 0
    assert lib.cusolverDnSetStream(handle, ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)) == 0
    info = torch.zeros(1, dtype=torch.int32, device="cuda")
    w = torch.empty(n, dtype=torch.float64, device="cuda")

    def legacy():
        a_ = h.clone()
        lwork = ctypes.c_int()
        assert lib.cusolverDnDsyevd_bufferSize(handle, VECTOR, LOWER, n, ctypes.c_void_p(a_.data_ptr()), n,
                                               ctypes.c_void_p(w.data_ptr()), ctypes.byref(lwork)) == 0
        work = torch.empty(lwork.value, dtype=torch.float64, device="cuda")
        assert lib.cusolverDnDsyevd(handle, VECTOR, LOWER, n, ctypes.c_void_p(a_.data_ptr()), n,
                                    ctypes.c_void_p(w.data_ptr()), ctypes.c_void_p(work.data_ptr()), lwork,
                                    ctypes.c_void_p(info.data_ptr())) == 0
        return w.clone()

    params = ctypes.c_void_p()
    assert lib.cusolverDnCreateParams(ctypes.byref(params)) == 0
    i64 = ctypes.c_int64

    def x64():
        a_ = h.clone()
        on_device, on_host = ctypes.c_size_t(), ctypes.c_size_t()
        assert lib.cusolverDnXsyevd_bufferSize(handle, params, VECTOR, LOWER, i64(n), R64F,
                                               ctypes.c_void_p(a_.data_ptr()), i64(n), R64F,
                                               ctypes.c_void_p(w.data_ptr()), R64F, ctypes.byref(on_device),
                                               ctypes.byref(on_host)) == 0
        work = torch.empty(max(1, on_device.value), dtype=torch.uint8, device="cuda")
        host = ctypes.create_string_buffer(max(1, on_host.value))
        assert lib.cusolverDnXsyevd(handle, params, VECTOR, LOWER, i64(n), R64F, ctypes.c_void_p(a_.data_ptr()),
                                    i64(n), R64F, ctypes.c_void_p(w.data_ptr()), R64F,
                                    ctypes.c_void_p(work.data_ptr()), ctypes.c_size_t(on_device.value), host,
                                    ctypes.c_size_t(on_host.value), ctypes.c_void_p(info.data_ptr())) == 0
        return w.clone()

    results = {}
    for lib_name in ("cusolver", "magma"):
        torch.backends.cuda.preferred_linalg_library(lib_name)
        results[f"torch.linalg.eigh ({lib_name})"] = fastest(lambda: torch.linalg.eigh(h)[0], a.repeat)
    torch.backends.cuda.preferred_linalg_library("default")
    results["torch.linalg.eigh (default)"] = fastest(lambda: torch.linalg.eigh(h)[0], a.repeat)
    results["cusolverDnDsyevd (legacy)"] = fastest(legacy, a.repeat)
    results["cusolverDnXsyevd (64-bit)"] = fastest(x64, a.repeat)
    reference = results["torch.linalg.eigh (default)"][1]
    for name, (seconds, values) in results.items():
        diff = (values - reference).abs().max().item()
        print(f"{name:32s} {seconds * 1e3:9.1f} ms   max |dλ| {diff:.2e}")


if __name__ == "__main__":
    main()
