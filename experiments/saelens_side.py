"""Train an SAE with SAELens 6.x on a saved tensor: the baseline half of ``bench_sae.py``.

Runs in SAELens's own venv (it pins transformer-lens < 4, so it cannot share ours),
imports nothing from ``interp``, and prints one JSON line. ``bench_sae.py`` calls it as::

    /work/saelens-venv/bin/python experiments/saelens_side.py --data x.npy --eval ev.npy \\
        --arch topk --d-sae 4096 --k 16 --batch 4096 --samples 245760 --lr 4e-4 --out DIR

Batches are random permutations of the rows per epoch (as ours); the timed part is
``SAETrainer.fit()`` after a 3-step warm-up run (so one-time imports are excluded), best of ``--reps``.
Quality: FVU (variance around the mean) and L0 on the held-out tensor, via SAELens's own
forward; the decoder is saved to ``DIR/W_dec.npy`` for the caller's MCC.

Several ``--samples`` budgets (a budget-to-quality sweep) train one fresh SAE each, with its
own schedule, and print one JSON line each; their decoders go to ``DIR/W_dec_<samples>.npy``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sae_lens import StandardTrainingSAE, StandardTrainingSAEConfig, TopKTrainingSAE, TopKTrainingSAEConfig, __version__
from sae_lens.config import LoggingConfig, SAETrainerConfig
from sae_lens.training.sae_trainer import SAETrainer


def batches(x: torch.Tensor, batch: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    while True:
        perm = torch.randperm(x.shape[0], generator=gen)
        for s in range(0, x.shape[0] - batch + 1, batch):
            yield x[perm[s : s + batch]]


def make(args: argparse.Namespace, d_in: int):
    common = dict(d_in=d_in, d_sae=args.d_sae, normalize_activations="expected_average_only_in")
    if args.arch == "topk":
        return TopKTrainingSAE(TopKTrainingSAEConfig(k=args.k, **common))
    return StandardTrainingSAE(StandardTrainingSAEConfig(l1_coefficient=args.l1, l1_warm_up_steps=args.steps // 20, **common))


def fit(args: argparse.Namespace, x: torch.Tensor, samples: int) -> tuple[object, float]:
    torch.manual_seed(args.seed)
    sae = make(args, x.shape[1])
    steps = samples // args.batch
    cfg = SAETrainerConfig(total_training_samples=samples, train_batch_size_samples=args.batch, lr=args.lr, lr_end=args.lr,
                           lr_warm_up_steps=min(args.warmup, steps), lr_decay_steps=int(0.2 * steps), device="cpu",
                           n_batches_for_norm_estimate=8, logger=LoggingConfig(log_to_wandb=False))
    trainer = SAETrainer(cfg, sae, batches(x, args.batch, args.seed))
    t0 = time.perf_counter()
    trainer.fit()
    return sae, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--eval", required=True)
    p.add_argument("--arch", choices=["topk", "relu_l1"], default="topk")
    p.add_argument("--d-sae", type=int, default=4096)
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--l1", type=float, default=5.0)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--samples", type=int, nargs="+", required=True, help="training samples (one run per value)")
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x = torch.from_numpy(np.load(args.data)).float()
    ev = torch.from_numpy(np.load(args.eval)).float()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    args.steps = 3
    fit(args, x, 3 * args.batch)  # warm-up: imports, allocator, first-call overheads
    for samples in args.samples:
        args.steps = samples // args.batch
        seconds = float("inf")
        for _ in range(args.reps):  # best of reps, as bench_sae.py does for ours
            sae, s = fit(args, x, samples)
            seconds = min(seconds, s)
        sae.eval()
        with torch.no_grad():
            z = sae.encode(ev)
            x_hat = sae.decode(z)
        fvu = float((ev - x_hat).pow(2).sum() / (ev - ev.mean(0)).pow(2).sum())
        W_dec = sae.W_dec.detach().numpy()
        np.save(out / "W_dec.npy", W_dec)
        np.save(out / f"W_dec_{samples}.npy", W_dec)
        print(json.dumps({"sae_lens": __version__, "torch": torch.__version__, "arch": args.arch, "samples": samples,
                          "seconds": seconds, "samples_per_s": samples / seconds, "fvu": fvu,
                          "l0": float((z > 0).sum(-1).float().mean()), "threads": torch.get_num_threads(),
                          "W_dec": str(out / f"W_dec_{samples}.npy")}), flush=True)


if __name__ == "__main__":
    main()
