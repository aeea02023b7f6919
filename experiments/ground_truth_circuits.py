"""Circuit discovery against known circuits: EAP, EAP-IG and ACDC on compiled transformers.

Each ``toy:compiled-<name>`` model (interp.models.compiled) runs a known program, so its
circuit is known edge by edge. For zero and resample ablation, this scores each method's
edge ranking against it (edge ROC-AUC, ACDC's threshold-sweep protocol; precision and
recall at the chosen threshold; a random-ranking baseline), prints the table and writes a
``circuit-recovery`` run (docs/runs.md).

    python experiments/ground_truth_circuits.py            # ~1 min on 2 CPU cores
    python experiments/ground_truth_circuits.py --models toy:compiled-histogram --prompts 16
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from interp.circuits.recovery import RecoveryConfig
    from interp.circuits.recovery_pipeline import report, run_circuit_recovery

    d = RecoveryConfig()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(d.models), help="compiled model specs")
    ap.add_argument("--prompts", type=int, default=d.n_prompts, help="clean/corrupt pairs per model")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--steps", type=int, default=d.ig_steps, help="EAP-IG integration steps")
    ap.add_argument("--tau", type=float, default=d.acdc_threshold, help="ACDC threshold for precision/recall")
    ap.add_argument("--runs", default=None, help="runs folder (default ./runs or $INTERP_RUNS)")
    args = ap.parse_args()
    cfg = RecoveryConfig(models=tuple(args.models), n_prompts=args.prompts, seed=args.seed, ig_steps=args.steps,
                         acdc_threshold=args.tau)
    result, run = run_circuit_recovery(cfg, root=args.runs)
    print(report(result, run))


if __name__ == "__main__":
    main()
