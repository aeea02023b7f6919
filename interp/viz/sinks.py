"""Figures for attention sinks, from plain arrays (the ``sinks`` and ``sink-emergence`` runs' contents).

* :func:`layer_head_heatmap`: any ``[layer, head]`` array (sink rate, mass on [CLS] ...).
* :func:`category_mass_bars`: stacked bars of attention mass per token category, by layer.
* :func:`emergence_curves`: sink rate (or alpha_0, loss) over training steps, one line per run.
* :func:`attention_heatmap`: one head's ``[query, key]`` pattern with token labels.
* :func:`head_grid`: every head's pattern as a small heatmap, titled with its sink mass.

Typical use with a run::

    t = run.read_tensors("sinks"); meta = run.read_json("meta")
    layer_head_heatmap(t["sink_rate"], title="sink rate")
    category_mass_bars(t["mass"], meta["categories"])
    head_grid(t["example_pattern"], meta["example_tokens"], sink_mass=t["mass"][..., 0])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=float)


def layer_head_heatmap(values: Any, title: str = "", zmax: float | None = 1.0, colorscale: str = "Blues",
                       label: str = "value") -> go.Figure:
    """Heatmap of a ``[layer, head]`` array (layers as rows, layer 0 at the top)."""
    v = _np(values)
    if v.ndim != 2:
        raise ValueError(f"layer_head_heatmap expects a [layer, head] array, got shape {v.shape}.")
    fig = go.Figure(go.Heatmap(
        z=v, x=[f"H{h}" for h in range(v.shape[1])], y=[f"L{l}" for l in range(v.shape[0])],
        zmin=0.0 if zmax is not None else None, zmax=zmax, colorscale=colorscale,
        text=np.round(v, 2), texttemplate="%{text}", hovertemplate="%{y} %{x}: %{z:.3f}<extra>" + label + "</extra>",
        colorbar={"title": label}))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, xaxis_title="head", yaxis_title="layer")
    return fig


def category_mass_bars(mass: Any, categories: Sequence[str], title: str = "Attention mass by token category") -> go.Figure:
    """Stacked bars: mean attention mass on each category per layer. mass: [layer, head, n_categories]."""
    m = _np(mass)
    if m.ndim != 3 or m.shape[-1] != len(categories):
        raise ValueError(f"mass must be [layer, head, {len(categories)}] for categories {list(categories)}, got {m.shape}.")
    by_layer = m.mean(1)  # [layer, cat]
    fig = go.Figure([go.Bar(name=c, x=[f"L{l}" for l in range(m.shape[0])], y=by_layer[:, i],
                            hovertemplate=c + " %{x}: %{y:.3f}<extra></extra>") for i, c in enumerate(categories)])
    fig.update_layout(barmode="stack", title=title, xaxis_title="layer", yaxis_title="mean attention mass",
                      yaxis_range=[0, 1])
    return fig


def emergence_curves(curves: dict[str, Any], metric: str = "sink_rate", title: str | None = None) -> go.Figure:
    """One line per training run of a ``curves.json`` (``{"epsilon", "runs": [...]}``), ``metric`` over steps.

    ``metric``: ``sink_rate``, ``alpha0``, ``first_mass`` or ``loss``; for ``alpha0`` each run's
    uniform-attention floor is drawn dotted when present.
    """
    runs = curves.get("runs", [])
    if not runs:
        raise ValueError("curves has no runs to draw.")
    fig = go.Figure()
    for r in runs:
        if metric not in r:
            raise ValueError(f"run {r.get('label')!r} has no {metric!r} curve; it has {sorted(k for k in r if isinstance(r[k], list))}.")
        dash = None if r.get("bos", True) else "dash"
        fig.add_trace(go.Scatter(x=r["steps"], y=r[metric], mode="lines+markers", name=r.get("label", ""),
                                 line={"dash": dash}))
        if metric == "alpha0" and "uniform_alpha0" in r:
            fig.add_trace(go.Scatter(x=[r["steps"][0], r["steps"][-1]], y=[r["uniform_alpha0"]] * 2, mode="lines",
                                     line={"dash": "dot", "width": 1}, showlegend=False, hoverinfo="skip"))
    eps = curves.get("epsilon")
    default = f"{metric} over training" + (f" (epsilon {eps})" if metric == "sink_rate" and eps is not None else "")
    fig.update_layout(title=title or default, xaxis_title="optimizer steps", yaxis_title=metric)
    return fig


def attention_heatmap(pattern: Any, tokens: Sequence[str], title: str = "") -> go.Figure:
    """One head's attention pattern ``[query, key]`` with token labels on both axes."""
    p = _np(pattern)
    if p.ndim != 2 or p.shape[0] != p.shape[1] or p.shape[0] != len(tokens):
        raise ValueError(f"pattern must be [query, key] with {len(tokens)} tokens, got shape {p.shape}.")
    labels = [f"{i}:{t}" for i, t in enumerate(tokens)]  # positions keep repeated tokens apart
    fig = go.Figure(go.Heatmap(z=p, x=labels, y=labels, zmin=0, zmax=1, colorscale="Blues",
                               hovertemplate="query %{y}<br>key %{x}<br>%{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title="query")
    fig.update_xaxes(title="key", tickangle=-60)
    fig.update_layout(title=title)
    return fig


def head_grid(patterns: Any, tokens: Sequence[str] | None = None, sink_mass: Any = None,
              title: str = "Every head on one example") -> go.Figure:
    """All heads' patterns ``[layer, head, q, k]`` as a grid of small heatmaps, each titled with its sink mass.

    ``sink_mass`` ([layer, head], e.g. ``mass[..., 0]``) is printed in each subplot title,
    so the sink heads stand out; the first key column is where a first-token sink shows.
    """
    p = _np(patterns)
    if p.ndim != 4:
        raise ValueError(f"patterns must be [layer, head, query, key], got shape {p.shape}.")
    n_layers, n_heads = p.shape[:2]
    sm = _np(sink_mass) if sink_mass is not None else None
    titles = [f"L{l}H{h}" + (f" {sm[l, h]:.2f}" if sm is not None else "") for l in range(n_layers) for h in range(n_heads)]
    fig = make_subplots(rows=n_layers, cols=n_heads, subplot_titles=titles, horizontal_spacing=0.01,
                        vertical_spacing=0.04)
    labels = list(tokens) if tokens is not None else None
    for l in range(n_layers):
        for h in range(n_heads):
            fig.add_trace(go.Heatmap(z=p[l, h], x=labels, y=labels, zmin=0, zmax=1, colorscale="Blues",
                                     showscale=False, hovertemplate=f"L{l}H{h}<br>q %{{y}} k %{{x}}: %{{z:.2f}}<extra></extra>"),
                          row=l + 1, col=h + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    fig.update_annotations(font_size=9)
    fig.update_layout(title=title, height=max(300, 110 * n_layers), width=max(400, 95 * n_heads))
    return fig
