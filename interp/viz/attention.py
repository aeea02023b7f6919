"""Attention figures: one head's pattern, the all-heads grid, and layer x head maps.

Why a module of its own: attention patterns are the first thing anyone looks at in
a transformer, and the same three pictures recur everywhere (the dashboard's
Attention page, head-score and sink notebooks, patching results over heads):

* :func:`attention_heatmap` - one head, ``[query_pos, key_pos]``, token labels on
  both axes. Positions are plotted as integers and labelled with ``ticktext``, so a
  token that occurs twice keeps two columns (plotly merges repeated category labels).
* :func:`head_grid` - every head of every layer as small multiples, each titled
  with its sink mass (attention on position 0: BOS / [CLS]) when given.
* :func:`head_heatmap` - any ``[layer, head]`` score (sink mass, sink rate, head
  scores, patching effects) with the values written in the cells.

:func:`sink_mass` is the one number the grid overlays; it is computed from the
pattern itself, so it needs no sink run. A ``sinks`` run draws with the same
builders (``interp.viz.sinks`` holds only the sink-specific figures)::

    t = run.read_tensors("sinks"); meta = run.read_json("meta")
    head_heatmap(t["sink_rate"], title="sink rate", zmin=0, zmax=1)
    head_grid(t["example_pattern"], t["mass"][..., 0], tokens=meta["example_tokens"])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.viz.base import plot_label, to_numpy as _np


def sink_mass(patterns: Any, skip_first_query: bool = True) -> np.ndarray:
    """Mean attention on key position 0 per head.

    patterns: [..., query_pos, key_pos] (e.g. [layer, head, q, k]). In a causal model
    query 0 can only attend to itself, so it is left out by default (when there is
    more than one query). Returns [...] (e.g. [layer, head]).
    """
    p = _np(patterns)
    if p.ndim < 2:
        raise ValueError(f"patterns must be [..., query_pos, key_pos], got shape {p.shape}.")
    col = p[..., :, 0]  # [..., q]
    if skip_first_query and col.shape[-1] > 1:
        col = col[..., 1:]
    return col.mean(-1)


def _ticks(labels: Sequence[str] | None, n: int) -> dict[str, Any]:
    if labels is None:
        return {}
    if len(labels) != n:
        raise ValueError(f"{len(labels)} token labels for {n} positions.")
    return {"tickmode": "array", "tickvals": list(range(n)), "ticktext": [str(t) for t in labels]}


def attention_heatmap(pattern: Any, labels: Sequence[str] | None = None, title: str | None = None,
                      zmax: float | None = 1.0, height: int = 520) -> go.Figure:
    """One head's pattern [query_pos, key_pos]; queries down, keys across; hover shows both tokens."""
    p = _np(pattern)
    if p.ndim != 2:
        raise ValueError(f"pattern must be [query_pos, key_pos], got shape {p.shape}.")
    q, k = p.shape
    if labels is not None and len(labels) != k:
        raise ValueError(f"{len(labels)} token labels for {k} positions.")
    klab = [str(t) for t in labels] if labels is not None else [str(i) for i in range(k)]
    qlab = klab[k - q:]  # queries are the last q positions (all of them for a full pattern)
    text = [[f"{qlab[i]} → {klab[j]}" for j in range(k)] for i in range(q)]
    fig = go.Figure(go.Heatmap(z=p, x=list(range(k)), y=list(range(q)), zmin=0, zmax=zmax,
                               colorscale="Blues", text=text,
                               hovertemplate="%{text}<br>attention %{z:.3f}<extra></extra>"))
    fig.update_xaxes(title="key", **_ticks(klab, k), tickangle=-60)
    fig.update_yaxes(title="query", autorange="reversed", **_ticks(qlab, q))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def head_grid(patterns: Any, sink: Any | None = None, title: str | None = None,
              cell_px: int = 150, tokens: Sequence[str] | None = None) -> go.Figure:
    """Every head's pattern as small multiples.

    patterns: [layer, head, q, k]; sink: [layer, head] (e.g. :func:`sink_mass`, or a sink
    run's ``mass[..., 0]``) printed in each title, so sink heads stand out; tokens: the
    k position labels, shown on hover (positions stay integers, so repeats stay apart).
    """
    p = _np(patterns)
    if p.ndim != 4:
        raise ValueError(f"patterns must be [layer, head, query_pos, key_pos], got shape {p.shape}.")
    n_layers, n_heads, q, k = p.shape
    s = None if sink is None else _np(sink)
    if s is not None and s.shape != (n_layers, n_heads):
        raise ValueError(f"sink must be [layer, head] = {(n_layers, n_heads)}, got shape {s.shape}.")
    text, where = None, "q %{y} → k %{x}"
    if tokens is not None:
        if len(tokens) != k:
            raise ValueError(f"{len(tokens)} token labels for {k} positions.")
        lab = [plot_label(str(t)) for t in tokens]
        text = [[f"{lab[k - q + i]} → {lab[j]}" for j in range(k)] for i in range(q)]
        where = "%{text}"
    titles = [f"L{l}H{h}" + (f" · sink {s[l, h]:.2f}" if s is not None else "")
              for l in range(n_layers) for h in range(n_heads)]
    fig = make_subplots(rows=n_layers, cols=n_heads, subplot_titles=titles,
                        horizontal_spacing=0.02, vertical_spacing=0.3 / max(n_layers, 1))
    for l in range(n_layers):
        for h in range(n_heads):
            fig.add_trace(go.Heatmap(z=p[l, h], zmin=0, zmax=1, colorscale="Blues", showscale=False, text=text,
                                     hovertemplate=f"L{l}H{h}<br>{where}<br>%{{z:.3f}}<extra></extra>"),
                          row=l + 1, col=h + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    fig.update_annotations(font_size=11)
    fig.update_layout(title=title, height=max(cell_px * n_layers + 60, 220),
                      margin=dict(l=10, r=10, t=60, b=10))
    return fig


def head_heatmap(values: Any, title: str | None = None, zmin: float | None = None, zmax: float | None = None,
                 colorscale: str = "Viridis", fmt: str = ".2f", colorbar_title: str | None = None,
                 zmid: float | None = None) -> go.Figure:
    """A [layer, head] score as a heatmap with the value in every cell (layer 0 at the top)."""
    v = _np(values)
    if v.ndim != 2:
        raise ValueError(f"values must be [layer, head], got shape {v.shape}.")
    n_layers, n_heads = v.shape
    text = [[format(x, fmt) for x in row] for row in v]
    fig = go.Figure(go.Heatmap(
        z=v, x=list(range(n_heads)), y=list(range(n_layers)), zmin=zmin, zmax=zmax, zmid=zmid,
        colorscale=colorscale, text=text, texttemplate="%{text}" if v.size <= 400 else None,
        colorbar=dict(title=colorbar_title) if colorbar_title else None,
        hovertemplate="layer %{y} head %{x}<br>%{z:.4f}<extra></extra>"))
    fig.update_xaxes(title="head", dtick=1)
    fig.update_yaxes(title="layer", dtick=1, autorange="reversed")
    fig.update_layout(title=title, height=max(40 * n_layers + 140, 240), margin=dict(l=10, r=10, t=40, b=10))
    return fig
