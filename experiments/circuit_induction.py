"""Known answer: the induction circuit of ``toy:induction``, found by every circuits method.

    python experiments/circuit_induction.py [--prompts 32] [--steps 10] [--tau 0.01] [--runs DIR]

Writes two ``patching`` runs (denoising, noising) and one ``circuit`` run per method
(EAP, EAP-IG, ACDC) and prints the numbers: heads found, ablation effects, edges
kept / total, metric recovered, faithfulness AUC, adversarial KL percentiles.
Set ``OMP_NUM_THREADS=1`` on a loaded machine (tiny matrices; threads only contend).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interp.circuits.induction_circuit import InductionCircuitConfig, run_induction_circuit  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=32)
    p.add_argument("--adversarial", type=int, default=128)
    p.add_argument("--steps", type=int, default=10, help="EAP-IG integration steps")
    p.add_argument("--tau", type=float, default=0.01, help="ACDC threshold on KL")
    p.add_argument("--ablation", default="corrupt", choices=["corrupt", "mean", "zero"])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--runs", default=None, help="runs folder (default $INTERP_RUNS or ./runs)")
    args = p.parse_args(argv)
    cfg = InductionCircuitConfig(n_prompts=args.prompts, n_adversarial=args.adversarial, ig_steps=args.steps,
                                 acdc_threshold=args.tau, ablation=args.ablation, seed=args.seed)
    t0 = time.perf_counter()
    out = run_induction_circuit(cfg, runs_root=args.runs)
    print(f"heads: previous-token {out['prev_token_head']}, induction {out['induction_heads']} "
          f"(top {out['induction_head']})")
    for name, v in out["losses"].items():
        print(f"loss {name:32s} first half {v['first_half']:.3f}  repeat {v['repeat']:.3f}")
    print(f"logit diff clean {out['clean_value']:.3f}, corrupt {out['corrupt_value']:.3f}; "
          f"edges total {out['edges_total']} (5 % = {out['budget_edges']})")
    for method, s in out["circuits"].items():
        print(f"{method:7s} kept {s['edges_kept']}/{out['edges_total']} ({s['fraction_kept']:.1%}) "
              f"recovered {s['metric_recovered']:.3f}  AUC {s['faithfulness_auc']:.3f}  "
              f"edges for 90 % {s['edges_for_90pct']}  recovered with <= {out['budget_edges']} edges "
              f"{s['recovered_at_budget']:.3f}  PT->IH key edges {len(s['prev_to_induction_key_edges'])}  "
              f"adversarial KL p50/p90/p99 {s['adversarial_percentiles']}")
    print("runs:", *[str(r.path) for r in out["runs"]], sep="\n  ")
    print(f"{time.perf_counter() - t0:.1f} s")
    out.pop("runs")
    return out


if __name__ == "__main__":
    result = main()
    if os.environ.get("INTERP_PRINT_JSON"):
        print(json.dumps(result, indent=1, default=str))
