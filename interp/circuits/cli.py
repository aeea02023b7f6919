"""``interp circuits ...``: the circuits known answer from the command line.

``interp circuits induction`` runs :mod:`interp.circuits.induction_circuit` on
``toy:induction`` (patching sweeps, EAP / EAP-IG / ACDC circuits, faithfulness,
adversarial evaluation) and prints the numbers; the runs appear in ``interp runs``.
``experiments/circuit_induction.py`` is the same command as a script.
"""

from __future__ import annotations

import argparse
import time
from typing import Any



def add_induction_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="toy:induction", help="an induction toy spec (default toy:induction)")
    p.add_argument("--prompts", type=int, default=32, help="clean/corrupt pairs for discovery (default 32)")
    p.add_argument("--adversarial", type=int, default=128, help="fresh inputs for the adversarial evaluation")
    p.add_argument("--steps", type=int, default=10, help="EAP-IG integration steps (default 10)")
    p.add_argument("--tau", type=float, default=0.08, help="ACDC threshold on KL (default 0.08)")
    p.add_argument("--ablation", default="corrupt", choices=["corrupt", "mean", "zero"],
                   help="what a cut edge carries (default: the corrupted input's activation)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: tiny matrices, threads only contend)")
    p.add_argument('--runs', default=None, help='runs folder (default: $INTERP_RUNS or ./runs)')


def run_induction(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from interp.circuits.induction_circuit import InductionCircuitConfig, run_induction_circuit

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = InductionCircuitConfig(model=args.model, n_prompts=args.prompts, n_adversarial=args.adversarial,
                                 ig_steps=args.steps, acdc_threshold=args.tau, ablation=args.ablation, seed=args.seed)
    t0 = time.perf_counter()
    out = run_induction_circuit(cfg, runs_root=args.runs)
    print(report(out))
    print(f"{time.perf_counter() - t0:.1f} s")
    return out


def report(out: dict[str, Any]) -> str:
    """The numbers of :func:`run_induction_circuit` as text."""
    lines = [f"heads: previous-token {out['prev_token_head']}, induction {', '.join(out['induction_heads'])} "
             f"(top {out['induction_head']}); silent (write < 10 % of their layer's largest head): "
             f"{', '.join(out.get('silent_heads', [])) or 'none'}"]
    for name, v in out["losses"].items():
        lines.append(f"loss {name:30s} first half {v['first_half']:.3f}  repeat {v['repeat']:.3f}")
    lines.append(f"logit diff clean {out['clean_value']:.3f}, corrupt {out['corrupt_value']:.3f}; "
                 f"edges total {out['edges_total']} (5 % = {out['budget_edges']} edges)")
    for method, s in out["circuits"].items():
        p = s["adversarial_percentiles"]
        lines.append(
            f"{method:6s} kept {s['edges_kept']}/{out['edges_total']} ({s['fraction_kept']:.1%})  recovered "
            f"{s['metric_recovered']:.3f}  AUC {s['faithfulness_auc']:.3f}  edges for 90% {s['edges_for_90pct']}  "
            f"recovered with <= {out['budget_edges']} edges {s['recovered_at_budget']:.3f}  "
            f"PT->IH key edges {len(s['prev_to_induction_key_edges'])}  "
            f"adversarial KL p50/p90/p99 {p['50']:.3f}/{p['90']:.3f}/{p['99']:.3f}  "
            f"(mean recovered there {s['adversarial_recovered_mean']:.3f})")
        lines.append(f"       nodes: {' '.join(s['nodes'])}")
    lines.append("faithfulness AUC of each edge ranking: " + ", ".join(
        f"{name} {auc:.3f}" for name, auc in out["ranking_auc"].items()))
    lines += ["runs:"] + [f"  {r.path}" for r in out["runs"]]
    return "\n".join(lines)


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    global _PARENTS
    _PARENTS = parents
    p = sub.add_parser("circuits", help="circuit discovery known answers (patching, EAP, EAP-IG, ACDC)")
    csub = p.add_subparsers(dest="circuits_command", metavar="WHAT", required=True)
    q = csub.add_parser("induction", help="find toy:induction's circuit with every method and write the runs")
    add_induction_args(q)
    q.set_defaults(func=lambda args: run_induction(args) and 0)
