"""``interp graph``: the attribution graph of one prompt through a transcoder run (writes a ``graph`` run)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from interp.argtypes import fraction, positive_float, positive_int


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("graph", parents=parents, help="attribution graph of a prompt through transcoders (a `graph` run)")
    p.add_argument("--transcoder", required=True, help="transcoder run folder (interp transcoder train)")
    p.add_argument("--prompt", required=True)
    p.add_argument("--model", help="model spec (default: the one the transcoders were trained on)")
    p.add_argument("--target", help="a next token to attribute whatever its probability")
    p.add_argument("--max-logits", type=positive_int, default=10)
    p.add_argument("--logit-mass", type=fraction, default=0.95, help="cumulative probability of the logits kept")
    p.add_argument("--node-threshold", type=fraction, default=0.8, help="influence fraction of the features kept")
    p.add_argument("--edge-threshold", type=fraction, default=0.98, help="influence fraction of the edges kept")
    p.add_argument("--batch-size", type=positive_int, default=64, help="targets per vectorised backward pass")
    p.add_argument("--max-gib", type=positive_float, default=8.0, help="refuse graphs estimated larger than this")
    p.add_argument("--device", default=None)
    p.set_defaults(func=cmd_graph)


def cmd_graph(args: argparse.Namespace) -> int:
    from interp.graphs.pipeline import GraphRunConfig, graph_pipeline

    cfg = GraphRunConfig(args.max_logits, args.logit_mass, args.target, args.batch_size, args.node_threshold,
                         args.edge_threshold, args.max_gib * 2**30)
    run, graph = graph_pipeline(args.model, args.transcoder, args.prompt, cfg, root=args.runs, device=args.device)
    print(json.dumps(run.metrics))
    print(f"run: {run.path}")
    return 0
