"""``interp capture``: activations of a model on a corpus into a ``capture`` run (see :mod:`interp.hooks.pipeline`)."""

from __future__ import annotations

import argparse
from typing import Any
from interp.argtypes import positive_int


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("capture", parents=parents, help="capture activations to an ActivationStore")
    p.add_argument("--model", help="model spec: toy:NAME, minilm, a HF folder or hub name")
    p.add_argument("--hooks", nargs="+", help="TransformerLens hook names, e.g. blocks.1.hook_resid_post")
    p.add_argument("--corpus", nargs="*", help=".txt/.jsonl files or folders (default: the shipped corpus)")
    p.add_argument("--seq-len", type=positive_int, default=128)
    p.add_argument("--max-seqs", type=positive_int, help="use at most this many sequences")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--positions", default=None, help="'all' (default), 'last', or comma-separated positions")
    p.add_argument("--no-bos", action="store_true", help="drop BOS/[CLS] positions")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    p.add_argument("--tokens-per-shard", type=positive_int, default=65536)
    p.add_argument("--device", default=None)
    p.add_argument("--out", help="store folder (default: inside the run folder)")
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted capture run (its folder)")
    p.set_defaults(func=cmd_capture)


def cmd_capture(args: argparse.Namespace) -> int:
    from interp.hooks.pipeline import CaptureConfig, capture_run, open_store, resume_capture

    if args.resume:
        run = resume_capture(args.resume, device=args.device)
    else:
        if not args.model or not args.hooks:
            raise ValueError("capture needs --model SPEC and --hooks NAME [NAME ...] (or --resume RUN).")
        cfg = CaptureConfig(model=args.model, hooks=args.hooks, corpus=args.corpus, seq_len=args.seq_len,
                            max_seqs=args.max_seqs, batch_size=args.batch_size, positions=args.positions,
                            include_bos=not args.no_bos, dtype=args.dtype, tokens_per_shard=args.tokens_per_shard,
                            out=args.out)
        run = capture_run(cfg, root=args.runs, device=args.device)
    print(f"{open_store(run.path)}\nrun: {run.path}")
    return 0
