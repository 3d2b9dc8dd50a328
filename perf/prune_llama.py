#!/usr/bin/env python3
"""End-to-end 'tsenor prune' on a synthetic sharded BF16 checkpoint with LLaMA-3-8B's linear-layer shapes.

Per layer: q_proj 4096x4096, k_proj 1024x4096, v_proj 1024x4096, o_proj 4096x4096, gate_proj 14336x4096,
up_proj 14336x4096, down_proj 4096x14336 (218 M weights, 436 MB of BF16), plus the two RMSNorm weights, one
shard per layer with a model.safetensors.index.json. 32 layers are 14 GB; --layers picks how many.
Embeddings and the output head are left out (they are never pruned; --with-embeddings adds them, 2 GB).

For each page cache state (--cache cold,warm; cold drops the cache first, which needs root) it times `cat` of
the checkpoint's files to /dev/null (the storage's read rate: the limit), then runs the tool, and each --compare
tool or backend (the previous build, a CPU build), checking that every run wrote the same bytes (and with
--ranks K the same under mpirun). It verifies in numpy that every mask tile is N-regular and that the masks load
with the safetensors package, and writes perf/results/<name>.json and .md (seconds, GB/s, the fraction of
`cat`'s rate, busy seconds per stage, peak memory) and, per cache state, the tool's report and its timeline
plot (<name>-report-<cache>.json, <name>-timeline-<cache>.svg; perf/timeline_plot.py).

  perf/prune_llama.py --tool build/bin/tsenor --layers 2 --cache warm --name prune-llama3-8b-cpu-2layers
  # H200 (a CUDA build of the tool, see README): all 32 layers, beside the previous build and 16 CPU cores
  perf/prune_llama.py --tool cuda/tsenor --layers 32 --backend cuda --nm 8:16 --name prune-llama3-8b-h200 \\
      --compare before=old/tsenor:cuda --compare cpu=cpu/tsenor:openmp
"""
import argparse
import json
import multiprocessing
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


def write_layer(directory, layer, shards):
    """Layer `layer`'s shard (its own seed: the bytes do not depend on which process writes it)."""
    rng = np.random.default_rng(layer)
    name = f"model-{layer + 1:05d}-of-{shards:05d}.safetensors"
    tensors = [(f"model.layers.{layer}.{p}.weight", s, "BF16",
                (lambda s=s: bf16_bytes(rng, s, 0.02))) for p, s in SHAPES]
    for norm in ("input_layernorm", "post_attention_layernorm"):
        tensors.append((f"model.layers.{layer}.{norm}.weight", (4096,), "BF16",
                        lambda: np.full(4096, 0x3F80, np.uint16).tobytes()))
    return write_shard(os.path.join(directory, name), tensors), {t[0]: name for t in tensors}


def make_checkpoint(directory, layers, with_embeddings):
    os.makedirs(directory, exist_ok=True)
    weight_map, total = {}, 0
    shards = layers + (1 if with_embeddings else 0)
    with multiprocessing.Pool(min(layers, os.cpu_count() or 1)) as pool:
        for size, names in pool.starmap(write_layer, [(directory, layer, shards) for layer in range(layers)]):
            total += size
            weight_map.update(names)
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


def verify(masks_path, n, m, expected_names, bits):
    from safetensors import safe_open
    bad, names = 0, []
    with safe_open(masks_path, framework="numpy") as f:
        names = sorted(f.keys())
        for name in names:
            mask = f.get_tensor(name)
            if bits:
                mask = np.unpackbits(mask, axis=1, bitorder="little")
            bad += int((~regular_tiles(mask, n, m)).sum())
    return {"tensors": len(names), "names_as_expected": names == sorted(expected_names), "tiles_not_n_regular": bad,
            "loaded_with_safetensors": True}


def read_rate(paths, cold):
    """`cat` of the checkpoint's files to /dev/null: the storage's read rate, the limit a prune can reach."""
    dropped = drop_page_cache() if cold else False
    t0 = time.time()
    subprocess.run(["cat"] + paths, stdout=subprocess.DEVNULL, check=True)
    seconds = time.time() - t0
    size = sum(os.path.getsize(q) for q in paths)
    return {"seconds": seconds, "gb_per_s": size / seconds / 1e9, "page_cache_dropped": dropped}


def write_rate(directory, size):
    """`size` bytes written to a new file in `directory` and flushed (fsync): the rate at which the disk takes
    the outputs (a prune writes its masks, 1 byte a weight, beside what it reads)."""
    path = os.path.join(directory, "write-rate.tmp")
    block = os.urandom(64 << 20)
    t0 = time.time()
    with open(path, "wb") as f:
        for _ in range(max(1, size // len(block))):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    seconds = time.time() - t0
    written = os.path.getsize(path)
    os.remove(path)
    return {"seconds": seconds, "bytes": written, "gb_per_s": written / seconds / 1e9}


def prune_once(a, label, tool, backend, ckpt, cold, env):
    """One 'tsenor prune' of the checkpoint; the page cache dropped first when `cold`."""
    masks = os.path.join(a.work, f"masks-{label}.safetensors")
    report_path = os.path.join(a.work, f"report-{label}.json")
    cmd = [tool, "prune", "--input", ckpt, "--nm", a.nm, "--output", masks, "--report", report_path,
           "--backend", backend, "--quiet"]
    if a.threads:
        cmd += ["--threads", str(a.threads)]
    if a.max_chunk_mb:
        cmd += ["--max-chunk-mb", str(a.max_chunk_mb)]
    if a.mask_format != "bytes":
        cmd += ["--mask-format", a.mask_format]
    if a.apply:
        cmd += ["--apply", os.path.join(a.work, f"pruned-{label}.safetensors")]
    dropped = drop_page_cache() if cold else False
    t0 = time.time()
    run(cmd, env=env)
    wall = time.time() - t0
    with open(report_path) as f:
        report = json.load(f)
    print(f"{label}: {report['totals']['seconds']:.2f} s", file=sys.stderr)
    pruned = cmd[cmd.index("--apply") + 1] if a.apply else None
    written = os.path.getsize(masks) + (os.path.getsize(pruned) if pruned else 0)
    result = {"bytes_written": written, "label": label, "command": " ".join(cmd), "backend": report["backend"],
              "threads_per_rank": report["threads_per_rank"], "method": report["method"],
              "cache": "cold" if cold else "warm", "page_cache_dropped": dropped,
              "wall_seconds_measured_outside": wall, "totals": report["totals"], "masks_sha256": sha256(masks),
              "pruned_sha256": sha256(pruned) if pruned else None}
    if pruned:
        os.remove(pruned)  # 2 bytes a weight: hashed, not kept
    return result, masks, report


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tool", required=True)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--nm", default="2:4")
    p.add_argument("--backend", default="auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--max-chunk-mb", type=int, default=0, help="0: the tool's default")
    p.add_argument("--apply", action="store_true", help="also write the pruned checkpoint (--apply)")
    p.add_argument("--mask-format", default="bytes", choices=("bytes", "bits"),
                   help="the tool's --mask-format, for every run (bits: 8 weights a byte, 8x less to write)")
    p.add_argument("--cache", default="cold,warm",
                   help="page cache states to run in: cold (dropped before each run; needs root), warm, or both")
    p.add_argument("--compare", action="append", default=[], metavar="LABEL=TOOL:BACKEND",
                   help="another tool or backend on the same checkpoint in the same run (e.g. the previous build, "
                        "or a CPU build with openmp); its masks must be byte-identical")
    p.add_argument("--ranks", type=int, default=0, help="also run under mpirun with this many ranks and compare")
    p.add_argument("--mpiexec", default="mpirun")
    p.add_argument("--with-embeddings", action="store_true")
    p.add_argument("--work", default="/tmp/tsenor-llama",
                   help="scratch directory (checkpoint and masks): new, or one an earlier run made; removed at the end")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--name", default=None, help="results file name (default: prune-llama3-8b-<layers>layers)")
    p.add_argument("--results", default=os.path.join(HERE, "results"))
    a = p.parse_args()
    n, m = nm_of(a.nm)
    name = a.name or f"prune-llama3-8b-{a.layers}layers"
    caches = [c for c in a.cache.split(",") if c]
    if not caches or any(c not in ("cold", "warm") for c in caches):
        sys.exit("prune_llama: --cache takes cold, warm or cold,warm")
    compares = []
    for text in a.compare:
        label, _, rest = text.partition("=")
        tool, _, backend = rest.rpartition(":")
        if not label or not tool or not backend:
            sys.exit(f"prune_llama: --compare {text}: expected LABEL=TOOL:BACKEND")
        compares.append((label, tool, backend))

    per_layer = sum(r * c for _, (r, c) in SHAPES) * 2
    need = a.layers * per_layer * (1 + 0.5 * 2 + (1 if a.apply else 0)) * 1.05 + \
        (2.2e9 if a.with_embeddings else 0)
    # The scratch directory is this script's: a new one, or one an earlier run of it made (its mark inside);
    # anything else is refused, since the script writes into it and removes it at the end.
    mark = os.path.join(a.work, ".prune_llama-scratch")
    if os.path.exists(a.work) and os.listdir(a.work) and not os.path.exists(mark):
        sys.exit(f"prune_llama: --work {a.work} exists and was not made by this script; give a new directory")
    os.makedirs(a.work, exist_ok=True)
    open(mark, "w").close()
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(a.work)) or "/").free
    if free < need:
        sys.exit(f"prune_llama: {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed for {a.layers} layers")
    ckpt = os.path.join(a.work, "checkpoint")
    t0 = time.time()
    data_bytes = make_checkpoint(ckpt, a.layers, a.with_embeddings)
    print(f"wrote {data_bytes / 1e9:.2f} GB in {time.time() - t0:.1f} s to {ckpt}", file=sys.stderr)
    shards = sorted(os.path.join(ckpt, f) for f in os.listdir(ckpt) if f.endswith(".safetensors"))
    env = dict(os.environ, OMP_PROC_BIND=os.environ.get("OMP_PROC_BIND", "false"))

    result = {"name": name, "machine": machine(), "git": git_revision(short=True), "layers": a.layers,
              "checkpoint_gb": data_bytes / 1e9, "nm": a.nm, "mask_format": a.mask_format, "storage": {}, "runs": []}
    reports, main_masks = {}, None
    for cache in caches:
        result["storage"][cache] = read_rate(shards, cache == "cold")
        for label, tool, backend in [("tsenor", a.tool, a.backend)] + compares:
            run_result, masks, report = prune_once(a, f"{label}-{cache}", tool, backend, ckpt, cache == "cold", env)
            run_result["tool"] = label
            result["runs"].append(run_result)
            if label == "tsenor":  # its masks are verified at the end; the others' only hashed
                if main_masks and main_masks != masks:
                    os.remove(main_masks)
                reports[cache], main_masks = report, masks
            else:
                os.remove(masks)
    result["storage"]["write"] = write_rate(a.work, result["runs"][0]["bytes_written"])
    first = result["runs"][0]
    for r in result["runs"]:
        r["identical_to_first"] = r["masks_sha256"] == first["masks_sha256"] and \
            r["pruned_sha256"] == first["pruned_sha256"]
        r["fraction_of_read_rate"] = r["totals"]["end_to_end_gb_per_s"] / result["storage"][r["cache"]]["gb_per_s"]
    result["verification"] = verify(main_masks, n, m,
                                    [f"model.layers.{i}.{q}.weight" for i in range(a.layers) for q, _ in SHAPES],
                                    a.mask_format == "bits")
    if a.ranks:
        masks_k = os.path.join(a.work, f"masks-{a.ranks}ranks.safetensors")
        cmd = first["command"].split()
        cmd_k = [a.mpiexec, "--oversubscribe", "-n", str(a.ranks)] + [masks_k if x == cmd[cmd.index("--output") + 1]
                                                                      else x for x in cmd]
        report_k = os.path.join(a.work, f"report-{a.ranks}ranks.json")
        cmd_k[cmd_k.index("--report") + 1] = report_k
        cmd_k = [x for x in cmd_k if not x.startswith(os.path.join(a.work, "pruned-"))]
        if "--apply" in cmd_k:
            cmd_k.remove("--apply")
        env_k = dict(env, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        t0 = time.time()
        run(cmd_k, env=env_k)
        with open(report_k) as f:
            rk = json.load(f)
        result["mpi"] = {"ranks": a.ranks, "command": " ".join(cmd_k), "wall_seconds": time.time() - t0,
                         "totals": rk["totals"], "identical_to_one_process": sha256(masks_k) == first["masks_sha256"]}

    os.makedirs(a.results, exist_ok=True)
    from timeline_plot import write_svg
    for cache, report in reports.items():
        with open(os.path.join(a.results, f"{name}-report-{cache}.json"), "w") as f:
            json.dump(report, f, indent=1)
        write_svg(report, os.path.join(a.results, f"{name}-timeline-{cache}.svg"),
                  f"tsenor prune {a.nm}, {report['backend']}, {cache} page cache: {data_bytes / 1e9:.2f} GB in "
                  f"{report['totals']['seconds']:.2f} s")
    with open(os.path.join(a.results, name + ".json"), "w") as f:
        json.dump(result, f, indent=2)
    check = result["verification"]
    lines = [f"# {name}", "", f"Synthetic LLaMA-3-8B linear layers, BF16, {a.layers} of 32 layers "
             f"({check['tensors']} tensors, {data_bytes / 1e9:.2f} GB in {a.layers} shards), {a.nm}, masks as "
             f"{a.mask_format}, on "
             f"{result['machine']['cpu']} ({result['machine']['cores']} cores), git {result['git']}. "
             f"Storage limit: `cat` of the same files to /dev/null in the same run.", ""]
    lines += ["| run | page cache | end to end | GB/s read | of `cat`'s rate | GB/s read + written | "
              "busy: read / solve / write | fsync | peak memory | bytes as the first run |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for cache in caches:
        st = result["storage"][cache]
        lines.append(f"| `cat` | {cache} | {st['seconds']:.2f} s | {st['gb_per_s']:.2f} | 100% | {st['gb_per_s']:.2f} "
                     f"| | | | |")
        for r in (r for r in result["runs"] if r["cache"] == cache):
            t = r["totals"]
            lines.append(f"| {r['tool']} ({r['backend']}, {r['threads_per_rank']} threads) | {cache} | "
                         f"{t['seconds']:.2f} s | {t['end_to_end_gb_per_s']:.2f} | "
                         f"{100 * r['fraction_of_read_rate']:.0f}% | "
                         f"{(t['bytes_read'] + r['bytes_written']) / t['seconds'] / 1e9:.2f} | "
                         f"{t['seconds_read']:.2f} / {t['seconds_solve']:.2f} "
                         f"/ {t['seconds_write']:.2f} s | {t['seconds_commit']:.2f} s | {t['peak_rss_mib']:.0f} MiB | "
                         f"{'yes' if r['identical_to_first'] else 'NO'} |")
    lines += ["", f"Masks: {check['tensors']} tensors, {check['tiles_not_n_regular']} tiles not N-regular (numpy), "
              f"loaded with the safetensors package. Timelines: `{name}-timeline-<cache>.svg` "
              f"(from `{name}-report-<cache>.json`, `perf/timeline_plot.py`).", "", "Commands:", ""]
    lines += [f"- `{r['command']}`" for r in result["runs"] if r["cache"] == caches[0]]
    wr = result["storage"]["write"]
    lines += ["", f"The disk's write rate in the same run: {wr['bytes'] / 1e9:.2f} GB (the size of the masks) written "
              f"and flushed in {wr['seconds']:.2f} s, {wr['gb_per_s']:.2f} GB/s."]
    if a.ranks:
        mk = result["mpi"]
        lines += ["", f"{a.ranks} MPI ranks: end to end {mk['totals']['seconds']:.2f} s, peak "
                  f"{mk['totals']['peak_rss_mib']:.0f} MiB/rank, bytes identical to 1 process: "
                  f"{mk['identical_to_one_process']}"]
    with open(os.path.join(a.results, name + ".md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    if not a.keep:
        shutil.rmtree(a.work, ignore_errors=True)
    ok = check["tiles_not_n_regular"] == 0 and check["names_as_expected"] and \
        all(r["identical_to_first"] for r in result["runs"]) and (not a.ranks or result["mpi"]["identical_to_one_process"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
