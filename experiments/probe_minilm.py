"""Probe MiniLM layer by layer for token properties labelled from the text, with controls.

On the shipped corpus, MiniLM's residual stream (the embeddings, then after each of
its 6 blocks) is probed with a LogisticProbe for each task of
:mod:`interp.probes.labels` (default: ``word_start``, ``in_quotes``,
``pos_parity``). Every row carries its controls (Hewitt & Liang 2019): a control
task that gives each token id a random label from the task's label distribution
(selectivity = accuracy − control accuracy), and the same probe on a randomly
re-initialised MiniLM. The split is by sequence, so no sentence is on both sides.
[CLS]/[SEP]/padding rows are dropped. Writes one ``probe`` run per task.

    python experiments/probe_minilm.py [--max-seqs 96] [--tasks word_start in_quotes pos_parity] [--runs DIR]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> list:
    from interp.probes.labels import TASKS
    from interp.probes.pipeline import TokenProbeConfig, summary_lines, token_probe_pipeline

    defaults = TokenProbeConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--tasks", nargs="+", default=defaults.tasks, choices=TASKS)
    ap.add_argument("--max-seqs", type=int, default=96, help="sequences of --seq-len tokens to probe on")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--docs", type=int, default=48, help="documents drawn at random from the corpus")
    ap.add_argument("--max-epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hooks", nargs="+", default=None, help="hooks to probe (default: embeddings + every block)")
    ap.add_argument("--runs", default=None, help="runs folder (default: $INTERP_RUNS or ./runs)")
    args = ap.parse_args(argv)

    cfg = TokenProbeConfig(tasks=args.tasks, hooks=args.hooks, max_seqs=args.max_seqs, seq_len=args.seq_len,
                           docs=args.docs, max_epochs=args.max_epochs, seed=args.seed)
    outcomes = token_probe_pipeline(args.model, cfg, root=args.runs, device="cpu")
    for run, result in outcomes:
        print("\n".join(summary_lines(run, result)))
    return [run for run, _ in outcomes]


if __name__ == "__main__":
    main()
