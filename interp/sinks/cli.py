"""``interp sinks``: measure attention sinks of a model on a corpus and record a ``sinks`` run.

    interp sinks --model minilm --max-seqs 128
    interp sinks --model toy:toylm --epsilon 0.8 --interventions mask_sink drop_first
"""

from __future__ import annotations

import argparse
from typing import Any
from interp.argtypes import fraction, positive_float, positive_int


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    from interp.sinks.intervention_names import ALL_INTERVENTIONS

    p = sub.add_parser("sinks", parents=parents,
                       help="attention sinks: sink rate, mass on special tokens, massive activations")
    p.add_argument("--model", required=True, help="model spec: toy:NAME, minilm, a HF folder or hub name")
    p.add_argument("--corpus", nargs="*", help=".txt/.jsonl files or folders (default: the shipped corpus)")
    p.add_argument("--seq-len", type=positive_int, default=128)
    p.add_argument("--max-seqs", type=positive_int, default=128, help="sequences to average over (default 128)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--epsilon", type=float, default=0.3, help="sink-rate threshold (Gu et al. 0.3; Barbero et al. 0.8)")
    p.add_argument("--head-threshold", type=fraction, default=0.5, help="mass on one special token that makes a sink head")
    p.add_argument("--massive-abs", type=positive_float, default=100.0, help="massive activation: |a| above this ...")
    p.add_argument("--massive-ratio", type=positive_float, default=1000.0, help="... and this many times the median |a|")
    p.add_argument("--interventions", nargs="*", default=[], choices=ALL_INTERVENTIONS, metavar="NAME",
                   help=f"also run interventions: {', '.join(ALL_INTERVENTIONS)}")
    p.add_argument("--intervention-seqs", type=positive_int, default=32)
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_sinks)


def cmd_sinks(args: argparse.Namespace) -> int:
    from interp.sinks.measure import SinkConfig
    from interp.sinks.pipeline import SinksRunConfig, sinks_pipeline
    from interp.sinks.run import summary_lines

    measure = SinkConfig(epsilon=args.epsilon, batch_size=args.batch_size, head_threshold=args.head_threshold,
                         massive_abs=args.massive_abs, massive_ratio=args.massive_ratio)
    cfg = SinksRunConfig(corpus=args.corpus, seq_len=args.seq_len, max_seqs=args.max_seqs,
                         interventions=args.interventions, intervention_seqs=args.intervention_seqs, measure=measure)
    run, result = sinks_pipeline(args.model, cfg, root=args.runs, device=args.device)
    print("\n".join(summary_lines(result.report, result.head_threshold)))
    print(f"run: {run.path}")
    return 0
