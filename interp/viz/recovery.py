"""A found circuit against the ground truth: true positive, false positive and missed edges in three colours.

Input: one entry of a ``circuit-recovery`` run's ``graphs.json`` (docs/runs.md): the
``circuit`` run's graph.json format (``{"nodes", "edges"}``) with a ``true`` flag per
edge. Nodes sit where :func:`interp.viz.circuits.graph_layout` puts them, so the picture
lines up with the Circuits page's circuit graph.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from interp.viz.circuits import graph_layout

# category -> (legend name, colour, dash)
CATEGORIES = {
    "tp": ("found (true positive)", "#2f9e44", "solid"),
    "fp": ("spurious (false positive)", "#e03131", "solid"),
    "fn": ("missed (false negative)", "#f08c00", "dash"),
}

_QKV_OFFSET = {"q": 0.15, "k": 0.0, "v": -0.15}


def edge_category(edge: dict[str, Any]) -> str | None:
    """``tp`` / ``fp`` / ``fn`` for an edge with ``in_circuit`` and ``true`` flags; None when in neither."""
    kept, true = bool(edge.get("in_circuit")), bool(edge.get("true"))
    return "tp" if kept and true else "fp" if kept else "fn" if true else None


def recovery_graph_figure(graph: dict[str, Any], title: str | None = None) -> go.Figure:
    """The union of the found circuit and the ground truth, each edge coloured by :func:`edge_category`."""
    if "nodes" not in graph or "edges" not in graph:
        raise ValueError(f"graph must have 'nodes' and 'edges' (graphs.json), it has {sorted(graph)}.")
    edges = [(e, edge_category(e)) for e in graph["edges"]]
    edges = [(e, c) for e, c in edges if c is not None]
    used = {n for e, _ in edges for n in (e["src"], e["dst"])}
    nodes = [n for n in graph["nodes"] if n["name"] in used]
    pos = graph_layout(nodes)
    fig = go.Figure()
    for cat, (name, colour, dash) in CATEGORIES.items():
        xs: list = []
        ys: list = []
        hover, mx, my = [], [], []
        for e, c in edges:
            if c != cat:
                continue
            (x0, y0), (x1, y1) = pos[e["src"]], pos[e["dst"]]
            y1 += _QKV_OFFSET.get(e.get("qkv"), 0.0)  # a head's q, k and v edges fan in apart
            xs += [x0, x1, None]
            ys += [y0, y1, None]
            mx.append((x0 + x1) / 2)
            my.append((y0 + y1) / 2)
            qkv = f".{e['qkv']}" if e.get("qkv") else ""
            hover.append(f"{e['src']} → {e['dst']}{qkv}: {name}, score {float(e.get('score', 0)):.4g}")
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{name}: {len(mx)}", hoverinfo="skip",
                                 line=dict(width=3, color=colour, dash=dash)))
        fig.add_trace(go.Scatter(x=mx, y=my, mode="markers", marker=dict(size=8, opacity=0), text=hover,
                                 hoverinfo="text", showlegend=False, name=f"{cat} edges"))
    names = [n["name"] for n in nodes]
    fig.add_trace(go.Scatter(x=[pos[n][0] for n in names], y=[pos[n][1] for n in names], mode="markers+text",
                             text=names, textposition="top center", name="node", showlegend=False,
                             marker=dict(size=16, color="#4c6ef5", line=dict(width=1, color="white"))))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=title or "found circuit vs ground truth", height=420,
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.1))
    return fig
