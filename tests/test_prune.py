#!/usr/bin/env python3
"""End-to-end tests of 'tsenor prune' on safetensors checkpoints written by the safetensors package itself.

Usage: test_prune.py --tool PATH/TO/tsenor [--mpiexec PATH] [unittest options]. Run by ctest as 'prune'.

Every mask file is loaded with safetensors and checked in numpy, independently of the tool: U8, the weight's
shape, every M x M tile exactly N-regular; and it must equal the mask 'tsenor mask' computes on the same scores
saved as .npy (so chunking, dtype conversion and Wanda scores are checked against the reference path).
SparseGPT and ALPS (LayerMethods): the output error their report gives, recomputed here in float64.
Malformed checkpoints must give exit status 2, one line 'tsenor: error: <file>: ...' naming the tensor, create
no file, and leave an older output exactly as it was; no output may ever name an input (OutputSafety). With
--mpiexec, 1 and 2 ranks must write the same bytes.
"""
import argparse
import filecmp
import json
import os
import platform
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import tool_run
from tool_run import env

TOOL = None
MPIEXEC = None
PRESCOTT_SHIM = None



def bf16_bits(a):
    """float32 array -> its BF16 bit patterns (round to nearest even), as uint16."""
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def write_raw(path, header, data, pad=True):
    """A safetensors file from a header dict (or raw bytes) and data bytes, as the format defines it."""
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def write_bf16(path, tensors):
    """A BF16 checkpoint (numpy has no bfloat16): name -> float32 array, stored rounded to BF16."""
    header, blobs, at = {}, [], 0
    for name, a in tensors.items():
        b = bf16_bits(a).tobytes()
        header[name] = {"dtype": "BF16", "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    write_raw(path, header, b"".join(blobs))


def tiles_regular(mask, n, m):
    r, c = mask.shape
    t = mask.astype(np.int64).reshape(r // m, m, c // m, m)
    return bool((t.sum(axis=3) == n).all() and (t.sum(axis=1) == n).all())


def model(rng, dtype=np.float32):
    """A small transformer-shaped checkpoint: linear layers, embeddings, head, norms, biases."""
    d, f, v = 64, 96, 48
    t = {"model.embed_tokens.weight": rng.standard_normal((v, d)), "lm_head.weight": rng.standard_normal((v, d)),
         "model.norm.weight": np.ones(d)}
    for layer in range(2):
        p = f"model.layers.{layer}."
        t[p + "self_attn.q_proj.weight"] = rng.standard_normal((d, d))
        t[p + "self_attn.k_proj.weight"] = rng.standard_normal((32, d))
        t[p + "self_attn.q_proj.bias"] = rng.standard_normal(d)
        t[p + "mlp.up_proj.weight"] = rng.standard_normal((f, d))
        t[p + "mlp.down_proj.weight"] = rng.standard_normal((d, f))
        t[p + "input_layernorm.weight"] = np.ones(d)
    return {k: v.astype(dtype) for k, v in t.items()}


LINEAR = sorted(k for k in model(np.random.default_rng(0)) if ".layers." in k and "proj.weight" in k)


class PruneTestCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="tsenor-prune-")
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def run_tool(self, *args, mpi=0):
        return tool_run.run(TOOL, args, self.dir, 300, MPIEXEC, mpi)

    def assertRuns(self, *args, mpi=0):
        proc = self.run_tool(*args, mpi=mpi)
        self.assertEqual(proc.returncode, 0, f"tsenor {' '.join(map(str, args))}\n{proc.stdout}\n{proc.stderr}")
        self.assertEqual(proc.stderr, "")
        return proc

    def prune(self, ckpt, *extra, nm="2:4", out="masks.safetensors", mpi=0):
        self.assertRuns("prune", "--input", ckpt, "--nm", nm, "--output", self.path(out), "--quiet", *extra, mpi=mpi)
        return load_file(self.path(out))

    def reference_mask(self, scores, nm, name="ref"):
        """The mask of 'tsenor mask --scores' on the same float32 scores: the path the prune command must match."""
        np.save(self.path(name + ".npy"), scores.astype(np.float32))
        self.assertRuns("mask", "--input", self.path(name + ".npy"), "--scores", "--nm", nm, "--output",
                        self.path(name + "_mask.npy"), "--quiet")
        return np.load(self.path(name + "_mask.npy"))

    def assertOnlyFiles(self, names):
        self.assertEqual(sorted(os.listdir(self.dir)), sorted(names), "no output or temporary file is left")


class Formats(PruneTestCase):
    def test_f32_f16_masks_match_the_reference_and_load_with_safetensors(self):
        for dtype in (np.float32, np.float16):
            weights = model(np.random.default_rng(1), dtype)
            save_file(weights, self.path("model.safetensors"), metadata={"format": "pt"})
            for nm in ("2:4", "8:16"):
                n, m = map(int, nm.split(":"))
                masks = self.prune(self.path("model.safetensors"), nm=nm)
                self.assertEqual(sorted(masks), LINEAR)
                for name, mask in masks.items():
                    self.assertEqual(mask.dtype, np.uint8)
                    self.assertEqual(mask.shape, weights[name].shape)
                    self.assertTrue(tiles_regular(mask, n, m), f"{name} {nm}")
                    ref = self.reference_mask(np.abs(weights[name].astype(np.float32)), nm)
                    np.testing.assert_array_equal(mask, ref, f"{name} {dtype.__name__} {nm}")

    def test_bf16_is_widened_exactly(self):
        rng = np.random.default_rng(2)
        w = {"layers.0.fc.weight": rng.standard_normal((64, 128)).astype(np.float32) * 1e-3}
        write_bf16(self.path("bf16.safetensors"), w)
        masks = self.prune(self.path("bf16.safetensors"))
        exact = bf16_to_f32(bf16_bits(w["layers.0.fc.weight"]))
        np.testing.assert_array_equal(masks["layers.0.fc.weight"], self.reference_mask(np.abs(exact), "2:4"))

    def test_mask_file_header(self):
        save_file(model(np.random.default_rng(3)), self.path("model.safetensors"))
        self.prune(self.path("model.safetensors"), nm="4:8")
        with open(self.path("masks.safetensors"), "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
            self.assertEqual((8 + length) % 8, 0, "data starts 8-byte aligned")
        self.assertEqual(header["__metadata__"]["n_kept"], "4")
        self.assertEqual(header["__metadata__"]["m"], "8")
        self.assertTrue(all(v["dtype"] == "U8" for k, v in header.items() if k != "__metadata__"))

    def test_chunks_give_the_same_masks(self):
        rng = np.random.default_rng(4)
        save_file({"a.weight": rng.standard_normal((512, 256)).astype(np.float32)}, self.path("m.safetensors"))
        whole = self.prune(self.path("m.safetensors"), nm="8:16", out="whole.safetensors")
        chunked = self.prune(self.path("m.safetensors"), "--max-chunk-mb", "1", nm="8:16", out="chunked.safetensors")
        np.testing.assert_array_equal(whole["a.weight"], chunked["a.weight"])
        with open(self.path("whole.safetensors"), "rb") as a, open(self.path("chunked.safetensors"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_sharded_checkpoint_equals_single_file(self):
        weights = model(np.random.default_rng(5))
        names = sorted(weights)
        shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
        os.mkdir(self.path("sharded"))
        weight_map = {}
        for shard, keys in shards.items():
            save_file({k: weights[k] for k in keys}, self.path("sharded/" + shard))
            weight_map.update({k: shard for k in keys})
        with open(self.path("sharded/model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
        save_file(weights, self.path("single.safetensors"))
        self.prune(self.path("sharded"), out="a.safetensors")
        self.prune(self.path("single.safetensors"), out="b.safetensors")
        with open(self.path("a.safetensors"), "rb") as a, open(self.path("b.safetensors"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.prune(self.path("sharded/model.safetensors.index.json"), out="c.safetensors")

    def test_apply_zeroes_exactly_and_keeps_bits(self):
        for dtype in ("F32", "F16", "BF16"):
            rng = np.random.default_rng(6)
            weights = model(rng, np.float32)
            if dtype == "BF16":
                write_bf16(self.path("model.safetensors"), weights)
            else:
                save_file({k: v.astype(np.float16 if dtype == "F16" else np.float32) for k, v in weights.items()},
                          self.path("model.safetensors"))
            self.assertRuns("prune", "--input", self.path("model.safetensors"), "--apply", self.path("pruned.safetensors"),
                            "--output", self.path("masks.safetensors"), "--quiet")
            masks = load_file(self.path("masks.safetensors"))
            with open(self.path("model.safetensors"), "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
                hin = json.loads(f.read(n))
                din = f.read()
            with open(self.path("pruned.safetensors"), "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
                hout = json.loads(f.read(n))
                dout = f.read()
            self.assertEqual({k for k in hin if k != "__metadata__"}, {k for k in hout if k != "__metadata__"})
            width = {"F32": np.uint32, "F16": np.uint16, "BF16": np.uint16}[dtype]
            for name in weights:
                a, b = hin[name]["data_offsets"], hout[name]["data_offsets"]
                self.assertEqual(hout[name]["dtype"], dtype)
                bits_in = np.frombuffer(din[a[0]:a[1]], width).reshape(hin[name]["shape"])
                bits_out = np.frombuffer(dout[b[0]:b[1]], width).reshape(hout[name]["shape"])
                expected = np.where(masks[name] == 1, bits_in, 0) if name in masks else bits_in
                np.testing.assert_array_equal(bits_out, expected, f"{dtype} {name}")


class Selection(PruneTestCase):
    def setUp(self):
        super().setUp()
        save_file(model(np.random.default_rng(7)), self.path("model.safetensors"))

    def test_default_selects_linear_layers_only(self):
        masks = self.prune(self.path("model.safetensors"), nm="8:16")
        self.assertEqual(sorted(masks), LINEAR)  # k_proj 32x64 is a multiple of 16

    def test_shape_not_a_multiple_of_m_is_skipped(self):
        masks = self.prune(self.path("model.safetensors"), nm="3:64")
        self.assertEqual(sorted(masks), [k for k in LINEAR if "q_proj" in k])  # 64x64; others have 96 or 32

    def test_include_and_exclude(self):
        masks = self.prune(self.path("model.safetensors"), "--include", "*.mlp.*", "--exclude", "*down_proj*")
        self.assertEqual(sorted(masks), ["model.layers.0.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.weight"])
        masks = self.prune(self.path("model.safetensors"), "--include", "lm_head.weight", "--include", "*q_proj.weight")
        self.assertEqual(sorted(masks), ["lm_head.weight", "model.layers.0.self_attn.q_proj.weight",
                                         "model.layers.1.self_attn.q_proj.weight"])

    def test_dry_run_lists_and_writes_nothing(self):
        proc = self.assertRuns("prune", "--input", "model.safetensors", "--dry-run", "--output", "masks.safetensors",
                               "--report", "r.json")
        lines = proc.stdout.splitlines()
        pruned = sorted(line.split()[1] for line in lines if line.startswith("  prune"))
        skipped = {line.split()[1]: line for line in lines if line.startswith("  skip")}
        self.assertEqual(pruned, LINEAR)
        self.assertIn("(embedding)", skipped["model.embed_tokens.weight"])
        self.assertIn("(output head)", skipped["lm_head.weight"])
        self.assertIn("(norm)", skipped["model.norm.weight"])
        self.assertIn("not a weight", skipped["model.layers.0.self_attn.q_proj.bias"])
        self.assertOnlyFiles(["model.safetensors"])

    def test_nothing_selected_is_an_error(self):
        proc = self.run_tool("prune", "--input", "model.safetensors", "--include", "nothing*", "--output", "o.safetensors")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("no tensor is selected", proc.stderr)
        self.assertOnlyFiles(["model.safetensors"])


class Report(PruneTestCase):
    def test_report_agrees_with_the_masks(self):
        weights = model(np.random.default_rng(8))
        save_file(weights, self.path("model.safetensors"))
        self.assertRuns("prune", "--input", "model.safetensors", "--nm", "4:8", "--output", "masks.safetensors",
                        "--report", "report.json", "--quiet")
        with open(self.path("report.json")) as f:
            report = json.load(f, parse_constant=lambda c: self.fail(f"{c} is not JSON"))
        masks = load_file(self.path("masks.safetensors"))
        self.assertEqual([t["name"] for t in report["tensors"]], sorted(masks))
        for t in report["tensors"]:
            w = np.abs(weights[t["name"]].astype(np.float64))
            self.assertEqual(t["shape"], list(w.shape))
            self.assertEqual(t["tiles"], w.size // 64)
            self.assertEqual(t["feasible_tiles"], t["tiles"])
            self.assertEqual((t["n_kept"], t["m"]), (4, 8))
            self.assertAlmostEqual(t["objective"], float((w * masks[t["name"]]).sum()), delta=1e-4 * t["objective"])
            self.assertAlmostEqual(t["total_score"], float(w.sum()), delta=1e-4 * t["total_score"])
            self.assertGreaterEqual(t["seconds_solve"], 0)
        totals = report["totals"]
        self.assertEqual(totals["tiles"], sum(t["tiles"] for t in report["tensors"]))
        self.assertEqual(totals["feasible_tiles"], totals["tiles"])
        self.assertEqual(totals["tensors"], len(LINEAR))
        self.assertEqual(totals["skipped"], len(weights) - len(LINEAR))
        self.assertGreater(totals["peak_rss_mib"], 1)
        self.assertGreater(totals["bytes_read"], 0)

    def test_peak_memory_is_bounded_by_the_chunk(self):
        rng = np.random.default_rng(9)
        save_file({"big.weight": rng.standard_normal((4096, 4096)).astype(np.float32)}, self.path("m.safetensors"))
        peaks = {}
        for chunk in (4, 1024):
            self.assertRuns("prune", "--input", "m.safetensors", "--output", f"o{chunk}.safetensors", "--report",
                            f"r{chunk}.json", "--max-chunk-mb", chunk, "--quiet")
            with open(self.path(f"r{chunk}.json")) as f:
                peaks[chunk] = json.load(f)["totals"]["peak_rss_mib"]
        # The tensor is 64 MiB of float32: a 4 MiB chunk must stay far below what holding it whole costs.
        self.assertLess(peaks[4] + 64, peaks[1024], peaks)
        with open(self.path("o4.safetensors"), "rb") as a, open(self.path("o1024.safetensors"), "rb") as b:
            self.assertEqual(a.read(), b.read())


class Pipeline(PruneTestCase):
    """Masks from scores run as a pipeline over the chunks (reading, the backend's work and writing overlap): the
    bytes are those of one chunk at a time on the host, whatever the chunk size, the backend and the order in
    which the chunks finish; the report says when each chunk went through each stage."""

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(21)
        # BF16 (decoded by the backend), several chunks each at --max-chunk-mb 1 (262144 scores), more chunks in
        # all than the pipeline holds at once
        self.weights = {"a.weight": rng.standard_normal((4096, 256)), "b.weight": rng.standard_normal((512, 1024)),
                        "c.weight": rng.standard_normal((1024, 512))}
        write_bf16(self.path("model.safetensors"), self.weights)

    def backends(self):
        line = self.run_tool("--version").stdout
        return line[line.index("; ") + 2:line.rindex(")")].split()

    def test_bytes_do_not_depend_on_backend_or_chunk_size(self):
        runs = {}
        for backend in self.backends():
            for chunk in ("1", "64"):
                key = f"{backend}-{chunk}"
                self.assertRuns("prune", "--input", "model.safetensors", "--nm", "4:8", "--backend", backend,
                                "--max-chunk-mb", chunk, "--output", f"m-{key}.safetensors", "--apply",
                                f"p-{key}.safetensors", "--quiet")
                with open(self.path(f"m-{key}.safetensors"), "rb") as m, open(self.path(f"p-{key}.safetensors"), "rb") as q:
                    runs[key] = (m.read(), q.read())
        first = next(iter(runs))
        for key, data in runs.items():
            self.assertEqual(data, runs[first], f"{key} against {first}")
        masks = load_file(self.path(f"m-{first}.safetensors"))
        for name, w in self.weights.items():
            scores = np.abs(bf16_to_f32(bf16_bits(w)))
            np.testing.assert_array_equal(masks[name], self.reference_mask(scores, "4:8", name.split(".")[0]))

    def test_bit_masks_are_the_byte_masks_packed(self):
        self.assertRuns("prune", "--input", "model.safetensors", "--nm", "4:8", "--output", "bytes.safetensors",
                        "--apply", "p-bytes.safetensors", "--quiet")
        byte_masks = load_file(self.path("bytes.safetensors"))
        runs = {}
        for backend in self.backends():
            for chunk in ("1", "64"):
                key = f"{backend}-{chunk}"
                self.assertRuns("prune", "--input", "model.safetensors", "--nm", "4:8", "--backend", backend,
                                "--max-chunk-mb", chunk, "--mask-format", "bits", "--output", f"b-{key}.safetensors",
                                "--apply", f"p-{key}.safetensors", "--quiet")
                with open(self.path(f"b-{key}.safetensors"), "rb") as b:
                    runs[key] = b.read()
                self.assertTrue(filecmp.cmp(self.path(f"p-{key}.safetensors"), self.path("p-bytes.safetensors"),
                                            shallow=False), "--apply does not depend on the mask format")
        first = next(iter(runs))
        for key, data in runs.items():
            self.assertEqual(data, runs[first], f"{key} against {first}")
        path = self.path(f"b-{first}.safetensors")
        with safe_open(path, "np") as f:
            self.assertEqual(f.metadata()["mask_format"], "bits")
        bits = load_file(path)
        for name, w in self.weights.items():
            self.assertEqual(bits[name].dtype, np.uint8)
            self.assertEqual(bits[name].shape, (w.shape[0], w.shape[1] // 8))
            np.testing.assert_array_equal(bits[name], np.packbits(byte_masks[name], axis=1, bitorder="little"))
            np.testing.assert_array_equal(np.unpackbits(bits[name], axis=1, bitorder="little"), byte_masks[name])

    def test_bit_masks_need_columns_in_eights(self):
        save_file({"x.weight": np.ones((16, 12), np.float32)}, self.path("twelve.safetensors"))
        proc = self.run_tool("prune", "--input", "twelve.safetensors", "--mask-format", "bits", "--output",
                             "m.safetensors")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("tensor 'x.weight': --mask-format bits needs columns that are a multiple of 8", proc.stderr)
        proc = self.run_tool("prune", "--input", "model.safetensors", "--mask-format", "nibbles", "--output",
                             "m.safetensors")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--mask-format: 'nibbles' is not bytes or bits", proc.stderr)
        self.assertOnlyFiles(["model.safetensors", "twelve.safetensors"])

    def test_the_report_has_each_chunk_s_timeline(self):
        self.assertRuns("prune", "--input", "model.safetensors", "--max-chunk-mb", "1", "--output", "m.safetensors",
                        "--report", "r.json", "--quiet")
        with open(self.path("r.json")) as f:
            report = json.load(f)
        wall = report["totals"]["seconds"]
        for t in report["tensors"]:
            chunks = t["timeline"]
            self.assertEqual(len(chunks), t["chunks"])
            self.assertGreater(t["chunks"], 1, t["name"])
            self.assertEqual([c["first_row"] for c in chunks], [k * t["chunk_rows"] for k in range(t["chunks"])])
            self.assertEqual(sum(c["rows"] for c in chunks), t["shape"][0])
            for c in chunks:  # a chunk is read, then solved, then written, within the run
                stamps = c["read"] + c["solve"] + c["write"]
                self.assertEqual(stamps, sorted(stamps), c)
                self.assertGreaterEqual(stamps[0], 0)
                self.assertLessEqual(stamps[-1], wall)
            self.assertAlmostEqual(t["seconds_read"], sum(c["read"][1] - c["read"][0] for c in chunks), places=6)

    def test_the_first_bad_chunk_in_order_is_reported(self):
        w = {k: v.astype(np.float32) for k, v in self.weights.items()}
        w["a.weight"][3000, 7] = np.nan  # a later chunk of the first tensor
        w["c.weight"][5, 5] = np.inf     # a later tensor
        save_file(w, self.path("bad.safetensors"))
        for chunk in ("1", "64"):
            proc = self.run_tool("prune", "--input", "bad.safetensors", "--max-chunk-mb", chunk, "--output", "o.safetensors")
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertRegex(proc.stderr, r"^tsenor: error: \S*bad.safetensors: tensor 'a.weight': weights hold NaN "
                                          r"or infinite values \(row 3000\)\n$")
            self.assertOnlyFiles(["model.safetensors", "bad.safetensors"])


class Wanda(PruneTestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(10)
        self.weights = {"l.0.fc.weight": rng.standard_normal((64, 96)).astype(np.float32),
                        "l.1.fc.weight": rng.standard_normal((96, 64)).astype(np.float16)}
        save_file(self.weights, self.path("model.safetensors"))
        # Outlier channels, as in LLM activations, so Wanda's mask differs from the magnitude mask.
        self.acts = {k: (rng.standard_normal((300, w.shape[1])) * rng.lognormal(0, 1.5, w.shape[1])).astype(np.float32)
                     for k, w in self.weights.items()}

    def expected(self, name, norms):
        return self.reference_mask(np.abs(self.weights[name].astype(np.float32)) * norms.astype(np.float32), "2:4", name)

    def test_norms_file(self):
        norms = {k[:-len(".weight")]: np.linalg.norm(a.astype(np.float64), axis=0).astype(np.float32)
                 for k, a in self.acts.items()}  # keyed by layer name
        save_file(norms, self.path("norms.safetensors"))
        masks = self.prune(self.path("model.safetensors"), "--activations", self.path("norms.safetensors"))
        magnitude = self.prune(self.path("model.safetensors"), out="magnitude.safetensors")
        for name in self.weights:
            np.testing.assert_array_equal(masks[name], self.expected(name, norms[name[:-len(".weight")]]))
            self.assertFalse(np.array_equal(masks[name], magnitude[name]), "Wanda scores change the mask")

    def test_raw_activations_column_norms(self):
        save_file(self.acts, self.path("acts.safetensors"))  # keyed by weight name, 2-D (samples, columns)
        masks = self.prune(self.path("model.safetensors"), "--activations", self.path("acts.safetensors"))
        for name, a in self.acts.items():
            norms = np.linalg.norm(a.astype(np.float64), axis=0).astype(np.float32)
            np.testing.assert_array_equal(masks[name], self.expected(name, norms))
        # 3-D activations (batch, sequence, columns) are flattened to rows
        save_file({k: a.reshape(3, 100, -1) for k, a in self.acts.items()}, self.path("acts3.safetensors"))
        masks3 = self.prune(self.path("model.safetensors"), "--activations", self.path("acts3.safetensors"),
                            out="m3.safetensors")
        for name in self.acts:
            np.testing.assert_array_equal(masks3[name], masks[name])

    def test_missing_or_mismatched_statistics(self):
        save_file({"l.0.fc": np.ones(96, np.float32)}, self.path("partial.safetensors"))
        proc = self.run_tool("prune", "--input", "model.safetensors", "--activations", "partial.safetensors",
                             "--output", "o.safetensors")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("l.1.fc.weight", proc.stderr)
        save_file({"l.0.fc": np.ones(95, np.float32), "l.1.fc": np.ones(64, np.float32)}, self.path("bad.safetensors"))
        proc = self.run_tool("prune", "--input", "model.safetensors", "--activations", "bad.safetensors",
                             "--output", "o.safetensors")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("'l.0.fc'", proc.stderr)
        self.assertOnlyFiles(["model.safetensors", "partial.safetensors", "bad.safetensors"])

    def test_a_score_that_overflows_float32_names_the_tensor(self):
        big = {"l.0.fc.weight": np.full((64, 96), 3e38, np.float32)}
        save_file(big, self.path("big.safetensors"))
        save_file({"l.0.fc": np.full(96, 3e38, np.float32)}, self.path("norms.safetensors"))
        proc = self.run_tool("prune", "--input", "big.safetensors", "--activations", "norms.safetensors",
                             "--output", "o.safetensors")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertRegex(proc.stderr, r"^tsenor: error: \S*big.safetensors: tensor 'l.0.fc.weight': .*overflows float32")
        self.assertNotRegex(proc.stderr, r"\[\w+\.[ch]pp:\d+\]")


class BadInput(PruneTestCase):
    """Every malformed checkpoint: exit 2, one line naming the file (and tensor), no output left."""

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(11)
        self.a = rng.standard_normal((16, 16)).astype(np.float32)
        self.b = rng.standard_normal((16, 32)).astype(np.float32)
        self.good = {"a.weight": {"dtype": "F32", "shape": [16, 16], "data_offsets": [0, 1024]},
                     "b.weight": {"dtype": "F32", "shape": [16, 32], "data_offsets": [1024, 3072]}}
        self.data = self.a.tobytes() + self.b.tobytes()

    def assertFails(self, ckpt, *needles):
        # An older output is kept as it was: a failed run changes nothing at its output paths.
        with open(self.path("masks.safetensors"), "w") as f:
            f.write("old")
        before = sorted(set(os.listdir(self.dir)) - {"report.json", "pruned.safetensors"})
        proc = self.run_tool("prune", "--input", ckpt, "--output", "masks.safetensors", "--report", "report.json",
                             "--apply", "pruned.safetensors")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertTrue(lines[0].startswith("tsenor: error: "), lines[0])
        for needle in needles:
            self.assertIn(needle, lines[0])
        self.assertOnlyFiles(before)
        with open(self.path("masks.safetensors")) as f:
            self.assertEqual(f.read(), "old", "a failed run changed an older output")
        return lines[0]

    def test_good_file_is_accepted(self):
        write_raw(self.path("good.safetensors"), self.good, self.data)
        self.assertEqual(sorted(load_file(self.path("good.safetensors"))), ["a.weight", "b.weight"])
        self.prune("good.safetensors")

    def test_truncated(self):
        write_raw(self.path("t.safetensors"), self.good, self.data[:-100])
        self.assertFails("t.safetensors", "t.safetensors", "b.weight", "truncated")
        with open(self.path("short.safetensors"), "wb") as f:
            f.write(b"\x10\x00\x00")
        self.assertFails("short.safetensors", "short.safetensors", "truncated")
        with open(self.path("empty.safetensors"), "wb"):
            pass
        self.assertFails("empty.safetensors", "empty.safetensors")

    def test_header_length_lies(self):
        text = json.dumps(self.good).encode()
        for lie, word in ((len(text) + 10 ** 6, "past the end"), (2 ** 63, "exceeds"), (len(text) - 5, "JSON")):
            with open(self.path("lie.safetensors"), "wb") as f:
                f.write(struct.pack("<Q", lie) + text + self.data)
            self.assertFails("lie.safetensors", "lie.safetensors", word)

    def test_malformed_json(self):
        for text in (b'{"a.weight": {"dtype": "F32",', b"[1, 2, 3]", b'{"a.weight": 3}', b"\xff\xfe{}",
                     b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {}}',
                     b'{"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}',
                     b'{"a.weight": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}',
                     b'{"a.weight": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}',
                     b'{"__metadata__": {"x": 1}}'):
            write_raw(self.path("bad.safetensors"), text, b"\0" * 4)
            self.assertFails("bad.safetensors", "bad.safetensors")

    def test_offsets_out_of_range(self):
        h = json.loads(json.dumps(self.good))
        h["b.weight"]["data_offsets"] = [1024, 4096]
        h["b.weight"]["shape"] = [16, 48]
        write_raw(self.path("o.safetensors"), h, self.data)
        self.assertFails("o.safetensors", "o.safetensors", "tensor 'b.weight'", "out of range")

    def test_overlapping_and_holes(self):
        h = json.loads(json.dumps(self.good))
        h["b.weight"]["data_offsets"] = [512, 2560]
        write_raw(self.path("ov.safetensors"), h, self.data[:2560])
        self.assertFails("ov.safetensors", "ov.safetensors", "b.weight", "overlap")
        h["b.weight"]["data_offsets"] = [1040, 3088]
        write_raw(self.path("hole.safetensors"), h, self.data[:1024] + b"\0" * 16 + self.data[1024:])
        self.assertFails("hole.safetensors", "hole.safetensors", "b.weight", "hole")
        write_raw(self.path("tail.safetensors"), self.good, self.data + b"\0" * 8)
        self.assertFails("tail.safetensors", "tail.safetensors", "not part of any tensor")

    def test_dtype_does_not_match_byte_size(self):
        h = json.loads(json.dumps(self.good))
        h["a.weight"]["dtype"] = "F16"
        write_raw(self.path("d.safetensors"), h, self.data)
        self.assertFails("d.safetensors", "d.safetensors", "tensor 'a.weight'", "F16", "512 bytes", "1024")
        h["a.weight"]["dtype"] = "Q4"
        write_raw(self.path("u.safetensors"), h, self.data)
        self.assertFails("u.safetensors", "u.safetensors", "a.weight", "unknown dtype")

    def test_missing_shard_and_broken_index(self):
        os.mkdir(self.path("ck"))
        write_raw(self.path("ck/s1.safetensors"), {"a.weight": self.good["a.weight"]}, self.data[:1024])
        with open(self.path("ck/model.safetensors.index.json"), "w") as f:
            json.dump({"weight_map": {"a.weight": "s1.safetensors", "b.weight": "s2.safetensors"}}, f)
        self.assertFails("ck", "model.safetensors.index.json", "s2.safetensors", "b.weight", "missing")
        with open(self.path("ck/model.safetensors.index.json"), "w") as f:
            json.dump({"weight_map": {"a.weight": "s1.safetensors", "b.weight": "s1.safetensors"}}, f)
        self.assertFails("ck", "s1.safetensors", "b.weight")
        with open(self.path("ck/model.safetensors.index.json"), "w") as f:
            f.write('{"weight_map": {"a.weight": ')
        self.assertFails("ck", "model.safetensors.index.json", "malformed")

    def test_nan_weights(self):
        bad = self.a.copy()
        bad[3, 4] = np.nan
        write_raw(self.path("nan.safetensors"), self.good, bad.tobytes() + self.b.tobytes())
        self.assertFails("nan.safetensors", "nan.safetensors", "a.weight", "NaN")

    def test_interrupt_exits_128_plus_signal_and_leaves_nothing(self):
        rng = np.random.default_rng(12)
        save_file({"big.weight": rng.standard_normal((4096, 4096)).astype(np.float32)}, self.path("m.safetensors"))
        with open(self.path("o.safetensors"), "w") as f:
            f.write("older masks")
        cmd = [TOOL, "prune", "--input", "m.safetensors", "--output", "o.safetensors", "--report", "r.json",
               "--max-chunk-mb", "1", "--method", "tsenor", "--quiet"]
        proc = subprocess.Popen(cmd, cwd=self.dir, env=env(), stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        self.assertIsNone(proc.poll(), "the run must still be going after 1 s for this test to mean anything")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 128 + signal.SIGINT, err)
        self.assertRegex(err, "^tsenor: interrupted by SIGINT: temporary files removed")
        self.assertOnlyFiles(["m.safetensors", "o.safetensors"])
        with open(self.path("o.safetensors")) as f:
            self.assertEqual(f.read(), "older masks")


class OutputSafety(PruneTestCase):
    """No output may be an input (the index, any shard it names, the activations), by any spelling or link; outputs
    that are not regular files are refused up front; a failed run keeps older outputs (issue 8's reproductions)."""

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(31)
        weights = model(rng)
        names = sorted(weights)
        os.mkdir(self.path("ck"))
        half = len(names) // 2
        shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
        for shard, members in shards.items():
            save_file({k: weights[k] for k in members}, self.path("ck/" + shard))
        with open(self.path("ck/model.safetensors.index.json"), "w") as f:
            json.dump({"weight_map": {k: shard for shard, members in shards.items() for k in members}}, f)
        self.shard1 = self.path("ck/model-00001-of-00002.safetensors")
        self.shard2 = self.path("ck/model-00002-of-00002.safetensors")
        self.index = self.path("ck/model.safetensors.index.json")
        self.inputs = [self.shard1, self.shard2, self.index]
        self.snapshot = {p: self.read(p) for p in self.inputs}
        self.weights = weights

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def assertRefused(self, args, expect):
        before = sorted(os.listdir(self.dir)), sorted(os.listdir(self.path("ck")))
        proc = self.run_tool("prune", *args)
        self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertRegex(lines[0], "^tsenor: error: .*" + expect)
        for p, data in self.snapshot.items():
            self.assertEqual(self.read(p), data, f"{p} was changed")
        self.assertEqual((sorted(os.listdir(self.dir)), sorted(os.listdir(self.path("ck")))), before)

    def test_outputs_naming_an_input_are_refused(self):
        shard1 = "ck/model-00001-of-00002.safetensors"
        os.symlink(shard1, self.path("link.safetensors"))
        cases = [
            (["--output", shard1], "--output " + shard1 + ": is the --input checkpoint file"),
            (["--output", "./ck/../" + shard1], "is the --input checkpoint file"),
            (["--output", "link.safetensors"], "is the --input checkpoint file"),
            (["--apply", "ck/model-00002-of-00002.safetensors"], "--apply .*is the --input checkpoint file"),
            (["--output", "m.safetensors", "--report", "ck/model.safetensors.index.json"], "--report .*is the --input index"),
        ]
        for extra, expect in cases:
            with self.subTest(extra=extra):
                self.assertRefused(["--input", "ck", "--nm", "2:4", *extra], expect)
        with self.subTest("the checkpoint given as one file, the output a new spelling of it"):
            self.assertRefused(["--input", shard1, "--output", "ck/./model-00001-of-00002.safetensors"],
                               "is the --input checkpoint file")

    def test_an_input_option_given_twice_is_refused(self):
        shard1 = "ck/model-00001-of-00002.safetensors"
        save_file({"x.weight": np.ones((16, 16), np.float32)}, self.path("other.safetensors"))
        for extra in (["--input", "ck", "--input", "other.safetensors", "--output", shard1],
                      ["--input", "ck", "--activations", shard1, "--activations", "other.safetensors",
                       "--output", shard1]):
            with self.subTest(extra=extra):
                self.assertRefused(extra, "is given twice")

    def test_usage_errors_touch_nothing(self):
        # The reproductions: a bad --nm with an output naming a shard or the index used to delete it.
        for extra in (["--output", "ck/model-00001-of-00002.safetensors", "--nm", "4:4"],
                      ["--output", "m.safetensors", "--report", "ck/model.safetensors.index.json", "--nm", "2:4x"],
                      ["--apply", "ck/model-00002-of-00002.safetensors", "--bogus"]):
            with self.subTest(extra=extra):
                self.assertRefused(["--input", "ck", *extra], "")

    def test_an_input_error_keeps_older_outputs_and_never_touches_inputs(self):
        # NaN in shard 2; the output names a new file whose older version must survive.
        broken = dict(self.weights)
        name = [k for k in sorted(broken)[len(broken) // 2:] if k in LINEAR][-1]
        broken[name] = broken[name].copy()
        broken[name][0, 0] = np.nan
        save_file({k: broken[k] for k in sorted(broken)[len(broken) // 2:]}, self.shard2)
        self.snapshot[self.shard2] = self.read(self.shard2)
        with open(self.path("m.safetensors"), "w") as f:
            f.write("older masks")
        self.snapshot[self.path("m.safetensors")] = self.read(self.path("m.safetensors"))
        self.assertRefused(["--input", "ck", "--output", "m.safetensors", "--apply", "p.safetensors"], "NaN")
        # and naming shard 1 as the output is refused before anything is read
        self.assertRefused(["--input", "ck", "--output", "ck/model-00001-of-00002.safetensors"], "is the --input")

    def test_outputs_that_are_not_regular_files_are_refused(self):
        os.mkdir(self.path("empty_dir"))
        os.mkfifo(self.path("fifo"))
        for option in ("--output", "--apply", "--report"):
            for path, expect in (("empty_dir", "is a directory"), ("fifo", "is a FIFO"),
                                 ("nodir/x.safetensors", "the directory nodir does not exist")):
                with self.subTest(option=option, path=path):
                    extra = [] if option == "--output" else ["--output", "m.safetensors"]
                    self.assertRefused(["--input", "ck", option, path, *extra], f"{option} {path}: .*{expect}")
        self.assertTrue(os.path.isdir(self.path("empty_dir")))

    def test_non_regular_inputs_are_refused_without_waiting(self):
        os.mkfifo(self.path("fifo.safetensors"))
        os.mkdir(self.path("fifo_ck"))
        os.mkfifo(self.path("fifo_ck/model.safetensors.index.json"))
        for extra, expect in ((["--input", "fifo.safetensors"], "fifo.safetensors: is a FIFO"),
                              (["--input", "fifo_ck"], "model.safetensors.index.json: is a FIFO"),
                              (["--input", "ck", "--activations", "fifo.safetensors"], "fifo.safetensors: is a FIFO")):
            with self.subTest(extra=extra):
                start = time.monotonic()
                self.assertRefused([*extra, "--output", "m.safetensors"], expect)
                self.assertLess(time.monotonic() - start, 60)

    def test_dev_null_outputs_work_and_stay_devices(self):
        proc = self.assertRuns("prune", "--input", "ck", "--output", "/dev/null", "--apply", "/dev/null",
                               "--report", "r.json")
        self.assertIn("masks     /dev/null", proc.stdout)
        self.assertTrue(os.path.exists("/dev/null") and not os.path.isfile("/dev/null"))
        self.assertEqual(sorted(os.listdir(self.dir)), ["ck", "r.json"])
        for p, data in self.snapshot.items():
            self.assertEqual(self.read(p), data)

    def test_an_existing_output_is_replaced_whole(self):
        with open(self.path("m.safetensors"), "w") as f:
            f.write("older masks")
        masks = self.prune("ck", out="m.safetensors")
        self.assertEqual(sorted(masks), LINEAR)
        self.assertEqual(sorted(os.listdir(self.dir)), ["ck", "m.safetensors"])


class LayerMethods(PruneTestCase):
    """--method sparsegpt|alps with --calibration: N-regular masks, weights zero off the mask and updated so that
    the layer's output error (computed here in float64 from the activations) is the report's and below the mask
    alone's; Gram matrices and raw activations give the same masks; BF16 output is the float result rounded to
    nearest even; --pattern rows; every usage and input error. (The updated weights are checked bit for bit against
    tsenor.sparsegpt/alps in python/tests, and those against float64 NumPy implementations.)"""

    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(21)
        self.weights = model(rng)
        self.inputs = {}  # per linear layer: (2, 40, columns) activations with outlier channels
        for name in LINEAR:
            cols = self.weights[name].shape[1]
            self.inputs[name[:-len(".weight")]] = (rng.standard_normal((2, 40, cols)) *
                                                   rng.uniform(0.2, 4.0, cols)).astype(np.float32)
        save_file(self.weights, self.path("ck.safetensors"))
        save_file(self.inputs, self.path("acts.safetensors"))
        self.grams = {layer + ".gram": self.gram(x) for layer, x in self.inputs.items()}
        save_file(self.grams, self.path("grams.safetensors"))

    @staticmethod
    def gram(x):
        x = x.reshape(-1, x.shape[-1]).astype(np.float64)
        return x.T @ x

    def run_method(self, method, calibration, *extra, ckpt="ck.safetensors", tag="", load=True):
        self.assertRuns("prune", "--input", ckpt, "--method", method, "--calibration", calibration, "--nm", "4:8",
                        "--output", f"m{tag}.safetensors", "--apply", f"p{tag}.safetensors", "--report",
                        f"r{tag}.json", "--quiet", *extra)
        with open(self.path(f"r{tag}.json")) as f:
            report = json.load(f)
        if not load:  # (numpy has no bfloat16)
            return report
        return load_file(self.path(f"m{tag}.safetensors")), load_file(self.path(f"p{tag}.safetensors")), report

    def error(self, w, w_hat, h):
        d = (w - w_hat).astype(np.float64)
        w = w.astype(np.float64)
        return np.trace(d @ h @ d.T) / np.trace(w @ h @ w.T)

    def test_updated_weights_reconstruct_the_outputs(self):
        for method in ("sparsegpt", "alps"):
            with self.subTest(method=method):
                masks, pruned, report = self.run_method(method, "acts.safetensors", tag=method)
                self.assertEqual(sorted(masks), LINEAR)
                self.assertEqual(report["scores"], method)
                entries = {t["name"]: t for t in report["tensors"]}
                for name in LINEAR:
                    w, mask, w_hat = self.weights[name], masks[name], pruned[name]
                    h = self.gram(self.inputs[name[:-len(".weight")]])
                    self.assertTrue(tiles_regular(mask, 4, 8), name)
                    self.assertTrue((w_hat[mask == 0] == 0).all(), "pruned entries are 0")
                    self.assertFalse(np.array_equal(w_hat[mask == 1], w[mask == 1]), "kept weights are updated")
                    e = entries[name]
                    self.assertEqual(e["calibration_samples"], 80)
                    self.assertAlmostEqual(e["reconstruction_error"], self.error(w, w_hat, h), delta=1e-5)
                    self.assertAlmostEqual(e["masked_error"], self.error(w, w * mask, h), delta=1e-5)
                    self.assertLess(e["reconstruction_error"], e["masked_error"])
                for name, w in self.weights.items():
                    if name not in LINEAR:
                        self.assertTrue(np.array_equal(pruned[name], w), f"{name} is copied as it is")
                self.assertEqual(report["totals"]["feasible_tiles"], report["totals"]["tiles"])
                self.assertAlmostEqual(report["totals"]["mean_reconstruction_error"],
                                       np.mean([entries[n]["reconstruction_error"] for n in LINEAR]))

    def test_openblas_pre_avx_kernels_start_the_tool_again(self):
        """Where OpenBLAS runs pre-AVX kernels on an AVX2 CPU (tests/support/openblas_prescott.cpp, preloaded, says
        so), the tool starts again once with OPENBLAS_CORETYPE set to the kernels that fit, says so, and prunes as a
        run given that variable does; a variable the user set is left alone, and so are CPUs without AVX2."""
        if PRESCOTT_SHIM is None:
            if platform.machine() in ("x86_64", "AMD64"):
                self.fail("no --prescott-shim (tests/CMakeLists.txt passes it on x86-64 Linux)")
            self.skipTest("OpenBLAS's kernel choice is looked at on x86-64 only")
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags")).split()
        avx512 = {"avx512f", "avx512vl", "avx512bw", "avx512dq"} <= set(flags)
        fit = "SkylakeX" if avx512 else "Haswell" if "avx2" in flags else None

        def run(tag, **extra):
            e = tool_run.env()
            e.pop("OPENBLAS_CORETYPE", None)
            e.update(extra)
            return subprocess.run([TOOL, "prune", "--input", "ck.safetensors", "--method", "alps", "--calibration",
                                   "grams.safetensors", "--nm", "4:8", "--apply", f"p{tag}.safetensors", "--quiet"],
                                  capture_output=True, text=True, timeout=300, env=e, cwd=self.dir)

        restart = "tsenor: OpenBLAS chose its Prescott kernels, older than this CPU; starting again with "
        restarted = run("shim", LD_PRELOAD=PRESCOTT_SHIM)
        self.assertEqual(restarted.returncode, 0, restarted.stderr)
        if fit is None:
            self.assertNotIn(restart, restarted.stderr)
            return
        self.assertEqual(restarted.stderr.count(restart), 1, restarted.stderr)  # once: no loop
        self.assertIn(f"{restart}OPENBLAS_CORETYPE={fit}\n", restarted.stderr)
        given = run("given", OPENBLAS_CORETYPE=fit)
        self.assertEqual(given.returncode, 0, given.stderr)
        self.assertTrue(filecmp.cmp(self.path("pshim.safetensors"), self.path("pgiven.safetensors"), shallow=False))
        chosen = run("chosen", LD_PRELOAD=PRESCOTT_SHIM, OPENBLAS_CORETYPE="Haswell")  # the user's choice
        self.assertEqual(chosen.returncode, 0, chosen.stderr)
        self.assertNotIn(restart, chosen.stderr)

    def test_openblas_threads_sleep_after_each_call_unless_the_user_says(self):
        """Where OPENBLAS_THREAD_TIMEOUT is unset and OpenBLAS is its pthreads build, the tool starts again once,
        silently, with it set to 4 (idle OpenBLAS threads sleep at once instead of spinning against Kokkos' after
        each GEMM); the report says what OpenBLAS ran with, and a value the user set is kept; the same bytes."""
        def run(tag, timeout):
            e = tool_run.env()
            e.pop("OPENBLAS_THREAD_TIMEOUT", None)
            if timeout:
                e["OPENBLAS_THREAD_TIMEOUT"] = timeout
            proc = subprocess.run([TOOL, "prune", "--input", "ck.safetensors", "--method", "sparsegpt", "--calibration",
                                   "grams.safetensors", "--nm", "4:8", "--apply", f"p{tag}.safetensors", "--report",
                                   f"r{tag}.json", "--quiet"], capture_output=True, text=True, timeout=300, env=e,
                                  cwd=self.dir)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            with open(self.path(f"r{tag}.json")) as f:
                return json.load(f)["openblas"], proc.stderr

        unset, stderr = run("unset", None)
        if unset is None:
            self.fail("the tool's host BLAS is not OpenBLAS (the bootstrap builds against OpenBLAS)")
        self.assertEqual(unset["thread_timeout"], "4" if unset["threading"] == "pthreads" else None)
        self.assertNotIn("starting again", stderr)
        given, _ = run("given", "9")
        self.assertEqual(given["thread_timeout"], "9")
        self.assertTrue(filecmp.cmp(self.path("punset.safetensors"), self.path("pgiven.safetensors"), shallow=False))

    def test_bit_masks_from_sparsegpt(self):
        masks, _, _ = self.run_method("sparsegpt", "grams.safetensors", tag="bytes")
        self.run_method("sparsegpt", "grams.safetensors", "--mask-format", "bits", tag="bits", load=False)
        bits = load_file(self.path("mbits.safetensors"))
        for name in LINEAR:
            np.testing.assert_array_equal(bits[name], np.packbits(masks[name], axis=1, bitorder="little"))

    def test_gram_matrices_and_activations_agree(self):
        masks, pruned, _ = self.run_method("sparsegpt", "acts.safetensors", tag="a")
        masks_g, pruned_g, report = self.run_method("sparsegpt", "grams.safetensors", tag="g")
        self.assertEqual(report["tensors"][0]["calibration_samples"], 0)
        for name in LINEAR:
            self.assertTrue(np.array_equal(masks[name], masks_g[name]), name)
            np.testing.assert_allclose(pruned[name], pruned_g[name], rtol=1e-4, atol=1e-5)

    def test_bf16_weights_are_the_float_result_rounded(self):
        rounded = {k: bf16_to_f32(bf16_bits(v)) for k, v in self.weights.items()}
        save_file(rounded, self.path("f32.safetensors"))
        write_bf16(self.path("bf16.safetensors"), self.weights)
        for method in ("sparsegpt", "alps"):
            with self.subTest(method=method):
                masks, pruned, _ = self.run_method(method, "grams.safetensors", ckpt="f32.safetensors", tag="f")
                self.run_method(method, "grams.safetensors", ckpt="bf16.safetensors", tag="b", load=False)
                with open(self.path("pb.safetensors"), "rb") as f:
                    raw = f.read()
                header = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
                start = 8 + struct.unpack("<Q", raw[:8])[0]
                for name in LINEAR:
                    a, b = header[name]["data_offsets"]
                    got = np.frombuffer(raw[start + a:start + b], np.uint16)
                    self.assertTrue(np.array_equal(got, bf16_bits(pruned[name]).ravel()), name)
                self.assertTrue(all(np.array_equal(m, load_file(self.path("mb.safetensors"))[k])
                                    for k, m in masks.items()))

    def test_standard_pattern(self):
        masks, pruned, report = self.run_method("sparsegpt", "grams.safetensors", "--pattern", "rows")
        self.assertEqual(report["pattern"], "rows")
        for name in LINEAR:
            groups = masks[name].reshape(masks[name].shape[0], -1, 8).sum(axis=2)
            self.assertTrue((groups == 4).all(), name)
        self.assertFalse(all(tiles_regular(masks[n], 4, 8) for n in LINEAR), "rows alone are not transposable")
        self.assertEqual(load_file(self.path("m.safetensors")).keys(), masks.keys())

    def test_usage_and_input_errors(self):
        base = ["prune", "--input", "ck.safetensors", "--output", "o.safetensors"]
        cases = [
            ([*base, "--method", "sparsegpt"], "needs --calibration"),
            ([*base, "--calibration", "acts.safetensors"], "--calibration is for --method sparsegpt or alps"),
            ([*base, "--pattern", "rows"], "--pattern is for --method sparsegpt or alps"),
            ([*base, "--method", "alps", "--calibration", "acts.safetensors", "--pattern", "cols"], "--pattern: 'cols'"),
            ([*base, "--method", "alps", "--calibration", "acts.safetensors", "--activations", "acts.safetensors"],
             "--activations is for Wanda scores"),
        ]
        for args, needle in cases:
            with self.subTest(args=args):
                proc = self.run_tool(*args)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(needle, proc.stderr)
        name = LINEAR[0]
        layer = name[:-len(".weight")]
        bad = dict(self.grams)
        bad[layer + ".gram"] = bad[layer + ".gram"][:-1]
        save_file(bad, self.path("bad_shape.safetensors"))
        bad = {k: v for k, v in self.inputs.items() if k != layer}
        save_file(bad, self.path("missing.safetensors"))
        bad = dict(self.inputs)
        bad[layer] = bad[layer].copy()
        bad[layer][1, 3, 2] = np.nan
        save_file(bad, self.path("nan.safetensors"))
        bad = dict(self.inputs)
        bad[layer] = np.ones(bad[layer].shape[-1], np.float32)
        save_file(bad, self.path("norms.safetensors"))
        for calibration, needles in [("bad_shape.safetensors", ["'" + layer + ".gram'", "is not"]),
                                     ("missing.safetensors", [f"no calibration for tensor '{name}'", ".gram"]),
                                     ("nan.safetensors", [f"tensor '{name}'", "NaN"]),
                                     ("norms.safetensors", [f"tensor '{layer}'", "not 1-D"])]:
            with self.subTest(calibration=calibration):
                before = sorted(os.listdir(self.dir))
                proc = self.run_tool("prune", "--input", "ck.safetensors", "--method", "sparsegpt", "--calibration",
                                     calibration, "--output", "o.safetensors", "--apply", "p.safetensors")
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)
                self.assertIn(calibration, proc.stderr)
                for needle in needles:
                    self.assertIn(needle, proc.stderr)
                self.assertEqual(sorted(os.listdir(self.dir)), before, "nothing is written")

    def test_the_calibration_file_is_an_input(self):
        with open(self.path("acts.safetensors"), "rb") as f:
            before = f.read()
        proc = self.run_tool("prune", "--input", "ck.safetensors", "--method", "sparsegpt", "--calibration",
                             "acts.safetensors", "--apply", "./acts.safetensors")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("--calibration file", proc.stderr)
        with open(self.path("acts.safetensors"), "rb") as f:
            self.assertEqual(f.read(), before)


class Mpi(PruneTestCase):
    def setUp(self):
        if not MPIEXEC:
            self.skipTest("no --mpiexec (a build without TSENOR_ENABLE_MPI)")
        super().setUp()

    def test_one_and_two_ranks_write_the_same_bytes(self):
        weights = model(np.random.default_rng(13))
        write_bf16(self.path("model.safetensors"), weights)
        outputs = {}
        for ranks in (1, 2):  # (3 ranks on a 2-core machine: Kokkos warns of oversubscription)
            self.assertRuns("prune", "--input", "model.safetensors", "--nm", "4:8", "--output", f"m{ranks}.safetensors",
                            "--apply", f"p{ranks}.safetensors", "--report", f"r{ranks}.json", "--quiet", mpi=ranks)
            with open(self.path(f"m{ranks}.safetensors"), "rb") as f, open(self.path(f"p{ranks}.safetensors"), "rb") as g:
                outputs[ranks] = (f.read(), g.read())
            with open(self.path(f"r{ranks}.json")) as f:
                report = json.load(f)
            self.assertEqual(report["ranks"], ranks)
            self.assertEqual(len({t["rank"] for t in report["tensors"]}), min(ranks, len(LINEAR)))
        self.assertEqual(outputs[1], outputs[2])
        self.assertEqual(sorted(load_file(self.path("m2.safetensors"))), LINEAR)

    def test_sparsegpt_on_one_and_two_ranks_writes_the_same_bytes(self):
        rng = np.random.default_rng(15)
        weights = model(rng)
        write_bf16(self.path("model.safetensors"), weights)
        save_file({n[:-len(".weight")]: rng.standard_normal((100, weights[n].shape[1])).astype(np.float32)
                   for n in LINEAR}, self.path("acts.safetensors"))
        outputs = []
        for ranks in (1, 2):
            self.assertRuns("prune", "--input", "model.safetensors", "--method", "sparsegpt", "--calibration",
                            "acts.safetensors", "--output", f"m{ranks}.safetensors", "--apply", f"p{ranks}.safetensors",
                            "--quiet", mpi=ranks)
            with open(self.path(f"m{ranks}.safetensors"), "rb") as f, open(self.path(f"p{ranks}.safetensors"), "rb") as g:
                outputs.append((f.read(), g.read()))
        self.assertEqual(outputs[0], outputs[1])

    def test_an_error_on_one_rank_fails_all_and_leaves_nothing(self):
        good = np.random.default_rng(14).standard_normal((64, 64)).astype(np.float32)
        bad = good.copy()
        bad[5, 5] = np.inf
        save_file({"a.weight": good, "b.weight": bad}, self.path("model.safetensors"))
        proc = self.run_tool("prune", "--input", "model.safetensors", "--output", "o.safetensors", mpi=2)
        self.assertNotEqual(proc.returncode, 0, proc.stderr)
        ours = [line for line in proc.stderr.splitlines() if line.startswith("tsenor: error: ")]
        self.assertEqual(len(ours), 1, proc.stderr)  # one rank reports, the other exits quietly (mpirun adds its note)
        self.assertIn("tensor 'b.weight'", ours[0])
        self.assertOnlyFiles(["model.safetensors"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    parser.add_argument("--mpiexec")
    parser.add_argument("--prescott-shim", help="tests/support/openblas_prescott.cpp, built")
    args, rest = parser.parse_known_args()
    TOOL = os.path.abspath(args.tool)
    if args.mpiexec:
        MPIEXEC = args.mpiexec
    PRESCOTT_SHIM = args.prescott_shim and os.path.abspath(args.prescott_shim)
    unittest.main(argv=[sys.argv[0], *rest])
