#!/usr/bin/env python3
"""Which kernels the host's OpenBLAS chose, and its SGEMM beside numpy's, in one process (perf/results/h200/
README.md, session 8: Debian's OpenBLAS 0.3.21 ran its Prescott kernels on the H200's host).

  perf/blas_probe.py [--library /usr/lib/x86_64-linux-gnu/libopenblas.so.0] [--size 4096]

Set OPENBLAS_CORETYPE (e.g. SkylakeX) in the environment to compare kernels; OMP_NUM_THREADS sets the threads."""
import argparse
import ctypes
import time

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--library", default="libopenblas.so.0")
    p.add_argument("--size", type=int, default=4096)
    a = p.parse_args()
    lib = ctypes.CDLL(a.library)
    lib.openblas_get_config.restype = ctypes.c_char_p
    lib.openblas_get_corename.restype = ctypes.c_char_p
    print(f"PROBE {lib.openblas_get_config().decode()}; core {lib.openblas_get_corename().decode()}; "
          f"threads {lib.openblas_get_num_threads()}")
    n = a.size
    x = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    one, zero, ptr = ctypes.c_float(1.0), ctypes.c_float(0.0), ctypes.c_void_p

    def sgemm():  # cblas_sgemm(CblasRowMajor = 101, CblasNoTrans = 111, CblasNoTrans = 111, …)
        lib.cblas_sgemm(101, 111, 111, n, n, n, one, ptr(x.ctypes.data), n, ptr(x.ctypes.data), n, zero,
                        ptr(c.ctypes.data), n)

    for name, call in (("openblas", sgemm), ("numpy", lambda: x @ x)):
        call()  # warm-up: threads, buffers
        start = time.perf_counter()
        call()
        print(f"PROBE {name} sgemm {n}^3 {time.perf_counter() - start:.3f} s", flush=True)


if __name__ == "__main__":
    main()
