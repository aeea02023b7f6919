"""Known answer: the induction circuit of ``toy:induction``, found by every circuits method.

    python experiments/circuit_induction.py [--prompts 32] [--steps 10] [--tau 0.08] [--runs DIR]

Writes two ``patching`` runs (denoising, noising) and one ``circuit`` run per method
(EAP, EAP-IG, ACDC) and prints the numbers: heads found, ablation effects, edges
kept / total, metric recovered, faithfulness AUC, adversarial KL percentiles.
The same command as ``interp circuits induction`` (which calls
:func:`interp.circuits.pipeline.run_induction_circuit`), with the same options.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interp.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["circuits", "induction", *sys.argv[1:]]))
