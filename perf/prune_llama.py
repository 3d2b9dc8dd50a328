#!/usr/bin/env python3
"""End-to-end 'tsenor prune' on a synthetic sharded BF16 checkpoint with LLaMA-3-8B's linear-layer shapes.

Per layer: q_proj 4096x4096, k_proj 1024x4096, v_proj 1024x4096, o_proj 4096x4096, gate_proj 14336x4096,
up_proj 14336x4096, down_proj 4096x14336 (218 M weights, 436 MB of BF16), plus the two RMSNorm weights, one
shard per layer with a model.safetensors.index.json. 32 layers are 14 GB; --layers picks how many.
Embeddings and the output head are left out (they are never pruned; --with-embeddings adds them, 2 GB).

Runs the tool once (or with --ranks K also under mpirun, checking the bytes are identical), verifies in numpy
that every mask tile is N-regular and that the masks load with the safetensors package, and writes
perf/results/<name>.json and .md: seconds, GB/s read, peak memory, and the split between read, solve and write.

  perf/prune_llama.py --tool build/bin/tsenor --layers 2 --name prune-llama3-8b-cpu-2layers
  # H100 (a CUDA build of the tool, see README): all 32 layers
  perf/prune_llama.py --tool build-cuda/bin/tsenor --layers 32 --backend cuda --name prune-llama3-8b-h100
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time

import numpy as np

from common import HERE, git_revision, machine, nm_of, regular_tiles, run, sha256

SHAPES = [("self_attn.q_proj", (4096, 4096)), ("self_attn.k_proj", (1024, 4096)), ("self_attn.v_proj", (1024, 4096)),
          ("self_attn.o_proj", (4096, 4096)), ("mlp.gate_proj", (14336, 4096)), ("mlp.up_proj", (14336, 4096)),
          ("mlp.down_proj", (4096, 14336))]


def bf16_bytes(rng, shape, scale):
    """Gaussian weights rounded (truncated) to BF16: the upper 16 bits of float32."""
    a = (rng.standard_normal(shape, dtype=np.float32) * scale).view(np.uint32)
    return (a >> 16).astype(np.uint16).tobytes()


def write_shard(path, tensors):
    """tensors: list of (name, shape, dtype, bytes-producing callable); written one at a time."""
    header, at = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, dtype, _ in tensors:
        size = int(np.prod(shape)) * 2
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [at, at + size]}
        at += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, _, _, produce in tensors:
            f.write(produce())
    return at


def make_checkpoint(directory, layers, with_embeddings):
    os.makedirs(directory, exist_ok=True)
    weight_map, total = {}, 0
    shards = layers + (1 if with_embeddings else 0)
    for layer in range(layers):
        rng = np.random.default_rng(layer)
        name = f"model-{layer + 1:05d}-of-{shards:05d}.safetensors"
        tensors = [(f"model.layers.{layer}.{p}.weight", s, "BF16",
                    (lambda s=s: bf16_bytes(rng, s, 0.02))) for p, s in SHAPES]
        for norm in ("input_layernorm", "post_attention_layernorm"):
            tensors.append((f"model.layers.{layer}.{norm}.weight", (4096,), "BF16",
                            lambda: np.full(4096, 0x3F80, np.uint16).tobytes()))
        total += write_shard(os.path.join(directory, name), tensors)
        weight_map.update({t[0]: name for t in tensors})
    if with_embeddings:
        rng = np.random.default_rng(1000)
        name = f"model-{shards:05d}-of-{shards:05d}.safetensors"
        tensors = [(n, (128256, 4096), "BF16", (lambda: bf16_bytes(rng, (128256, 4096), 0.02)))
                   for n in ("model.embed_tokens.weight", "lm_head.weight")]
        tensors.append(("model.norm.weight", (4096,), "BF16", lambda: np.full(4096, 0x3F80, np.uint16).tobytes()))
        total += write_shard(os.path.join(directory, name), tensors)
        weight_map.update({t[0]: name for t in tensors})
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return total


def drop_page_cache():
    """Cold reads need the page cache emptied (root, and a kernel that lets us); returns whether it worked."""
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def verify(masks_path, n, m, expected_names):
    from safetensors import safe_open
    bad, names = 0, []
    with safe_open(masks_path, framework="numpy") as f:
        names = sorted(f.keys())
        for name in names:
            bad += int((~regular_tiles(f.get_tensor(name), n, m)).sum())
    return {"tensors": len(names), "names_as_expected": names == sorted(expected_names), "tiles_not_n_regular": bad,
            "loaded_with_safetensors": True}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tool", required=True)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--nm", default="2:4")
    p.add_argument("--backend", default="auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--max-chunk-mb", type=int, default=0, help="0: the tool's default")
    p.add_argument("--ranks", type=int, default=0, help="also run under mpirun with this many ranks and compare")
    p.add_argument("--mpiexec", default="mpirun")
    p.add_argument("--with-embeddings", action="store_true")
    p.add_argument("--work", default="/tmp/tsenor-llama", help="scratch directory (checkpoint and masks)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--name", default=None, help="results file name (default: prune-llama3-8b-<layers>layers)")
    p.add_argument("--results", default=os.path.join(HERE, "results"))
    a = p.parse_args()
    n, m = nm_of(a.nm)
    name = a.name or f"prune-llama3-8b-{a.layers}layers"

    per_layer = sum(r * c for _, (r, c) in SHAPES) * 2
    need = a.layers * per_layer * 1.6 + (2.2e9 if a.with_embeddings else 0)  # checkpoint + masks (half) + slack
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(a.work)) or "/").free
    if free < need:
        sys.exit(f"prune_llama: {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed for {a.layers} layers")
    ckpt = os.path.join(a.work, "checkpoint")
    t0 = time.time()
    data_bytes = make_checkpoint(ckpt, a.layers, a.with_embeddings)
    print(f"wrote {data_bytes / 1e9:.2f} GB in {time.time() - t0:.1f} s to {ckpt}", file=sys.stderr)
    cold = drop_page_cache()

    masks = os.path.join(a.work, "masks.safetensors")
    report_path = os.path.join(a.work, "report.json")
    cmd = [a.tool, "prune", "--input", ckpt, "--nm", a.nm, "--output", masks, "--report", report_path,
           "--backend", a.backend, "--quiet"]
    if a.threads:
        cmd += ["--threads", str(a.threads)]
    if a.max_chunk_mb:
        cmd += ["--max-chunk-mb", str(a.max_chunk_mb)]
    env = dict(os.environ, OMP_PROC_BIND=os.environ.get("OMP_PROC_BIND", "false"))
    t0 = time.time()
    run(cmd, env=env)
    wall = time.time() - t0
    with open(report_path) as f:
        report = json.load(f)
    selected = [t["name"] for t in report["tensors"]]
    check = verify(masks, n, m, [f"model.layers.{i}.{p}.weight" for i in range(a.layers) for p, _ in SHAPES])
    result = {"name": name, "machine": machine(), "git": git_revision(short=True), "command": " ".join(cmd),
              "layers": a.layers, "checkpoint_gb": data_bytes / 1e9,
              "page_cache_dropped": cold, "wall_seconds_measured_outside": wall, "verification": check,
              "totals": report["totals"], "backend": report["backend"], "threads_per_rank": report["threads_per_rank"],
              "method": report["method"], "nm": a.nm, "masks_sha256": sha256(masks)}
    if a.ranks:
        masks_k = os.path.join(a.work, f"masks-{a.ranks}ranks.safetensors")
        cmd_k = [a.mpiexec, "--oversubscribe", "-n", str(a.ranks)] + [masks_k if x == masks else x for x in cmd]
        cmd_k[cmd_k.index(report_path)] = report_path + f".{a.ranks}"
        env_k = dict(env, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        t0 = time.time()
        run(cmd_k, env=env_k)
        with open(report_path + f".{a.ranks}") as f:
            rk = json.load(f)
        result["mpi"] = {"ranks": a.ranks, "command": " ".join(cmd_k), "wall_seconds": time.time() - t0,
                         "totals": rk["totals"], "identical_to_one_process": sha256(masks_k) == result["masks_sha256"]}
    os.makedirs(a.results, exist_ok=True)
    with open(os.path.join(a.results, name + ".json"), "w") as f:
        json.dump(result, f, indent=2)
    t = report["totals"]
    lines = [f"# {name}", "", f"Synthetic LLaMA-3-8B linear layers, BF16, {a.layers} of 32 layers "
             f"({len(selected)} tensors, {t['weights'] / 1e6:.0f} M weights, {data_bytes / 1e9:.2f} GB in "
             f"{a.layers} shards), {a.nm}, method {report['method']}, backend {report['backend']} "
             f"({report['threads_per_rank']} threads), {result['machine']['cpu']} ({result['machine']['cores']} cores).",
             "", "```", " ".join(cmd), "```", "",
             "| figure | value |", "|---|---|",
             f"| end to end (tool's wall clock) | {t['seconds']:.2f} s |",
             f"| read + BF16→float + scores | {t['seconds_read']:.2f} s ({t['read_gb_per_s']:.2f} GB/s, "
             f"page cache {'dropped: cold' if cold else 'not dropped: warm'}) |",
             f"| solve | {t['seconds_solve']:.2f} s ({t['tiles'] / max(t['seconds_solve'], 1e-9) / 1e6:.2f} M tiles/s) |",
             f"| write masks | {t['seconds_write']:.2f} s (+ {t['seconds_commit']:.2f} s fsync and rename) |",
             f"| I/O share (read + write) | {100 * (t['seconds_read'] + t['seconds_write']) / t['seconds']:.1f} % |",
             f"| end-to-end throughput | {t['end_to_end_gb_per_s']:.3f} GB/s of checkpoint |",
             f"| peak resident memory | {t['peak_rss_mib']:.0f} MiB (largest tensor {t['largest_tensor_mib']:.0f} MiB BF16) |",
             f"| tiles N-regular | {t['feasible_tiles']} of {t['tiles']} (numpy: {check['tiles_not_n_regular']} bad) |",
             f"| kept score fraction | {t['kept_score_fraction']:.6f} |"]
    if a.ranks:
        mk = result["mpi"]
        lines += [f"| {a.ranks} MPI ranks: end to end | {mk['totals']['seconds']:.2f} s, peak {mk['totals']['peak_rss_mib']:.0f} "
                  f"MiB/rank, bytes identical to 1 process: {mk['identical_to_one_process']} |"]
    with open(os.path.join(a.results, name + ".md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    if not a.keep:
        shutil.rmtree(a.work, ignore_errors=True)
    ok = check["tiles_not_n_regular"] == 0 and check["names_as_expected"] and \
        (not a.ranks or result["mpi"]["identical_to_one_process"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
