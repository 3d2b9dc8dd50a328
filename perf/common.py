"""What the perf/ drivers share: running a command and reading its JSON lines, the git revision and the
machine a result was measured on, the N:M pattern, tiles of a matrix, N-regularity and the error statistics of
docs/design.md §3. The drivers import it as `common` (their own folder is first on sys.path).
"""
import hashlib
import json
import os
import platform
import shlex
import subprocess

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, env=None, check=True, timeout=None):
    """Runs cmd with its output captured. With `check`, a non-zero exit raises RuntimeError with the end of
    stderr; past `timeout` seconds it is killed and RuntimeError raised (partial stdout in .partial_stdout)."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        err = RuntimeError(f"{shlex.join(cmd)} killed after {timeout:.0f} s")
        partial = e.stdout or ""
        err.partial_stdout = partial.decode() if isinstance(partial, bytes) else partial
        raise err
    if check and out.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited with {out.returncode}: {out.stderr.strip()[-2000:]}")
    return out


def json_lines(text):
    """The JSON objects of a command's output: every line that starts with '{'."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def last_json(text):
    return json_lines(text)[-1]


def git_revision(short=False):
    """The commit of this checkout, '-dirty' when tracked files differ from it, 'unknown' outside git."""
    try:
        rev = run(["git", "-C", HERE, "rev-parse"] + (["--short"] if short else []) + ["HEAD"]).stdout.strip()
        dirty = run(["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, RuntimeError):
        return "unknown"


def sha256(path):
    """The file's SHA-256 (hex), read in 16 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def machine():
    """The host a result was measured on; the load average tells whether it was busy (it may be shared)."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return {"host": platform.node(), "cpu": cpu_model(), "cores": os.cpu_count(), "memory_gib": round(memory, 1),
            "system": platform.platform(), "load_average_at_start": os.getloadavg()}


def nm_of(pattern):
    """'N:M' -> (N, M)."""
    n, m = pattern.split(":")
    return int(n), int(m)


def tile_view(a, m):
    """(R, C) -> (R/m, m, C/m, m) view: tile (p, q) is [p, :, q, :], flat tile index p·(C/m) + q."""
    r, c = a.shape
    return a.reshape(r // m, m, c // m, m)


def tiles(a, m):
    """(R, C) -> (R/m · C/m, m, m), in the flat tile order of tile_view (lemon_baseline's order too)."""
    return tile_view(a, m).transpose(0, 2, 1, 3).reshape(-1, m, m)


def regular_tiles(mask, n, m):
    """Per tile, in flat order: exactly n kept in every row and every column (and only 0/1 values)."""
    t = tile_view(mask, m)
    rows_ok = (t.sum(axis=3, dtype=np.int32) == n).all(axis=1)  # (R/m, C/m)
    cols_ok = (t.sum(axis=1, dtype=np.int32) == n).all(axis=2)  # (R/m, C/m)
    ok = rows_ok & cols_ok
    if mask.max(initial=0) > 1:
        ok &= (t <= 1).all(axis=(1, 3))
    return ok.reshape(-1)


def error_stats(num, den):
    """Mean and worst of num/den over the entries with den != 0, and how many were skipped."""
    ok = den != 0
    err = num[ok] / den[ok]
    return {"mean": float(err.mean()) if err.size else None, "worst": float(err.max()) if err.size else None,
            "skipped_zero_denominator": int((~ok).sum())}
