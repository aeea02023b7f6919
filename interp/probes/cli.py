"""``interp probes``: linear / logistic probes with their controls, recorded as ``probe`` runs.

    interp probes tokens --model minilm --task in_quotes word_start [--hooks H ...]
    interp probes modadd [--task answer fourier]
    interp probes capture RUN            # a token property on a capture run's rows (what the demo does)
"""

from __future__ import annotations

import argparse
from typing import Any
from interp.argtypes import nonneg_int, positive_int


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    from interp.probes.task_names import TASKS

    p = sub.add_parser("probes", help="linear / logistic probes with their controls (control task, random model)")
    cmds = p.add_subparsers(dest="probes_command", metavar="COMMAND", required=True)

    t = cmds.add_parser("tokens", parents=parents, help="token properties labelled from the text, layer by layer")
    t.add_argument("--model", default="minilm", help="model spec with a tokenizer (default minilm)")
    t.add_argument("--task", "--tasks", dest="tasks", nargs="+", default=None, choices=TASKS,
                   help="token-label tasks (default: word_start in_quotes pos_parity)")
    t.add_argument("--hooks", nargs="+", default=None, help="hooks to probe (default: embeddings + every block)")
    t.add_argument("--max-seqs", type=positive_int, default=96)
    t.add_argument("--seq-len", type=positive_int, default=128)
    t.add_argument("--docs", type=positive_int, default=48, help="documents drawn at random from the shipped corpus")
    t.add_argument("--max-epochs", type=positive_int, default=30)
    t.add_argument("--seed", type=nonneg_int, default=0)
    t.add_argument("--device", default=None)
    t.set_defaults(func=cmd_tokens)

    m = cmds.add_parser("modadd", parents=parents, help="the modular-addition model's answer and Fourier features")
    m.add_argument("--model", default="toy:modadd")
    m.add_argument("--task", "--tasks", dest="tasks", nargs="+", default=["answer", "fourier"],
                   choices=["answer", "fourier"])
    m.add_argument("--hooks", nargs="+", default=None, help="hooks to probe at the last position")
    m.add_argument("--max-epochs", type=positive_int, default=40)
    m.add_argument("--seed", type=nonneg_int, default=0)
    m.add_argument("--device", default=None)
    m.set_defaults(func=cmd_modadd)

    c = cmds.add_parser("capture", parents=parents, help="a token property on the rows of a capture run")
    c.add_argument("run", metavar="RUN", help="a capture run folder")
    c.add_argument("--task", "--tasks", dest="tasks", nargs="+", default=None, choices=TASKS,
                   help="candidates: the first whose rarer class is >= 5%% of the rows (default in_quotes word_start)")
    c.add_argument("--hook", default=None, help="default: the capture's first *hook_resid_post")
    c.add_argument("--max-seqs", type=positive_int, default=64)
    c.add_argument("--device", default=None)
    c.set_defaults(func=cmd_capture)


def _print(outcomes: list) -> int:
    from interp.probes.pipeline import summary_lines

    for run, result in outcomes:
        print("\n".join(summary_lines(run, result)))
    return 0


def cmd_tokens(args: argparse.Namespace) -> int:
    from interp.probes.pipeline import TokenProbeConfig, token_probe_pipeline

    cfg = TokenProbeConfig(hooks=args.hooks, max_seqs=args.max_seqs, seq_len=args.seq_len, docs=args.docs,
                           max_epochs=args.max_epochs, seed=args.seed, **({"tasks": args.tasks} if args.tasks else {}))
    return _print(token_probe_pipeline(args.model, cfg, root=args.runs, device=args.device))


def cmd_modadd(args: argparse.Namespace) -> int:
    from interp.probes.pipeline import ModaddProbeConfig, modadd_probe_pipeline

    cfg = ModaddProbeConfig(tasks=args.tasks, max_epochs=args.max_epochs, seed=args.seed,
                            **({"hooks": args.hooks} if args.hooks else {}))
    return _print(modadd_probe_pipeline(args.model, cfg, root=args.runs, device=args.device))


def cmd_capture(args: argparse.Namespace) -> int:
    from interp.probes.pipeline import CaptureProbeConfig, capture_probe_pipeline

    cfg = CaptureProbeConfig(hook=args.hook, max_seqs=args.max_seqs, **({"tasks": args.tasks} if args.tasks else {}))
    return _print([capture_probe_pipeline(args.run, cfg, root=args.runs, device=args.device)])
