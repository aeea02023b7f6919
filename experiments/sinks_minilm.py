"""Attention sinks in MiniLM on the shipped corpus, compared with Clark et al. (2019) for BERT.

Clark, Khandelwal, Levy and Manning ("What does BERT look at?", 2019) found that
BERT-base puts most of its attention on a few tokens: [CLS] in the early layers,
[SEP] in the middle layers (over half of all attention in layers 6-10), and
much attention on periods and commas; and that attention to [SEP] has near-zero
gradient importance, i.e. it is a no-op. This script measures the same quantities
for all-MiniLM-L6-v2 (6 layers x 12 heads, distilled from a 12-layer MiniLM and
fine-tuned as a sentence encoder): attention mass on [CLS], [SEP], punctuation and
other tokens by layer and head, the sink heads, sink rates (Gu et al.), massive
activations (Sun et al.) and value norms, then breaks the sink with interventions.

    python experiments/sinks_minilm.py                  # 256 sequences of 128 tokens
    python experiments/sinks_minilm.py --max-seqs 32    # quick

It writes a ``sinks`` run (docs/runs.md) and prints the tables quoted in docs/sinks.md.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> int:
    from interp.sinks.interventions import ALL_INTERVENTIONS
    from interp.sinks.measure import SinkConfig
    from interp.sinks.pipeline import SinksRunConfig, sinks_pipeline
    from interp.sinks.run import summary_lines

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-seqs", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--epsilon", type=float, default=0.3)
    p.add_argument("--intervention-seqs", type=int, default=32)
    p.add_argument("--runs", default=None)
    args = p.parse_args(argv)

    cfg = SinkConfig(epsilon=args.epsilon, batch_size=16)
    run, result = sinks_pipeline("minilm", SinksRunConfig(seq_len=args.seq_len, max_seqs=args.max_seqs,
                                                          interventions=ALL_INTERVENTIONS,
                                                          intervention_seqs=args.intervention_seqs, measure=cfg),
                                 root=args.runs, slug="minilm-sinks")
    rep = result.report
    print("\n".join(summary_lines(rep, cfg.head_threshold)))
    for i, eps in enumerate(rep.extra_epsilons):
        print(f"\nfirst-token sink rate by layer at epsilon {eps:g}: "
              + ", ".join(f"{float(r):.3f}" for r in rep.sink_rate_eps[i].mean(1)))
    print("value-vector norm by category (mean over heads), layers 0..5:")
    for c, name in enumerate(rep.categories):
        print(f"  {name:>6}: " + ", ".join(f"{float(v):.2f}" for v in rep.v_norm[..., c].mean(1)))
    print("\ninterventions (first", args.intervention_seqs, "sequences): final hidden states vs clean")
    for r in (i.to_json() for i in result.interventions):
        print(f"  {r['name']:<20} cos {r['hidden_cos']:.4f}  rel L2 {r['hidden_rel_l2']:.4f}  "
              f"sink rate {r['sink_rate']:.3f}  first-token mass {r['first_mass']:.3f}")
    print(f"\nrun: {run.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
