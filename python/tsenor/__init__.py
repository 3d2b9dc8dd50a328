"""Transposable N:M sparsity masks for PyTorch, NumPy, CuPy and JAX arrays.

In every M×M tile of a matrix, a transposable N:M mask keeps exactly N entries in each row *and*
each column, maximising the kept score, so that both ``W @ x`` and ``W.T @ g`` are N:M sparse.
N counts the kept entries: "2:4" keeps half.

    import torch, tsenor
    w = torch.randn(4096, 4096, device="cuda")
    m = tsenor.mask(w.abs(), "8:16")          # uint8 mask, same device, on torch's current stream
    w_sparse = tsenor.prune(w, "8:16")        # w ⊙ mask(|w|)
    assert tsenor.verify(m, "8:16")

Arrays are read in place through DLPack (strided and transposed views included); float32 and float64
scores are never copied, float16/bfloat16 scores and the |w| of ``prune`` and w² of ``project`` are
made in one temporary float buffer on the array's device. Results come back in the input's framework
on its device. Masks are the same bits as the ``tsenor`` command's on every backend.
"""

from __future__ import annotations

import atexit as _atexit
import operator as _operator
import os as _os
import threading as _threading
from dataclasses import dataclass as _dataclass

# OpenBLAS (the host BLAS of sparsegpt and alps) reads this when _ext loads it: its pthreads build's idle threads
# then sleep at once instead of spinning ~0.1 s after each GEMM against the threads that run the next kernels
# (ALPS on 2 cores, 4096²: its projection and element kernels ~15% faster). The same value as the tool's
# (layers/tsenor/layers/layer.hpp, openblas_thread_timeout, which says what it measured); a value set is kept.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from . import _ext  # noqa: E402

__all__ = ["mask", "prune", "project", "verify", "sparsegpt", "alps", "parse_nm", "Summary", "Check", "LayerReport",
           "initialize", "empty_cache", "backends", "__version__"]

try:
    from importlib.metadata import version as _version

    __version__ = _version("tsenor")
except Exception:  # running from a build tree without metadata
    __version__ = "unknown"

_IDENTITY, _ABSOLUTE, _SQUARE = 0, 1, 2
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED, _DL_ROCM, _DL_ROCM_HOST = 1, 2, 3, 13, 10, 11
_init_lock = _threading.Lock()


@_dataclass(frozen=True)
class Summary:
    """Totals of one call: what a pruning script logs."""

    nm: str                #: "N:M"
    method: str            #: method actually used ("exact", "entropic", "greedy")
    backend: str           #: where it ran ("openmp", "serial", "cuda", "hip")
    matrices: int          #: batch size (1 for a 2-D input)
    rows: int              #: rows of each matrix
    cols: int              #: columns of each matrix
    tiles: int             #: tiles over the whole batch
    feasible_tiles: int    #: tiles that are exactly N-regular (all but cropped border tiles)
    padded_tiles: int      #: cropped border tiles (zero_pad=True)
    repaired_tiles: int    #: tiles whose rounding needed augmenting paths (entropic, greedy)
    invalid_tiles: int     #: tiles that break the pattern: always 0 unless there is a bug
    kept_score: float      #: sum of the kept scores
    total_score: float     #: sum of all scores
    seconds: float         #: solve time inside the library

    @property
    def kept_score_fraction(self) -> float:
        """kept_score / total_score: the share of the score the mask keeps (1.0 for an all-zero input);
        not the share of entries, which is N/M."""
        return self.kept_score / self.total_score if self.total_score > 0 else 1.0

    def __str__(self) -> str:
        return (f"tsenor {self.nm} {self.method} on {self.backend}: {self.matrices}×{self.rows}×{self.cols}, "
                f"{self.tiles} tiles, {self.feasible_tiles} N-regular, {self.padded_tiles} padded, "
                f"kept {100 * self.kept_score_fraction:.4f}% of the score in {self.seconds * 1e3:.2f} ms")


@_dataclass(frozen=True)
class Check:
    """What :func:`verify` found; true when every tile follows the pattern."""

    tiles: int
    bad_tiles: int
    bad_values: int           #: entries other than 0 and 1
    first_bad_tiles: tuple    #: up to 5 (matrix, tile_row, tile_col) of bad tiles

    def __bool__(self) -> bool:
        return self.bad_tiles == 0 and self.bad_values == 0


def initialize(threads: int = 0, device: int = -1) -> None:
    """Starts Kokkos now instead of on first use: ``threads`` host threads (0: OpenMP's default,
    OMP_NUM_THREADS; at most 512), GPU ``device`` (-1: the device of the first GPU array). Kokkos is
    finalised at exit. Call it first (from the thread that will make most calls): once Kokkos runs, its
    settings cannot change, and a second call raises RuntimeError.

    Threads: Kokkos 3.4's OpenMP backend runs only on the thread that started it; calls from other
    threads run on its Serial backend (one core, the same bits). Processes forked after a call inherit
    a Kokkos they cannot use: start Kokkos in the child (or use the "spawn" start method)."""
    with _init_lock:
        if _ext.initialized():
            raise RuntimeError("Kokkos is already running: tsenor.initialize() must come before the first call")
        _ext.initialize(int(threads), int(device))
        _atexit.register(_ext.finalize)


def empty_cache() -> None:
    """Frees the memory calls keep for the next one (workspaces, the buffer of converted scores) on every
    backend, as torch.cuda.empty_cache does for torch's allocator."""
    if _ext.initialized():
        _ext.empty_cache()


def backends() -> list:
    """The Kokkos backends this build runs ("cuda", "openmp", "serial", …), GPUs first."""
    return list(_ext.backends())


def parse_nm(nm):
    """(N, M) from "N:M" or (N, M); ValueError for anything else, and for 0 < N < M ≤ 128 not holding."""
    pair = None
    if isinstance(nm, str):
        parts = nm.strip().split(":")
        if len(parts) == 2 and all(p.strip().isascii() and p.strip().isdigit() for p in parts):
            pair = int(parts[0]), int(parts[1])
    elif isinstance(nm, (tuple, list)) and len(nm) == 2:
        try:
            pair = _operator.index(nm[0]), _operator.index(nm[1])
        except TypeError:
            pair = None
    if pair is not None:
        if not 0 < pair[0] < pair[1] <= 128:
            raise ValueError(f"N:M = {pair[0]}:{pair[1]} needs 0 < N < M <= 128 (N counts the kept entries)")
        return pair
    raise ValueError(f"nm must be 'N:M' (N kept per row and column of each M×M tile, e.g. '2:4') or (N, M), got {nm!r}")


def _framework(x):
    """(name, device type, device id) of a DLPack array."""
    if not hasattr(x, "__dlpack__") or not hasattr(x, "__dlpack_device__"):
        raise TypeError(f"expected an array that supports DLPack (torch.Tensor, numpy.ndarray, cupy.ndarray, "
                        f"jax.Array), got {type(x).__module__}.{type(x).__qualname__}")
    module = type(x).__module__.split(".")[0]
    name = {"torch": "torch", "numpy": "numpy", "cupy": "cupy", "jax": "jax", "jaxlib": "jax"}.get(module, "dlpack")
    device_type, device_id = x.__dlpack_device__()
    return name, int(device_type), int(device_id)


def _on_gpu(device_type):
    return device_type in (_DL_CUDA, _DL_CUDA_MANAGED, _DL_ROCM)


def _require_backend(device_type):
    """A clear error for a GPU array in a build without that GPU's backend."""
    if _on_gpu(device_type):
        kind = "hip" if device_type == _DL_ROCM else "cuda"
        if kind not in _ext.backends():
            raise RuntimeError(f"this build of tsenor has no {kind.upper()} backend (it runs "
                               f"{', '.join(_ext.backends())}): move the array to the CPU, or install a build "
                               f"made against a {kind.upper()} Kokkos (see the README, Python package)")


def _stream(x, framework, device_type, device_id):
    """The stream the framework orders its work on for x's device (0 on CPUs and for JAX, whose
    __dlpack__ hands over ready buffers)."""
    if not _on_gpu(device_type):
        return 0
    if framework == "torch":
        import torch
        return torch.cuda.current_stream(x.device).cuda_stream
    if framework == "cupy":
        import cupy
        with cupy.cuda.Device(device_id):
            return cupy.cuda.get_current_stream().ptr
    return 0


_DLPACK_DTYPES = {"uint8": (1, 8), "float16": (2, 16), "bfloat16": (4, 16), "float32": (2, 32), "float64": (2, 64)}


def _empty(x, framework, device_type, device_id, dtype=None):
    """An uninitialised array like x (dtype "uint8" for masks, else x's), in x's framework and on its
    device. JAX arrays are immutable: for them a Kokkos buffer, which _finish hands to JAX."""
    shape = tuple(x.shape)
    if framework == "torch":
        import torch
        if dtype == "uint8":
            return torch.empty(shape, dtype=torch.uint8, device=x.device)
        return torch.empty_like(x, memory_format=torch.preserve_format)
    if framework == "numpy" or (framework == "dlpack" and not _on_gpu(device_type)):
        import numpy
        return numpy.empty(shape, dtype=numpy.uint8) if dtype == "uint8" else numpy.empty_like(x)
    if framework == "cupy":
        import cupy
        with cupy.cuda.Device(device_id):
            return cupy.empty(shape, dtype=cupy.uint8) if dtype == "uint8" else cupy.empty_like(x)
    if framework == "jax":
        name = dtype or str(x.dtype)
        if name not in _DLPACK_DTYPES:
            raise TypeError(f"unsupported JAX dtype {name}")
        return _ext.empty(list(shape), *_DLPACK_DTYPES[name], _on_gpu(device_type))
    raise TypeError(f"tsenor cannot allocate a {type(x).__module__} array on DLPack device {device_type}: pass out=")


def _finish(result, framework):
    """A buffer from _empty as the framework's array (JAX imports it without a copy)."""
    if framework == "jax":
        import jax.dlpack
        return jax.dlpack.from_dlpack(result)
    return result


def _call(function, *args):
    """_ext.function(*args), with nanobind's "incompatible function arguments" made actionable."""
    try:
        return function(*args)
    except TypeError as e:
        if "incompatible function arguments" not in str(e):
            raise
        raise TypeError("tsenor reads dense arrays in host, CUDA or ROCm memory with a native-endian float16, "
                        "bfloat16, float32 or float64 dtype, and writes into writable uint8/bool (masks) or "
                        "same-dtype (prune, project) arrays; one of the arrays given is not such an array "
                        "(read-only, sparse, a list, big-endian, 'meta', …), or a count is out of range") from None


def _check_shape(x, m, zero_pad):
    shape = tuple(x.shape)
    if len(shape) in (2, 3) and not zero_pad and 2 <= m and (shape[-2] % m or shape[-1] % m):
        raise ValueError(f"shape {shape}: rows and columns must be multiples of M = {m} (zero_pad=True pads the "
                         f"border tiles with zeros, solves them and crops them)")


def _prepare():
    if not _ext.initialized():
        initialize()


def _solve(scores, nm, method, zero_pad, out, transform, tau, iterations, tolerance, local_search_steps):
    n, m = parse_nm(nm)
    framework, device_type, device_id = _framework(scores)
    _require_backend(device_type)
    _check_shape(scores, m, zero_pad)
    _prepare()
    allocated = out is None
    if allocated:
        out = _empty(scores, framework, device_type, device_id, "uint8")
    stream = _stream(scores, framework, device_type, device_id)
    s, backend = _call(_ext.solve, scores, out, n, m, str(method), bool(zero_pad), float(tau or 0.0),
                            int(iterations or 0), float(tolerance), int(local_search_steps), transform, stream)
    if s.invalid_tiles:
        raise RuntimeError(f"{s.invalid_tiles} tiles came out not N-regular: a bug in tsenor, please report it")
    return (_finish(out, framework) if allocated else out), (s, backend), (framework, device_type, device_id, stream)


def _summary(raw):  # built only when asked for: it costs a few µs a call
    s, backend = raw
    return Summary(nm=f"{s.n}:{s.m}", method=s.method, backend=backend, matrices=s.matrices, rows=s.rows,
                   cols=s.cols, tiles=s.tiles, feasible_tiles=s.feasible_tiles, padded_tiles=s.padded_tiles,
                   repaired_tiles=s.repaired_tiles, invalid_tiles=s.invalid_tiles, kept_score=s.objective,
                   total_score=s.total_score, seconds=s.seconds)


def mask(scores, nm="2:4", *, method="auto", zero_pad=False, out=None, return_summary=False, tau=None,
         iterations=None, tolerance=1e-4, local_search_steps=8):
    """The transposable N:M mask that maximises the kept score.

    scores: 2-D (rows × cols) or 3-D (a batch of matrices, each tiled on its own, all in one launch)
        float16, bfloat16, float32 or float64 array, finite and ≥ 0 (|W|, Wanda's |W|·‖X‖, …), from any
        DLPack framework, on the CPU or a GPU; read in place, never modified.
    nm: "N:M" or (N, M): N kept per row and per column of each M×M tile, 0 < N < M ≤ 128.
    method: "auto" (the measured best: "exact", optimal), "exact", "entropic" (the TSENOR paper's
        method; "tsenor" is accepted) or "greedy".
    zero_pad: accept shapes that are not multiples of M: border tiles are padded with zeros, solved and
        cropped (they keep at most N per row and column).
    out: a uint8 or bool array of the same shape and device to write the mask into.
    return_summary: also return a :class:`Summary`.
    tau, iterations, tolerance, local_search_steps: the entropic method's settings (defaults: 1000,
        300, 1e-4, 8), as the command's --tau, --iterations, --tolerance, --local-search-steps.

    Returns a uint8 array (1 = kept) in the scores' framework and device — or ``out`` — and the
    summary when asked. Raises ValueError (bad N:M, shape, NaN/Inf/negative scores), TypeError
    (dtype, not an array) or RuntimeError (a GPU array and a build without that GPU backend).
    On a GPU the work runs on the framework's current stream for the array's device (torch, CuPy).
    """
    result, summary, _ = _solve(scores, nm, method, zero_pad, out, _IDENTITY, tau, iterations, tolerance,
                                local_search_steps)
    return (result, _summary(summary)) if return_summary else result


def _apply(x, keep, out, info):
    framework, device_type, device_id, stream = info
    allocated = out is None
    if allocated:
        out = _empty(x, framework, device_type, device_id)
    _call(_ext.apply, x, keep, out, stream)
    return _finish(out, framework) if allocated else out


def prune(weight, nm="2:4", scores=None, *, inplace=False, out=None, method="auto", zero_pad=False,
          return_mask=False, return_summary=False, tau=None, iterations=None, tolerance=1e-4, local_search_steps=8):
    """``weight ⊙ mask``: the weight with a transposable N:M mask applied (pruned entries +0).

    scores: None for |weight| (magnitude pruning), or an array of the weight's shape (e.g. Wanda's
        |W|·‖X‖ per column). inplace: write into ``weight`` (torch, NumPy, CuPy) instead of a new array;
        out: an array of the weight's shape and dtype to write into instead.
    Other arguments as for :func:`mask`. Returns the pruned weight, then the mask and the summary when
    asked (in that order).

    torch: with inplace=True the weight is changed by ``masked_fill_`` — autograd's rules apply (a leaf
    that requires grad must be changed under ``torch.no_grad()``, e.g. ``prune(layer.weight, …)`` inside
    it) and its version counter moves, so a graph that saved the old weight refuses to backpropagate. A
    new pruned tensor (inplace=False) has no autograd history.
    """
    framework = _framework(weight)[0]
    if inplace and framework == "jax":
        raise TypeError("JAX arrays are immutable: prune(..., inplace=False)")
    if inplace and out is not None:
        raise ValueError("prune: inplace=True and out= exclude each other")
    if scores is not None:
        _framework(scores)
        if tuple(scores.shape) != tuple(weight.shape):
            raise ValueError(f"scores shape {tuple(scores.shape)} differs from the weight's {tuple(weight.shape)}")
    keep, summary, info = _solve(weight if scores is None else scores, nm, method, zero_pad, None,
                                 _ABSOLUTE if scores is None else _IDENTITY, tau, iterations, tolerance,
                                 local_search_steps)
    if scores is not None:
        info = _framework(weight) + (info[3],)
    if inplace and framework == "torch":
        _call(_ext.check_writable, weight)  # torch only warns about broadcast views
        pruned = weight.masked_fill_(keep == 0, 0)
    else:
        pruned = _apply(weight, keep, weight if inplace else out, info)
    extra = ((keep,) if return_mask else ()) + ((_summary(summary),) if return_summary else ())
    return (pruned,) + extra if extra else pruned


def project(z, nm="2:4", *, method="auto", zero_pad=False, out=None, return_mask=False):
    """The transposable N:M projection of ``z`` (the step ADMM methods such as ALPS take): in each tile
    keep the entries with the largest sum of squares, return ``z ⊙ mask`` (a new array, or ``out``)."""
    keep, _, info = _solve(z, nm, method, zero_pad, None, _SQUARE, None, None, 1e-4, 8)
    projected = _apply(z, keep, out, info)
    return (projected, keep) if return_mask else projected


def verify(mask, nm="2:4", *, zero_pad=False) -> Check:
    """Checks a mask (2-D or 3-D; uint8, bool, or a float mask of 0.0 and 1.0 as torch's pruning utilities
    keep; any device): every full tile keeps exactly N per row and column (cropped border tiles at most N,
    with zero_pad). Returns a :class:`Check`, true when it holds.

    Check the mask itself (``prune(..., return_mask=True)``), not ``weight != 0``: a kept weight may be 0."""
    n, m = parse_nm(nm)
    framework, device_type, device_id = _framework(mask)
    _require_backend(device_type)
    _prepare()
    other_values = 0
    if "float" in str(mask.dtype):  # torch.nn.utils.prune keeps float masks: 1.0 is kept, 0.0 pruned
        other_values = int(((mask != 0) & (mask != 1)).sum())
        mask = mask == 1
    tiles, bad, bad_values, first = _call(_ext.verify, mask, n, m, bool(zero_pad),
                                          _stream(mask, framework, device_type, device_id))
    bad_values += other_values
    shape = tuple(mask.shape)
    rows, cols = shape[-2], shape[-1]
    tile_cols, per_matrix = -(-cols // m), -(-rows // m) * -(-cols // m)
    where = tuple((t // per_matrix, (t % per_matrix) // tile_cols, t % tile_cols) for t in first)
    return Check(tiles=tiles, bad_tiles=bad, bad_values=bad_values, first_bad_tiles=where)


@_dataclass(frozen=True)
class LayerReport:
    """One layer's reconstruction: errors are ‖(W − Ŵ)X‖²_F / ‖WX‖²_F with the undamped H = XᵀX."""

    error: float          #: of the reconstructed weights
    masked_error: float   #: of W ⊙ mask with the same mask, not reconstructed
    strips: int           #: SparseGPT: mask solves (one per strip of M columns; 0 with a fixed mask)
    iterations: int       #: ALPS: ADMM iterations
    rho: tuple            #: ALPS: ρ after each update (every 3 iterations)
    support_changes: tuple  #: ALPS: entries whose support changed, behind each ρ update
    seconds: float
    linear_algebra: str = ""  #: what ran the GEMMs and factorisations ("cuBLAS+cuSOLVER", "Kokkos Kernels+LAPACK")


def _c_order_copy(x, framework, dtype):
    """A C-order copy of x in dtype ("float32", "float64", "uint8"), in its framework and on its device."""
    if framework == "torch":
        import torch
        return x.detach().to(dtype=getattr(torch, dtype), copy=True).contiguous()
    if framework == "cupy":
        import cupy
        return cupy.array(x, dtype=dtype, order="C", copy=True)
    import numpy
    return numpy.array(x, dtype=dtype, order="C", copy=True)


def _prune_layer(weight, H, nm, alps, pattern, mask, damp, block, method, inplace, rho, max_iterations,
                 report_errors):
    if not _ext.has_layers():
        raise RuntimeError("this build of tsenor has no SparseGPT or ALPS: they need Kokkos Kernels and LAPACK")
    if pattern not in ("transposable", "rows"):
        raise ValueError(f"pattern must be 'transposable' or 'rows', got {pattern!r}")
    n, m = parse_nm(nm)
    framework, device_type, device_id = _framework(weight)
    _require_backend(device_type)
    _prepare()
    work_dtype = "float64" if "float64" in str(weight.dtype) else "float32"
    w = _c_order_copy(weight, framework, work_dtype)
    h = _c_order_copy(H, _framework(H)[0], "float64")
    keep = _empty(weight, framework, device_type, device_id, "uint8") if mask is None else \
        _c_order_copy(mask, _framework(mask)[0], "uint8")
    error, masked_error, strips, iterations, rhos, changes, seconds, linear_algebra = _call(
        _ext.prune_layer, w, h, keep, alps, n, m, str(method), pattern == "rows", float(damp), int(block), mask is not None,
        float(rho), int(max_iterations), bool(report_errors), _stream(weight, framework, device_type, device_id))
    report = LayerReport(error=error, masked_error=masked_error, strips=strips, iterations=iterations,
                         rho=tuple(rhos), support_changes=tuple(changes), seconds=seconds,
                         linear_algebra=linear_algebra)
    if str(w.dtype) != str(weight.dtype):
        w = w.to(weight.dtype) if framework == "torch" else w.astype(weight.dtype)
    if inplace:
        if framework == "torch":
            weight.data.copy_(w)
        else:
            weight[...] = w
        w = weight
    return w, keep, report


def sparsegpt(weight, H, nm="2:4", *, pattern="transposable", mask=None, damp=0.01, block=128, method="auto",
              inplace=False, report_errors=True):
    """SparseGPT on one linear layer, with transposable N:M masks (or pattern="rows": the standard N:M,
    N kept of every M consecutive weights of a row).

    weight: rows × cols (outputs × inputs), any float dtype; H: cols × cols, the Gram matrix XᵀX of the
    layer's calibration inputs (undamped; float64 is used). At every strip of M columns the mask comes
    from the exact solver on w²/[H⁻¹]ⱼⱼ², then the kept weights are updated (optimal brain surgeon) to
    reconstruct the outputs. mask: a given mask (uint8/bool) to keep — only the weights are reconstructed.
    damp: fraction of mean(diag H) added to its diagonal; block: columns per lazy update (multiple of M).
    report_errors=False skips the report's errors (three GEMMs of the layer's size; they are then 0).

    Returns (Ŵ in the weight's dtype — the weight itself with inplace=True —, the uint8 mask, a
    :class:`LayerReport`). Needs a build with tsenor::layers (Kokkos Kernels and LAPACK): the CPU build
    of the README has it. The reconstruction runs in float32 for float32/16-bit weights, float64 for float64.
    """
    return _prune_layer(weight, H, nm, False, pattern, mask, damp, block, method, inplace, 0.1, 0, report_errors)


def alps(weight, H, nm="2:4", *, pattern="transposable", damp=0.01, rho=0.1, max_iterations=300, method="auto",
         inplace=False, report_errors=True):
    """ALPS on one linear layer, with transposable N:M masks (or pattern="rows"): ADMM whose projection
    keeps, per tile, the entries with the largest sum of squares (tsenor's exact solver), the reference's
    ρ schedule (starting at ``rho``) and stopping rule, then conjugate gradients on the final support.
    Arguments and result as for :func:`sparsegpt`; the report has the iterations and the ρ history.
    """
    return _prune_layer(weight, H, nm, True, pattern, None, damp, 128, method, inplace, rho, max_iterations,
                        report_errors)
