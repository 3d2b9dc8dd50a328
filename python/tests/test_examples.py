"""Smoke tests of python/examples/: each example runs as a subprocess of this interpreter on the CPU with
tiny settings and must exit 0 and print its key lines. A missing dependency (torch, transformers,
tsenor) fails the example's run, and so the test: nothing here is skipped."""

import os
import pathlib
import re
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def run_example(name, *args):
    # One thread each for torch and tsenor's OpenMP: the examples are tiny and CI machines are shared.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, f"{name} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_wanda_transposable():
    out = run_example("wanda_transposable.py", "--device", "cpu", "--nm", "2:4", "--calibration-batches", "2",
                      "--seq-len", "16")
    # Every Linear of the tiny BERT (4 per attention block, 2 per MLP, the pooler) is a multiple of 4.
    layers = re.findall(r"kept +[0-9.]+% of the score, density 0\.500, .* ms, verify ok", out)
    assert len(layers) == 13, out
    assert re.search(r"total: 13 layers, kept [0-9.]+% of the score", out), out
    assert re.search(r"first layer \S+: Wanda and magnitude masks differ in [0-9.]+% of the entries", out), out
    match = re.search(r"relative error vs dense: Wanda ([0-9.]+), magnitude ([0-9.]+)", out)
    assert match, out
    assert 0 < float(match.group(1)) < 1 and 0 < float(match.group(2)) < 1, out


def test_sparse_training():
    out = run_example("sparse_training.py", "--device", "cpu", "--steps", "60", "--recompute-every", "20",
                      "--compare-dense")
    flips = re.findall(r"step +\d+  loss [0-9.]+  mask flip rate ([0-9.]+)  tsenor [0-9.]+ ms", out)
    assert len(flips) == 2, out
    assert all(0 <= float(f) <= 1 for f in flips), out
    assert "layer 4: 10x512 is not a multiple of 4, left dense" in out, out
    assert len(re.findall(r"mask verifies as transposable 2:4, density 0\.500", out)) == 2, out
    assert "all 2 masks verify" in out, out
    sparse = re.search(r"final held-out loss \(sparse 2:4\): ([0-9.]+)", out)
    dense = re.search(r"final held-out loss \(dense\): +([0-9.]+)", out)
    assert sparse and dense, out
