"""tsenor.pipeline: the sequential block-by-block pruning of a Hugging Face model (a tiny BERT built
from a config: no download) with SparseGPT, ALPS, Wanda and magnitude."""

import copy

import numpy as np
import pytest
import torch
import transformers

import tsenor
import tsenor.pipeline


def tiny_bert():
    torch.manual_seed(0)
    config = transformers.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=128, vocab_size=500)
    return transformers.BertModel(config).eval()


def batches(count, seed):
    generator = torch.Generator().manual_seed(seed)
    return [{"input_ids": torch.randint(0, 500, (4, 32), generator=generator)} for _ in range(count)]


def output_error(model, pruned, data):
    with torch.no_grad():
        errors = [(pruned(**b).last_hidden_state - model(**b).last_hidden_state).norm() /
                  model(**b).last_hidden_state.norm() for b in data]
    return float(torch.stack(errors).mean())


def test_every_linear_of_every_block_is_pruned_and_reconstruction_helps():
    model = tiny_bert()
    calibration, held_out = batches(8, 1), batches(2, 2)
    errors = {}
    for method in tsenor.pipeline.METHODS:
        pruned = copy.deepcopy(model)
        reports = tsenor.pipeline.prune_model(pruned, calibration, "2:4", method=method)
        assert len(reports) == 2 * 6 and all(r["method"] == method for r in reports)
        for block in pruned.encoder.layer:
            for layer in block.modules():
                if isinstance(layer, torch.nn.Linear):
                    assert tsenor.verify((layer.weight != 0).to(torch.uint8), "2:4")
        if method in ("sparsegpt", "alps"):
            assert all(r["error"] <= r["masked_error"] for r in reports)
        errors[method] = (output_error(model, pruned, held_out), float(np.mean([r["error"] for r in reports])))
    # Reconstruction lowers both the layers' errors and the model's output error.
    assert errors["alps"][1] <= errors["sparsegpt"][1] < errors["wanda"][1]
    assert errors["sparsegpt"][0] < errors["magnitude"][0] and errors["alps"][0] < errors["magnitude"][0]


def test_standard_pattern_and_errors():
    model = tiny_bert()
    reports = tsenor.pipeline.prune_model(model, batches(2, 3), "4:8", method="sparsegpt", pattern="rows")
    weight = model.encoder.layer[0].intermediate.dense.weight
    assert ((weight != 0).reshape(weight.shape[0], -1, 8).sum(dim=2) == 4).all()
    assert all(r["error"] is not None for r in reports)
    with pytest.raises(ValueError, match="method must be one of"):
        tsenor.pipeline.prune_model(model, batches(1, 3), "2:4", method="obs")
    with pytest.raises(ValueError, match="no calibration batch"):
        tsenor.pipeline.prune_model(model, [], "2:4")


def test_wanda_and_magnitude_take_the_standard_pattern():
    for method in ("wanda", "magnitude"):
        model = tiny_bert()
        reports = tsenor.pipeline.prune_model(model, batches(2, 4), "2:4", method=method, pattern="rows")
        weight = model.encoder.layer[1].output.dense.weight
        assert ((weight != 0).reshape(weight.shape[0], -1, 4).sum(dim=2) == 2).all()
        assert all(r["error"] is not None and r["error"] > 0 for r in reports)
    scores = torch.tensor([[4.0, 1.0, 3.0, 2.0, 0.0, 9.0, 8.0, 7.0]])
    assert tsenor.pipeline.rows_mask(scores, 2, 4).tolist() == [[1, 0, 1, 0, 0, 1, 1, 0]]


def test_standard_mask_ties_go_to_the_lower_index_on_every_device():
    # 4-bit weights tie within a group all the time; torch.topk picked other entries on CUDA than on the CPU.
    scores = torch.tensor([[1.0, 1.0, 1.0, 1.0, 3.0, 1.0, 3.0, 3.0], [0.5, 2.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0]])
    expected = [[1, 1, 0, 0, 1, 0, 1, 0], [0, 1, 1, 0, 1, 1, 0, 0]]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        assert tsenor.pipeline.rows_mask(scores.to(device), 2, 4).tolist() == expected
    wide = torch.randint(0, 3, (64, 256)).float()  # many ties in groups of 32
    keep = tsenor.pipeline.rows_mask(wide, 16, 32).reshape(64, 8, 32)
    groups = wide.reshape(64, 8, 32)
    threshold = torch.where(keep.bool(), groups, torch.inf).amin(dim=2, keepdim=True)
    assert (keep.sum(dim=2) == 16).all() and (groups[~keep.bool()].reshape(64, 8, 16) <= threshold).all()
    # Among the entries equal to the smallest kept score, the kept ones come first.
    tied = groups == threshold
    first_dropped = torch.where(tied & ~keep.bool(), torch.arange(32), 32).amin(dim=2)
    last_kept = torch.where(tied & keep.bool(), torch.arange(32), -1).amax(dim=2)
    assert (last_kept < first_dropped).all()


def test_the_mask_solver_method_is_chosen():
    kept = {}
    for mask_method in ("exact", "entropic"):
        model = tiny_bert()
        original = model.encoder.layer[0].intermediate.dense.weight.detach().abs().clone()
        tsenor.pipeline.prune_model(model, batches(2, 5), "8:16", method="magnitude", mask_method=mask_method)
        weight = model.encoder.layer[0].intermediate.dense.weight
        assert tsenor.verify((weight != 0).to(torch.uint8), "8:16")
        kept[mask_method] = float(original[weight != 0].sum())
    # The exact solver keeps the largest |W| a transposable mask can: never less than the entropic method.
    assert kept["exact"] >= kept["entropic"]
    with pytest.raises(ValueError, match="pattern must be"):
        tsenor.pipeline.prune_model(tiny_bert(), batches(1, 5), "2:4", pattern="columns")
