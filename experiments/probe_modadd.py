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
import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HOOKS = ["blocks.0.hook_resid_pre", "blocks.0.hook_resid_mid", "blocks.0.mlp.hook_post", "blocks.0.hook_resid_post"]


def main(argv: list[str] | None = None) -> list:
    import torch

    from interp.circuits.fourier import embedding_frequency_norms, key_frequencies, modadd_inputs, number_embedding
    from interp.hooks import capture
    from interp.models import load_model
    from interp.probes import ProbeConfig, probe_hooks, random_model, write_probe_run

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="toy:modadd")
    ap.add_argument("--runs", default=None, help="runs folder (default: $INTERP_RUNS or ./runs)")
    ap.add_argument("--max-epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hooks", nargs="+", default=HOOKS, help="hooks to probe (at the last position)")
    ap.add_argument("--tasks", nargs="+", default=["answer", "fourier"], choices=["answer", "fourier"])
    args = ap.parse_args(argv)
    hooks = args.hooks

    model = load_model(args.model, device="cpu")
    p = int(model.toy_config.extra["p"])
    tokens, answer = modadd_inputs(p, int(model.toy_config.extra.get("eq_token", p)))
    a, b = tokens[:, 0], tokens[:, 1]
    types = torch.minimum(a, b) * p + torch.maximum(a, b)  # unordered pair {a, b}
    keys = key_frequencies(embedding_frequency_norms(number_embedding(model, p)))
    angle = 2 * math.pi * answer[:, None].double() * torch.tensor(keys, dtype=torch.float64)[None] / p
    fourier = torch.cat([torch.cos(angle), torch.sin(angle)], dim=1).float()  # [p*p, 2k]

    acts = capture(model, tokens, hooks, positions=[-1], batch_size=4096, progress=False)
    rand = capture(random_model(model, seed=args.seed + 1), tokens, hooks, positions=[-1], batch_size=4096,
                   progress=False)
    cfg = ProbeConfig(max_epochs=args.max_epochs, seed=args.seed, lr=1e-2, batch_size=512, l2=1e-5)
    runs = []
    for task, kind, labels, note in (
        ("answer", "logistic", answer, "(a + b) mod p"),
        ("fourier", "linear", fourier, f"cos/sin of w (a + b) for key frequencies {keys}"),
    ):
        if task not in args.tasks:
            continue
        reports = probe_hooks(acts.acts, rand.acts, hooks, labels, types, kind=kind, config=cfg, desc=task)
        extra = {"ablation": ablation_effects(model, tokens, answer, reports, args.seed)} if task == "fourier" else {}
        run = write_probe_run(task, reports, {"positions": "last", "control_types": "unordered pair {a, b}",
                                              "key_freqs": keys, "random_seed": args.seed + 1, "label": note},
                              model=args.model, root=args.runs, slug=f"modadd-{task}", extra=extra)
        print(f"{task} ({note}; metric {reports[0].metric}, chance {reports[0].chance:.3f}) -> {run.path}")
        print(f"  {'hook':28s} {'train':>6s} {'test':>6s} {'control':>7s} {'select.':>7s} {'random':>6s}")
        for r in reports:
            print(f"  {r.hook:28s} {r.train:6.3f} {r.test:6.3f} {r.control:7.3f} {r.selectivity:7.3f} {r.random_model:6.3f}")
        for row in extra.get("ablation", []):
            print(f"  ablating at {row['hook']}: model loss {row['clean_loss']:.4f} -> probe weight directions "
                  f"{row['ablated_loss']:.4f}, pattern directions {row['pattern_ablated_loss']:.3f}, "
                  f"{row['n_directions']} random directions {row['random_dirs_loss']:.4f}")
        runs.append(run)
    return runs


def ablation_effects(model, tokens, answer, reports, seed: int) -> list[dict]:
    """Model loss at the answer with each probe's directions (or as many random ones) mean-ablated at its hook."""
    import torch
    import torch.nn.functional as F

    from interp.probes import ablation_hooks

    def loss(fwd_hooks):
        with torch.no_grad(), model.hooks(fwd_hooks=fwd_hooks):
            return float(F.cross_entropy(model(tokens)[:, -1].float(), answer))

    gen = torch.Generator().manual_seed(seed)
    clean = loss([])
    out = []
    for r in reports:
        dirs = r.probe.directions()
        random_dirs = torch.randn(dirs.shape, generator=gen)
        out.append({"hook": r.hook, "n_directions": int(dirs.shape[0]), "clean_loss": clean,
                    "ablated_loss": loss(ablation_hooks(r.probe, positions=[-1])),
                    "pattern_ablated_loss": loss(ablation_hooks(r.probe, positions=[-1], directions="pattern")),
                    "random_dirs_loss": loss(ablation_hooks(random_dirs, hook=r.hook, positions=[-1]))})
    return out


if __name__ == "__main__":
    main()
