"""Benchmark: how fast is ``interp.hooks.capture`` compared with a bare forward pass?

For each model, on the same batches of the shipped corpus, it times
  (a) a bare forward pass (``model(tokens)``, the whole model, unembedding included),
  (a') the same bare forward cut after the captured block by a plain torch hook:
       the least work that can produce the activation, so (c)/(a') is our overhead,
  (b) TransformerLens ``run_with_cache`` with a names filter for the same hooks,
  (c) ``capture`` to an on-disk ActivationStore (the thing we ship),
for two hook sets: the last block's residual stream (no early stop possible
beyond skipping the unembedding) and a middle block (the forward stops there).
Throughput is tokens/s; ratios are against (a) measured in the same run.

Then it measures peak RSS of ``capture`` in a fresh subprocess as the corpus
grows 1x / 4x / 16x; memory must stay flat (one batch plus one shard).

    python experiments/bench_capture.py                 # toy:toylm and minilm
    python experiments/bench_capture.py --models minilm --seqs 512
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load(spec: str, seqs: int, seq_len: int, device: str):
    from interp.datasets import load_texts, tokenize_corpus
    from interp.models import load_model

    model = load_model(spec, device=device)
    corpus = tokenize_corpus(model.tokenizer, load_texts(), seq_len, max_seqs=seqs)
    return model, corpus


def timeit(fn, reps: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(reps):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_model(spec: str, seqs: int, seq_len: int, batch_size: int, reps: int, device: str) -> list[dict]:
    from interp.hooks import capture

    model, corpus = load(spec, seqs, seq_len, device)
    n_layers = model.cfg.n_layers
    dev = next(model.parameters()).device
    batches = [(corpus.tokens[i : i + batch_size].to(dev), corpus.attention_mask[i : i + batch_size].to(dev))
               for i in range(0, len(corpus), batch_size)]
    n_tokens = int(corpus.attention_mask.sum())

    @torch.no_grad()
    def bare():
        for toks, mask in batches:
            model(toks, attention_mask=mask)

    rows = []
    t_bare = timeit(bare, reps)
    for label, layer in [("last block", n_layers - 1), ("middle block", n_layers // 2 - 1)]:
        hooks = [f"blocks.{layer}.hook_resid_post"]

        class _Cut(Exception):
            pass

        def _raise(*_):
            raise _Cut

        @torch.no_grad()
        def bare_to_layer():
            """The least work that can produce this activation: a plain torch hook that ends the forward."""
            handle = model.blocks[layer].register_forward_hook(_raise)
            try:
                for toks, mask in batches:
                    try:
                        model(toks, attention_mask=mask)
                    except _Cut:
                        pass
            finally:
                handle.remove()

        @torch.no_grad()
        def cached():
            for toks, mask in batches:
                model.run_with_cache(toks, attention_mask=mask, names_filter=lambda n: n in hooks)

        tmp = Path(tempfile.mkdtemp(prefix="bench_capture_"))

        def to_disk():
            shutil.rmtree(tmp / "store", ignore_errors=True)
            capture(model, corpus, hooks, batch_size=batch_size, out=tmp / "store", progress=False)

        t_cut = timeit(bare_to_layer, reps)
        t_cache = timeit(cached, reps)
        t_cap = timeit(to_disk, reps)
        shutil.rmtree(tmp, ignore_errors=True)
        for name, t in [("bare forward (whole model)", t_bare), ("bare forward cut after that block", t_cut),
                        ("run_with_cache", t_cache), ("capture -> disk", t_cap)]:
            rows.append({"model": spec, "hooks": f"{hooks[0]} ({label})", "method": name,
                         "tok_s": n_tokens / t, "ratio": t_bare / t, "ratio_cut": t_cut / t})
    return rows


def rss_child(spec: str, seqs: int, seq_len: int, out: str, device: str) -> None:
    """Subprocess body: one capture, then print peak RSS (MiB) as JSON."""
    from interp.hooks import capture

    import threading

    import psutil

    model, corpus = load(spec, seqs, seq_len, device)
    proc = psutil.Process()
    before = proc.memory_info().rss / 2**20
    peak = [before]
    done = threading.Event()

    def sample() -> None:  # ru_maxrss would report the model-loading high-water mark instead
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss / 2**20)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    layer = model.cfg.n_layers - 1
    store = capture(model, corpus, [f"blocks.{layer}.hook_resid_post", "blocks.0.hook_resid_post"],
                    batch_size=32, out=out, tokens_per_shard=8192, progress=False)
    done.set()
    sampler.join()
    size = sum(p.stat().st_size for p in Path(out).iterdir()) / 2**20
    print(json.dumps({"tokens": len(store), "peak_mib": peak[0], "before_capture_mib": before,
                      "store_mib": size, "shard_mib": 8192 * sum(store.d.values()) * 4 / 2**20}))


def bench_rss(spec: str, base_seqs: int, seq_len: int, device: str) -> list[dict]:
    rows = []
    for mult in (1, 4, 16):
        out = tempfile.mkdtemp(prefix="bench_rss_")
        cmd = [sys.executable, __file__, "--rss-child", spec, str(base_seqs * mult), str(seq_len), out, device]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        shutil.rmtree(out, ignore_errors=True)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append({"model": spec, "corpus": f"{mult}x", **r})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["toy:toylm", "minilm"])
    ap.add_argument("--seqs", type=int, default=256)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rss-seqs", type=int, default=64, help="sequences at 1x for the RSS sweep")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--rss-child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        spec, seqs, seq_len, out, device = args.rss_child
        rss_child(spec, int(seqs), int(seq_len), out, device)
        return

    dev_name = torch.cuda.get_device_name(0) if args.device == "cuda" else f"{platform.processor() or platform.machine()} CPU"
    print(f"# bench_capture on {dev_name}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.seqs} seqs x {args.seq_len} tokens, batch {args.batch_size}, best of {args.reps}\n")
    print("| model | hooks | method | tokens/s | vs bare forward | vs bare forward cut at the block |")
    print("|---|---|---|---:|---:|---:|")
    for spec in args.models:
        for r in bench_model(spec, args.seqs, args.seq_len, args.batch_size, args.reps, args.device):
            print(f"| {r['model']} | {r['hooks']} | {r['method']} | {r['tok_s']:,.0f} | {r['ratio']:.2f}x | {r['ratio_cut']:.2f}x |", flush=True)
    print("\n| model | corpus | tokens | RSS before capture (MiB) | peak RSS during capture (MiB) | growth (MiB) | one shard buffer (MiB) | store on disk (MiB) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for spec in args.models:
        for r in bench_rss(spec, args.rss_seqs, args.seq_len, args.device):
            print(f"| {r['model']} | {r['corpus']} | {r['tokens']:,} | {r['before_capture_mib']:.0f} | "
                  f"{r['peak_mib']:.0f} | {r['peak_mib'] - r['before_capture_mib']:.0f} | {r['shard_mib']:.0f} | "
                  f"{r['store_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
