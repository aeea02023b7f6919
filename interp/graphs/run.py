"""The ``graph`` run: an attribution graph and its pruning, as the Graphs page and notebooks read them.

Artifacts (docs/runs.md):

* ``graph`` → ``graph.safetensors``: the non-zero edges in coordinate form
  (``edge_target``, ``edge_source`` [n_edges] int64, ``edge_weight`` [n_edges]; a dense
  matrix of a 64-token prompt is tens of MB, most of it zeros that causality and layer
  order force), ``values`` and ``bias`` [n_nodes], ``feat_layer``, ``feat_pos``,
  ``feat_idx``, ``feat_act`` [n_feat], ``logit_ids``, ``logit_probs`` [n_logit],
  ``tokens`` [n_pos], ``node_influence`` [n_nodes], ``node_keep`` [n_nodes] (bool),
  ``edge_keep`` [n_edges] (bool: the pruned graph);
* ``meta`` → ``meta.json``: ``prompt``, ``token_strs``, ``logit_strs``, ``layers``,
  ``logit_pos``, ``model_logits``, the node counts and the thresholds.

:func:`read_graph` turns a run back into a :class:`~interp.graphs.attribute.Graph`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from interp.graphs.attribute import Graph
from interp.graphs.prune import Pruned
from interp.runs import Run, start_run


def write_graph_run(result: tuple[Graph, Pruned], *, spec: str, config: dict[str, Any],
                    root: str | Path | None = None, slug: str | None = None) -> Run:
    """Write a graph and its pruning as a ``graph`` run of the model ``spec``."""
    graph, pruned = result
    t, s = graph.adjacency.nonzero(as_tuple=True)
    with start_run("graph", config, model=spec, slug=slug or f"{spec}-graph", root=root) as run:
        run.write_tensors("graph", {
            "edge_target": t, "edge_source": s, "edge_weight": graph.adjacency[t, s].float(),
            "values": graph.values, "bias": graph.bias, "feat_layer": graph.feat_layer, "feat_pos": graph.feat_pos,
            "feat_idx": graph.feat_idx, "feat_act": graph.feat_act, "logit_ids": graph.logit_ids,
            "logit_probs": graph.logit_probs, "tokens": torch.tensor(graph.tokens),
            "node_influence": pruned.node_influence, "node_keep": pruned.node_mask,
            "edge_keep": pruned.edge_mask[t, s]})
        run.write_json("meta", {
            "prompt": config.get("prompt"), "token_strs": graph.token_strs, "layers": graph.layers,
            "logit_pos": graph.logit_pos, "logit_strs": graph.meta.get("logit_strs", []),
            "model_logits": graph.meta.get("model_logits", []), "n_feat": graph.n_feat, "n_err": graph.n_err,
            "n_pos": graph.n_pos, "n_logit": graph.n_logit, "node_threshold": pruned.node_threshold,
            "edge_threshold": pruned.edge_threshold})
        kept = pruned.node_mask[: graph.n_feat]
        run.metrics.update({"nodes": graph.n_nodes, "features": graph.n_feat, "edges": int(t.numel()),
                            "kept_features": int(kept.sum()), "kept_edges": int(pruned.edge_mask.sum()),
                            "top_logit": graph.meta.get("logit_strs", [""])[0] if graph.n_logit else "",
                            "top_prob": round(float(graph.logit_probs[0]), 4) if graph.n_logit else 0.0})
    return run


def read_graph(run: Run) -> tuple[Graph, dict[str, Any]]:
    """``(graph, extra)`` from a ``graph`` run; ``extra`` holds the pruning masks, the influence and meta.json."""
    t = run.read_tensors("graph")
    meta = run.read_json("meta")
    n_feat, n_pos, n_logit = int(meta["n_feat"]), int(meta["n_pos"]), int(meta["n_logit"])
    n_nodes = n_feat + int(meta["n_err"]) + n_pos + n_logit
    adjacency = torch.zeros(n_nodes, n_nodes)
    adjacency[t["edge_target"], t["edge_source"]] = t["edge_weight"]
    graph = Graph(t["tokens"].tolist(), list(meta["token_strs"]), list(meta["layers"]), t["feat_layer"], t["feat_pos"],
                  t["feat_idx"], t["feat_act"], t["logit_ids"], t["logit_probs"], adjacency, t["values"], t["bias"],
                  int(meta["logit_pos"]), {"logit_strs": meta["logit_strs"], "model_logits": meta["model_logits"]})
    edge_keep = torch.zeros(n_nodes, n_nodes, dtype=torch.bool)
    edge_keep[t["edge_target"], t["edge_source"]] = t["edge_keep"]
    return graph, {"node_keep": t["node_keep"], "edge_keep": edge_keep, "node_influence": t["node_influence"], **meta}
