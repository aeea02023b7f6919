"""Figures for circuits: the edge graph, faithfulness curves and patching heatmaps.

Inputs are the plain dicts/arrays of the ``circuit`` and ``patching`` runs
(docs/runs.md): ``graph.json``'s ``{"nodes", "edges"}``, ``faithfulness.json``, and
the ``[layer, pos]`` / ``[layer, head]`` tensors of ``patching.safetensors``.

* :func:`circuit_graph_figure` lays nodes out by depth (input, then each layer's
  heads, then its MLP, then the logits) and draws edges with width ~ |score|. A
  discovered graph over every edge of a model has thousands of edges, so edges are
  bucketed into a handful of traces (segments separated by ``None``) instead of one
  trace each; an invisible marker at each edge's midpoint carries its hover text.
* :func:`faithfulness_figure`: metric recovered against the edges kept, one line per curve.
* :func:`patching_heatmap`: a patching sweep, ``[layer, pos]`` with token labels or
  ``[layer, head]`` (drawn by :func:`interp.viz.attention.head_heatmap`).
"""

from __future__ import annotations

from typing import Any, Sequence

import plotly.graph_objects as go

from interp.viz.attention import head_heatmap
from interp.viz.base import plot_label, to_numpy

_NODE_COLOUR = {"input": "#495057", "head": "#4c6ef5", "mlp": "#2f9e44", "output": "#495057"}
_QKV_COLOUR = {"q": "#1c7ed6", "k": "#e03131", "v": "#2f9e44", None: "#e8590c"}  # circuit edges, by head input
_N_WIDTHS = 6  # edge width buckets


def _depth(n: dict[str, Any]) -> float:
    t, layer = n.get("type"), n.get("layer")
    if t == "input":
        return -1.0
    if t == "output" or layer is None:
        return 1e9
    return float(layer) + (0.5 if t == "mlp" else 0.0)


def _column_name(depth: float) -> str:
    if depth < 0:
        return "input"
    if depth >= 1e9:
        return "output"
    return f"L{int(depth)} {'mlp' if depth % 1 else 'attn'}"


def graph_layout(nodes: Sequence[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """x = depth column (input, then per layer its heads then its MLP, then output), y = spread in the column."""
    columns: dict[float, list[str]] = {}
    for n in nodes:
        columns.setdefault(_depth(n), []).append(n["name"])
    pos = {}
    for x, key in enumerate(sorted(columns)):
        names = columns[key]
        for i, name in enumerate(names):
            pos[name] = (float(x), (len(names) - 1) / 2 - i)
    return pos


def circuit_graph_figure(graph: dict[str, Any], only_circuit: bool = True, title: str | None = None) -> go.Figure:
    """A circuit graph (``graph.json``): nodes by depth, edges as lines whose width is |score|.

    Circuit edges are coloured by the head input they feed (q blue, k red, v green; MLP and
    logits inputs orange), pruned edges faint grey. only_circuit: draw only ``in_circuit``
    edges and the nodes they touch (else every edge and node).
    """
    if "nodes" not in graph or "edges" not in graph:
        raise ValueError(f"graph must have 'nodes' and 'edges' (graph.json), it has {sorted(graph)}.")
    nodes, edges = graph["nodes"], graph["edges"]
    shown = [e for e in edges if e.get("in_circuit") or not only_circuit]
    known = {n["name"] for n in nodes}
    missing = {n for e in shown for n in (e["src"], e["dst"]) if n not in known}
    if missing:
        raise ValueError(f"edges name nodes that are not in the node list: {sorted(missing)[:5]}")
    used = {n for e in shown for n in (e["src"], e["dst"])} if only_circuit else known
    nodes = [n for n in nodes if n["name"] in used]
    pos = graph_layout(nodes)
    top = max((abs(float(e.get("score", 0))) for e in shown), default=1.0) or 1.0
    # One trace per (kept?, q/k/v, width bucket), segments separated by None: thousands of edges stay fast.
    lines: dict[tuple[bool, str, int], tuple[list, list]] = {}
    mid_x, mid_y, hover = [], [], []
    for e in shown:
        score, in_c, qkv = float(e.get("score", 0)), bool(e.get("in_circuit")), e.get("qkv") or ""
        (x0, y0), (x1, y1) = pos[e["src"]], pos[e["dst"]]
        xs, ys = lines.setdefault((in_c, qkv if in_c else "", min(_N_WIDTHS - 1, int(_N_WIDTHS * abs(score) / top))),
                                  ([], []))
        xs += [x0, x1, None]
        ys += [y0, y1, None]
        mid_x.append((x0 + x1) / 2)
        mid_y.append((y0 + y1) / 2)
        hover.append(f"{e['src']} → {e['dst']}{' (' + qkv + ')' if qkv else ''}: {score:.4g}"
                     + ("" if in_c else " (pruned)"))
    fig = go.Figure()
    seen: set[str] = set()
    for (in_c, qkv, bucket), (xs, ys) in sorted(lines.items()):
        name = ("circuit edge" + (f" ({qkv})" if qkv else "")) if in_c else "pruned edge"
        colour = _QKV_COLOUR.get(qkv or None, "#e8590c") if in_c else "rgba(160,160,160,0.35)"
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=name, legendgroup=name, showlegend=name not in seen,
                                 hoverinfo="skip", line=dict(width=0.5 + 5.5 * (bucket + 1) / _N_WIDTHS, color=colour)))
        seen.add(name)
    fig.add_trace(go.Scatter(x=mid_x, y=mid_y, mode="markers", marker=dict(size=8, opacity=0), text=hover,
                             hoverinfo="text", showlegend=False, name="edges"))
    names = [n["name"] for n in nodes]
    fig.add_trace(go.Scatter(x=[pos[n][0] for n in names], y=[pos[n][1] for n in names], mode="markers+text",
                             text=names, textposition="top center", name="node", showlegend=False,
                             marker=dict(size=16, color=[_NODE_COLOUR.get(n.get("type"), "#868e96") for n in nodes],
                                         line=dict(width=1, color="white")), hoverinfo="text"))
    depths = sorted({_depth(n) for n in nodes})
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(depths))), ticktext=[_column_name(d) for d in depths],
                     showgrid=False, zeroline=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=title or f"circuit ({graph.get('method', '?')})", height=520,
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.12))
    return fig


def faithfulness_figure(curves: dict[str, Any], x: str = "fraction_kept", title: str | None = "Faithfulness") -> go.Figure:
    """Metric recovered (1 = clean) against the edges kept.

    curves: one ``faithfulness.json`` or ``{label: faithfulness.json}``; x: ``fraction_kept`` or
    ``edges_kept``. Each line is named with its AUC when known; hover shows the edge count.
    """
    if "metric_recovered" in curves:
        curves = {curves.get("ablation", "circuit"): curves}
    fig = go.Figure()
    for label, c in curves.items():
        if x not in c or "metric_recovered" not in c:
            raise ValueError(f"curve {label!r} needs {x!r} and 'metric_recovered' (faithfulness.json), "
                             f"it has {sorted(c)}.")
        name = label if c.get("auc") is None else f"{label} (AUC {c['auc']:.3f})"
        kept = c.get("edges_kept")
        fig.add_trace(go.Scatter(x=list(c[x]), y=list(c["metric_recovered"]), mode="lines+markers", name=name,
                                 text=[f"{k} edges" for k in kept] if kept is not None else None,
                                 hovertemplate="%{x:.3g}" + (" (%{text})" if kept is not None else "")
                                               + "<br>recovered %{y:.3f}<extra></extra>"))
    fig.add_hline(y=1.0, line_dash="dot", line_color="gray", annotation_text="clean")
    fig.add_hline(y=0.0, line_dash="dot", line_color="gray", annotation_text="corrupt")
    fig.update_layout(title=title, xaxis_title=x.replace("_", " "), yaxis_title="metric recovered (1 = clean)",
                      height=360, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def patching_heatmap(values: Any, kind: str = "resid_pre", pos_labels: Sequence[str] | None = None,
                     title: str | None = None) -> go.Figure:
    """A patching sweep, normalised (1 = clean, 0 = corrupt): ``[layer, pos]`` (resid_pre / attn_out / mlp_out)
    with token labels along the positions, or ``[layer, head]`` for ``kind="heads"``.

    The colour scale is symmetric about 0 and spans at least [-1, 1], so full blue means "as clean".
    """
    v = to_numpy(values)
    if v.ndim != 2:
        raise ValueError(f"A patching sweep is 2-D [layer, pos|head], got shape {v.shape}.")
    lim = max(1.0, float(abs(v).max(initial=0.0)))
    zmin, zmax = -lim, lim
    if kind == "heads":
        return head_heatmap(v, title=title or "patching: heads", zmin=zmin, zmax=zmax, zmid=0.0, colorscale="RdBu",
                            colorbar_title="normalised")
    n_layers, n_pos = v.shape
    labels = [str(i) for i in range(n_pos)] if pos_labels is None else [plot_label(str(t)) for t in pos_labels]
    if len(labels) != n_pos:
        raise ValueError(f"{len(labels)} position labels for {n_pos} positions.")
    fig = go.Figure(go.Heatmap(z=v, x=list(range(n_pos)), y=list(range(n_layers)), colorscale="RdBu", zmid=0.0,
                               zmin=zmin, zmax=zmax, text=[labels] * n_layers, colorbar={"title": "normalised"},
                               hovertemplate="layer %{y}, %{x}: %{text}<br>%{z:.3f}<extra></extra>"))
    # integer positions labelled with ticktext: a token that occurs twice keeps two columns
    fig.update_xaxes(title="position", tickmode="array", tickvals=list(range(n_pos)), ticktext=labels, tickangle=-45)
    fig.update_yaxes(title="layer", dtick=1, autorange="reversed")
    fig.update_layout(title=title or f"patching: {kind}", height=max(30 * n_layers + 160, 260),
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig
