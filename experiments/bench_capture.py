"""Benchmark: how fast is ``interp.hooks.capturing`` compared with the forward pass it needs?

For each model, on the same batches of the shipped corpus, it times
  (a') the forward pass cut after the captured block by a plain torch hook: the least
       work that can produce the activation, so capture vs (a') is our own overhead
       (the headline: equal work);
  (a) a bare forward pass of the whole model (unembedding included): capture beats it
      only because it stops early;
  (b) TransformerLens ``run_with_cache`` with a names filter for the same hook (runs the
      whole model);
  (c) ``capture`` to an on-disk ActivationStore (the thing we ship),
for two hooks: the last block's residual stream (nothing to skip but the unembedding)
and a middle block (the forward stops there). Every baseline passes the attention mask
only when a batch has padding, as ``capture`` does.

The four are **interleaved**: each repetition times all of them in turn (order rotated
per repetition), so they share the machine's load; the figures are medians over the
repetitions, and the capture/cut ratio is also given per repetition (median, min, max).

On a shared virtual machine one forward pass can take 20 % longer than the one before it,
so a ratio of two timings taken a second apart is noisy. Capture's **own work** is
therefore also measured inside each capture call: its wall time minus the time spent in
its forward passes (timed around each pass), as a share of those passes. Both numbers come
from the same call, so the machine's drift between calls cancels; the forward-equivalent
ratio ``passes / (passes + own work)`` is what capture vs cut would read if the hooked
passes cost what the cut ones do (``hooked_passes_vs_cut`` in the results compares them,
per repetition, with the same noise as capture vs cut).

Then the cost of the shard checksums on the read side: each shard is hashed (XXH3-128) the
first time it is read, so it times reading every row of a captured store through a freshly
opened ``ActivationStore`` with the check (the default) and without it (``verify="none"``),
interleaved, the files in the page cache either way (the least favourable case for the check).

Then it measures peak RSS of ``capture`` in a fresh subprocess as the corpus
grows 1x / 4x / 16x; memory must stay flat (one batch plus at most two shard buffers).

Why 1024 sequences for toy:toylm (256 for MiniLM, whose forward costs ~4x more a token): a
capture call has a fixed cost (checking the hook names,
taking the store's lock, laying out the first shard, committing the last one and writing the
manifest: ~5 ms on the CI machine) on top of its per-batch work (copying and hashing the
rows, ~0.5 ms a batch). With 256 sequences the whole capture is one shard of 8 batches of a
2-layer toy, ~150 ms of forward passes, and the fixed cost alone reads as 3 %; a capture for
an SAE streams many shards, where only the per-batch part counts. 1024 x 128 tokens is two
shards of the middle block, so the rows measure streaming (each model's calls then span >= ~1 s of forward passes); each
row also gives capture's own work in milliseconds per call, so the fixed part can be read off
(``--seqs 256`` shows it).

    python experiments/bench_capture.py                 # toy:toylm (1024 seqs) and minilm (256) x 128 tokens, 7 reps
    python experiments/bench_capture.py --models minilm --seqs 512
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METHODS = ("cut", "bare", "cache", "capture")
SEQS = {"toy:toylm": 1024, "minilm": 256}  # per capture call: >= ~1 s of forward passes each (see the docstring)
LABELS = {"cut": "forward cut after the block", "bare": "bare forward (whole model)",
          "cache": "run_with_cache (names filter)", "capture": "capture -> disk"}


def load(spec: str, seqs: int, seq_len: int, device: str):
    from interp.datasets import load_texts, tokenize_corpus
    from interp.models import load_model

    model = load_model(spec, device=device)
    corpus = tokenize_corpus(model.tokenizer, load_texts(), seq_len, max_seqs=seqs)
    return model, corpus


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def interleaved(fns: dict[str, Callable[[], Any]], reps: int,
                setup: dict[str, Callable[[], Any]] | None = None) -> dict[str, list[float]]:
    """Seconds of each function per repetition: one warm-up each, then ``reps`` rounds that call
    every function in turn (the order rotated each round), so all of them see the same load.
    ``setup[name]`` runs untimed before each call of ``name``."""
    setup = setup or {}
    for name, fn in fns.items():
        setup.get(name, lambda: None)()
        fn()
    names = list(fns)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        for name in names[r % len(names):] + names[: r % len(names)]:
            setup.get(name, lambda: None)()
            _sync()
            t0 = time.perf_counter()
            fns[name]()
            _sync()
            times[name].append(time.perf_counter() - t0)
    return times


class PassTimer:
    """Times the forward passes inside ``capture`` (wraps the ``run`` of ``capturing.hooked_passes``)."""

    def __enter__(self) -> "PassTimer":
        import contextlib

        import interp.hooks.capturing as capturing

        self.seconds = 0.0
        self.module, self.real = capturing, capturing.hooked_passes
        real = self.real

        @contextlib.contextmanager
        def timed(*args: Any, **kwargs: Any):
            with real(*args, **kwargs) as run:
                def timed_run(*a: Any, **k: Any):
                    _sync()
                    t0 = time.perf_counter()
                    try:
                        return run(*a, **k)
                    finally:
                        _sync()
                        self.seconds += time.perf_counter() - t0
                yield timed_run

        capturing.hooked_passes = timed
        return self

    def __exit__(self, *exc: Any) -> None:
        self.module.hooked_passes = self.real


def bench_model(spec: str, seqs: int, seq_len: int, batch_size: int, reps: int, device: str) -> list[dict]:
    from interp.hooks.hooked import mask_kwargs

    model, corpus = load(spec, seqs, seq_len, device)
    dev = next(model.parameters()).device
    batches = [(corpus.tokens[i : i + batch_size].to(dev), mask_kwargs(corpus.attention_mask[i : i + batch_size].to(dev)))
               for i in range(0, len(corpus), batch_size)]
    with PassTimer() as timer:  # the module is restored afterwards (the smoke test runs this in pytest's process)
        return bench_hooks(spec, model, corpus, batches, batch_size, reps, timer)


def bench_hooks(spec: str, model: Any, corpus: Any, batches: list, batch_size: int, reps: int,
                timer: PassTimer) -> list[dict]:
    """The speed rows of one model: its last block and a middle block."""
    from interp.hooks import capture

    n_layers = model.cfg.n_layers
    n_tokens = int(corpus.attention_mask.sum())
    rows = []

    @torch.no_grad()
    def bare():
        for toks, kw in batches:
            model(toks, **kw)

    for label, layer in [("last block", n_layers - 1), ("middle block", n_layers // 2 - 1)]:
        hooks = [f"blocks.{layer}.hook_resid_post"]

        class _Cut(Exception):
            pass

        def _raise(*_):
            raise _Cut

        @torch.no_grad()
        def cut():
            """The least work that can produce this activation: a plain torch hook that ends the forward."""
            handle = model.blocks[layer].register_forward_hook(_raise)
            try:
                for toks, kw in batches:
                    try:
                        model(toks, **kw)
                    except _Cut:
                        pass
            finally:
                handle.remove()

        @torch.no_grad()
        def cached():
            for toks, kw in batches:
                model.run_with_cache(toks, names_filter=lambda n: n in hooks, **kw)

        tmp = Path(tempfile.mkdtemp(prefix="bench_capture_"))
        own: list[tuple[float, float]] = []  # per capture call: (seconds in its forward passes, seconds in all)

        def to_disk():
            timer.seconds = 0.0
            t0 = time.perf_counter()
            capture(model, corpus, hooks, batch_size=batch_size, out=tmp / "store", progress=False)
            own.append((timer.seconds, time.perf_counter() - t0))

        def fresh():  # untimed: a new store each time (deleting the last one is not capture's work)
            shutil.rmtree(tmp / "store", ignore_errors=True)

        try:
            t = interleaved({"cut": cut, "bare": bare, "cache": cached, "capture": to_disk}, reps, {"capture": fresh})
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        med = {m: statistics.median(t[m]) for m in METHODS}
        own_share = statistics.median([(total - passes) / passes for passes, total in own[1:]])  # [0]: the warm-up
        paired = [c / k for c, k in zip(t["cut"], t["capture"])]  # capture vs cut, within each repetition
        rows.append({"model": spec, "hook": hooks[0], "where": label, "tokens": n_tokens, "reps": reps,
                     "seconds": t, "median_s": med, "tok_s": {m: n_tokens / med[m] for m in METHODS},
                     "capture_vs_cut": med["cut"] / med["capture"],
                     "capture_vs_cut_paired": {"median": statistics.median(paired), "min": min(paired), "max": max(paired)},
                     "own_work_share": own_share, "capture_vs_cut_own_work": 1 / (1 + own_share),
                     "own_work_ms": statistics.median([(total - passes) * 1e3 for passes, total in own[1:]]),
                     "batches": len(batches),
                     "hooked_passes_vs_cut": statistics.median([c / p for c, (p, _) in zip(t["cut"], own[1:])]),
                     "capture_vs_bare": med["bare"] / med["capture"],
                     "run_with_cache_vs_bare": med["bare"] / med["cache"]})
    return rows


def bench_read(spec: str, seqs: int, seq_len: int, batch_size: int, reps: int, device: str) -> dict:
    """Seconds to read every row of a middle-block store, with and without the first-read checksum."""
    from interp.hooks import ActivationStore, capture

    model, corpus = load(spec, seqs, seq_len, device)
    hook = f"blocks.{max(model.cfg.n_layers // 2 - 1, 0)}.hook_resid_post"
    tmp = Path(tempfile.mkdtemp(prefix="bench_read_"))
    try:
        store = capture(model, corpus, [hook], batch_size=batch_size, out=tmp / "store",
                        tokens_per_shard=8192, progress=False)
        n, shards = len(store), len(store.shards)
        def batches(verify: str) -> None:  # the SAE trainer's pattern: shuffled batches, the next shards checked ahead
            for _ in ActivationStore(tmp / "store", verify=verify).iter_batches(4096, hook, buffer_shards=1):
                pass

        t = interleaved({"checked": lambda: ActivationStore(tmp / "store").rows(hook),
                         "unchecked": lambda: ActivationStore(tmp / "store", verify="none").rows(hook),
                         "batches_checked": lambda: batches("size"), "batches_unchecked": lambda: batches("none")}, reps)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in t.items()}
    return {"model": spec, "hook": hook, "rows": n, "shards": shards, "seconds": t, "median_s": med,
            "checksum_share": (med["checked"] - med["unchecked"]) / med["checked"],
            "checksum_share_batches": (med["batches_checked"] - med["batches_unchecked"]) / med["batches_checked"]}


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
                      "store_mib": size, "shard_mib": min(8192, len(store)) * sum(store.d.values()) * 4 / 2**20}))


def bench_rss(spec: str, base_seqs: int, seq_len: int, device: str, mults: list[int]) -> list[dict]:
    rows = []
    for mult in mults:
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
    ap.add_argument("--seqs", type=int, default=None,
                    help="sequences captured per call, every model (default: SEQS, see the docstring)")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--reps", type=int, default=7, help="interleaved repetitions (medians) after one warm-up")
    ap.add_argument("--rss-seqs", type=int, default=64, help="sequences at 1x for the RSS sweep")
    ap.add_argument("--rss-mults", type=int, nargs="*", default=[1, 4, 16], help="corpus multiples for the RSS sweep (none: skip)")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch default)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--runs", default=None, help="runs root for the results (default: the project's)")
    ap.add_argument("--rss-child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.rss_child:
        spec, seqs, seq_len, out, device = args.rss_child
        rss_child(spec, int(seqs), int(seq_len), out, device)
        return
    from interp.runs import start_run

    def seqs_for(spec: str) -> int:  # --seqs for every model, else each model's default
        return args.seqs or SEQS.get(spec, 256)

    dev_name = torch.cuda.get_device_name(0) if args.device == "cuda" else f"{platform.processor() or platform.machine()} CPU"
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# bench_capture on {dev_name}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.seqs or ', '.join(f'{m} {seqs_for(m)}' for m in args.models)} seqs x {args.seq_len} tokens, batch {args.batch_size}, {args.reps} interleaved reps (medians); "
          f"load average {load_before:.2f} at the start\n", flush=True)
    rows = []
    for spec in args.models:
        for r in bench_model(spec, seqs_for(spec), args.seq_len, args.batch_size, args.reps, args.device):
            rows.append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "seconds"}), flush=True)
    print("\n| model | hook | capture -> disk (tok/s) | forward cut after the block (tok/s) | **capture vs cut forward** "
          "| per rep: median (min-max) | capture's own work (share of its passes; ms per call) | forward-equivalent "
          "| bare forward (tok/s) | capture vs bare forward (stops early) | run_with_cache (tok/s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        tk, p = r["tok_s"], r["capture_vs_cut_paired"]
        print(f"| {r['model']} | {r['hook']} ({r['where']}) | {tk['capture']:,.0f} | {tk['cut']:,.0f} | "
              f"**{r['capture_vs_cut']:.2f}x** | {p['median']:.2f}x ({p['min']:.2f}-{p['max']:.2f}) | "
              f"{r['own_work_share']:.1%}; {r['own_work_ms']:.1f} ms | {r['capture_vs_cut_own_work']:.3f}x | {tk['bare']:,.0f} | "
              f"{r['capture_vs_bare']:.2f}x | {tk['cache']:,.0f} |", flush=True)
    reads = []
    print("\n| model | store | `rows()`: every row, checked on first read (ms) | unchecked (ms) | checksum's share "
          "| `iter_batches` (4096, checked ahead in the background) (ms) | unchecked (ms) | checksum's share |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for spec in args.models:
        r = bench_read(spec, seqs_for(spec), args.seq_len, args.batch_size, args.reps, args.device)
        reads.append(r)
        print(f"| {spec} | {r['hook']}, {r['rows']:,} rows in {r['shards']} shards | {r['median_s']['checked'] * 1e3:.1f} | "
              f"{r['median_s']['unchecked'] * 1e3:.1f} | {r['checksum_share']:.1%} | "
              f"{r['median_s']['batches_checked'] * 1e3:.1f} | {r['median_s']['batches_unchecked'] * 1e3:.1f} | "
              f"{r['checksum_share_batches']:.1%} |", flush=True)
    rss = []
    if args.rss_mults:
        print("\n| model | corpus | tokens | RSS before capture (MiB) | peak RSS during capture (MiB) | growth (MiB) | one shard buffer (MiB) | store on disk (MiB) |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for spec in args.models:
            for r in bench_rss(spec, args.rss_seqs, args.seq_len, args.device, args.rss_mults):
                rss.append(r)
                print(f"| {r['model']} | {r['corpus']} | {r['tokens']:,} | {r['before_capture_mib']:.0f} | "
                      f"{r['peak_mib']:.0f} | {r['peak_mib'] - r['before_capture_mib']:.0f} | {r['shard_mib']:.0f} | "
                      f"{r['store_mib']:.0f} |", flush=True)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average {load_before:.2f} at the start, {load_after:.2f} at the end")
    metrics = {"min_capture_vs_cut": min(r["capture_vs_cut"] for r in rows),
               "max_checksum_share": max(r["checksum_share"] for r in reads),
               "min_capture_vs_bare": min(r["capture_vs_bare"] for r in rows),
               "max_own_work_share": max(r["own_work_share"] for r in rows)}
    config = {**vars(args), "device_name": dev_name, "threads_used": torch.get_num_threads(),
              "load_average": [load_before, load_after]}
    with start_run("bench", config, slug="bench-capture", root=args.runs) as run:
        run.write_json("results", {"speed": rows, "read": reads, "rss": rss})
        run.metrics.update(metrics)
    print(f"run: {run.path}")


if __name__ == "__main__":
    main()
