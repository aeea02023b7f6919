"""Probe the modular-addition model's residual stream for the answer and its Fourier features.

On the shipped ``toy:modadd`` (Nanda et al. 2023), at the answer-predicting ``=``
position of all p**2 inputs, each hook of interest is probed for

* ``answer``: (a + b) mod p, a 113-way LogisticProbe (metric: accuracy);
* ``fourier``: cos and sin of w (a + b) for the key frequencies w of the embedding
  (:func:`interp.circuits.fourier.key_frequencies`), a LinearProbe (metric: R²).

The algorithm predicts where each is readable: attention alone only sums
``cos(w a) + cos(w b)`` terms, so neither target is linear in ``resid_mid``; the MLP
multiplies them into ``cos(w (a + b))``, readable from ``mlp.hook_post`` and
``resid_post`` (whose unembedding gives the answer). Every row carries its controls:
a control task that gives each unordered pair {a, b} a random label (the model is
symmetric in a and b, so (a, b) and (b, a) share a type), and the same probe on a
randomly initialised model of the same architecture. Writes two ``probe`` runs.

The ``fourier`` run also records what removing each probe's directions from the
live model does (``ablation`` in results.json): the model's loss with the probe's
2k weight directions, its 2k pattern directions (Cov(x, probe output)), or as many
random directions mean-ablated at the ``=`` position. A direction a probe reads need
not be where the information lives (see :mod:`interp.probes.steering`).

    python experiments/probe_modadd.py [--runs DIR] [--max-epochs N]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> list:
    from interp.probes.pipeline import MODADD_HOOKS, ModaddProbeConfig, modadd_probe_pipeline, summary_lines

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="toy:modadd")
    ap.add_argument("--runs", default=None, help="runs folder (default: $INTERP_RUNS or ./runs)")
    ap.add_argument("--max-epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hooks", nargs="+", default=MODADD_HOOKS, help="hooks to probe (at the last position)")
    ap.add_argument("--tasks", nargs="+", default=["answer", "fourier"], choices=["answer", "fourier"])
    args = ap.parse_args(argv)

    cfg = ModaddProbeConfig(hooks=args.hooks, tasks=args.tasks, max_epochs=args.max_epochs, seed=args.seed)
    outcomes = modadd_probe_pipeline(args.model, cfg, root=args.runs, device="cpu")
    for run, result in outcomes:
        print("\n".join(summary_lines(run, result)))
    return [run for run, _ in outcomes]


if __name__ == "__main__":
    main()
