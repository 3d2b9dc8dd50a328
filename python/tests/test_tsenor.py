"""The Python package on the CPU: numpy and torch inputs, views, dtypes, batches, errors, and the
same masks as the command-line tool (TSENOR_CLI names it; ctest sets it).

Every mask is checked here in numpy, independently of tsenor.verify."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

import tsenor

RNG = np.random.default_rng(20261202)


def regular(mask, n, m, zero_pad=False):
    """True when every full m×m tile keeps n per row and column (cropped tiles at most n)."""
    mask = np.asarray(mask).astype(np.int64)
    batch = mask.reshape((-1,) + mask.shape[-2:])
    rows, cols = batch.shape[1:]
    for b in batch:
        for r0 in range(0, rows, m):
            for c0 in range(0, cols, m):
                tile = b[r0:r0 + m, c0:c0 + m]
                full = tile.shape == (m, m)
                if not zero_pad and not full:
                    return False
                ok = (tile.sum(0) == n).all() and (tile.sum(1) == n).all() if full else \
                    (tile.sum(0) <= n).all() and (tile.sum(1) <= n).all()
                if not ok:
                    return False
    return True


def scores(shape, dtype=np.float32):
    return np.abs(RNG.standard_normal(shape)).astype(dtype)


def cli():
    path = os.environ.get("TSENOR_CLI")
    assert path and os.access(path, os.X_OK), "set TSENOR_CLI to the tsenor command (ctest does)"
    return path


class TestMask:
    @pytest.mark.parametrize("nm", ["2:4", "4:8", "8:16", "16:32", (3, 7)])
    def test_numpy(self, nm):
        n, m = tsenor.parse_nm(nm)
        s = scores((4 * m, 6 * m))
        mask, summary = tsenor.mask(s, nm, return_summary=True)
        assert isinstance(mask, np.ndarray) and mask.dtype == np.uint8 and mask.shape == s.shape
        assert regular(mask, n, m)
        assert summary.tiles == summary.feasible_tiles == 24 and summary.method == "exact"
        assert summary.kept_score == pytest.approx(float((s.astype(np.float64) * mask).sum()), rel=1e-12)
        assert bool(tsenor.verify(mask, nm))

    def test_torch_cpu(self):
        s = torch.rand(64, 96, dtype=torch.float32)
        mask = tsenor.mask(s, "4:8")
        assert isinstance(mask, torch.Tensor) and mask.dtype == torch.uint8 and mask.device == s.device
        assert regular(mask.numpy(), 4, 8)
        assert np.array_equal(mask.numpy(), tsenor.mask(s.numpy(), "4:8"))

    def test_input_is_not_modified(self):
        s = scores((32, 32))
        before = s.copy()
        tsenor.mask(s, "2:4")
        tsenor.prune(s, "2:4")
        tsenor.project(s, "2:4")
        assert np.array_equal(s, before)

    def test_read_only_input(self):
        s = scores((16, 16))
        s.setflags(write=False)
        assert regular(tsenor.mask(s, "2:4"), 2, 4)

    def test_strided_and_transposed_views(self):
        base = scores((64, 128))
        for view in (base.T, base[::2, :], base[:, ::4], base[8:40, 16:112], np.asfortranarray(base)):
            expected = tsenor.mask(np.ascontiguousarray(view), "4:8")
            assert np.array_equal(tsenor.mask(view, "4:8"), expected)
        t = torch.from_numpy(base)
        assert np.array_equal(tsenor.mask(t.T, "4:8").numpy(), tsenor.mask(np.ascontiguousarray(base.T), "4:8"))
        assert np.array_equal(tsenor.mask(t[:, 1::2], "4:8").numpy(),
                              tsenor.mask(np.ascontiguousarray(base[:, 1::2]), "4:8"))

    def test_reversed_and_broadcast_views(self):  # negative and zero strides go through the staged copy
        base = scores((32, 32))
        assert np.array_equal(tsenor.mask(base[::-1], "2:4"), tsenor.mask(np.ascontiguousarray(base[::-1]), "2:4"))
        row = np.broadcast_to(scores((1, 32)), (32, 32))
        assert np.array_equal(tsenor.mask(row, "2:4"), tsenor.mask(np.ascontiguousarray(row), "2:4"))

    def test_half_precision(self):
        s16 = scores((64, 64), np.float16)
        expected = tsenor.mask(s16.astype(np.float32), "8:16")  # float16 converts to float exactly
        assert np.array_equal(tsenor.mask(s16, "8:16"), expected)
        assert np.array_equal(tsenor.mask(torch.from_numpy(s16), "8:16").numpy(), expected)
        b16 = torch.rand(64, 64).to(torch.bfloat16)
        assert np.array_equal(tsenor.mask(b16, "8:16").numpy(), tsenor.mask(b16.float(), "8:16").numpy())

    def test_float64(self):
        s = scores((32, 32), np.float64)
        mask, summary = tsenor.mask(s, "2:4", return_summary=True)
        assert regular(mask, 2, 4) and summary.kept_score == pytest.approx(float((s * mask).sum()), rel=1e-14)

    def test_batch_is_one_launch_with_the_same_masks(self):
        s = scores((5, 32, 48))
        mask, summary = tsenor.mask(s, "4:8", return_summary=True)
        assert mask.shape == s.shape and summary.matrices == 5 and summary.tiles == 5 * 4 * 6
        for b in range(5):
            assert np.array_equal(mask[b], tsenor.mask(s[b], "4:8"))
        t = torch.from_numpy(s).permute(0, 2, 1)  # a strided batch
        assert np.array_equal(tsenor.mask(t, "4:8").numpy(), tsenor.mask(np.ascontiguousarray(s.transpose(0, 2, 1)), "4:8"))

    def test_zero_pad(self):
        s = scores((30, 22))
        mask, summary = tsenor.mask(s, "2:4", zero_pad=True, return_summary=True)
        assert regular(mask, 2, 4, zero_pad=True) and summary.padded_tiles == summary.tiles - 35
        assert tsenor.verify(mask, "2:4", zero_pad=True)
        assert np.array_equal(tsenor.mask(s[None], "2:4", zero_pad=True)[0], mask)

    @pytest.mark.parametrize("method", ["exact", "entropic", "tsenor", "greedy"])
    def test_methods(self, method):
        s = scores((32, 32))
        mask, summary = tsenor.mask(s, "4:8", method=method, return_summary=True)
        assert regular(mask, 4, 8) and summary.method == ("entropic" if method == "tsenor" else method)

    def test_out(self):
        s = scores((16, 16))
        out = np.full((16, 16), 7, np.uint8)
        assert tsenor.mask(s, "2:4", out=out) is out and regular(out, 2, 4)
        out_bool = torch.zeros(16, 16, dtype=torch.bool)
        tsenor.mask(torch.from_numpy(s), "2:4", out=out_bool)
        assert np.array_equal(out_bool.numpy(), out.astype(bool))

    def test_concurrent_calls(self):
        s = [scores((128, 128)) for _ in range(4)]
        expected = [tsenor.mask(x, "8:16") for x in s]
        results, errors = {}, []

        def work(k):
            try:
                for _ in range(5):
                    results[k] = tsenor.mask(s[k % 4], "8:16")
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and all(np.array_equal(results[k], expected[k % 4]) for k in range(8))


class TestPruneProjectVerify:
    def test_prune_magnitude(self):
        w = RNG.standard_normal((32, 64)).astype(np.float32)
        pruned, mask = tsenor.prune(w, "2:4", return_mask=True)
        assert np.array_equal(mask, tsenor.mask(np.abs(w), "2:4"))
        assert np.array_equal(pruned, np.where(mask == 1, w, np.float32(0)))
        assert not np.signbit(pruned[mask == 0]).any()  # pruned entries are +0

    def test_prune_scores_inplace_torch(self):
        w = torch.randn(64, 64, dtype=torch.bfloat16)
        norms = torch.rand(64) + 0.5
        score = w.float().abs() * norms
        original = w.clone()
        result, mask = tsenor.prune(w, "4:8", scores=score, inplace=True, return_mask=True)
        assert result is w
        assert torch.equal(mask, tsenor.mask(score, "4:8"))
        assert torch.equal(w, torch.where(mask.bool(), original, torch.zeros_like(original)))

    def test_project_keeps_the_largest_squares(self):
        z = RNG.standard_normal((16, 16))
        projected, mask = tsenor.project(z, "2:4", return_mask=True)
        assert np.array_equal(mask, tsenor.mask(z * z, "2:4"))
        assert np.array_equal(projected, np.where(mask == 1, z, 0.0))
        zt = torch.from_numpy(z).to(torch.float16)
        assert regular(tsenor.project(zt, "2:4").numpy() != 0, 2, 4)

    def test_verify_finds_bad_tiles(self):
        mask = tsenor.mask(scores((16, 24)), "2:4")
        check = tsenor.verify(mask, "2:4")
        assert check and check.tiles == 24 and check.bad_tiles == 0
        broken = mask.copy()
        broken[5, 9] ^= 1
        check = tsenor.verify(broken, "2:4")
        assert not check and check.bad_tiles == 1 and check.first_bad_tiles == ((0, 1, 2),)
        broken[0, 0] = 2
        assert tsenor.verify(broken, "2:4").bad_values == 1
        assert tsenor.verify(torch.from_numpy(mask).bool(), "2:4")
        assert tsenor.verify(torch.from_numpy(mask).float(), "2:4")  # torch.nn.utils.prune's float masks
        half = torch.from_numpy(mask).float()
        half[0, 0] = 0.5
        assert tsenor.verify(half, "2:4").bad_values == 1
        assert not tsenor.verify(np.stack([mask, broken]), "2:4")


def read_only_mask():
    out = np.zeros((16, 16), np.uint8)
    out.setflags(write=False)
    return out


class TestErrors:
    def test_errors_are_python_exceptions(self):
        s = scores((16, 16))
        cases = [
            (ValueError, "2-D", lambda: tsenor.mask(scores((16,)), "2:4")),
            (ValueError, "2-D", lambda: tsenor.mask(scores((2, 2, 4, 4)), "2:4")),
            (TypeError, "float16, bfloat16, float32 or float64", lambda: tsenor.mask(s.astype(np.int32), "2:4")),
            (TypeError, "DLPack", lambda: tsenor.mask(s.tolist(), "2:4")),
            (ValueError, "N:M", lambda: tsenor.mask(s, "2-4")),
            (ValueError, "0 < N < M", lambda: tsenor.mask(s, "4:4")),
            (ValueError, "N:M = 2:256 needs 0 < N < M <= 128", lambda: tsenor.mask(scores((256, 256)), "2:256")),
            (ValueError, "^unknown method 'best'", lambda: tsenor.mask(s, "2:4", method="best")),
            (ValueError, r"shape \(18, 16\): rows and columns must be multiples of M = 4 \(zero_pad=True",
             lambda: tsenor.mask(scores((18, 16)), "2:4")),
            (ValueError, "NaN, infinite or negative", lambda: tsenor.mask(np.where(s > 0.5, np.nan, s), "2:4")),
            (ValueError, "NaN, infinite or negative", lambda: tsenor.mask(np.where(s > 0.5, np.inf, s), "2:4")),
            (ValueError, "NaN, infinite or negative", lambda: tsenor.mask(-s, "2:4")),
            (ValueError, "shape of the input", lambda: tsenor.mask(s, "2:4", out=np.empty((8, 16), np.uint8))),
            (TypeError, "uint8 or bool", lambda: tsenor.mask(s, "2:4", out=np.empty((16, 16), np.float32))),
            (ValueError, "differs from the weight", lambda: tsenor.prune(s, "2:4", scores=scores((16, 8)))),
            (TypeError, "DLPack", lambda: tsenor.prune(s, "2:4", scores=[[1.0]])),
            (TypeError, "unexpected keyword", lambda: tsenor.prune(s, "2:4", retrun_mask=True)),
            (ValueError, "rank", lambda: tsenor.mask(s, "2:4", out=np.empty((1, 16, 16), np.uint8))),
            (ValueError, "share memory", lambda: tsenor.mask(
                torch.from_numpy(s), "2:4", out=torch.zeros(1, 16, dtype=torch.uint8).expand(16, 16))),
            (ValueError, "share memory", lambda: tsenor.prune(torch.randn(1, 16).expand(16, 16), "2:4", inplace=True)),
            (ValueError, "overlaps the input", lambda: tsenor.project(s, "2:4", out=s[::-1])),
            (TypeError, "read-only", lambda: tsenor.mask(s, "2:4", out=np.zeros((16, 16), np.uint8)[...].view()
                                                        if False else read_only_mask())),
        ]
        for error, text, call in cases:
            with pytest.raises(error, match=text):
                call()

    def test_thread_limits_and_thread_that_started_kokkos(self):
        # Each in a fresh process: Kokkos starts once per process.
        code = ("import tsenor, numpy as np\n"
                "try:\n    tsenor.mask(np.ones((4, 4), np.float32), '2:4')\n"
                "except ValueError as e:\n    print('ValueError', e)\n")
        out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, OMP_NUM_THREADS="600"),
                             capture_output=True, text=True)
        assert out.returncode == 0 and "OMP_NUM_THREADS=600" in out.stdout, out
        code = ("import tsenor\n"
                "try:\n    tsenor.initialize(threads=600)\n"
                "except ValueError as e:\n    print('ValueError', e)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0 and "threads=600" in out.stdout, out
        # Kokkos started by a thread that then ends; other threads (one may get its id) call at once.
        code = ("import threading, numpy as np, tsenor\n"
                "s = np.ones((256, 256), np.float32)\n"
                "t = threading.Thread(target=tsenor.mask, args=(s, '8:16')); t.start(); t.join()\n"
                "expected = tsenor.mask(s, '8:16')\n"
                "errors = []\n"
                "def work():\n"
                "    try:\n"
                "        for _ in range(10): assert (tsenor.mask(s, '8:16') == expected).all()\n"
                "    except Exception as e: errors.append(repr(e))\n"
                "ts = [threading.Thread(target=work) for _ in range(4)]\n"
                "[x.start() for x in ts]; [x.join() for x in ts]\n"
                "print('errors', errors)\n")
        for _ in range(3):
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            assert out.returncode == 0 and "errors []" in out.stdout, out

    def test_initialize_after_start_is_an_error(self):
        tsenor.mask(scores((4, 4)), "2:4")
        with pytest.raises(RuntimeError, match="already running"):
            tsenor.initialize(threads=1)

    def test_prune_inplace_follows_autograd(self):
        layer = torch.nn.Linear(8, 8)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            tsenor.prune(layer.weight, "2:4", inplace=True)
        with torch.no_grad():
            version = layer.weight._version
            tsenor.prune(layer.weight, "2:4", inplace=True)
        assert layer.weight._version > version and regular(layer.weight.detach().numpy() != 0, 2, 4)

    def test_float_mask_with_other_values_does_not_verify(self):
        mask = tsenor.mask(scores((8, 8)), "2:4").astype(np.float32)
        mask[tuple(np.argwhere(mask == 0)[0])] = 0.5
        assert not tsenor.verify(mask, "2:4")

    def test_nan_scores_leave_out_untouched(self):
        s = scores((16, 16))
        s[3, 3] = np.nan
        out = np.full((16, 16), 9, np.uint8)
        with pytest.raises(ValueError):
            tsenor.mask(s, "2:4", out=out)
        assert (out == 9).all()

    def test_gpu_array_on_a_cpu_build(self):
        if any(b in tsenor.backends() for b in ("cuda", "hip")):
            pytest.fail("this test is for CPU builds; the GPU suite is python/tests/gpu_suite.py")

        class FakeCuda:  # a CUDA array as DLPack describes it, without a GPU
            shape = (16, 16)

            def __dlpack_device__(self):
                return (2, 0)

            def __dlpack__(self, **kwargs):
                return torch.zeros(16, 16).__dlpack__()

        with pytest.raises(RuntimeError, match="no CUDA backend"):
            tsenor.mask(FakeCuda(), "2:4")
        with pytest.raises(RuntimeError, match="no CUDA backend"):
            tsenor.verify(FakeCuda(), "2:4")


class TestSameBitsAsTheTool:
    @pytest.mark.parametrize("nm,dtype,method", [("2:4", np.float32, "exact"), ("8:16", np.float16, "exact"),
                                                  ("16:32", np.float64, "exact"), ("4:8", np.float32, "entropic")])
    def test_mask_equals_cli(self, tmp_path, nm, dtype, method):
        w = RNG.standard_normal((96, 128)).astype(dtype)
        np.save(tmp_path / "w.npy", w)
        subprocess.run([cli(), "mask", "--input", str(tmp_path / "w.npy"), "--nm", nm, "--method", method,
                        "--output", str(tmp_path / "m.npy"), "--quiet"], check=True)
        expected = np.load(tmp_path / "m.npy")
        _, mask = tsenor.prune(w, nm, method=method, return_mask=True)  # |W|, as the tool without --scores
        assert np.array_equal(mask, expected)
        np.save(tmp_path / "s.npy", np.abs(w))
        subprocess.run([cli(), "mask", "--input", str(tmp_path / "s.npy"), "--scores", "--nm", nm, "--method",
                        method, "--output", str(tmp_path / "m2.npy"), "--quiet"], check=True)
        assert np.array_equal(tsenor.mask(np.abs(w), nm, method=method), np.load(tmp_path / "m2.npy"))
