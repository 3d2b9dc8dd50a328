"""SparseGPT and ALPS with transposable N:M masks as PyTorch programs: the baselines that
perf/bench_layers.py times tsenor.sparsegpt and tsenor.alps against, on the same device in the same
run. Written from the papers and the reference programs (IST-DASLab/sparsegpt fasterprune,
mazumder-lab/ALPS ALPS_admm) in float32 torch, as those programs run; the transposable mask of a strip
(SparseGPT) or the projection (ALPS) is tsenor's exact solver through tsenor.mask, so both sides share
it and the timings compare the layer algorithm around it."""

import torch

import tsenor


def _mask(scores, nm):
    return tsenor.mask(scores.contiguous(), nm).bool()


def sparsegpt(w, h, nm, block=128, damp=0.01):
    """Ŵ and the mask for weight w (rows × cols) and Gram matrix h (cols × cols), float32."""
    n, m = tsenor.parse_nm(nm)
    w = w.clone().float()
    h = h.clone().float()
    cols = w.shape[1]
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h += damp * torch.mean(torch.diag(h)) * torch.eye(cols, device=h.device)
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    keep = torch.zeros_like(w, dtype=torch.bool)
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        w1, err1, hinv1 = w[:, i1:i2].clone(), torch.zeros_like(w[:, i1:i2]), hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            if i % m == 0:
                keep[:, i1 + i:i1 + i + m] = _mask(w1[:, i:i + m] ** 2 / torch.diag(hinv1)[i:i + m] ** 2, nm)
            q = w1[:, i] * keep[:, i1 + i]
            err = (w1[:, i] - q) / hinv1[i, i]
            w1[:, i:] -= err.unsqueeze(1) @ hinv1[i, i:].unsqueeze(0)
            w1[:, i] = q
            err1[:, i] = err
        w[:, i1:i2] = w1
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
    return w, keep


def alps(w, h, nm, damp=0.01, rho=0.1, max_iterations=300, update=3, switch=30, cg=10):
    """Ŵ and the mask by ALPS (float32 iterates, float64 eigendecomposition, as the reference)."""
    n, m = tsenor.parse_nm(nm)
    cols = w.shape[1]
    h = h.clone().double()
    h += damp * torch.mean(torch.diag(h)) * torch.eye(cols, device=h.device, dtype=h.dtype)
    norm = torch.sqrt(torch.diag(h)) + 1e-8
    hn = (h / torch.outer(norm, norm))
    lam, q = torch.linalg.eigh(hn)
    hn, norm = hn.float(), norm.float()
    b0 = w.float() * norm
    target = b0 @ hn

    def inverse(r):
        return (q @ ((1 / (lam + r)) * q).T).float()

    def project(z):
        keep = _mask(z * z, nm)
        return z * keep, keep

    d, keep = project(b0)
    d0, previous, b, v = d.clone(), keep.clone(), b0.clone(), torch.zeros_like(b0)
    kept, grew, hinv = w.numel() * n / m, False, inverse(rho)
    for iteration in range(max_iterations):
        b = (target - v + rho * d) @ hinv
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
                b, d, v = b0.clone(), d0.clone(), torch.zeros_like(b0)
        elif grew:
            stop = True
        else:
            rho /= 5
        previous = keep.clone()
        rho = min(rho, 1e6)
        hinv = inverse(rho)
        if stop or (iteration >= switch and share < 0.0003):
            break
    d, keep = project(b)
    r = (target - d @ hn) * keep
    p, rr = r.clone(), (r * r).sum(dim=1)
    for _ in range(cg):
        ap = p @ hn
        curvature = (p * ap).sum(dim=1)
        alpha = torch.where(curvature > 0, rr / torch.where(curvature > 0, curvature, torch.ones_like(curvature)), 0)
        d = d + alpha.unsqueeze(1) * p
        r = (r - alpha.unsqueeze(1) * ap) * keep
        new = (r * r).sum(dim=1)
        p = r + torch.where(rr > 0, new / torch.where(rr > 0, rr, torch.ones_like(rr)), 0).unsqueeze(1) * p
        rr = new
    return d / norm, keep
