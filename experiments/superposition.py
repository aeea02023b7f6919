"""Toy models of superposition (Elhage et al. 2022): the pentagon, the dense case, SAE recovery, a phase diagram.

Writes a ``superposition`` run (docs/runs.md) that the dashboard's Superposition page shows.

    python experiments/superposition.py                  # ~1 min on 2 CPU cores
    python experiments/superposition.py --steps 2000 --phase-replicas 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from interp.sae.superposition_run import SuperpositionConfig, superposition_pipeline

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--phase-steps", type=int, default=600)
    ap.add_argument("--phase-replicas", type=int, default=3)
    ap.add_argument("--runs", default=None, help="runs root (default: the project's)")
    args = ap.parse_args()
    cfg = SuperpositionConfig(seed=args.seed, steps=args.steps, phase_steps=args.phase_steps,
                              phase_replicas=args.phase_replicas)
    run = superposition_pipeline(cfg, args.runs)
    m = run.metrics
    print(f"pentagon: {m['pentagon_features']} of 5 features kept, adjacent angles within "
          f"{m.get('pentagon_max_gap_error_deg', float('nan')):.2f} deg of 72")
    print(f"dense (importance 0.7^i): {m['dense_features']} features kept (2 expected)")
    print(f"SAE on the hidden layer: MCC {m['sae_mcc']:.4f}, worst direction {m['sae_max_angle_deg']:.2f} deg off")
    print(f"run: {run.path}")


if __name__ == "__main__":
    main()
