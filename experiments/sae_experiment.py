"""The body both SAE experiments share: arguments, the pipeline call, the printed figures.

``experiments/sae_toylm.py`` and ``experiments/sae_minilm.py`` differ only in the
model, hook and defaults; each calls :func:`main` with its own.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from interp.sae.pipeline import SAEExperiment, sae_experiment  # noqa: E402

KEYS = ("l0", "fvu", "explained_variance", "mse", "cos_sim", "l2_ratio", "dead_frac", "dense_frac", "ce_loss_clean",
        "ce_loss_sae", "ce_loss_zero", "ce_loss_score", "kl", "downstream_cos", "downstream_cos_zero",
        "downstream_rel_mse", "downstream_score", "n_tokens", "splice_seqs", "train_tokens", "train_seconds",
        "eval_seconds", "features_seconds")


def main(description: str, spec: str, hook: str, *, max_seqs: int, d_sae: int, epochs: float,
         argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", help="reuse a capture run / store instead of capturing")
    ap.add_argument("--max-seqs", type=int, default=max_seqs)
    ap.add_argument("--arch", default="topk")
    ap.add_argument("--d-sae", type=int, default=d_sae)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--epochs", type=float, default=epochs, help="passes over the training rows")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    ap.add_argument("--runs", default=None)
    a = ap.parse_args(argv)
    exp = SAEExperiment(spec=spec, hook=hook, d_sae=a.d_sae, k=a.k, max_seqs=a.max_seqs, epochs=a.epochs,
                        arch=a.arch, batch_size=a.batch_size, lr=a.lr, seed=a.seed, store=a.store, device=a.device)
    capture, run = sae_experiment(exp, root=a.runs)
    if capture is not None:
        print(f"capture: {capture.metrics['tokens']} tokens -> {capture.path}")
    print(json.dumps({k: run.metrics[k] for k in KEYS if k in run.metrics}, indent=1))
    print(f"run: {run.path}")
