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
import random

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_TASKS = ["word_start", "in_quotes", "pos_parity"]


def minilm_hooks(n_layers: int) -> list[str]:
    """The embeddings (resid_pre of block 0) and the output of every block."""
    return ["blocks.0.hook_resid_pre"] + [f"blocks.{layer}.hook_resid_post" for layer in range(n_layers)]


def main(argv: list[str] | None = None) -> list:
    from interp.datasets import load_texts, tokenize_corpus
    from interp.hooks import capture
    from interp.models import load_model
    from interp.probes import ProbeConfig, probe_hooks, random_model, write_probe_run
    from interp.probes.labels import TASKS, labels_for_rows, token_labels

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS, choices=TASKS)
    ap.add_argument("--max-seqs", type=int, default=96, help="sequences of --seq-len tokens to probe on")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--docs", type=int, default=48, help="documents drawn at random from the corpus")
    ap.add_argument("--max-epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hooks", nargs="+", default=None, help="hooks to probe (default: embeddings + every block)")
    ap.add_argument("--runs", default=None, help="runs folder (default: $INTERP_RUNS or ./runs)")
    args = ap.parse_args(argv)

    model = load_model(args.model, device="cpu")
    texts = load_texts()
    docs = sorted(random.Random(args.seed).sample(range(len(texts)), min(args.docs, len(texts))))
    corpus = tokenize_corpus(model.tokenizer, [texts[i] for i in docs], args.seq_len, max_seqs=args.max_seqs)
    hooks = args.hooks or minilm_hooks(model.cfg.n_layers)
    acts = capture(model, corpus, hooks, batch_size=16, progress=False)
    rand = capture(random_model(model, seed=args.seed + 1), corpus, hooks, batch_size=16, progress=False)
    seq_id, seq_pos, token_id = acts.meta["seq_id"], acts.meta["seq_pos"], acts.meta["token_id"]
    cfg = ProbeConfig(max_epochs=args.max_epochs, seed=args.seed, lr=1e-2, batch_size=512, l2=1e-4)
    runs = []
    for task in args.tasks:
        grid = token_labels(task, model.tokenizer, corpus)
        labels = labels_for_rows(grid, seq_id, seq_pos)
        keep = labels >= 0  # drop [CLS]/[SEP]
        x = {h: acts[h][keep] for h in hooks}
        xr = {h: rand[h][keep] for h in hooks}
        reports = probe_hooks(x, xr, hooks, labels[keep], token_id[keep], kind="logistic", config=cfg,
                              groups=seq_id[keep], desc=task)
        extra = {"n_rows": int(keep.sum()), "positive_rate": float(labels[keep].float().mean())}
        run = write_probe_run(task, reports, {"corpus": "default", "docs": docs, "max_seqs": args.max_seqs,
                                              "seq_len": args.seq_len, "control_types": "token id",
                                              "split_groups": "sequence", "random_seed": args.seed + 1},
                              model=args.model, root=args.runs, slug=f"minilm-{task}", extra=extra)
        print(f"{task}: {extra['n_rows']} tokens, {extra['positive_rate']:.1%} positive, chance {reports[0].chance:.3f} "
              f"-> {run.path}")
        print(f"  {'hook':26s} {'layer':>5s} {'train':>6s} {'test':>6s} {'control':>7s} {'select.':>7s} {'random':>6s}")
        for r in reports:
            row = r.row()
            print(f"  {r.hook:26s} {row['layer']:5d} {r.train:6.3f} {r.test:6.3f} {r.control:7.3f} "
                  f"{r.selectivity:7.3f} {r.random_model:6.3f}")
        runs.append(run)
    return runs


if __name__ == "__main__":
    main()
