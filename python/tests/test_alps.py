"""ALPS with transposable N:M masks (tsenor.alps) against an independent float64 NumPy implementation
of the same ADMM (ρ schedule, stopping rule, conjugate gradients on the final support), and the
ordering the method promises on test layers: ALPS's error ≤ SparseGPT's ≤ Wanda's."""

import numpy as np
import pytest

import tsenor
from test_sparsegpt import layer, layer_error, rows_top_n


def reference(w, h, n, m, pattern, damp=0.01, rho=0.1, max_iterations=300, update=3, switch=30, cg=10):
    cols = w.shape[1]
    h = h + damp * np.mean(np.diag(h)) * np.eye(cols)
    norm = np.sqrt(np.diag(h)) + 1e-8
    hn = h / np.outer(norm, norm)
    lam, q = np.linalg.eigh(hn)
    b0 = w * norm
    target = b0 @ hn

    def project(z):
        keep = tsenor.mask(z * z, f"{n}:{m}") if pattern == "transposable" else \
            rows_top_n((z * z).reshape(-1, m), n).reshape(z.shape)  # each group of m in a row
        return np.where(keep == 1, z, 0.0), keep

    d, keep = project(b0)
    d0, previous, b, v = d.copy(), keep.copy(), b0.copy(), np.zeros_like(b0)
    kept, grew, rhos, iterations = w.size * n / m, False, [], 0
    for iteration in range(max_iterations):
        iterations = iteration + 1
        b = ((target - v + rho * d) @ q / (lam + rho)) @ q.T
        d, keep = project(b + v / rho)
        v = v + rho * (b - d)
        if (iteration + 1) % update:
            continue
        changed = int((keep != previous).sum())
        share, stop = changed / kept, False
        if share > 0.1:
            grew, rho = True, rho * 1.3
        elif share > 0.005:
            grew, rho = True, rho * 1.2
        elif changed > 0:
            if grew:
                rho *= 1.1
            else:
                rho /= 5
                b, d, v = b0.copy(), d0.copy(), np.zeros_like(b0)
        elif grew:
            stop = True
        else:
            rho /= 5
        previous = keep.copy()
        rho = min(rho, 1e6)
        rhos.append(rho)
        if stop or (iteration >= switch and share < 0.0003):
            break
    d, keep = project(b)
    r = np.where(keep == 1, target - d @ hn, 0.0)
    p, rr = r.copy(), (r * r).sum(axis=1)
    for _ in range(cg):
        ap = p @ hn
        curvature = (p * ap).sum(axis=1)
        alpha = np.where(curvature > 0, rr / np.where(curvature > 0, curvature, 1), 0.0)
        d = d + alpha[:, None] * p
        r = np.where(keep == 1, r - alpha[:, None] * ap, 0.0)
        new = (r * r).sum(axis=1)
        p = r + np.where(rr > 0, new / np.where(rr > 0, rr, 1), 0.0)[:, None] * p
        rr = new
    return d / norm, keep, rhos, iterations


@pytest.mark.parametrize("nm,pattern", [("2:4", "transposable"), ("8:16", "transposable"), ("2:4", "rows"),
                                        ("4:8", "rows")])
def test_matches_the_float64_reference(nm, pattern):
    n, m = tsenor.parse_nm(nm)
    w, h = layer(4 * m, 6 * m)
    w_hat, keep, report = tsenor.alps(w, h, nm, pattern=pattern)
    expected_w, expected_keep, rhos, iterations = reference(w, h, n, m, pattern)
    assert report.iterations == iterations and np.allclose(report.rho, rhos, rtol=1e-12)
    assert np.array_equal(keep, expected_keep)
    assert np.allclose(w_hat, expected_w, rtol=1e-7, atol=1e-9)
    assert np.all(w_hat[keep == 0] == 0)
    assert tsenor.verify(keep, nm) if pattern == "transposable" else \
        (keep.reshape(keep.shape[0], -1, m).sum(axis=2) == n).all()
    assert report.error == pytest.approx(layer_error(w, w_hat, h), rel=1e-9)
    assert report.error <= report.masked_error
    assert len(report.rho) == len(report.support_changes) >= 1


@pytest.mark.parametrize("nm", ["2:4", "8:16"])
def test_alps_below_sparsegpt_below_wanda(nm):
    w, h = layer(64, 96)
    _, _, alps = tsenor.alps(w, h, nm)
    _, _, sparsegpt = tsenor.sparsegpt(w, h, nm)
    wanda = layer_error(w, w * tsenor.mask(np.abs(w) * np.sqrt(np.diag(h)), nm), h)
    assert alps.error <= sparsegpt.error <= wanda


def test_float32_is_close_to_float64():
    w, h = layer(32, 48)
    w64, keep64, r64 = tsenor.alps(w, h, "4:8")
    w32, keep32, r32 = tsenor.alps(w.astype(np.float32), h, "4:8")
    assert w32.dtype == np.float32 and tsenor.verify(keep32, "4:8")
    assert r32.error == pytest.approx(r64.error, rel=0.05)
