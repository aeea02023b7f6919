"""Benchmark: SAE training throughput against the FLOP limit and against SAELens; quality where both have trained.

Setting (the issue's): d_in 256, d_sae 4096, k 16, batch 4096, fp32, CPU, on synthetic
superposition data (4096 true features in 256 dims, L0 ≈ 16), so quality can be scored
against the truth (MCC) as well as by FVU on held-out rows. Measured in one run:

* **matmul peak**: best fp32 ``addmm`` [batch, d_in] x [d_in, d_sae] throughput (GFLOP/s);
* **ours**: ``train_sae`` TopK (fast sparse path), TopK with dense autograd (``fast=False``)
  and ReLU-L1, samples/s over ``--steps`` steps after a 3-step warm-up run, best of ``--reps``;
* **SAELens 6.x** (``experiments/saelens_side.py`` in its own venv, same tensor, same
  batches/lr/warm-up/decay): TopK and standard (ReLU-L1) samples/s, FVU, L0, MCC;
* **speed only** at this setting: after ``--steps`` (15) steps neither trainer has learned
  anything (an untrained SAE, our trainer's own step-0 weights, is printed beside them and
  scores the same), so its quality columns compare nothing;
* interleaved: one training step of ours, then one encoder matmul, 12 times, so both see
  the same load; the time ratio is the fraction of the FLOP limit (robust on a shared machine);
* **quality where both train**: the known-answer problem of the tests (512 features in 128
  dims, L0 8; d_sae 1024, k 8, batch 1024, lr 1e-2, 61,440 rows) as a **budget-to-quality
  sweep**: ours and SAELens TopK trained afresh for each budget in ``--budgets`` (steps; each
  run with its own warm-up and decay), FVU and MCC on held-out rows, and the samples and
  seconds each needs to reach FVU ≤ ``--fvu-target`` and MCC ≥ ``--mcc-target``; the largest
  budget (300 steps) is where both converge. ``--large-budgets`` does the same at the main
  setting (slow: SAELens runs ~4k samples/s there).

FLOP limit = matmul peak / FLOPs per sample (the peak is measured before every trainer and
the best is used), counted honestly:

* TopK, sparse path: 2·d_in·d_sae (encoder, the only dense matmul) + 8·k·d_in
  (decoder forward, ⟨dx̂, W_dec⟩, dW_dec, dW_enc: each k·d_in multiply-adds);
* dense (ReLU-L1, or TopK by plain autograd): 10·d_in·d_sae: encoder and decoder
  forward, dz and dW_dec, dW_enc (b_dec's gradient through the encoder is a
  vector-matrix product). Elementwise work, top-k selection and Adam are not counted.

    python experiments/bench_sae.py --threads 1           # SAELens from /work/saelens-venv if present
    python experiments/bench_sae.py --threads 1 --only-sweep --small-reps 3   # the budget-to-quality sweep alone
    python experiments/bench_sae.py --saelens-python PATH --steps 40 --budgets 50 100 300
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
DEFAULT_SAELENS = Path("/work/saelens-venv/bin/python")


def matmul_peak(b: int, d: int, s: int, reps: int = 7) -> float:
    """Best fp32 addmm throughput in FLOP/s for the encoder's shape."""
    x, w, bias = torch.randn(b, d), torch.randn(d, s), torch.randn(s)
    torch.addmm(bias, x, w)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.addmm(bias, x, w)
        best = min(best, time.perf_counter() - t0)
    return 2 * b * d * s / best


def interleaved(arch: str, fast: bool, args, n: int = 12) -> dict:
    """Step time vs encoder-matmul time, alternated one after the other ``n`` times (min and median).

    On a shared machine the load changes by the minute; timing one training step and one
    matmul back to back puts both under the same load, so their ratio is the fraction of
    the FLOP limit reached (for the sparse path, limit step time ≈ 1.016 x the matmul).
    """
    from interp.sae import SAEConfig, TrainConfig
    from interp.sae.distributed import DistInfo
    from interp.sae.trainer import SAETrainer

    b, d, s, k = args.batch, args.d_in, args.d_sae, args.k
    x = torch.randn(4 * b, d)
    cfg = TrainConfig(sae=SAEConfig(arch=arch, d_in=0, d_sae=s, k=k, **_l1(arch, args)), batch_size=b, lr=args.lr,
                      fast=fast, progress=False)
    tr = SAETrainer(cfg, d, x[: 2 * b], 1000, DistInfo())
    a, w, bias = torch.randn(b, d), torch.randn(d, s), torch.randn(s)
    steps, mms = [], []
    for i in range(n + 1):
        t0 = time.perf_counter()
        tr.step(x[(i % 4) * b : (i % 4 + 1) * b], i, b)
        t1 = time.perf_counter()
        torch.addmm(bias, a, w)
        t2 = time.perf_counter()
        if i:  # the first pair is warm-up
            steps.append(t1 - t0)
            mms.append(t2 - t1)
    ideal = flops_per_sample(arch, d, s, k, fast) * b / (2 * b * d * s)  # ideal step time in matmul units
    out = {}
    for stat, f in (("min", min), ("median", lambda v: sorted(v)[len(v) // 2])):
        out[f"step_ms_{stat}"], out[f"matmul_ms_{stat}"] = 1e3 * f(steps), 1e3 * f(mms)
        out[f"frac_of_flop_limit_{stat}"] = ideal * f(mms) / f(steps)
    return out


def flops_per_sample(arch: str, d_in: int, d_sae: int, k: int, fast: bool) -> float:
    if arch == "topk" and fast:
        return 2 * d_in * d_sae + 8 * k * d_in
    return 10 * d_in * d_sae


def _l1(arch: str, args) -> dict:
    """``l1_coeff`` for the architectures that have one (each architecture's config has only its own options)."""
    from interp.sae import arch_options

    return {"l1_coeff": args.l1} if "l1_coeff" in arch_options(arch) else {}


def ours(x: torch.Tensor, ev: torch.Tensor, features: torch.Tensor, arch: str, args, fast: bool = True,
         peaks: list[float] | None = None) -> dict:
    from interp.sae import SAEConfig, TrainConfig, train_sae

    def cfg(steps: int) -> TrainConfig:
        sae = SAEConfig(arch=arch, d_in=0, d_sae=args.d_sae, k=args.k, **_l1(arch, args))
        return TrainConfig(sae=sae, total_tokens=steps * args.batch, batch_size=args.batch, lr=args.lr,
                           warmup_steps=args.warmup, fast=fast, progress=False, log_every=max(1, steps // 4))

    train_sae(cfg(3), x)  # warm-up
    seconds = float("inf")
    for _ in range(args.reps):  # best of reps: the other tenants of a shared machine only ever slow us down
        if peaks is not None:
            peaks.append(matmul_peak(args.batch, args.d_in, args.d_sae))
        t0 = time.perf_counter()
        r = train_sae(cfg(args.steps), x)
        seconds = min(seconds, time.perf_counter() - t0)
    return {"samples_per_s": args.steps * args.batch / seconds, "seconds": seconds, **quality(r.sae, ev, features)}


@torch.no_grad()
def quality(sae, ev: torch.Tensor, features: torch.Tensor, W_dec: torch.Tensor | None = None) -> dict:
    from interp.sae.synthetic import mcc, mmcs

    out = {}
    if sae is not None:
        z = sae.encode(ev)
        x_hat = sae.decode(z)
        out["fvu"] = float((ev - x_hat).pow(2).sum() / (ev - ev.mean(0)).pow(2).sum())
        out["l0"] = float((z > 0).sum(-1).float().mean())
        W_dec = sae.W_dec
    out["mcc"] = mcc(W_dec, features)
    out["mmcs"] = mmcs(W_dec, features)
    return out


def saelens(py: Path, data: Path, ev_path: Path, features: torch.Tensor, arch: str, args, tmp: Path,
            d_sae: int, k: int, batch: int, samples: int | list[int]) -> dict | list[dict]:
    """SAELens trained on ``samples`` rows (a list: one fresh run per budget, a list of results)."""
    budgets = samples if isinstance(samples, list) else [samples]
    out = tmp / f"saelens-{arch}-{d_sae}"
    cmd = [str(py), str(HERE / "saelens_side.py"), "--data", str(data), "--eval", str(ev_path), "--arch", arch,
           "--d-sae", str(d_sae), "--k", str(k), "--batch", str(batch), "--samples", *map(str, budgets), "--lr", str(args.lr),
           "--warmup", str(args.warmup), "--l1", str(args.l1), "--out", str(out), "--threads", str(torch.get_num_threads()),
           "--reps", str(args.reps)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "disabled"})
    if proc.returncode != 0:
        raise RuntimeError(f"SAELens run failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{") and '"samples"' in line]
    for res in results:
        res.update(quality(None, None, features, torch.from_numpy(np.load(res.pop("W_dec")))))
    return results if isinstance(samples, list) else results[-1]


def untrained(x: torch.Tensor, ev: torch.Tensor, features: torch.Tensor, arch: str, args) -> dict:
    """Quality of our SAE at step 0 (the trainer's own initial weights): what "learned nothing" scores."""
    from interp.sae import SAEConfig, TrainConfig
    from interp.sae.distributed import DistInfo
    from interp.sae.trainer import SAETrainer

    cfg = TrainConfig(sae=SAEConfig(arch=arch, d_in=0, d_sae=args.d_sae, k=args.k, **_l1(arch, args)), batch_size=args.batch,
                      lr=args.lr, progress=False)
    sae = SAETrainer(cfg, x.shape[1], x[: 8 * args.batch], 1, DistInfo()).sae.eval()
    return quality(sae, ev, features)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--d-in", type=int, default=256)
    p.add_argument("--d-sae", type=int, default=4096)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--steps", type=int, default=15, help="timed steps per trainer (samples = steps x batch)")
    p.add_argument("--reps", type=int, default=3, help="timed runs per trainer; the best counts")
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--l1", type=float, default=5.0)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--saelens-python", type=Path, default=None, help=f"python of a venv with sae-lens (default {DEFAULT_SAELENS} if it exists)")
    p.add_argument("--no-saelens", action="store_true")
    p.add_argument("--no-small", action="store_true", help="skip the 512-feature known-answer comparison")
    p.add_argument("--budgets", type=int, nargs="+", default=[25, 50, 75, 100, 125, 150, 175, 200, 250, 300],
                   help="known-answer problem: training budgets in steps of 1024 (one fresh run each)")
    p.add_argument("--small-reps", type=int, default=1, help="timed runs per budget (best)")
    p.add_argument("--only-sweep", action="store_true", help="run the known-answer budget-to-quality sweep alone")
    p.add_argument("--fvu-target", type=float, default=0.2, help="known-answer problem: FVU to reach")
    p.add_argument("--mcc-target", type=float, default=0.9, help="known-answer problem: MCC to reach")
    p.add_argument("--large-budgets", type=int, nargs="*", default=[],
                   help="the main setting: training budgets in steps of --batch for a budget-to-quality sweep (default none)")
    p.add_argument("--large-fvu-target", type=float, default=0.3)
    p.add_argument("--large-mcc-target", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads for both trainers (0 = torch default)")
    p.add_argument("--runs", default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from interp.runs import start_run
    from interp.sae.synthetic import SyntheticConfig, SyntheticData

    py = None if args.no_saelens else (args.saelens_python or (DEFAULT_SAELENS if DEFAULT_SAELENS.exists() else None))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}; "
          f"SAELens: {py or 'not used'}", flush=True)
    data = SyntheticData(SyntheticConfig(n_features=args.d_sae, d=args.d_in, l0=args.k, seed=0))
    gen = torch.Generator().manual_seed(1)
    x = data.sample(args.steps * args.batch, gen)
    ev = data.sample(8192, gen)
    peaks = []  # measured before every trainer; the limit uses the best (on a loaded machine the best is the truest)

    def measure_peak() -> None:
        peaks.append(matmul_peak(args.batch, args.d_in, args.d_sae))
        print(f"fp32 matmul ({args.batch}x{args.d_in} @ {args.d_in}x{args.d_sae}): {peaks[-1] / 1e9:.1f} GFLOP/s", flush=True)

    if args.only_sweep:  # the known-answer budget-to-quality sweep alone
        with tempfile.TemporaryDirectory() as tmp_s:
            small = small_problem(py, args, Path(tmp_s))
        print_sweep("Known-answer problem, budget to quality (512 features in 128 dims, L0 8; d_sae 1024, k 8, 61,440 rows)", small)
        with start_run("bench", {**vars(args), "saelens_python": str(py) if py else None}, slug="bench-sae", root=args.runs) as run:
            run.write_json("results", {"small": small, "metrics": sweep_metrics("small", small)})
            run.metrics.update(sweep_metrics("small", small))
        print(f"run: {run.path}")
        return
    rows = {}
    for name, arch, fast in [("ours topk (sparse)", "topk", True), ("ours topk (dense autograd)", "topk", False),
                             ("ours relu_l1", "relu_l1", True)]:
        measure_peak()
        rows[name] = ours(x, ev, data.features, arch, args, fast, peaks)
        rows[name]["flops_per_sample"] = flops_per_sample(arch, args.d_in, args.d_sae, args.k, fast)
        print(name, json.dumps(rows[name]), f"(best matmul so far {max(peaks) / 1e9:.1f} GFLOP/s)", flush=True)
    untrained_q = {arch: untrained(x, ev, data.features, arch, args) for arch in ("topk", "relu_l1")}
    print("untrained (step 0)", json.dumps(untrained_q), flush=True)
    small, large, metrics = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        if py is not None:
            np.save(tmp / "x.npy", x.numpy())
            np.save(tmp / "ev.npy", ev.numpy())
            for name, arch in [("SAELens topk", "topk"), ("SAELens standard (relu_l1)", "relu_l1")]:
                measure_peak()
                rows[name] = saelens(py, tmp / "x.npy", tmp / "ev.npy", data.features, arch, args, tmp,
                                     args.d_sae, args.k, args.batch, args.steps * args.batch)
                rows[name]["flops_per_sample"] = flops_per_sample(arch, args.d_in, args.d_sae, args.k, False)
                print(name, json.dumps(rows[name]), flush=True)
        if not args.no_small:
            small = small_problem(py, args, tmp)
            metrics.update(sweep_metrics("small", small))
        if args.large_budgets:
            sa = argparse.Namespace(**{**vars(args), "fvu_target": args.large_fvu_target, "mcc_target": args.large_mcc_target,
                                       "reps": args.small_reps})
            xl = data.sample(max(args.large_budgets) * args.batch, gen)
            large = budget_sweep(py, sa, xl, ev, data.features, args.large_budgets, tmp, "large")
            metrics.update(sweep_metrics("large", large))

    for name, arch, fast in [("ours topk (sparse)", "topk", True), ("ours topk (dense autograd)", "topk", False),
                             ("ours relu_l1", "relu_l1", True)]:
        rows[name]["interleaved"] = interleaved(arch, fast, args)
        print(name, "interleaved", json.dumps(rows[name]["interleaved"]), flush=True)
    measure_peak()
    peak = max(peaks)
    for r in rows.values():
        r["flop_limit"] = peak / r["flops_per_sample"]
        r["frac_of_flop_limit"] = r["samples_per_s"] / r["flop_limit"]
    metrics.update({"matmul_gflops": peak / 1e9, "matmul_gflops_min": min(peaks) / 1e9,
               "topk_frac_of_flop_limit_interleaved": rows["ours topk (sparse)"]["interleaved"]["frac_of_flop_limit_median"], "topk_samples_per_s": rows["ours topk (sparse)"]["samples_per_s"],
               "topk_frac_of_flop_limit": rows["ours topk (sparse)"]["frac_of_flop_limit"]})
    if "SAELens topk" in rows:
        metrics["topk_speedup_vs_saelens"] = rows["ours topk (sparse)"]["samples_per_s"] / rows["SAELens topk"]["samples_per_s"]
        metrics["relu_l1_speedup_vs_saelens"] = rows["ours relu_l1"]["samples_per_s"] / rows["SAELens standard (relu_l1)"]["samples_per_s"]
    print(f"\nSpeed at d_in {args.d_in}, d_sae {args.d_sae}, k {args.k}, batch {args.batch}, {args.steps} steps. Quality after "
          f"{args.steps * args.batch:,} samples is listed beside an untrained SAE's: where the two are close, neither trainer "
          "has learned anything yet and the columns compare nothing (see the budget-to-quality tables).")
    print("| trainer | samples/s | FLOP limit (samples/s) | % of limit | FVU | L0 | MCC | MMCS |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['samples_per_s']:,.0f} | {r['flop_limit']:,.0f} | {100 * r['frac_of_flop_limit']:.0f}% | "
              f"{r['fvu']:.3f} | {r['l0']:.1f} | {r['mcc']:.3f} | {r['mmcs']:.3f} |")
    for arch, q in untrained_q.items():
        print(f"| untrained {arch} (step 0) | - | - | - | {q['fvu']:.3f} | {q['l0']:.1f} | {q['mcc']:.3f} | {q['mmcs']:.3f} |")
    print("\nInterleaved (one training step, then one encoder matmul, 12 times; ratio = fraction of the FLOP limit):")
    print("| trainer | step ms (min / median) | matmul ms (min / median) | % of limit (min / median) |\n|---|---:|---:|---:|")
    for name, r in rows.items():
        if "interleaved" in r:
            i = r["interleaved"]
            print(f"| {name} | {i['step_ms_min']:.0f} / {i['step_ms_median']:.0f} | {i['matmul_ms_min']:.0f} / {i['matmul_ms_median']:.0f} | "
                  f"{100 * i['frac_of_flop_limit_min']:.0f}% / {100 * i['frac_of_flop_limit_median']:.0f}% |")
    for k2, v in metrics.items():
        print(f"{k2}: {v:.3f}")
    if small:
        print_sweep("Known-answer problem, budget to quality (512 features in 128 dims, L0 8; d_sae 1024, k 8, 61,440 rows)", small)
    if large:
        print_sweep(f"The setting above, budget to quality (d_in {args.d_in}, d_sae {args.d_sae}, k {args.k})", large)
    with start_run("bench", {**vars(args), "saelens_python": str(py) if py else None}, slug="bench-sae", root=args.runs) as run:
        (run.path / "results.json").write_text(json.dumps({"rows": rows, "untrained": untrained_q, "small": small, "large": large,
                                                           "metrics": metrics}, indent=1) + "\n")
        run.add_artifact("results", "results.json")
        run.metrics.update(metrics)
    print(f"run: {run.path}")


def budget_sweep(py: Path | None, sa: argparse.Namespace, x: torch.Tensor, ev: torch.Tensor, features: torch.Tensor,
                 budgets: list[int], tmp: Path, tag: str) -> dict:
    """Ours and SAELens TopK trained afresh for each budget (steps of ``sa.batch``; each run has its own
    warm-up and decay), quality on held-out rows: how many samples and seconds each needs to reach a quality."""
    out: dict[str, Any] = {"budgets_steps": budgets, "batch": sa.batch, "ours": [], "saelens": [],
                           "targets": {"fvu": sa.fvu_target, "mcc": sa.mcc_target},
                           "untrained": untrained(x, ev, features, "topk", sa)}
    for steps in budgets:
        r = ours(x, ev, features, "topk", argparse.Namespace(**{**vars(sa), "steps": steps}))
        out["ours"].append({"steps": steps, "samples": steps * sa.batch, **r})
        print(f"{tag} ours {steps} steps", json.dumps(out["ours"][-1]), flush=True)
    if py is not None:
        np.save(tmp / f"x-{tag}.npy", x.numpy())
        np.save(tmp / f"ev-{tag}.npy", ev.numpy())
        res = saelens(py, tmp / f"x-{tag}.npy", tmp / f"ev-{tag}.npy", features, "topk", sa, tmp, sa.d_sae, sa.k, sa.batch,
                      [steps * sa.batch for steps in budgets])
        out["saelens"] = [{"steps": r["samples"] // sa.batch, **r} for r in res]
        for r in out["saelens"]:
            print(f"{tag} SAELens {r['steps']} steps", json.dumps(r), flush=True)
    out["to_reach"] = {}
    for name, runs in (("ours", out["ours"]), ("saelens", out["saelens"])):
        for metric, target, better in (("fvu", sa.fvu_target, lambda v, t: v <= t), ("mcc", sa.mcc_target, lambda v, t: v >= t)):
            first = next((r for r in runs if better(r[metric], target)), None)
            out["to_reach"][f"{name}_{metric}"] = None if first is None else {
                "target": target, "samples": first["samples"], "seconds": first["seconds"], "value": first[metric]}
    return out


def sweep_metrics(tag: str, sw: dict) -> dict[str, float]:
    """Headline numbers of a budget sweep: speed at the largest budget, and the time-to-quality ratios."""
    out = {}
    if sw["saelens"]:
        o, t = sw["ours"][-1], sw["saelens"][-1]
        out[f"{tag}_topk_speedup_vs_saelens"] = o["samples_per_s"] / t["samples_per_s"]
        for metric in ("fvu", "mcc"):
            a, b = sw["to_reach"][f"ours_{metric}"], sw["to_reach"][f"saelens_{metric}"]
            if a and b:
                out[f"{tag}_seconds_to_{metric}_saelens_over_ours"] = b["seconds"] / a["seconds"]
                out[f"{tag}_samples_to_{metric}_saelens_over_ours"] = b["samples"] / a["samples"]
    return out


def print_sweep(title: str, sw: dict) -> None:
    u = sw["untrained"]
    print(f"\n{title} (TopK, batch {sw['batch']}; each budget a fresh run with its own schedule; "
          f"untrained: FVU {u['fvu']:.3f}, MCC {u['mcc']:.3f}):")
    print("| steps | samples | ours s | ours FVU | ours MCC | SAELens s | SAELens FVU | SAELens MCC |\n|---:|---:|---:|---:|---:|---:|---:|---:|")
    theirs = {r["steps"]: r for r in sw["saelens"]}
    for r in sw["ours"]:
        t = theirs.get(r["steps"])
        tail = f"{t['seconds']:.1f} | {t['fvu']:.3f} | {t['mcc']:.3f}" if t else "- | - | -"
        print(f"| {r['steps']} | {r['samples']:,} | {r['seconds']:.1f} | {r['fvu']:.3f} | {r['mcc']:.3f} | {tail} |")
    print("| to reach | ours: samples, seconds | SAELens: samples, seconds |\n|---|---:|---:|")
    for metric, sign in (("fvu", "≤"), ("mcc", "≥")):
        cells = []
        for name in ("ours", "saelens"):
            r = sw["to_reach"].get(f"{name}_{metric}")
            cells.append("not within the budgets" if r is None else f"{r['samples']:,}, {r['seconds']:.1f} s")
        print(f"| {metric.upper()} {sign} {sw['targets'][metric]} | {cells[0]} | {cells[1]} |")


def small_problem(py: Path | None, args, tmp: Path) -> dict:
    """The known-answer problem of the tests (512 features in 128 dims, L0 8; d_sae 1024, k 8, batch 1024, lr 1e-2)."""
    from interp.sae.synthetic import SyntheticConfig, SyntheticData

    data = SyntheticData(SyntheticConfig(n_features=512, d=128, l0=8, seed=0))
    gen = torch.Generator().manual_seed(1)
    x, ev = data.sample(61_440, gen), data.sample(8192, gen)
    sa = argparse.Namespace(**{**vars(args), "d_sae": 1024, "k": 8, "batch": 1024, "lr": 1e-2, "warmup": 20,
                               "reps": args.small_reps})
    return budget_sweep(py, sa, x, ev, data.features, args.budgets, tmp, "small")


if __name__ == "__main__":
    main()
