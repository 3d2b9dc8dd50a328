#!/usr/bin/env python3
"""End-to-end tests of the tsenor command-line tool, on .npy files written by numpy itself.

Usage: test_cli.py --tool PATH/TO/tsenor [unittest options]. Run by ctest as the test 'cli'.

Every mask the tool writes is checked here, in numpy, independently of the tool's own 'verify':
uint8, the input's shape, and every M x M tile exactly N-regular (N = kept per row and column).
At 2:4 the exact method is also checked against brute force over all 90 transposable tiles, also
for scores at the ends of each dtype's range; --report must be strict JSON that agrees with the mask.
Bad input must give exit status 2, exactly one line 'tsenor: error: ...' on stderr, create no file,
and leave an older mask or report at the output paths exactly as it was. OutputSafety tests each
clause of the rule that a run never deletes or replaces a file it did not create (README, "Your
files are safe").
"""
import argparse
import fcntl
import io
import itertools
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np

TOOL = None  # set from --tool in __main__
METHODS = ("exact", "entropic", "greedy")
PATTERNS = ((2, 4), (8, 16), (3, 8))
SHAPE = (32, 48)  # a multiple of 4, 8 and 16, not square: a transposition mistake shows


def run_tool(*args, cwd=None, timeout=120):
    """Runs the tool in cwd; returns the CompletedProcess (text mode)."""
    env = dict(os.environ)
    env.setdefault("OMP_PROC_BIND", "false")  # otherwise Kokkos prints a warning on every run
    return subprocess.run([TOOL, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def tile_sums(mask, m):
    """Row and column sums of every M x M tile, border tiles zero-padded: rows[p, i, q], cols[p, q, j]."""
    r, c = mask.shape
    padded = np.zeros((-(-r // m) * m, -(-c // m) * m), np.int64)
    padded[:r, :c] = mask
    t = padded.reshape(padded.shape[0] // m, m, padded.shape[1] // m, m)  # [p, i, q, j]
    return t.sum(axis=3), t.sum(axis=1)


def regular_tiles(mask, n, m):
    """Boolean [p, q]: tile (p, q) keeps exactly n per row and per column."""
    rows, cols = tile_sums(mask, m)
    return (rows == n).all(axis=1) & (cols == n).all(axis=2)


def tile_objectives(scores, mask, m):
    """Kept score of every tile, in float64, shape [p, q]."""
    kept = scores.astype(np.float64) * mask
    r, c = kept.shape
    return kept.reshape(r // m, m, c // m, m).sum(axis=(1, 3))


def transposable_2_4_patterns():
    """All 4 x 4 0/1 matrices with two ones in every row and column (there are 90), as [90, 16]."""
    rows = [np.array(r) for r in itertools.product((0, 1), repeat=4) if sum(r) == 2]
    found = [np.stack(p) for p in itertools.product(rows, repeat=4) if (np.stack(p).sum(axis=0) == 2).all()]
    assert len(found) == 90
    return np.stack(found).reshape(90, 16).astype(np.float64)


def optimal_2_4(scores):
    """Exact optimum of every 4 x 4 tile by brute force, shape [p, q]."""
    r, c = scores.shape
    tiles = scores.astype(np.float64).reshape(r // 4, 4, c // 4, 4).transpose(0, 2, 1, 3).reshape(-1, 16)
    return (tiles @ transposable_2_4_patterns().T).max(axis=1).reshape(r // 4, c // 4)


def load_strict_json(path):
    """json.load that rejects NaN and Infinity, which Python accepts but JSON does not have."""
    def reject(constant):
        raise ValueError(f"{path}: {constant} is not JSON")
    with open(path) as f:
        return json.load(f, parse_constant=reject)


def random_weights(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


class ToolTestCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="tsenor-cli-")
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def run_tool(self, *args):
        """Runs the tool inside this test's temporary directory, so anything it leaves there is seen."""
        return run_tool(*args, cwd=self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def save(self, name, array):
        np.save(self.path(name), array)
        return self.path(name)

    def assertRuns(self, *args):
        """Runs the tool and asserts exit status 0 and a clean stderr; returns the process."""
        proc = self.run_tool(*args)
        command = " ".join(map(str, args))
        self.assertEqual(proc.returncode, 0, f"tsenor {command}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
        self.assertEqual(proc.stderr, "", "a successful run writes nothing to stderr")
        return proc

    def mask(self, input_path, n, m, *extra, name="mask.npy"):
        """Runs 'tsenor mask' and returns the mask it wrote, checked for dtype and shape."""
        out = self.path(name)
        self.assertRuns("mask", "--input", input_path, "--nm", f"{n}:{m}", "--output", out, "--quiet", *extra)
        mask = np.load(out)
        shape = np.load(input_path, mmap_mode="r").shape
        self.assertEqual(mask.dtype, np.uint8)
        self.assertEqual(mask.shape, shape)
        self.assertTrue(np.isin(mask, (0, 1)).all(), "mask entries are 0 or 1")
        return mask

    def report(self, path):
        """The JSON report at path; a test failure (not an error) when it is not strict JSON."""
        try:
            return load_strict_json(path)
        except ValueError as e:
            self.fail(f"{path} is not valid JSON: {e}")

    def assertRegular(self, mask, n, m, msg=""):
        bad = np.argwhere(~regular_tiles(mask, n, m))
        self.assertEqual(len(bad), 0, f"{msg}: tiles not {n}:{m}-regular: {bad[:5].tolist()}")

    def assertVerifies(self, mask_path, n, m, *extra):
        proc = self.assertRuns("verify", "--mask", mask_path, "--nm", f"{n}:{m}", *extra)
        self.assertIn(", 0 not N-regular", proc.stdout)


class MaskOnNumpyFiles(ToolTestCase):
    """Every dtype and order, pattern and method: a uint8 mask of the input's shape, N-regular in every tile."""

    def test_dtypes_orders_patterns_methods(self):
        base = random_weights(SHAPE, seed=1, dtype=np.float64)
        for dtype in (np.float32, np.float64, np.float16):
            w = base.astype(dtype)
            c_path = self.save(f"w_{np.dtype(dtype).name}_c.npy", np.ascontiguousarray(w))
            f_path = self.save(f"w_{np.dtype(dtype).name}_f.npy", np.asfortranarray(w))
            self.assertTrue(np.load(f_path).flags.f_contiguous)
            for (n, m), method in itertools.product(PATTERNS, METHODS):
                with self.subTest(dtype=np.dtype(dtype).name, nm=f"{n}:{m}", method=method):
                    mask_c = self.mask(c_path, n, m, "--method", method, name="mask_c.npy")
                    self.assertRegular(mask_c, n, m, "C order")
                    self.assertVerifies(self.path("mask_c.npy"), n, m)
                    mask_f = self.mask(f_path, n, m, "--method", method, name="mask_f.npy")
                    self.assertRegular(mask_f, n, m, "Fortran order")
                    self.assertVerifies(self.path("mask_f.npy"), n, m)
                    np.testing.assert_array_equal(mask_c, mask_f, "C and Fortran order give different masks")

    def test_exact_is_optimal_at_2_4(self):
        w = random_weights((64, 96), seed=2)
        path = self.save("w.npy", w)
        scores = np.abs(w)
        best = optimal_2_4(scores)
        objectives = {}
        for method in METHODS:
            with self.subTest(method=method):
                got = tile_objectives(scores, self.mask(path, 2, 4, "--method", method), 4)
                objectives[method] = got.sum()
                self.assertTrue((got <= best * (1 + 1e-12)).all(), "a tile beats the brute-force optimum")
                if method == "exact":
                    np.testing.assert_allclose(got, best, rtol=1e-12, err_msg="exact is not optimal per tile")
        self.assertGreaterEqual(objectives["exact"] * (1 + 1e-12), max(objectives.values()))

    def test_default_method_and_pattern(self):
        path = self.save("w.npy", random_weights(SHAPE, seed=3))
        out = self.path("mask.npy")
        self.assertRuns("mask", "--input", path, "--output", out, "--quiet")
        self.assertRegular(np.load(out), 2, 4, "default 2:4")
        self.assertVerifies(out, 2, 4)


class Scores(ToolTestCase):
    """--scores takes the input as scores; the default is |W|."""

    def test_default_is_magnitude(self):
        w = random_weights(SHAPE, seed=4)
        signed = self.save("w.npy", w)
        magnitude = self.save("abs.npy", np.abs(w))
        for method in METHODS:
            with self.subTest(method=method):
                a = self.mask(signed, 8, 16, "--method", method, name="a.npy")
                b = self.mask(magnitude, 8, 16, "--method", method, "--scores", name="b.npy")
                np.testing.assert_array_equal(a, b, "mask of W differs from the mask of --scores |W|")

    def test_negative_scores_fail_but_negative_weights_work(self):
        w = -np.abs(random_weights(SHAPE, seed=5))
        path = self.save("neg.npy", w)
        out = self.path("mask.npy")
        proc = self.run_tool("mask", "--input", path, "--scores", "--output", out)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertRegex(proc.stderr, r"^tsenor: error: .*negative")
        self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)
        self.assertFalse(os.path.exists(out))
        mask = self.mask(path, 2, 4)
        self.assertRegular(mask, 2, 4, "negative weights without --scores")


class Report(ToolTestCase):
    def test_report_matches_the_mask(self):
        w = random_weights(SHAPE, seed=6, dtype=np.float64)
        path = self.save("w.npy", w)
        report = self.path("r.json")
        for (n, m), method in itertools.product(PATTERNS, METHODS):
            with self.subTest(nm=f"{n}:{m}", method=method):
                mask = self.mask(path, n, m, "--method", method, "--report", report)
                r = self.report(report)
                scores = np.abs(w)
                tiles = (SHAPE[0] // m) * (SHAPE[1] // m)
                self.assertEqual(r["tiles"], tiles)
                self.assertEqual(r["feasible_tiles"], int(regular_tiles(mask, n, m).sum()))
                self.assertEqual(r["feasible_tiles"], tiles)
                self.assertEqual((r["n_kept"], r["m"], r["rows"], r["cols"]), (n, m, *SHAPE))
                self.assertEqual((r["method"], r["dtype"], r["scores"]), (method, "float64", "magnitude"))
                self.assertAlmostEqual(r["objective"], float((scores * mask).sum()), delta=1e-9 * scores.sum())
                self.assertAlmostEqual(r["total_score"], float(scores.sum()), delta=1e-9 * scores.sum())
                self.assertGreater(r["device_bytes"], 0)  # the tile statuses at least


class ExtremeScores(ToolTestCase):
    """Finite scores at the ends of each dtype's range: still N-regular, still optimal, still a valid report."""

    def test_exact_stays_optimal(self):
        base = np.random.default_rng(13).uniform(0.5, 1.0, (32, 32))
        for dtype, scale in ((np.float64, 1e307), (np.float64, 1e-300), (np.float32, 1e37), (np.float32, 1e-40),
                             (np.float16, 6e4), (np.float16, 1e-7)):
            with self.subTest(dtype=np.dtype(dtype).name, scale=scale):
                w = (base * scale).astype(dtype)
                path = self.save("w.npy", w)
                mask = self.mask(path, 2, 4, "--method", "exact")
                self.assertRegular(mask, 2, 4, "extreme scores")
                self.assertVerifies(self.path("mask.npy"), 2, 4)
                scores = w.astype(np.float64) / scale  # the same order, without overflow or underflow in numpy
                np.testing.assert_allclose(tile_objectives(scores, mask, 4), optimal_2_4(scores), rtol=1e-6)

    def test_report_is_json_when_the_total_overflows(self):
        # Every tile sum is finite, the sum over all tiles is not: the report must still be JSON, and the kept
        # share a number (summed again in a wider type), not NaN.
        w = np.random.default_rng(14).uniform(0.5, 1.0, (32, 32)) * 1e307
        path = self.save("w.npy", w)
        mask = self.mask(path, 2, 4, "--report", self.path("r.json"))
        r = self.report(self.path("r.json"))
        self.assertEqual(r["feasible_tiles"], 64)
        self.assertIsNone(r["total_score"])
        expected = float((w / 1e307 * mask).sum() / (w / 1e307).sum())
        self.assertAlmostEqual(r["kept_score_fraction"], expected, places=12)
        summary = self.assertRuns("mask", "--input", path, "--nm", "2:4").stdout
        self.assertIn(f"kept      {100 * expected:.4f}% of the total score (the score sums exceed", summary)
        self.assertNotIn("nan", summary.lower())


class Backends(ToolTestCase):
    def test_serial_and_openmp_masks_are_byte_identical(self):
        path = self.save("w.npy", random_weights((128, 192), seed=7))
        for (n, m), method in itertools.product(PATTERNS, METHODS):
            with self.subTest(nm=f"{n}:{m}", method=method):
                files = []
                for name, backend in (("serial.npy", ["--backend", "serial"]),
                                      ("openmp.npy", ["--backend", "openmp", "--threads", "2"])):
                    self.mask(path, n, m, "--method", method, *backend, name=name)
                    with open(self.path(name), "rb") as f:
                        files.append(f.read())
                self.assertEqual(files[0], files[1], "serial and openmp masks differ")


class ZeroPad(ToolTestCase):
    def test_zero_pad(self):
        path = self.save("w.npy", random_weights((30, 22), seed=8))
        report = self.path("r.json")
        mask = self.mask(path, 2, 4, "--zero-pad", "--report", report)
        rows, cols = tile_sums(mask, 4)
        self.assertTrue((rows <= 2).all() and (cols <= 2).all(), "a border tile keeps more than N")
        self.assertTrue(regular_tiles(mask[:28, :20], 2, 4).all(), "an interior tile is not N-regular")
        r = self.report(report)
        self.assertEqual((r["tiles"], r["padded_tiles"]), (8 * 6, 8 + 6 - 1))
        # A cropped border tile is not N-regular: it is counted as padded, not as N-regular.
        self.assertEqual(r["feasible_tiles"], int(regular_tiles(mask[:28, :20], 2, 4).sum()))
        self.assertEqual((r["feasible_tiles"], r["invalid_tiles"]), (7 * 5, 0))
        summary = self.assertRuns("mask", "--input", path, "--nm", "2:4", "--zero-pad").stdout
        self.assertRegex(summary, r"tiles\s+48, N-regular 35, cropped border tiles 13 \(at most 2 per row and column\)")
        self.assertVerifies(self.path("mask.npy"), 2, 4, "--zero-pad")

        proc = self.run_tool("verify", "--mask", self.path("mask.npy"), "--nm", "2:4")
        self.assertEqual(proc.returncode, 2, "verify without --zero-pad accepts a 30x22 mask")
        self.assertRegex(proc.stderr, r"^tsenor: error: .*multiple")
        self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)

        out = self.path("nopad.npy")
        proc = self.run_tool("mask", "--input", path, "--nm", "2:4", "--output", out)
        self.assertEqual(proc.returncode, 2, "30x22 at 2:4 without --zero-pad must fail")
        self.assertRegex(proc.stderr, r"^tsenor: error: .*multiple")
        self.assertFalse(os.path.exists(out))


class Verify(ToolTestCase):
    def test_broken_tile_is_named(self):
        path = self.save("w.npy", random_weights(SHAPE, seed=9))
        mask = self.mask(path, 2, 4)
        mask[9, 22] ^= 1  # tile (2, 5)
        broken = self.save("broken.npy", mask)
        proc = self.run_tool("verify", "--mask", broken, "--nm", "2:4")
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("tile (2, 5)", proc.stdout)
        self.assertIn(", 1 not N-regular", proc.stdout)
        self.assertNotIn("tile (", proc.stdout.replace("tile (2, 5)", ""), "only the broken tile is named")

    def test_bool_mask(self):
        path = self.save("w.npy", random_weights(SHAPE, seed=10))
        mask = self.mask(path, 3, 8)
        self.assertVerifies(self.save("bool.npy", mask.astype(bool)), 3, 8)
        self.assertVerifies(self.save("fortran.npy", np.asfortranarray(mask)), 3, 8)


class Misc(ToolTestCase):
    def test_builtin_example(self):
        proc = self.assertRuns("mask")
        self.assertIn("built-in example", proc.stdout)
        self.assertRegex(proc.stdout, r"tiles\s+65536, N-regular 65536")
        self.assertEqual(os.listdir(self.dir), [])

    def test_help(self):
        for args in (["--help"], ["mask", "--help"], ["verify", "--help"]):
            with self.subTest(args=args):
                proc = self.assertRuns(*args)
                self.assertIn("usage: tsenor", proc.stdout)
        self.assertRegex(self.assertRuns("--version").stdout, r"^tsenor \d+\.\d+\.\d+")


class BadInput(ToolTestCase):
    """Exit status 2, one line 'tsenor: error: ...', and nothing left at --output or --report."""

    def write_inputs(self):
        w = random_weights(SHAPE, seed=11)
        nan, inf = w.copy(), w.copy()
        nan[5, 7] = np.nan
        inf[6, 8] = np.inf
        files = {
            "good.npy": w, "nan.npy": nan, "inf.npy": inf,
            "odd_shape.npy": random_weights((30, 22), seed=12), "three_d.npy": np.zeros((4, 8, 8), np.float32),
            "one_d.npy": np.zeros(64, np.float32), "int32.npy": np.arange(64, dtype=np.int32).reshape(8, 8),
            "big_endian.npy": w.astype(">f4"),
        }
        for name, array in files.items():
            self.save(name, array)
        with open(self.path("good.npy"), "rb") as f:
            data = f.read()
        with open(self.path("truncated.npy"), "wb") as f:
            f.write(data[:-100])
        with open(self.path("not_npy.npy"), "w") as f:
            f.write("0.5, 1.5, 2.5\n3.5, 4.5, 5.5\n" * 8)

    def assertFailsCleanly(self, *args, expect=None):
        """Runs 'tsenor mask ARGS' (adding --output and --report unless ARGS has --output) over older outputs:
        exit 2, one error line, no new file, and the older outputs byte for byte as they were."""
        out, report = self.path("out.npy"), self.path("out.json")
        tail = [] if "--output" in args else ["--output", out, "--report", report]
        older = [out, report] if tail else [out]
        for path in older:
            with open(path, "wb") as f:
                f.write(b"the result of an earlier run: " + path.encode())
        before = set(os.listdir(self.dir))
        proc = self.run_tool("mask", *args, *tail)
        self.assertEqual(proc.returncode, 2, f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        lines = proc.stderr.splitlines()
        self.assertEqual(len(lines), 1, f"expected one line on stderr, got: {proc.stderr!r}")
        self.assertTrue(lines[0].startswith("tsenor: error: "), lines[0])
        self.assertNotRegex(lines[0], r"\[\w+\.[ch]pp:\d+\]", "a source location in a user-facing message")
        if expect:
            self.assertRegex(lines[0], expect)
        for crash in ("Traceback", "terminate called", "Segmentation", "Aborted", "what():"):
            self.assertNotIn(crash, proc.stderr + proc.stdout)
        self.assertEqual(sorted(set(os.listdir(self.dir)) - before), [], "a failed run created a file")
        for path in older:
            with open(path, "rb") as f:
                self.assertEqual(f.read(), b"the result of an earlier run: " + path.encode(),
                                 f"a failed run changed {path}")
            os.remove(path)

    def test_bad_scores_and_files(self):
        self.write_inputs()
        cases = [
            (["--input", "nan.npy"], r"nan.npy: 1 scores are NaN"),
            (["--input", "nan.npy", "--scores"], "NaN"),
            (["--input", "inf.npy"], "infinite"),
            (["--input", "inf.npy", "--scores"], "infinite"),
            (["--input", "odd_shape.npy"], "odd_shape.npy: shape 30x22 is not a multiple of M = 4 .*--zero-pad"),
            (["--input", "good.npy", "--nm", "3:5"], "not a multiple of M .*--zero-pad"),
            (["--input", "three_d.npy"], "not 2-D"),
            (["--input", "one_d.npy"], "not 2-D"),
            (["--input", "truncated.npy"], "truncated"),
            (["--input", "not_npy.npy"], "not a .npy file"),
            (["--input", "int32.npy"], r"unsupported dtype '<i4'; expected float scores \('<f2', '<f4' or '<f8'\)$"),
            (["--input", "big_endian.npy"], "big-endian"),
            (["--input", "missing.npy"], "cannot open"),
        ]
        for args, expect in cases:
            args = [self.path(a) if a.endswith(".npy") else a for a in args]
            with self.subTest(args=" ".join(os.path.basename(a) for a in args)):
                self.assertFailsCleanly(*args, expect=expect)

    def test_bad_command_lines(self):
        self.write_inputs()
        good = self.path("good.npy")
        cases = [
            (["--nm", "4:4"], "N = 4"),
            (["--nm", "0:4"], "N = 0"),
            (["--nm", "2-4"], "N:M"),
            (["--nm", "2:"], "N:M"),
            (["--nm", ":4"], "N:M"),
            (["--nm", "a:b"], "'a'"),
            (["--nm", "2:4:8"], "'4:8'"),
            (["--nm", "2:4 "], "'4 '"),
            (["--nm", " 2:4"], "' 2'"),
            (["--tau", " 5"], "--tau"),
            (["--threads", "513"], "--threads: '513' is not an integer in 1..512"),
            (["--method", "best"], "--method: unknown method 'best'"),
            (["--backend", "cuda"], "--backend"),
            (["--device-memory", "0"], "--device-memory"),
            (["--device-memory", "lots"], "--device-memory"),
            (["--bogus"], "unknown option '--bogus'"),
        ]
        for args, expect in cases:
            with self.subTest(args=" ".join(args)):
                self.assertFailsCleanly("--input", good, *args, expect=expect)
        with self.subTest(args="missing value (last)"):
            self.assertFailsCleanly("--input", good, "--output", self.path("out.npy"), "--nm", expect="needs a value")
        with self.subTest(args="missing value (next is an option)"):
            self.assertFailsCleanly("--input", good, "--output", self.path("out.npy"), "--nm", "--quiet",
                                    expect="N:M")

    def test_verify_usage_errors(self):
        self.write_inputs()
        for args, expect in ((["--nm", "2:4"], "--mask"), (["--mask", self.path("good.npy")], "--nm"),
                             (["--mask", self.path("good.npy"), "--nm", "2:4"], "expected a uint8"),
                             (["--mask", self.path("missing.npy"), "--nm", "2:4"], "cannot open")):
            with self.subTest(args=" ".join(args)):
                proc = self.run_tool("verify", *args)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)
                self.assertRegex(proc.stderr, "^tsenor: error: .*" + expect)


class OutputSafety(ToolTestCase):
    """A run never deletes or replaces a file it did not create, except the one it was asked to write, and only
    after it finished that file. One test per clause of the README's rule, with the reproductions of issue 8."""

    def setUp(self):
        super().setUp()
        self.w = self.save("W.npy", random_weights((32, 32), seed=21))
        self.w_bytes = self.read(self.w)

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def assertRefused(self, args, expect, untouched=(), cwd=None):
        """Exit 2 with one error line matching `expect`; every path in `untouched` keeps its bytes (or stays a
        directory / device); no file appears in the test directory."""
        kept = {p: (self.read(p) if os.path.isfile(p) else os.stat(p).st_mode) for p in untouched}
        before = set(os.listdir(self.dir))
        proc = run_tool(*args, cwd=cwd or self.dir)
        self.assertEqual(proc.returncode, 2, f"tsenor {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
        self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)
        self.assertRegex(proc.stderr, "^tsenor: error: .*" + expect)
        for p, old in kept.items():
            self.assertEqual(self.read(p) if os.path.isfile(p) else os.stat(p).st_mode, old, f"{p} was changed")
        self.assertEqual(sorted(set(os.listdir(self.dir)) - before), [], "a refused run created a file")
        return proc

    def test_a_failed_run_never_touches_an_input_named_as_output(self):
        # The reproductions: a typo in --nm or an unknown option with --output ./W.npy used to delete W.npy.
        for extra in (["--nm", "2:4x"], ["--bogus"], ["--nm", "2:4"]):
            with self.subTest(extra=extra):
                self.assertRefused(["mask", "--input", "W.npy", "--output", "./W.npy", *extra], "", [self.w])
        with self.subTest("the parser reads the path after --output as the value of --input"):
            self.assertRefused(["mask", "--input", "--output", self.w], "", [self.w])

    def test_outputs_are_compared_with_the_input_by_identity(self):
        os.link(self.w, self.path("hard.npy"))
        os.symlink("W.npy", self.path("soft.npy"))
        os.mkdir(self.path("sub"))
        for option, path in (("--output", "./W.npy"), ("--output", "sub/../W.npy"), ("--output", self.w),
                             ("--output", "hard.npy"), ("--output", "soft.npy"), ("--report", "W.npy"),
                             ("--report", "soft.npy")):
            with self.subTest(option=option, path=path):
                self.assertRefused(["mask", "--input", "W.npy", option, path, "--quiet"],
                                   f"{option} {path}: is the --input file .*refusing to write over an input", [self.w])

    def test_outputs_are_compared_with_each_other(self):
        for out, report in (("m.npy", "m.npy"), ("m.npy", "./m.npy")):
            with self.subTest(out=out, report=report):
                self.assertRefused(["mask", "--input", "W.npy", "--output", out, "--report", report],
                                   "is also named by --report")
        with open(self.path("m.npy"), "wb") as f:
            f.write(b"older")
        self.assertRefused(["mask", "--input", "W.npy", "--output", "m.npy", "--report", "m.npy"],
                           "is also named by --report", [self.path("m.npy")])

    def test_without_input_an_existing_output_is_not_replaced_by_the_example(self):
        self.assertRefused(["mask", "--output", "W.npy"], "exists and no --input was given", [self.w])
        self.assertRuns("mask", "--output", "new.npy", "--quiet")  # a new file is fine
        self.assertEqual(np.load(self.path("new.npy")).shape, (1024, 1024))

    def test_outputs_that_are_not_regular_files_are_refused(self):
        os.mkdir(self.path("empty_dir"))
        os.mkfifo(self.path("fifo"))
        os.symlink("nowhere.npy", self.path("dangling.npy"))
        for option in ("--output", "--report"):
            for path, expect in (("empty_dir", "exists and is a directory"), ("fifo", "exists and is a FIFO"),
                                 ("dangling.npy", "symbolic link to a file that does not exist"),
                                 ("empty_dir/", "names a directory")):
                with self.subTest(option=option, path=path):
                    self.assertRefused(["mask", "--input", "W.npy", option, path], expect,
                                       [self.path("empty_dir"), self.path("fifo")])
        self.assertTrue(os.path.isdir(self.path("empty_dir")) and stat.S_ISFIFO(os.stat(self.path("fifo")).st_mode))
        self.assertTrue(os.path.islink(self.path("dangling.npy")) and not os.path.exists(self.path("nowhere.npy")))

    def test_a_character_device_is_written_in_place_never_replaced(self):
        before = os.stat("/dev/null")
        proc = self.assertRuns("mask", "--input", "W.npy", "--output", "/dev/null", "--report", "/dev/null")
        self.assertIn("mask      /dev/null", proc.stdout)
        after = os.stat("/dev/null")
        self.assertTrue(stat.S_ISCHR(after.st_mode))
        self.assertEqual((after.st_ino, after.st_rdev, after.st_mode), (before.st_ino, before.st_rdev, before.st_mode))
        self.assertEqual(os.listdir(self.dir), ["W.npy"])
        self.assertFalse([n for n in os.listdir("/dev") if n.startswith("null.tsenor-tmp.")])

    def test_a_symlink_output_replaces_its_target_and_stays_a_link(self):
        os.mkdir(self.path("store"))
        with open(self.path("store/mask.npy"), "wb") as f:
            f.write(b"older mask")
        os.symlink("store/mask.npy", self.path("link.npy"))
        self.assertRuns("mask", "--input", "W.npy", "--output", "link.npy", "--quiet")
        self.assertTrue(os.path.islink(self.path("link.npy")))
        self.assertRegular(np.load(self.path("store/mask.npy")), 2, 4)
        self.assertEqual(sorted(os.listdir(self.path("store"))), ["mask.npy"])

    def test_a_replaced_output_keeps_its_permissions(self):
        out = self.path("m.npy")
        with open(out, "wb") as f:
            f.write(b"older")
        os.chmod(out, 0o640)
        self.assertRuns("mask", "--input", "W.npy", "--output", out, "--quiet")
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o640)
        self.assertRegular(np.load(out), 2, 4)

    def test_output_directories_are_checked_before_the_input_is_read(self):
        # The input is bad too: the error about the output comes first, before any reading.
        nan = random_weights((32, 32), seed=22)
        nan[0, 0] = np.nan
        self.save("nan.npy", nan)
        for option in ("--output", "--report"):
            with self.subTest(option=option):
                self.assertRefused(["mask", "--input", "nan.npy", option, "no/such/dir/m.npy"],
                                   f"{option} no/such/dir/m.npy: the directory no/such/dir does not exist")

    def test_non_regular_inputs_are_refused_without_waiting(self):
        os.mkfifo(self.path("fifo.npy"))
        os.symlink("fifo.npy", self.path("to_fifo.npy"))
        os.mkdir(self.path("dir.npy"))
        for name, expect in (("fifo.npy", "is a FIFO"), ("to_fifo.npy", "is a FIFO"), ("dir.npy", "directory")):
            with self.subTest(input=name):
                start = time.monotonic()
                self.assertRefused(["mask", "--input", name, "--output", "m.npy"], f"{name}: .*{expect}")
                self.assertLess(time.monotonic() - start, 30)
        proc = run_tool("verify", "--mask", "fifo.npy", "--nm", "2:4", cwd=self.dir)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("is a FIFO", proc.stderr)

    def test_stale_temporaries_of_dead_runs_are_removed_live_ones_kept(self):
        dead = subprocess.Popen(["true"])
        dead.wait()  # its pid is gone (and not reused within this test in practice)
        stale = self.path(f"m.npy.tsenor-tmp.{dead.pid}")
        live = self.path(f"m.npy.tsenor-tmp.{os.getpid()}")
        unrelated = self.path("m.npy.tsenor-tmp.notapid")
        users = self.path(f"m.npy.tmp.{dead.pid}")  # the user's own file, not our naming
        for path in (stale, live, unrelated, users):
            with open(path, "wb") as f:
                f.write(b"left over")
        proc = run_tool("mask", "--input", "W.npy", "--output", "m.npy", "--quiet", cwd=self.dir)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertFalse(os.path.exists(stale))
        self.assertTrue(all(os.path.exists(p) for p in (live, unrelated, users)))
        self.assertIn(f"removed {stale}", proc.stderr)
        self.assertIn(f"left {live} alone", proc.stderr)

    def test_a_locked_temporary_is_left_alone_whatever_its_pid(self):
        # A run in another PID namespace or on another host: its pid means nothing here, its lock does.
        dead = subprocess.Popen(["true"])
        dead.wait()
        busy = self.path(f"m.npy.tsenor-tmp.{dead.pid}")
        with open(busy, "wb") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            proc = run_tool("mask", "--input", "W.npy", "--output", "m.npy", "--quiet", cwd=self.dir)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertTrue(os.path.exists(busy))
            self.assertIn("a running process is writing it", proc.stderr)

    def test_an_option_given_twice_is_refused(self):
        # A wrapper's default --input must not slip past the check of the one the user meant.
        self.save("W2.npy", random_weights((32, 32), seed=24))
        w2 = self.read(self.path("W2.npy"))
        self.assertRefused(["mask", "--input", "W2.npy", "--input", "W.npy", "--output", "W2.npy"],
                           "--input is given twice", [self.w, self.path("W2.npy")])
        self.assertEqual(self.read(self.path("W2.npy")), w2)
        self.assertRefused(["mask", "--input", "W.npy", "--output", ""], "--output needs a value")

    def test_standard_streams_are_written_where_they_go(self):
        # /dev/stdout redirected into a file appends to the stream; it never replaces the file.
        log = self.path("log.txt")
        with open(log, "wb") as f:
            f.write(b"important\n")
        with open(log, "ab") as f:
            proc = subprocess.run([TOOL, "mask", "--input", "W.npy", "--output", "/dev/stdout", "--quiet"], stdout=f,
                                  stderr=subprocess.PIPE, cwd=self.dir, env=dict(os.environ, OMP_PROC_BIND="false"))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        data = self.read(log)
        self.assertTrue(data.startswith(b"important\n\x93NUMPY"), data[:20])
        self.assertRegular(np.load(io.BytesIO(data[len(b"important\n"):])), 2, 4)
        # and into a pipe
        proc = subprocess.run([TOOL, "mask", "--input", "W.npy", "--output", "/dev/stdout", "--quiet"],
                              capture_output=True, cwd=self.dir, env=dict(os.environ, OMP_PROC_BIND="false"))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertRegular(np.load(io.BytesIO(proc.stdout)), 2, 4)
        self.assertEqual(sorted(os.listdir(self.dir)), ["W.npy", "log.txt"])

    def test_threads_beyond_what_kokkos_runs_are_an_error_not_a_crash(self):
        self.assertRefused(["mask", "--threads", "600"], "--threads")
        for variable in ("OMP_NUM_THREADS", "KOKKOS_NUM_THREADS"):
            with self.subTest(variable=variable):
                env = dict(os.environ, OMP_PROC_BIND="false", **{variable: "600"})
                proc = subprocess.run([TOOL, "mask", "--quiet"], capture_output=True, text=True, env=env,
                                      cwd=self.dir, timeout=120)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertRegex(proc.stderr, f"^tsenor: error: {variable}=600: .*at most 512 threads")

    def test_kokkos_warnings_stay_off_stdout(self):
        # Four threads on a machine with fewer cores makes Kokkos warn; stdout must stay the command's own.
        proc = run_tool("mask", "--threads", "4", "--quiet", cwd=self.dir)
        self.assertEqual((proc.returncode, proc.stdout), (0, ""), proc.stderr)
        proc = run_tool("mask", "--threads", "4", cwd=self.dir)
        self.assertTrue(proc.stdout.startswith("tsenor mask: built-in example"), proc.stdout)

    def interrupt(self, sig):
        """Runs a long mask over an older output, sends `sig` once the solve runs; returns (process, stderr)."""
        big = self.save("big.npy", random_weights((1024, 1024), seed=23))
        out = self.path("m.npy")
        with open(out, "wb") as f:
            f.write(b"older mask")
        cmd = [TOOL, "mask", "--input", big, "--output", out, "--report", self.path("r.json"), "--method", "tsenor",
               "--iterations", "1000000", "--tolerance", "0", "--backend", "serial", "--quiet"]
        env = dict(os.environ, OMP_PROC_BIND="false")
        proc = subprocess.Popen(cmd, cwd=self.dir, env=env, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        self.assertIsNone(proc.poll(), "the run must still be going for this test to mean anything")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"older mask")
        self.assertEqual(sorted(os.listdir(self.dir)), ["W.npy", "big.npy", "m.npy"], "a temporary file is left")
        return proc, err

    def test_interrupt_exits_128_plus_signal_and_leaves_nothing(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=sig.name):
                proc, err = self.interrupt(sig)
                self.assertEqual(proc.returncode, 128 + sig, err)
                self.assertRegex(err, f"^tsenor: interrupted by {sig.name}: temporary files removed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--tool", required=True, help="path to the tsenor executable")
    known, rest = parser.parse_known_args()
    TOOL = os.path.abspath(known.tool)
    unittest.main(argv=[sys.argv[0], *rest])
