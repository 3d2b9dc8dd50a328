"""Sparse training with transposable N:M masks from tsenor.

A small MLP (256 -> 512 -> 512 -> 10) learns a synthetic classification task (Gaussian inputs labelled
by a random teacher network, fresh samples every step) with AdamW. Every nn.Linear whose shape is a multiple of M trains through a
transposable N:M mask, recomputed every --recompute-every steps from |W| with tsenor.mask:

  * the layer computes with W * mask (torch.nn.utils.prune.custom_from_mask: layer.weight is
    weight_orig * weight_mask), so both the forward product W x and the backward product W^T g are
    N:M sparse: a transposable mask keeps N per row *and* per column of every MxM tile;
  * the gradient reaching weight_orig is grad * mask, so only kept weights are trained;
  * the pruned entries of weight_orig keep their last values: when kept weights shrink below them,
    the next mask swaps them back in. (Zeroing the weights after every step, w.mul_(mask), would
    leave |W| zero wherever the mask is zero, and the recomputed mask could never change.)

At each recompute the script prints the mask flip rate (the fraction of mask entries that changed
since the previous mask), the loss and the time spent in tsenor; at the end it checks every mask
with tsenor.verify and, with --compare-dense, trains the same model densely for comparison.

Run it (a few seconds on a CPU):

    python sparse_training.py
    python sparse_training.py --nm 4:8 --steps 1000 --recompute-every 100 --compare-dense --device cuda
"""

import argparse
import time

import torch
import torch.nn.functional as F
import torch.nn.utils.prune as torch_prune

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
        description="Train a small MLP with transposable N:M masks from tsenor, recomputed every few steps.")
    parser.add_argument("--steps", type=positive, default=300, help="optimizer steps (default 300)")
    parser.add_argument("--recompute-every", type=positive, default=50,
                        help="recompute the masks from |W| every this many steps (default 50)")
    parser.add_argument("--nm", default="2:4", type=n_m,
                        help="N:M, N weights kept per row and per column of every MxM tile (default 2:4)")
    parser.add_argument("--batch-size", type=int, default=128, help="samples per step (default 128)")
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (default 1e-3)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where everything runs (default cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the teacher, the initialisation and the samples")
    parser.add_argument("--compare-dense", action="store_true",
                        help="also train the same model without masks and print both final losses")
    return parser.parse_args()


class Teacher:
    """A random two-layer network whose argmax labels the task; fresh samples every batch."""

    def __init__(self, device, generator, features=256, hidden=64, classes=10):
        self.w1 = torch.randn(features, hidden, generator=generator, device=device) / features ** 0.5
        self.w2 = torch.randn(hidden, classes, generator=generator, device=device) / hidden ** 0.5
        self.generator = generator

    def sample(self, count):
        x = torch.randn(count, self.w1.shape[0], generator=self.generator, device=self.w1.device)
        return x, (torch.relu(x @ self.w1) @ self.w2).argmax(dim=1)


def make_model(device):
    return torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(),
                               torch.nn.Linear(512, 512), torch.nn.ReLU(),
                               torch.nn.Linear(512, 10)).to(device)


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


def recompute_masks(layers, masks, nm, device):
    """New masks from |W| (the dense weight_orig once a layer is masked). Updates masks {name: uint8
    mask} and the layers' weight_mask; returns (flip rate or None the first time, seconds in tsenor)."""
    flipped, entries, seconds = 0, 0, 0.0
    for name, layer in layers:
        dense = layer.weight_orig if name in masks else layer.weight
        scores = dense.detach().abs()  # no autograd graph for the scores
        synchronize(device)
        start = time.perf_counter()
        new_mask = tsenor.mask(scores, nm)
        synchronize(device)
        seconds += time.perf_counter() - start
        if name in masks:
            flipped += (new_mask != masks[name]).sum().item()
            entries += new_mask.numel()
            layer.weight_mask.copy_(new_mask)
        else:
            torch_prune.custom_from_mask(layer, "weight", new_mask)
        masks[name] = new_mask
    return (flipped / entries if entries else None), seconds


@torch.no_grad()
def evaluate(model, x, y):
    logits = model(x)
    return F.cross_entropy(logits, y).item(), (logits.argmax(dim=1) == y).float().mean().item()


def train(args, sparse):
    """Trains from the seed's initialisation; returns (held-out loss, accuracy)."""
    torch.manual_seed(args.seed)
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    teacher = Teacher(args.device, generator)
    x_test, y_test = teacher.sample(2048)
    model = make_model(args.device)

    layers, masks, tsenor_seconds = [], {}, 0.0
    if sparse:
        m = tsenor.parse_nm(args.nm)[1]
        for name, layer in model.named_modules():
            if isinstance(layer, torch.nn.Linear):
                rows, cols = layer.weight.shape
                if rows % m == 0 and cols % m == 0:
                    layers.append((name, layer))
                else:
                    print(f"layer {name}: {rows}x{cols} is not a multiple of {m}, left dense")
        _, tsenor_seconds = recompute_masks(layers, masks, args.nm, args.device)
        print(f"step     0  masks from the initial weights  tsenor {1e3 * tsenor_seconds:.2f} ms")
    # After custom_from_mask, so that the optimizer holds the dense weight_orig parameters.
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)

    for step in range(1, args.steps + 1):
        x, y = teacher.sample(args.batch_size)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        if sparse and step % args.recompute_every == 0 and step < args.steps:
            flip_rate, seconds = recompute_masks(layers, masks, args.nm, args.device)
            tsenor_seconds += seconds
            print(f"step {step:5d}  loss {loss.item():.4f}  mask flip rate {flip_rate:.4f}  "
                  f"tsenor {1e3 * seconds:.2f} ms")

    test_loss, accuracy = evaluate(model, x_test, y_test)
    if sparse:
        for name, layer in layers:
            check = tsenor.verify(masks[name], args.nm)
            assert check, f"layer {name}: mask is not transposable {args.nm}: {check}"
            assert not layer.weight[masks[name] == 0].any(), f"layer {name}: a pruned weight is not zero"
            density = masks[name].float().mean().item()
            print(f"layer {name}: {layer.weight.shape[0]}x{layer.weight.shape[1]} mask verifies as transposable {args.nm}, "
                  f"density {density:.3f}")
        print(f"all {len(layers)} masks verify; {1e3 * tsenor_seconds:.1f} ms in tsenor over the run")
        # torch_prune.remove(layer, "weight") would now make each masked weight a plain parameter.
    return test_loss, accuracy


def main():
    args = parse_args()
    if args.device == "cuda" and "cuda" not in tsenor.backends():
        raise SystemExit(f"this tsenor build runs {tsenor.backends()}, not cuda: use --device cpu")
    print(f"tsenor {tsenor.__version__} ({', '.join(tsenor.backends())}), {args.nm} on {args.device}, "
          f"{args.steps} steps, masks recomputed every {args.recompute_every}")
    sparse_loss, sparse_accuracy = train(args, sparse=True)
    print(f"final held-out loss (sparse {args.nm}): {sparse_loss:.4f}, accuracy {sparse_accuracy:.3f}")
    if args.compare_dense:
        dense_loss, dense_accuracy = train(args, sparse=False)
        print(f"final held-out loss (dense):      {dense_loss:.4f}, accuracy {dense_accuracy:.3f}")


if __name__ == "__main__":
    main()
