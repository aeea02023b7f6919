"""The ``interp`` command. Thin by design: it builds the parser from each package's ``register`` and runs.

    interp models [--hooks SPEC]          what can be loaded here (and a model's hook names)   interp.models.cli
    interp train-toy NAME                 train a toy model (induction, modadd, toylm)           interp.models.cli
    interp capture --model SPEC --hooks H [H ...] [--corpus PATH ...]                          interp.hooks.cli
    interp sae train|eval|features ...    sparse autoencoders                                   interp.sae.cli
    interp probes ...                     linear / logistic probes with their controls          interp.probes.cli
    interp circuits induction             the induction circuit's known answer                 interp.circuits.cli
    interp circuits features              a sparse feature circuit (SAE latents + error nodes)  interp.circuits.cli
    interp sinks --model SPEC             attention sinks                                       interp.sinks.cli
    interp graph --transcoder RUN --prompt P   attribution graph of a prompt                   interp.graphs.cli
    interp dashboard [--runs DIR]         the Streamlit app over the runs folder                interp.dashboard_cli
    interp runs [--kind K] [--show RUN]   the run registry
    interp demo                           the end-to-end tour on shipped models and corpus

Commands that compute something record a run under ``--runs`` (default ``$INTERP_RUNS``
or ``./runs``); the listing commands only read. Each module in ``COMMAND_MODULES``
defines ``register(sub, parents)``: it adds its parsers to ``sub`` (passing ``parents``
to those that write runs, which gives them ``--runs``) and sets ``func`` on each, a
function that parses nothing further and calls the package's pipeline.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Sequence

COMMAND_MODULES: list[str] = [
    "interp.models.cli",
    "interp.hooks.cli",
    "interp.sae.cli",
    "interp.probes.cli",
    "interp.circuits.cli",
    "interp.sinks.cli",
    "interp.graphs.cli",
    "interp.transcoders.cli",
    "interp.dashboard_cli",
]


def runs_parent() -> argparse.ArgumentParser:
    """The ``--runs`` option every run-writing (or run-reading) command shares."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--runs", default=None, help="runs folder (default: $INTERP_RUNS or ./runs)")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interp", description="Mechanistic-interpretability workbench.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parents = [runs_parent()]
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, parents)

    p = sub.add_parser("runs", parents=parents, help="list runs, or show one")
    p.add_argument("--kind")
    p.add_argument("--model")
    p.add_argument("--show", metavar="RUN", help="print one run's run.json")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("demo", parents=parents,
                       help="the tour: capture activations from the shipped models and write runs")
    p.add_argument("--max-seqs", type=int, default=256, help="sequences per model (default 256)")
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted; completed work is kept (captures resume with --resume RUN).", file=sys.stderr)
        return 130
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as exc:
        if os.environ.get("INTERP_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_runs(args: argparse.Namespace) -> int:
    from interp.runs import load_run, scan_runs

    if args.show:
        print(json.dumps(load_run(args.show).to_json(), indent=2))
        return 0
    runs, problems = scan_runs(args.runs, kind=args.kind, model=args.model)
    if not runs:
        print("no runs yet (try `interp demo`)")
    for r in runs:
        metrics = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in list(r.metrics.items())[:4] if not isinstance(v, (dict, list)))
        print(f"{r.created}  {r.kind:<10} {r.status:<9} {str(r.model):<14} {r.path}  {metrics}")
    for path, err in problems:
        print(f"unreadable run {path}: {err}", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from interp.demo import run_demo

    run_demo(max_seqs=args.max_seqs, runs_root=args.runs, device=args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
