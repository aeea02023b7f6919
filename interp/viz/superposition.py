"""Figures for ``superposition`` runs: the learned feature directions and the phase diagram."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

PHASE_COLOURS = ["#d9d9d9", "#4c78a8", "#e45756"]  # not represented, dedicated dimension, superposition


def directions_figure(W: list[list[float]], decoder: list[list[float]] | None = None, title: str = "") -> go.Figure:
    """Each feature's direction (columns of ``W`` [2, n]) as an arrow from the origin; SAE decoder rows dashed."""
    fig = go.Figure()
    for i, (x, y) in enumerate(zip(W[0], W[1])):
        fig.add_trace(go.Scatter(x=[0, x], y=[0, y], mode="lines+markers+text", text=["", f"f{i}"],
                                 textposition="top center", name=f"feature {i}", line={"width": 3}))
    for j, (x, y) in enumerate(decoder or []):
        n = (x * x + y * y) ** 0.5 or 1.0
        fig.add_trace(go.Scatter(x=[0, x / n], y=[0, y / n], mode="lines", name="SAE decoder rows",
                                 line={"dash": "dot", "color": "black", "width": 1},
                                 showlegend=j == 0, legendgroup="sae"))
    fig.update_layout(title=title, xaxis={"range": [-1.3, 1.3], "scaleanchor": "y", "zeroline": True},
                      yaxis={"range": [-1.3, 1.3]}, height=420, margin={"l": 20, "r": 20, "t": 40, "b": 20})
    return fig


def phase_figure(phase: dict[str, Any]) -> go.Figure:
    """Heatmap of the 2nd feature's phase over density (rows) × relative importance (columns)."""
    names = phase["phases"]
    z = phase["phase"]
    text = [[names[v] for v in row] for row in z]
    n = len(names)  # one flat colour band per phase
    scale = [[(i + edge) / n, PHASE_COLOURS[i]] for i in range(n) for edge in (0, 1)]
    fig = go.Figure(go.Heatmap(z=z, x=[f"{r:g}" for r in phase["importances"]], y=[f"{d:g}" for d in phase["densities"]],
                               text=text, hovertemplate="importance %{x}, density %{y}: %{text}<extra></extra>",
                               zmin=-0.5, zmax=len(names) - 0.5, colorscale=scale,
                               colorbar={"tickvals": list(range(len(names))), "ticktext": names}))
    fig.update_layout(title="2 features in 1 dimension: what happens to the 2nd", height=460,
                      xaxis_title="relative importance of the 2nd feature", yaxis_title="feature density (1 - sparsity)",
                      margin={"l": 20, "r": 20, "t": 40, "b": 20})
    return fig
