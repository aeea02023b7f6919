"""``interp circuits ...``: the circuits known answers from the command line (argparse only).

``interp circuits features`` runs :func:`interp.circuits.feature_pipeline.run_feature_circuit`
(a sparse feature circuit over SAE latents and error nodes at several hooks).
``interp circuits induction`` runs :func:`interp.circuits.pipeline.run_induction_circuit` on
``toy:induction`` (patching sweeps, EAP / EAP-IG / ACDC circuits, faithfulness,
adversarial evaluation); ``interp circuits fourier`` runs
:func:`interp.circuits.pipeline.run_fourier` on ``toy:modadd``. Both print the numbers;
the runs appear in ``interp runs``. ``experiments/circuit_induction.py`` and
``experiments/modadd_fourier.py`` are the same commands as scripts.
"""

from __future__ import annotations

import argparse
import time
from typing import Any
from interp.argtypes import nonneg_int, positive_float, positive_int


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("circuits", help="circuit known answers (patching, EAP, EAP-IG, ACDC; modadd Fourier)")
    csub = p.add_subparsers(dest="circuits_command", metavar="WHAT", required=True)
    q = csub.add_parser("induction", parents=parents,
                        help="find toy:induction's circuit with every method and write the runs")
    q.add_argument("--model", default="toy:induction", help="an induction toy spec (default toy:induction)")
    q.add_argument("--prompts", type=positive_int, default=32, help="clean/corrupt pairs for discovery (default 32)")
    q.add_argument("--adversarial", type=positive_int, default=128, help="fresh inputs for the adversarial evaluation")
    q.add_argument("--steps", type=positive_int, default=10, help="EAP-IG integration steps (default 10)")
    q.add_argument("--tau", type=positive_float, default=0.08, help="ACDC threshold on KL (default 0.08)")
    q.add_argument("--ablation", default="corrupt", choices=["corrupt", "mean", "zero"],
                   help="what a cut edge carries (default: the corrupted input's activation)")
    q.add_argument("--seed", type=nonneg_int, default=1)
    q.add_argument("--threads", type=nonneg_int, default=1,
                   help="torch threads (default 1: tiny matrices, threads only contend; 0 = torch's default)")
    q.set_defaults(func=cmd_induction)
    _register_features(csub, parents)
    f = csub.add_parser("fourier", parents=parents,
                        help="key frequencies and restricted/excluded losses of toy:modadd (Nanda et al. 2023)")
    f.add_argument("--model", default="toy:modadd", help="a modular-addition toy spec (default toy:modadd)")
    f.add_argument("--max-k", type=positive_int, default=8, help="at most this many key frequencies (default 8)")
    f.set_defaults(func=cmd_fourier)


def _register_features(csub: Any, parents: list[argparse.ArgumentParser]) -> None:
    q = csub.add_parser("features", parents=parents,
                        help="sparse feature circuit: SAE latents + error nodes at several hooks (Marks et al. 2024)")
    q.add_argument("--model", default="toy:induction", help="model spec (default toy:induction)")
    q.add_argument("--sae", default="", metavar="RUN[,RUN...]",
                   help="sae runs or SAE folders, one per hook (each knows its hook); default: train TopK SAEs "
                        "at --hooks on fresh task sequences and save them in the run")
    q.add_argument("--hooks", default="", metavar="HOOK[,HOOK...]",
                   help="hooks for the SAEs trained when --sae is not given (default: every hook_attn_out)")
    q.add_argument("--task", default="induction", choices=["induction"], help="the clean/corrupt task")
    q.add_argument("--prompts", type=positive_int, default=32, help="clean/corrupt pairs (default 32)")
    q.add_argument("--segment", type=positive_int, default=None, help="induction segment length (default: the toy's)")
    q.add_argument("--method", default="ig", choices=["ig", "atp"], help="the ranking reported as the circuit")
    q.add_argument("--steps", type=positive_int, default=10, help="integrated-gradients steps (default 10)")
    q.add_argument("--ablation", default="corrupt", choices=["corrupt", "mean"],
                   help="what nodes outside the circuit take (default: their value on the corrupted prompt)")
    q.add_argument("--summed", action="store_true", help="nodes summed over positions (default: one per position)")
    q.add_argument("--random", type=nonneg_int, default=5, help="random node sets per curve point (default 5)")
    q.add_argument("--d-sae", type=positive_int, default=512, help="latents of trained SAEs (default 512)")
    q.add_argument("--k", type=positive_int, default=4, help="TopK k of trained SAEs (default 4)")
    q.add_argument("--sae-seed", type=nonneg_int, default=0, help="seed of trained SAEs (default 0)")
    q.add_argument("--seed", type=nonneg_int, default=1, help="the task's prompts (default 1)")
    q.add_argument("--threads", type=nonneg_int, default=1, help="torch threads (default 1; 0 = torch's default)")
    q.set_defaults(func=cmd_features)


def cmd_features(args: argparse.Namespace) -> int:
    from interp.circuits.feature_pipeline import FeatureCircuitConfig, report, run_feature_circuit
    from interp.circuits.pipeline import torch_threads

    split = lambda text: tuple(p.strip() for p in text.split(",") if p.strip())  # noqa: E731
    cfg = FeatureCircuitConfig(model=args.model, task=args.task, saes=split(args.sae), hooks=split(args.hooks) or None,
                               n_prompts=args.prompts, segment_len=args.segment, seed=args.seed, method=args.method,
                               ig_steps=args.steps, ablation=args.ablation, per_position=not args.summed,
                               n_random=args.random, sae_d_sae=args.d_sae, sae_k=args.k, sae_seed=args.sae_seed)
    t0 = time.perf_counter()
    with torch_threads(args.threads):
        result, run = run_feature_circuit(cfg, root=args.runs)
    print(report(result, run))
    print(f"{time.perf_counter() - t0:.1f} s")
    return 0


def cmd_induction(args: argparse.Namespace) -> int:
    from interp.circuits.pipeline import InductionCircuitConfig, report, run_induction_circuit

    cfg = InductionCircuitConfig(model=args.model, n_prompts=args.prompts, n_adversarial=args.adversarial,
                                 ig_steps=args.steps, acdc_threshold=args.tau, ablation=args.ablation, seed=args.seed)
    t0 = time.perf_counter()
    out = run_induction_circuit(cfg, root=args.runs, threads=args.threads)
    print(report(out))
    print(f"{time.perf_counter() - t0:.1f} s")
    return 0


def cmd_fourier(args: argparse.Namespace) -> int:
    from interp.circuits.pipeline import FourierConfig, fourier_report, run_fourier

    result, run = run_fourier(FourierConfig(model=args.model, max_k=args.max_k), root=args.runs)
    print(fourier_report(result))
    print(f"-> {run.path}")
    return 0
