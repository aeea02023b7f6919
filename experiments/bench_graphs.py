"""Benchmark: attribution-graph edges from batched backward passes vs one backward pass per target.

On the shipped toy LM and a 64-token prompt from the shipped corpus it computes the
edges of every target (active features, then logits) twice, in one run:
  (a) ``interp.graphs.attribute``: ``--batch-size`` targets per batched forward+backward;
  (b) the naive loop: one forward+backward per target (``interp.graphs.attribute.naive_edges``);
checks they are the same graph (max |difference| <= 1e-5) and prints the ratio. The bar
(issue 13): (a) at least 10x faster. It also reports peak RSS growth of (a) against the
estimate ``interp graph`` prints before it starts.

Transcoders: ``--transcoder RUN`` (a ``transcoder`` run), else random TopK transcoders
(``--d-sae``, ``--k``): the cost of a graph depends on the number of active features and
the model, not on whether the transcoders were trained.

It also reports **transcoder training samples/s against the FLOP limit** at this model's
width (d_in = d_out = d_model, ``--d-sae``, ``--k``, ``--train-batch``): a per-layer transcoder
and a CLT over every layer, with the matmul peak measured in the same run
(``experiments/bench_transcoders.py``, which has the FLOP counts; ``--train-steps 0`` skips it).

    python experiments/bench_graphs.py
    python experiments/bench_graphs.py --tokens 32 --k 8
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_transcoders


def random_transcoders(model, d_sae: int, k: int, seed: int = 1234) -> list:
    """TopK transcoders with random weights for every MLP (seeded apart from anything else)."""
    from interp.transcoders.base import Transcoder, TranscoderConfig

    out = []
    for L in range(model.cfg.n_layers):
        cfg = TranscoderConfig(d_in=model.cfg.d_model, d_out=model.cfg.d_model, d_sae=d_sae, activation="topk", k=k,
                               hook_in=f"blocks.{L}.ln2.hook_normalized", hook_out=f"blocks.{L}.hook_mlp_out", layer=L)
        torch.manual_seed(seed + L)
        out.append(Transcoder(cfg).eval())
    return out


def peak_rss_during(fn):
    """``(result, peak RSS growth in bytes)`` of ``fn()``, sampled every 5 ms."""
    import psutil

    proc = psutil.Process()
    base = proc.memory_info().rss
    peak, done = [base], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.005)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        out = fn()
    finally:
        done.set()
        th.join()
    return out, peak[0] - base


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="toy:toylm")
    ap.add_argument("--transcoder", help="a transcoder run (default: random transcoders)")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--d-sae", type=int, default=1024)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--train-steps", type=int, default=10, help="timed transcoder training steps (0: skip training)")
    ap.add_argument("--train-batch", type=int, default=1024)
    ap.add_argument("--train-reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch default; on a busy "
                                                           "2-core machine 1 avoids a spin-waiting second thread)")
    ap.add_argument("--runs", default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from interp.datasets import load_texts
    from interp.graphs.attribute import AttributionConfig, attribute, estimate, naive_edges
    from interp.graphs.replacement import LocalReplacement
    from interp.models import load_model
    from interp.runs import start_run

    model = load_model(args.model, device="cpu")
    if args.transcoder:
        from interp.transcoders import load_transcoders

        tcs = load_transcoders(args.transcoder)
    else:
        tcs = random_transcoders(model, args.d_sae, args.k)
    text = " ".join(load_texts()[:3])
    tokens = model.to_tokens(text)[0, : args.tokens]
    rep = LocalReplacement(model, tcs, tokens)
    cfg = AttributionConfig(batch_size=args.batch_size)
    est = estimate(model, len(rep.sources), rep.sources.n_feat, cfg.max_logits, len(tokens), args.batch_size)

    t0 = time.perf_counter()
    graph, rss = peak_rss_during(lambda: attribute(model, tcs, tokens, cfg))
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive = naive_edges(rep, graph.logit_ids, cfg.logit_pos)
    t_naive = time.perf_counter() - t0
    n_src = graph.n_nodes - graph.n_logit
    ours = torch.cat([graph.adjacency[: graph.n_feat, :n_src], graph.adjacency[n_src:, :n_src]])
    diff = float((ours - naive).abs().max())
    res = {"model": args.model, "tokens": len(tokens), "features": graph.n_feat, "targets": int(ours.shape[0]),
           "sources": n_src, "batch_size": args.batch_size, "batched_s": round(t_batched, 3),
           "naive_s": round(t_naive, 3), "speedup": round(t_naive / t_batched, 2), "max_abs_diff": diff,
           "peak_rss_growth_mib": round(rss / 2**20, 1), "estimate_mib": round(est["peak_bytes"] / 2**20, 1),
           "transcoders": args.transcoder or f"random topk d_sae={args.d_sae} k={args.k}"}
    print(f"# bench_graphs on {platform.processor() or platform.machine()} CPU, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print("| model | tokens | features | targets | batched (s) | one pass per target (s) | speed-up | max |diff| "
          "| peak RSS growth (MiB) | estimate (MiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.model} | {res['tokens']} | {res['features']} | {res['targets']} | {t_batched:.2f} | {t_naive:.2f} "
          f"| **{res['speedup']:.1f}x** | {diff:.1e} | {res['peak_rss_growth_mib']:.0f} | {res['estimate_mib']:.0f} |")
    train = None
    if args.train_steps:
        import bench_transcoders

        targs = bench_transcoders.parser().parse_args(
            ["--d-in", str(model.cfg.d_model), "--d-out", str(model.cfg.d_model), "--d-sae", str(args.d_sae), "--k",
             str(args.k), "--batch", str(args.train_batch), "--steps", str(max(2, args.train_steps)), "--reps",
             str(args.train_reps), "--clt-layers", str(model.cfg.n_layers)])
        train = bench_transcoders.measure(targs, log=lambda s: None)
        print()
        print(bench_transcoders.table(train, targs))
        res.update({f"train_{k}": v for k, v in train["metrics"].items()})
    with start_run("bench", {**vars(args)}, slug="bench-graphs", root=args.runs) as run:
        run.metrics.update(res)
        if train is not None:
            run.write_json("train", train)
    print(f"run: {run.path}")
    return res


if __name__ == "__main__":
    main()
