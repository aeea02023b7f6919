"""Known answer: the modular-addition model computes (a + b) mod p with a few Fourier frequencies.

Reproduces the core measurements of Nanda et al. 2023 on the shipped ``toy:modadd``:
the key frequencies of the number embedding, and the clean, restricted (key
frequencies only) and excluded (key frequencies removed) losses over all p**2
inputs. Writes a ``fourier`` run (docs/runs.md). A few seconds on CPU. Same as
``interp circuits fourier`` (:func:`interp.circuits.pipeline.run_fourier`).

    python experiments/modadd_fourier.py [--model toy:modadd] [--max-k 8] [--runs DIR]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> object:
    from interp.circuits.pipeline import FourierConfig, fourier_report, run_fourier

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="toy:modadd")
    ap.add_argument("--max-k", type=int, default=8, help="at most this many key frequencies")
    ap.add_argument("--runs", default=None, help="runs folder (default: $INTERP_RUNS or ./runs)")
    args = ap.parse_args(argv)
    result, run = run_fourier(FourierConfig(model=args.model, max_k=args.max_k), root=args.runs)
    print(fourier_report(result))
    print(f"-> {run.path}")
    return run


if __name__ == "__main__":
    main()
