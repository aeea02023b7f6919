"""Benchmark: transcoder training throughput against the FLOP limit (as bench_sae.py does for SAEs).

Setting (default): d_in = d_out = 256, d_sae 4096, k 16, batch 4096, fp32, on random sparse
(MLP input, output) pairs, TopK; a per-layer transcoder (PLT, one layer) and a cross-layer
transcoder over ``--clt-layers`` layers. Measured in one run:

* **matmul peak**: best fp32 ``addmm`` [batch, d_in] x [d_in, d_sae] throughput
  (``bench_sae.matmul_peak``), measured before every trainer; the best is used;
* **samples/s**: ``interp.transcoders.train_transcoders`` over ``--steps`` steps, timed from the end
  of its first step to the end of its last (the initialisation's statistics and the first step's
  allocations are not steady state), best of ``--reps``;
* **interleaved**: one training step, then one encoder matmul, 12 times, so both see the same load;
  ideal step time / measured step time is the fraction of the limit (robust on a shared machine).

FLOPs per sample, per layer of latents, counted as in bench_sae.py (elementwise work, top-k
selection and Adam not counted):

* **necessary** (the FLOP limit): 2·d_in·d_sae (the encoder matmul that ranks every latent)
  + 2·k·d_in (a sparse dW_enc) + 6·k·d_out per decoder (forward, ⟨dŷ, W_dec⟩, dW_dec: k rows
  each); a CLT's layer l has n − l decoders;
* **with a dense dW_enc** (a reference column): what plain autograd would do, ``addmm`` then
  ``topk`` with dW_enc = xᵀ·dpre as a dense matmul: 4·d_in·d_sae + 6·k·d_out per decoder. The
  trainers ran that way until the encoder moved onto
  :class:`interp.sae.sparse_ops.TopKEncodeFunction` (sparse dW_enc), which lifted this cap
  near half the limit.

    python experiments/bench_transcoders.py --threads 1
    python experiments/bench_transcoders.py --d-in 128 --d-sae 1024 --k 8 --batch 1024 --steps 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_sae import matmul_peak  # noqa: E402


def flops_per_sample(d_in: int, d_out: int, d_sae: int, k: int, n_layers: int = 1, cross: bool = False,
                     dense_encoder_grad: bool = False) -> float:
    """FLOPs of one training sample: necessary (sparse dW_enc), or with plain autograd's dense dW_enc."""
    decoders = n_layers * (n_layers + 1) // 2 if cross else n_layers
    enc = (4 if dense_encoder_grad else 2) * d_in * d_sae + (0 if dense_encoder_grad else 2 * k * d_in)
    return n_layers * enc + decoders * 6 * k * d_out


def pairs(n: int, d_in: int, d_out: int, n_layers: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random sparse-code pairs ``{blocks.L.hook_mlp_in: [n, d_in], blocks.L.hook_mlp_out: [n, d_out]}``."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    m = 4 * d_in
    for L in range(n_layers):
        s = (torch.rand(n, m, generator=g) < 16 / m) * torch.rand(n, m, generator=g)
        out[f"blocks.{L}.hook_mlp_in"] = s @ torch.randn(m, d_in, generator=g) / 4
        out[f"blocks.{L}.hook_mlp_out"] = s @ torch.randn(m, d_out, generator=g) / 4
    return out


def train_cfg(args: argparse.Namespace, steps: int, cross: bool):
    from interp.transcoders import TranscoderConfig, TranscoderTrainConfig

    return TranscoderTrainConfig(transcoder=TranscoderConfig(d_in=0, d_out=0, d_sae=args.d_sae, k=args.k),
                                 cross_layer=cross, total_tokens=steps * args.batch, batch_size=args.batch, lr=4e-4,
                                 warmup_steps=2, progress=False, log_every=max(1, steps), stat_rows=4 * args.batch)


def samples_per_s(data: dict, args: argparse.Namespace, cross: bool, peaks: list[float]) -> dict:
    """Steady-state training throughput (end of step 1 to end of the last step), best of ``args.reps``."""
    from interp.transcoders import train_transcoders

    train_transcoders(train_cfg(args, 3, cross), data)  # warm-up
    best = float("inf")
    for _ in range(args.reps):
        peaks.append(matmul_peak(args.batch, args.d_in, args.d_sae))
        stamps: list[float] = []
        train_transcoders(train_cfg(args, args.steps, cross), data, callback=lambda step, m: stamps.append(time.perf_counter()))
        best = min(best, (stamps[-1] - stamps[0]) / (len(stamps) - 1))
    return {"samples_per_s": args.batch / best, "step_ms": 1e3 * best}


def interleaved(data: dict, args: argparse.Namespace, cross: bool, n_layers: int, n: int = 12) -> dict:
    """Step time vs encoder-matmul time, one after the other ``n`` times: the median ratio against the ideal."""
    from interp.sae.distributed import DistInfo, default_device
    from interp.transcoders.data import layer_hooks, open_pairs
    from interp.transcoders.train import TranscoderTrainer, build_models

    cfg = train_cfg(args, 1000, cross)
    triples = layer_hooks(list(data))
    source = open_pairs(data, [h for _, hi, ho in triples for h in (hi, ho)])
    model = build_models(cfg, triples, source.d, source.sample(4 * args.batch), None)
    tr = TranscoderTrainer(model if cross else model[0], cfg, 1000, DistInfo(device=default_device(None)), None)
    batches = list(source.epoch(0, args.batch, 0))[:4]
    a, w, bias = torch.randn(args.batch, args.d_in), torch.randn(args.d_in, args.d_sae), torch.randn(args.d_sae)
    steps, mms = [], []
    for i in range(n + 1):
        t0 = time.perf_counter()
        tr.step(batches[i % len(batches)], i, args.batch)
        t1 = time.perf_counter()
        torch.addmm(bias, a, w)
        t2 = time.perf_counter()
        if i:
            steps.append(t1 - t0)
            mms.append(t2 - t1)
    layers = n_layers if cross else 1
    ideal = flops_per_sample(args.d_in, args.d_out, args.d_sae, args.k, layers, cross) / (2 * args.d_in * args.d_sae)
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    return {"step_ms_median": 1e3 * med(steps), "matmul_ms_median": 1e3 * med(mms),
            "frac_of_flop_limit_median": ideal * med(mms) / med(steps)}


def measure(args: argparse.Namespace, log=print) -> dict:
    """Rows ``{"PLT topk": {...}, "CLT topk (n layers)": {...}}`` and headline ``metrics``."""
    n_clt = args.clt_layers
    data = pairs(4 * args.batch, args.d_in, args.d_out, max(1, n_clt))  # epochs repeat: speed needs no fresh rows
    plt_data = {k: v for k, v in data.items() if k.startswith("blocks.0.")}
    peaks: list[float] = []
    rows = {}
    cases = [("PLT topk", plt_data, False, 1)] + ([(f"CLT topk ({n_clt} layers)", data, True, n_clt)] if n_clt else [])
    for name, d, cross, layers in cases:
        r = samples_per_s(d, args, cross, peaks)
        r["flops_per_sample"] = flops_per_sample(args.d_in, args.d_out, args.d_sae, args.k, layers, cross)
        r["flops_per_sample_dense_enc_grad"] = flops_per_sample(args.d_in, args.d_out, args.d_sae, args.k, layers,
                                                                cross, dense_encoder_grad=True)
        if args.interleaved:
            r["interleaved"] = interleaved(d, args, cross, layers)
        rows[name] = r
        log(f"{name} {json.dumps(r)} (best matmul so far {max(peaks) / 1e9:.1f} GFLOP/s)")
    peak = max(peaks)
    for r in rows.values():
        r["flop_limit"] = peak / r["flops_per_sample"]
        r["frac_of_flop_limit"] = r["samples_per_s"] / r["flop_limit"]
        r["frac_of_dense_enc_grad_limit"] = r["samples_per_s"] * r["flops_per_sample_dense_enc_grad"] / peak
    plt_row = rows["PLT topk"]
    metrics = {"matmul_gflops": peak / 1e9, "tc_samples_per_s": plt_row["samples_per_s"],
               "tc_frac_of_flop_limit": plt_row["frac_of_flop_limit"]}
    if "interleaved" in plt_row:
        metrics["tc_frac_of_flop_limit_interleaved"] = plt_row["interleaved"]["frac_of_flop_limit_median"]
    for name, r in rows.items():
        if name.startswith("CLT"):
            metrics.update({"clt_samples_per_s": r["samples_per_s"], "clt_frac_of_flop_limit": r["frac_of_flop_limit"]})
    return {"rows": rows, "metrics": metrics}


def table(res: dict, args: argparse.Namespace) -> str:
    lines = [f"Transcoder training at d_in {args.d_in}, d_out {args.d_out}, d_sae {args.d_sae}, k {args.k}, batch "
             f"{args.batch}, fp32 ({res['metrics']['matmul_gflops']:.1f} GFLOP/s matmul peak):",
             "| trainer | samples/s | FLOP limit (samples/s) | % of limit | % of limit with a dense dW_enc | "
             "interleaved % of limit (median) |", "|---|---:|---:|---:|---:|---:|"]
    for name, r in res["rows"].items():
        inter = f"{100 * r['interleaved']['frac_of_flop_limit_median']:.0f}%" if "interleaved" in r else "-"
        lines.append(f"| {name} | {r['samples_per_s']:,.0f} | {r['flop_limit']:,.0f} | "
                     f"{100 * r['frac_of_flop_limit']:.0f}% | {100 * r['frac_of_dense_enc_grad_limit']:.0f}% | {inter} |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--d-in", type=int, default=256)
    p.add_argument("--d-out", type=int, default=256)
    p.add_argument("--d-sae", type=int, default=4096)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--steps", type=int, default=15, help="timed steps per run (samples = steps x batch)")
    p.add_argument("--reps", type=int, default=3, help="timed runs per trainer; the best counts")
    p.add_argument("--clt-layers", type=int, default=2, help="layers of the CLT measured (0: no CLT)")
    p.add_argument("--no-interleaved", dest="interleaved", action="store_false")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch default)")
    p.add_argument("--runs", default=None)
    return p


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    if args.steps < 2:
        raise SystemExit("--steps must be at least 2 (the first step is not timed).")
    if args.threads:
        torch.set_num_threads(args.threads)
    from interp.runs import start_run

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}",
          flush=True)
    res = measure(args, log=lambda s: print(s, flush=True))
    print(table(res, args))
    with start_run("bench", vars(args), slug="bench-transcoders", root=args.runs) as run:
        run.write_json("results", res)
        run.metrics.update(res["metrics"])
    print(f"run: {run.path}")
    return res


if __name__ == "__main__":
    main()
