"""SparseGPT with transposable N:M masks (tsenor.sparsegpt) against an independent float64 NumPy
implementation of the same updates (the reference's fasterprune, written here from the paper), and the
invariants: masks N:M, Ŵ zero off the mask, error never above the masked-only error for the same mask,
SparseGPT's error below Wanda's and magnitude's on the same layer."""

import subprocess

import numpy as np
import pytest
import torch

import tsenor

RNG = np.random.default_rng(11)


def layer(rows, cols, samples=512, dead=()):
    """A weight and the Gram matrix of correlated calibration inputs (some inputs always 0)."""
    mixing = RNG.standard_normal((cols, cols)) / np.sqrt(cols) + np.eye(cols)
    x = RNG.standard_normal((samples, cols)) @ mixing
    x[:, list(dead)] = 0.0
    w = RNG.standard_normal((rows, cols))
    return w, x.T @ x


def rows_top_n(scores, n):
    """Per row, the n largest of each group's entries (ties: the lower index), as a 0/1 array."""
    order = np.lexsort((np.broadcast_to(np.arange(scores.shape[1]), scores.shape), -scores), axis=1)
    keep = np.zeros(scores.shape, np.uint8)
    np.put_along_axis(keep, order[:, :n], 1, axis=1)
    return keep


def reference(w, h, n, m, pattern, damp=0.01, block=128, fixed=None):
    """SparseGPT in float64: Cholesky factor of H⁻¹, per-column OBS updates, lazy block updates."""
    w = w.astype(np.float64).copy()
    h = h.copy()
    cols = w.shape[1]
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h += damp * np.mean(np.diag(h)) * np.eye(cols)
    u = np.linalg.cholesky(np.linalg.inv(h)).T  # H⁻¹ = UᵀU, U upper
    keep = np.zeros(w.shape, np.uint8) if fixed is None else fixed.copy()
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        w1, err1, u1 = w[:, i1:i2].copy(), np.zeros((w.shape[0], i2 - i1)), u[i1:i2, i1:i2]
        for i in range(i2 - i1):
            if i % m == 0 and fixed is None:
                scores = w1[:, i:i + m] ** 2 / np.diag(u1)[i:i + m] ** 2
                keep[:, i1 + i:i1 + i + m] = (tsenor.mask(scores, f"{n}:{m}") if pattern == "transposable"
                                              else rows_top_n(scores, n))
            q = np.where(keep[:, i1 + i] == 1, w1[:, i], 0.0)
            err = (w1[:, i] - q) / u1[i, i]
            w1[:, i:] -= np.outer(err, u1[i, i:])
            w1[:, i] = q
            err1[:, i] = err
        w[:, i1:i2] = w1
        w[:, i2:] -= err1 @ u[i1:i2, i2:]
    return w, keep


def layer_error(w, w_hat, h):
    d = w - w_hat
    return np.trace(d @ h @ d.T) / np.trace(w @ h @ w.T)


@pytest.mark.parametrize("nm,pattern,block", [("2:4", "transposable", 128), ("4:8", "transposable", 16),
                                              ("8:16", "transposable", 32), ("2:4", "rows", 8),
                                              ("16:32", "transposable", 64)])
def test_matches_the_float64_reference(nm, pattern, block):
    n, m = tsenor.parse_nm(nm)
    w, h = layer(4 * m, 6 * m, dead=(3,))
    w_hat, keep, report = tsenor.sparsegpt(w, h, nm, pattern=pattern, block=block)
    expected_w, expected_keep = reference(w, h, n, m, pattern, block=block)
    assert np.array_equal(keep, expected_keep)
    assert np.allclose(w_hat, expected_w, rtol=1e-9, atol=1e-9)
    assert np.all(w_hat[keep == 0] == 0)
    if pattern == "transposable":
        assert tsenor.verify(keep, nm)
    else:
        assert (keep.reshape(keep.shape[0], -1, m).sum(axis=2) == n).all()
    assert report.error == pytest.approx(layer_error(w, w_hat, h), rel=1e-9)
    assert report.masked_error == pytest.approx(layer_error(w, w * keep, h), rel=1e-9)
    assert report.error <= report.masked_error
    assert report.strips == w.shape[1] // m


def test_fixed_mask_reconstruction():
    w, h = layer(32, 48)
    given = tsenor.mask(np.abs(w), "4:8")
    w_hat, keep, report = tsenor.sparsegpt(w, h, "4:8", mask=given)
    expected_w, _ = reference(w, h, 4, 8, "transposable", fixed=given)
    assert np.array_equal(keep, given) and report.strips == 0
    assert np.allclose(w_hat, expected_w, rtol=1e-9, atol=1e-9)
    assert report.error < report.masked_error  # the update reconstructs what the mask removes


def test_error_below_wanda_and_magnitude():
    w, h = layer(64, 64)
    _, _, report = tsenor.sparsegpt(w, h, "8:16")
    wanda = tsenor.mask(np.abs(w) * np.sqrt(np.diag(h)), "8:16")
    magnitude = tsenor.mask(np.abs(w), "8:16")
    assert report.error < layer_error(w, w * wanda, h)
    assert report.error < layer_error(w, w * magnitude, h)


def test_torch_float32_and_bfloat16_inplace():
    w64, h = layer(32, 32)
    w32 = torch.from_numpy(w64.astype(np.float32))
    w_hat, keep, report = tsenor.sparsegpt(w32, torch.from_numpy(h), "2:4")
    expected, expected_keep = reference(w64.astype(np.float32), h, 2, 4, "transposable")
    assert isinstance(w_hat, torch.Tensor) and w_hat.dtype == torch.float32
    assert np.allclose(w_hat.numpy(), expected, rtol=1e-3, atol=1e-3)  # float32 updates
    assert tsenor.verify(keep, "2:4") and report.error <= report.masked_error
    bf = torch.from_numpy(w64).to(torch.bfloat16)
    out, keep_bf, _ = tsenor.sparsegpt(bf, torch.from_numpy(h), "2:4", inplace=True)
    assert out is bf and bf.dtype == torch.bfloat16 and torch.all(bf[keep_bf == 0] == 0)


def test_errors():
    w, h = layer(16, 16)
    for error, text, call in [
        (ValueError, "multiple of M", lambda: tsenor.sparsegpt(w[:, :14], h[:14, :14], "2:4")),
        (ValueError, "rows are not a multiple", lambda: tsenor.sparsegpt(w[:14], h, "2:4")),
        (ValueError, "cols x cols", lambda: tsenor.sparsegpt(w, h[:8, :8], "2:4")),
        (ValueError, "positive multiple of M", lambda: tsenor.sparsegpt(w, h, "2:4", block=6)),
        (ValueError, "not positive definite", lambda: tsenor.sparsegpt(w, -np.eye(16), "2:4", damp=0.0)),
        (ValueError, "pattern", lambda: tsenor.sparsegpt(w, h, "2:4", pattern="columns")),
    ]:
        with pytest.raises(error, match=text):
            call()


@pytest.mark.parametrize("method", ["sparsegpt", "alps"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_same_bits_as_the_tool(tmp_path, method, dtype):
    """'tsenor prune --method sparsegpt|alps --calibration' on a checkpoint gives the bits of tsenor.sparsegpt and
    tsenor.alps on the same float32 weights and Gram matrix, rounded to the checkpoint's dtype by torch."""
    from safetensors.torch import load_file, save_file

    from test_tsenor import cli

    w, h = layer(64, 96)
    weight = torch.from_numpy(w).to(dtype)
    save_file({"fc.weight": weight}, tmp_path / "model.safetensors")
    save_file({"fc.gram": torch.from_numpy(h)}, tmp_path / "gram.safetensors")
    subprocess.run([cli(), "prune", "--input", "model.safetensors", "--method", method, "--calibration",
                    "gram.safetensors", "--nm", "8:16", "--output", "masks.safetensors", "--apply",
                    "pruned.safetensors", "--quiet"], cwd=tmp_path, check=True)
    expected, mask, _ = getattr(tsenor, method)(weight.float(), torch.from_numpy(h), "8:16")
    assert torch.equal(load_file(tmp_path / "masks.safetensors")["fc.weight"], mask.to(torch.uint8))
    got = load_file(tmp_path / "pruned.safetensors")["fc.weight"]
    bits = torch.int32 if dtype == torch.float32 else torch.int16
    assert got.dtype == dtype and torch.equal(got.view(bits), expected.to(dtype).view(bits))


@pytest.mark.parametrize("bind", ["spread", "false"])
def test_warns_when_openblas_runs_on_one_thread(bind):
    """With OMP_PROC_BIND set, the pthreads OpenBLAS sizes its pool from the one core the thread is bound
    to, and every GEMM of SparseGPT and ALPS runs on it: the layer methods say so, once (README "CPU
    threads")."""
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS")}
    env.update(OMP_PROC_BIND=bind, OMP_NUM_THREADS="2")
    code = ("import numpy as np, tsenor\n"
            "w = np.ones((16, 16), np.float32)\n"
            "tsenor.sparsegpt(w, np.eye(16), '2:4'); tsenor.alps(w, np.eye(16), '2:4')\n")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    warnings = run.stderr.count("OpenBLAS runs the layer's GEMMs on 1 thread while Kokkos runs 2")
    assert warnings == (1 if bind == "spread" or os.cpu_count() < 2 else 0), run.stderr


@pytest.mark.parametrize("given", [None, "9"])
def test_openblas_threads_sleep_after_each_call_unless_the_user_says(given):
    """import tsenor sets OPENBLAS_THREAD_TIMEOUT=4 before its extension loads OpenBLAS (whose idle pthreads then
    sleep at once instead of spinning against Kokkos' threads after each GEMM), and keeps a value the user set."""
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if given:
        env["OPENBLAS_THREAD_TIMEOUT"] = given
    code = "import os, tsenor\nprint(os.environ['OPENBLAS_THREAD_TIMEOUT'])\n"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == (given or "4"), run.stderr
