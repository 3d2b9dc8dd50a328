"""Layer-wise pruning of a whole Hugging Face (or any torch) model, block by block: the sequential
pipeline of SparseGPT and ALPS. The calibration inputs of block L are the outputs of blocks 0 … L−1
*already pruned*, so each block corrects what the ones before it lost.

    import tsenor.pipeline
    reports = tsenor.pipeline.prune_model(model, calibration_batches, "2:4", method="alps")

For each block (the model's longest stack of repeated modules: ``model.model.layers`` of LLaMA,
``transformer.h`` of GPT-2, ``encoder.layer`` of BERT, …): forward hooks on its nn.Linear layers
accumulate the Gram matrix H = XᵀX of their inputs (float64) over the calibration tokens; then every
Linear whose shape fits the pattern is pruned in place — "sparsegpt" and "alps" reconstruct the kept
weights from H, "wanda" keeps by |W|·‖X‖ per column, "magnitude" by |W| —, and the block runs again on
its inputs to give the next block's. Every method takes either pattern: transposable N:M (the mask
solver's ``mask_method``: "exact", or "entropic", the TSENOR paper's method) or standard N:M (rows). Each layer's report has its reconstruction error
‖(W − Ŵ)X‖²_F / ‖WX‖²_F on the calibration inputs.
"""

from __future__ import annotations

import time

import torch

import tsenor

METHODS = ("sparsegpt", "alps", "wanda", "magnitude")


class _Stop(Exception):
    """Raised by the catcher once block 0's inputs are recorded."""


def find_blocks(model):
    """The model's stack of transformer blocks: the nn.ModuleList holding the most parameters."""
    best, best_size = None, 0
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > 0:
            size = sum(p.numel() for p in module.parameters())
            if size > best_size:
                best, best_size = module, size
    if best is None:
        raise ValueError("the model has no nn.ModuleList of blocks: pass blocks=")
    return best


def _block_inputs(model, blocks, calibration):
    """Runs the model on every calibration batch up to block 0 and returns that block's (args, kwargs)."""
    recorded = []
    first = blocks[0]

    class Catcher(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = first  # keeps attributes some models read from their blocks

        def forward(self, *args, **kwargs):
            recorded.append((args, kwargs))
            raise _Stop

    blocks[0] = Catcher()
    try:
        for batch in calibration:
            try:
                model(**batch) if isinstance(batch, dict) else model(batch)
            except _Stop:
                pass
    finally:
        blocks[0] = first
    if not recorded:
        raise ValueError("no calibration batch reached the first block")
    return recorded


def _first_output(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def rows_mask(scores, n, m):
    """Standard N:M: in every group of M consecutive entries of a row, the N largest scores (uint8). Ties go
    to the lower index, as in the library's rows pattern, so that the mask is the same on every device
    (torch.topk breaks ties one way on the CPU and another on CUDA; quantized weights tie often)."""
    rows, cols = scores.shape
    groups = scores.reshape(rows, cols // m, m)
    keep = torch.zeros_like(groups, dtype=torch.uint8)
    keep.scatter_(2, torch.sort(groups, dim=2, descending=True, stable=True).indices[..., :n], 1)
    return keep.reshape(rows, cols)


def _layer_error(w, w_hat, h):
    d = (w - w_hat).double()
    wd = w.double()
    reference = torch.einsum("ij,jk,ik->", wd, h, wd).item()
    return torch.einsum("ij,jk,ik->", d, h, d).item() / reference if reference > 0 else 0.0


@torch.no_grad()
def prune_model(model, calibration, nm="2:4", *, method="sparsegpt", pattern="transposable", mask_method="auto",
                blocks=None, damp=0.01, verbose=False):
    """Prunes every nn.Linear of the model's blocks in place, block by block (see the module's doc).

    calibration: an iterable of model inputs (dicts of tensors, as a tokenizer gives, or input-id tensors),
        read once; method: "sparsegpt", "alps", "wanda" or "magnitude"; pattern: "transposable" or "rows"
        (standard N:M); mask_method: the transposable mask solver's method, as for :func:`tsenor.mask`
        ("auto", "exact", "entropic"); blocks: the nn.ModuleList to walk (default: find_blocks(model)).
    Returns a list of per-layer dicts: name, shape, method, error, masked_error (the same mask without
    reconstruction), seconds. Linears whose shape is not a multiple of M are left dense and reported
    with error None.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if pattern not in ("transposable", "rows"):
        raise ValueError(f"pattern must be 'transposable' or 'rows', got {pattern!r}")
    n, m = tsenor.parse_nm(nm)
    blocks = find_blocks(model) if blocks is None else blocks
    inputs = _block_inputs(model, blocks, list(calibration))
    reports = []
    for index, block in enumerate(blocks):
        linears = {name: module for name, module in block.named_modules() if isinstance(module, torch.nn.Linear)}
        grams = {name: torch.zeros(layer.in_features, layer.in_features, dtype=torch.float64,
                                   device=layer.weight.device) for name, layer in linears.items()}

        def accumulate(name):
            def hook(module, args, output):
                x = args[0].detach().reshape(-1, module.in_features).double()
                grams[name] += x.T @ x
            return hook

        handles = [layer.register_forward_hook(accumulate(name)) for name, layer in linears.items()]
        try:
            for args, kwargs in inputs:
                block(*args, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
        for name, layer in linears.items():
            w = layer.weight
            rows, cols = w.shape
            full_name = f"{index}.{name}"
            if cols % m or (pattern == "transposable" and rows % m):
                reports.append({"name": full_name, "shape": (rows, cols), "method": None, "error": None,
                                "masked_error": None, "seconds": 0.0})
                continue
            start = time.perf_counter()
            h = grams[name]
            original = w.detach().clone()
            # On the weight's device where this build runs it, else on the CPU.
            device = w.device if w.device.type == "cpu" or w.device.type in tsenor.backends() else "cpu"
            if method in ("sparsegpt", "alps"):
                run = tsenor.sparsegpt if method == "sparsegpt" else tsenor.alps
                w_hat, keep, report = run(original.to(device), h.to(device), nm, pattern=pattern, damp=damp,
                                          method=mask_method)
                w.copy_(w_hat.to(w.device, w.dtype))
                error, masked_error = report.error, report.masked_error
            else:
                scores = original.abs().float()
                if method == "wanda":
                    scores *= torch.sqrt(torch.diagonal(h)).float()
                keep = rows_mask(scores, n, m) if pattern == "rows" else \
                    tsenor.mask(scores.to(device), nm, method=mask_method).to(w.device)
                w.masked_fill_(keep == 0, 0)
                error = _layer_error(original, w.detach(), h)
                masked_error = error
            reports.append({"name": full_name, "shape": (rows, cols), "method": method, "error": error,
                            "masked_error": masked_error, "seconds": time.perf_counter() - start})
            if verbose:
                print(f"block {index} {name:<28} {rows}x{cols}  error {error:.4f} (mask only {masked_error:.4f})"
                      f"  {reports[-1]['seconds']:.2f} s", flush=True)
        # The next block's inputs: this block's outputs with its pruned weights.
        inputs = [((_first_output(block(*args, **kwargs)),) + tuple(args[1:]), kwargs) for args, kwargs in inputs]
    return reports
