#!/usr/bin/env python3
"""Writes .npy files with numpy itself, so that tests/test_npy.cpp checks the reader against the real producer.

Usage: npy_fixtures.py OUTPUT_DIR. The values follow formulas that the C++ test repeats; keep both in step.
"""
import os
import sys

import numpy as np
from numpy.lib import format as npy_format

ROWS, COLS = 5, 7  # not square, so a transposition mistake cannot go unnoticed


def scores(dtype, offset):
    """a[i, j] = 8 i + j + offset; exact in float16 for offset 0.25."""
    i, j = np.meshgrid(np.arange(ROWS), np.arange(COLS), indexing="ij")
    return (8.0 * i + j + offset).astype(dtype)


def mask_pattern(rows, cols):
    """mask[i, j] = (3 i + j) % 5 == 0, as uint8."""
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return ((3 * i + j) % 5 == 0).astype(np.uint8)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    def save(name, array):
        np.save(os.path.join(out, name), array)

    for dtype, offset in (("f16", 0.25), ("f32", 0.25), ("f64", 1.0 / 3.0)):
        a = scores({"f16": np.float16, "f32": np.float32, "f64": np.float64}[dtype], offset)
        save(f"{dtype}_c.npy", a)
        save(f"{dtype}_f.npy", np.asfortranarray(a))

    # Every float16 bit pattern (subnormals, infinities, NaNs with payloads) and numpy's own widening of it.
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16).reshape(256, 256)
    save("f16_all.npy", halves)
    save("f16_all_as_f32.npy", halves.astype(np.float32))

    save("f32_empty.npy", np.zeros((0, COLS), np.float32))
    save("mask_bool_c.npy", mask_pattern(6, 4).astype(bool))
    save("mask_bool_f.npy", np.asfortranarray(mask_pattern(6, 4).astype(bool)))
    save("mask_u8_f.npy", np.asfortranarray(mask_pattern(6, 4) * 7))
    # The writer must reproduce numpy.save byte for byte.
    for rows, cols in ((3, 5), (0, 4), (1, 1000), (12345, 3)):
        save(f"mask_u8_{rows}x{cols}.npy", mask_pattern(rows, cols))

    for version in ((2, 0), (3, 0)):
        with open(os.path.join(out, f"f32_v{version[0]}.npy"), "wb") as f:
            npy_format.write_array(f, scores(np.float32, 0.25), version=version)

    # Files the reader must reject.
    save("f32_3d.npy", np.zeros((2, 3, 4), np.float32))
    save("f32_1d.npy", np.zeros(5, np.float32))
    save("f32_0d.npy", np.float32(1.0))
    save("f32_big_endian.npy", scores(">f4", 0.25))
    save("i32.npy", np.zeros((2, 3), np.int32))
    save("c64.npy", np.zeros((2, 3), np.complex64))
    save("object.npy", np.array([[1, "a"]], dtype=object))
    save("structured.npy", np.zeros((2, 3), dtype=[("a", "<f4"), ("b", "<f4")]))


if __name__ == "__main__":
    main()
