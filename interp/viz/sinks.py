"""Figures for attention sinks, from plain arrays (the ``sinks`` and ``sink-emergence`` runs' contents).

* :func:`category_mass_bars`: stacked bars of attention mass per token category, per head
  (sink heads stand out) or averaged per layer.
* :func:`emergence_curves`: sink rate (or alpha_0, first-token mass, loss) over training
  steps, one line per training run.

Patterns and ``[layer, head]`` maps are attention figures, drawn by
:mod:`interp.viz.attention` for sinks runs and live models alike::

    from interp.viz.attention import head_grid, head_heatmap
    t = run.read_tensors("sinks"); meta = run.read_json("meta")
    head_heatmap(t["sink_rate"], title="sink rate", zmin=0, zmax=1)
    category_mass_bars(t["mass"], meta["categories"])
    head_grid(t["example_pattern"], t["mass"][..., 0], tokens=meta["example_tokens"])
"""

from __future__ import annotations

from typing import Any, Sequence

import plotly.colors
import plotly.graph_objects as go

from interp.viz.base import to_numpy as _np


def category_mass_bars(mass: Any, categories: Sequence[str], by: str = "head",
                       title: str | None = "Attention mass by token category") -> go.Figure:
    """Stacked bars of the mean attention mass on each token category. mass: [layer, head, n_categories].

    by: ``"head"`` (one bar per head, ``L0H0`` …) or ``"layer"`` (heads averaged).
    """
    m = _np(mass)
    if m.ndim != 3 or m.shape[-1] != len(categories):
        raise ValueError(f"mass must be [layer, head, {len(categories)}] for categories {list(categories)}, "
                         f"got shape {m.shape}.")
    n_layers, n_heads, _ = m.shape
    if by == "head":
        x, y = [f"L{l}H{h}" for l in range(n_layers) for h in range(n_heads)], m.reshape(-1, m.shape[-1])
    elif by == "layer":
        x, y = [f"L{l}" for l in range(n_layers)], m.mean(1)  # [layer, cat]
    else:
        raise ValueError(f"by must be 'head' or 'layer', got {by!r}.")
    fig = go.Figure([go.Bar(name=str(c), x=x, y=y[:, i], hovertemplate=f"{c} %{{x}}: %{{y:.3f}}<extra></extra>")
                     for i, c in enumerate(categories)])
    fig.update_layout(barmode="stack", title=title, xaxis_title=by, yaxis_title="mean attention mass",
                      yaxis_range=[0, 1.02], height=340, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def emergence_curves(curves: dict[str, Any] | Sequence[dict[str, Any]], metric: str = "sink_rate",
                     title: str | None = None) -> go.Figure:
    """One line per training run of a ``curves.json`` (``{"epsilon", "runs": [...]}``, or its ``runs`` list).

    ``metric``: ``sink_rate``, ``alpha0``, ``first_mass`` or ``loss`` over ``steps``. Runs
    without BOS are dashed; for ``alpha0`` each run's uniform-attention floor (``uniform_alpha0``)
    is drawn dotted in the run's colour.
    """
    if not isinstance(curves, dict):
        curves = {"runs": list(curves)}
    runs = curves.get("runs", [])
    if not runs:
        raise ValueError("curves has no runs to draw.")
    palette = plotly.colors.qualitative.Plotly
    fig = go.Figure()
    for i, r in enumerate(runs):
        if metric not in r:
            have = sorted(k for k in r if isinstance(r[k], list) and k != "steps")
            raise ValueError(f"run {r.get('label')!r} has no {metric!r} curve; it has {have}.")
        label, colour = str(r.get("label", i)), palette[i % len(palette)]
        dash = None if r.get("bos", True) else "dash"
        fig.add_trace(go.Scatter(x=r["steps"], y=r[metric], mode="lines+markers", name=label, legendgroup=label,
                                 line={"dash": dash, "color": colour}))
        if metric == "alpha0" and "uniform_alpha0" in r:
            fig.add_trace(go.Scatter(x=[r["steps"][0], r["steps"][-1]], y=[r["uniform_alpha0"]] * 2, mode="lines",
                                     line={"dash": "dot", "width": 1, "color": colour}, legendgroup=label,
                                     showlegend=False, hoverinfo="skip"))
    eps = curves.get("epsilon")
    default = f"Sink emergence: {metric} over training" + (f" (ε = {eps})" if metric == "sink_rate" and eps is not None
                                                          else "")
    fig.update_layout(title=title or default, xaxis_title="optimizer steps", yaxis_title=metric, height=380,
                      margin=dict(l=10, r=10, t=40, b=10))
    if metric in ("sink_rate", "first_mass"):
        fig.update_yaxes(range=[0, 1.05])
    return fig
