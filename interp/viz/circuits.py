"""Figures for circuits: the edge graph, faithfulness curves and patching heatmaps.

Inputs are the plain dicts/arrays of the ``circuit`` and ``patching`` runs
(docs/runs.md): ``graph.json``'s ``{"nodes", "edges"}``, ``faithfulness.json``, and
the ``[layer, pos]`` / ``[layer, head]`` tensors of ``patching.safetensors``.
"""

from __future__ import annotations

from typing import Any, Sequence

import plotly.graph_objects as go

_TYPE_COLOUR = {"input": "#4c78a8", "head": "#f58518", "mlp": "#54a24b", "output": "#e45756"}
_QKV_COLOUR = {"q": "#1f77b4", "k": "#d62728", "v": "#2ca02c", None: "#555555"}


def _layout_nodes(nodes: Sequence[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """x = node index within its row, y = row (input at the bottom, logits on top; MLPs above their layer's heads)."""
    rows: dict[float, list[str]] = {}
    for n in nodes:
        row = n["layer"] + (0.5 if n["type"] == "mlp" else 0.0)
        rows.setdefault(row, []).append(n["name"])
    pos = {}
    for row, names in rows.items():
        for i, name in enumerate(names):
            pos[name] = (i - (len(names) - 1) / 2, row)
    return pos


def circuit_graph_figure(graph: dict[str, Any], only_circuit: bool = True, title: str | None = None) -> go.Figure:
    """The circuit drawn by layer: nodes by type, edges with width ~ |score| and colour by q/k/v input.

    graph: ``graph.json`` (``nodes``, ``edges`` with ``src, dst, score, in_circuit`` and optional ``qkv``).
    only_circuit: draw only edges with ``in_circuit`` (else all, non-circuit ones faint).
    """
    nodes = graph["nodes"]
    pos = _layout_nodes(nodes)
    edges = [e for e in graph["edges"] if e.get("in_circuit") or not only_circuit]
    top = max((abs(e["score"]) for e in edges), default=1.0) or 1.0
    fig = go.Figure()
    for e in sorted(edges, key=lambda e: abs(e["score"])):
        (x0, y0), (x1, y1) = pos[e["src"]], pos[e["dst"]]
        qkv = e.get("qkv")
        fig.add_trace(go.Scatter(
            x=[x0, x1], y=[y0, y1], mode="lines", showlegend=False, hoverinfo="text",
            text=f"{e['src']} → {e['dst']}{'.' + qkv if qkv else ''}: {e['score']:.3g}",
            line={"width": 0.5 + 6 * abs(e["score"]) / top, "color": _QKV_COLOUR.get(qkv, "#555555")},
            opacity=0.85 if e.get("in_circuit") else 0.15,
        ))
    used = {e["src"] for e in edges} | {e["dst"] for e in edges}
    for kind, colour in _TYPE_COLOUR.items():
        sel = [n for n in nodes if n["type"] == kind]
        if not sel:
            continue
        fig.add_trace(go.Scatter(
            x=[pos[n["name"]][0] for n in sel], y=[pos[n["name"]][1] for n in sel], mode="markers+text",
            text=[n["name"] for n in sel], textposition="top center", name=kind,
            marker={"size": 16, "color": colour, "opacity": [1.0 if n["name"] in used else 0.3 for n in sel]},
        ))
    fig.update_layout(title=title or f"circuit ({graph.get('method', '')}); edge colour: q blue, k red, v green",
                      xaxis={"visible": False}, yaxis={"title": "layer", "zeroline": False}, height=500)
    return fig


def faithfulness_figure(curves: dict[str, dict[str, Any]] | dict[str, Any], x: str = "fraction_kept") -> go.Figure:
    """Metric recovered vs edges kept; ``curves`` is one faithfulness.json or ``{label: faithfulness.json}``."""
    if "metric_recovered" in curves:
        curves = {curves.get("ablation", "circuit"): curves}
    fig = go.Figure()
    for label, c in curves.items():
        name = label if c.get("auc") is None else f"{label} (AUC {c['auc']:.3f})"
        fig.add_trace(go.Scatter(x=c[x], y=c["metric_recovered"], mode="lines+markers", name=name))
    fig.add_hline(y=1.0, line_dash="dot", annotation_text="clean")
    fig.add_hline(y=0.0, line_dash="dot", annotation_text="corrupt")
    fig.update_layout(xaxis_title=x.replace("_", " "), yaxis_title="metric recovered (1 = clean)",
                      title="faithfulness", height=420)
    return fig


def patching_heatmap(values: Any, kind: str = "resid_pre", pos_labels: Sequence[str] | None = None,
                     title: str | None = None) -> go.Figure:
    """A patching sweep: ``[layer, pos]`` (resid_pre/attn_out/mlp_out) or ``[layer, head]`` (heads)."""
    import numpy as np

    arr = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"A patching sweep is 2-D [layer, pos|head], got shape {arr.shape}.")
    if kind == "heads":
        x = [f"H{h}" for h in range(arr.shape[1])]
        xlabel = "head"
    else:
        x = list(pos_labels) if pos_labels is not None else [str(i) for i in range(arr.shape[1])]
        if len(x) != arr.shape[1]:
            raise ValueError(f"{len(x)} position labels for {arr.shape[1]} positions.")
        x = [f"{i}:{lab}" for i, lab in enumerate(x)]  # unique even if tokens repeat
        xlabel = "position"
    fig = go.Figure(go.Heatmap(z=arr, x=x, y=[f"L{i}" for i in range(arr.shape[0])], colorscale="RdBu",
                               zmid=0.0, zmin=min(-1.0, arr.min()), zmax=max(1.0, arr.max()),
                               colorbar={"title": "normalised"}))
    fig.update_layout(title=title or f"patching: {kind}", xaxis_title=xlabel, yaxis_title="layer", height=360)
    return fig
