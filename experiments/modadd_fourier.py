"""Known answer: the modular-addition model computes (a + b) mod p with a few Fourier frequencies.

Reproduces the core measurements of Nanda et al. 2023 on the shipped ``toy:modadd``:
the key frequencies of the number embedding, and the clean, restricted (key
frequencies only) and excluded (key frequencies removed) losses over all p**2
inputs. Writes a ``fourier`` run (docs/runs.md). A few seconds on CPU.

    python experiments/modadd_fourier.py [--model toy:modadd] [--max-k 8] [--runs DIR]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> object:
    from interp.circuits.fourier import fourier_analysis, write_fourier_run
    from interp.models import load_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="toy:modadd")
    ap.add_argument("--max-k", type=int, default=8, help="at most this many key frequencies")
    ap.add_argument("--runs", default=None, help="runs folder (default: $INTERP_RUNS or ./runs)")
    args = ap.parse_args(argv)
    model = load_model(args.model, device="cpu")
    result = fourier_analysis(model, max_k=args.max_k)
    run = write_fourier_run(result, args.model, {"max_k": args.max_k}, root=args.runs)
    top = sorted(range(len(result.embed_norms)), key=lambda i: -float(result.embed_norms[i]))[:8]
    print("embedding norm by frequency (top 8): " + ", ".join(f"{i + 1}: {float(result.embed_norms[i]):.2f}" for i in top))
    print(f"key frequencies {result.key_freqs} carry {result.key_norm_fraction:.1%} of the embedding's squared norm")
    print(f"loss over all {result.p}^2 inputs: clean {result.clean_loss:.4f}, restricted {result.restricted_loss:.4f}, "
          f"excluded {result.excluded_loss:.3f} (chance ln {result.p} = {result.chance_loss:.3f})")
    print(f"accuracy: clean {result.clean_acc:.4f}, restricted {result.restricted_acc:.4f}, excluded {result.excluded_acc:.4f}")
    print(f"-> {run.path}")
    return run


if __name__ == "__main__":
    main()
