"""Sink emergence in a small causal LM: sink rate over training, with/without BOS, two contexts, two LRs.

Trains the ``toylm`` recipe shrunk to CPU size (2 layers, d_model 64, 4 heads, the
shipped BPE tokenizer and corpus) once per setting of a 2 x 2 x 2 grid:

* BOS: every chunk starts with ``<|bos|>``, or chunks start on a content token;
* context length T: 32 and 128 tokens (same tokens per step: batch = 2048 / T);
* learning rate: 1e-3 and 5e-3 (AdamW, weight decay 0.1, warmup + cosine).

and records, every ``eval_every`` steps on fixed held-out chunks, the first-token
sink rate Sink_0^eps (Gu et al., eps = 0.3), the mean sink score alpha_0, the
attention mass on position 0 and the held-out loss. ``uniform_alpha0`` (H_T / T) is
what a causal head with uniform attention scores: alpha_0 above it means real
preference for the first token. Compare with Gu et al. (ICLR 2025: sinks emerge
early; a larger learning rate gives more sink; sinks form with or without BOS) and
Barbero et al. (2025: longer contexts give more sink).

    python experiments/sinks_emergence.py               # the 8-run grid, ~1 min per run on 2 cores
    python experiments/sinks_emergence.py --quick       # 2 tiny runs, seconds
    python experiments/sinks_emergence.py --task backcopy   # Guo et al.'s Bigram-Backcopy task instead of text
    python experiments/sinks_emergence.py --bos yes --seq-lens 32 --lrs 5e-3 --steps 1600 --eval-every 100  # longer

Writes a ``sink-emergence`` run (``curves.json``, docs/runs.md).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> int:
    from interp.sinks.pipeline import EmergenceStudyConfig, emergence_pipeline

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="text", choices=["text", "backcopy"])
    p.add_argument("--bos", default="both", choices=["both", "yes", "no"], help="train with BOS, without, or both")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--seq-lens", type=int, nargs="+", default=[32, 128])
    p.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 5e-3])
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--tokens-per-step", type=int, default=2048)
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--epsilon", type=float, default=0.3)
    p.add_argument("--quick", action="store_true", help="two tiny runs (seconds), to check the pipeline")
    p.add_argument("--runs", default=None)
    args = p.parse_args(argv)

    def show(e: dict) -> None:
        print(f"{e['label']:<32} {e['seconds']:6.1f} s  loss {e['loss'][0]:.2f} -> {e['loss'][-1]:.2f}  "
              f"sink rate {e['sink_rate'][0]:.3f} -> {e['sink_rate'][-1]:.3f} (max {max(e['sink_rate']):.3f})  "
              f"alpha_0 {e['alpha0'][0]:.3f} -> {e['alpha0'][-1]:.3f} (uniform {e['uniform_alpha0']:.3f})",
              flush=True)

    cfg = EmergenceStudyConfig(**{k: v for k, v in vars(args).items() if k != "runs"})
    run, _ = emergence_pipeline(cfg, root=args.runs, on_entry=show)
    print(f"run: {run.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
