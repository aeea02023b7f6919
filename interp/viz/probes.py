"""Probe and Fourier figures: a probe's score by layer against its controls, and a frequency spectrum.

* :func:`probe_accuracy_figure` draws one ``probe`` run's ``results.json``
  (docs/runs.md): test score per hook in row order, with the control-task score,
  the selectivity (test − control, Hewitt & Liang 2019), the random-model baseline
  and the chance level, so a probe is never shown without its controls. Hooks are
  the x axis (labelled ``L<layer> <hook>``), in depth order (rows sorted by
  ``layer``, ties kept in probing order): one series runs from layer 0's
  ``hook_resid_pre`` through every later hook, and mid-block hooks (``resid_mid``,
  ``mlp.hook_post``) keep their own points between the block outputs.
* :func:`fourier_norms_figure` draws a ``fourier`` run's norm per frequency (of the
  embedding, optionally of the logits) with the key frequencies highlighted.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from interp.viz.base import to_numpy

SERIES = (  # (row key, legend name, dash, width)
    ("test", "probe (test)", "solid", 3),
    ("control", "control task", "dash", 2),
    ("selectivity", "selectivity", "solid", 2),
    ("random_model", "random model", "dashdot", 2),
)


def _short(hook: str) -> str:
    return hook[len("blocks."):] if hook.startswith("blocks.") else hook


def probe_accuracy_figure(results: dict[str, Any], title: str | None = None) -> go.Figure:
    """Score by hook with control, selectivity, random-model baseline and chance, from a results.json dict."""
    rows = results.get("rows") or []
    if not rows:
        raise ValueError("results has no rows: nothing was probed.")
    missing = {k for k, *_ in SERIES} - set(rows[0])
    if missing:
        raise ValueError(f"results rows lack {sorted(missing)}; they must follow the probe contract in docs/runs.md.")
    metric = results.get("metric", "accuracy")
    if all(isinstance(r.get("layer"), int) for r in rows):
        rows = sorted(rows, key=lambda r: r["layer"])  # stable: hooks of one layer keep their probing order
    x = [f"L{r.get('layer', '?')} {_short(str(r.get('hook', '')))}" for r in rows]
    fig = go.Figure()
    colors = ["#1c7ed6", "#e8590c", "#2f9e44", "#868e96"]
    for (key, name, dash, width), color in zip(SERIES, colors):
        fig.add_trace(go.Scatter(x=x, y=[r[key] for r in rows], name=name, mode="lines+markers",
                                 line=dict(dash=dash, width=width, color=color)))
    if any(r.get("val") is not None for r in rows):  # validation score: one click away in the legend
        fig.add_trace(go.Scatter(x=x, y=[r.get("val") for r in rows], name="probe (val)", mode="lines+markers",
                                 line=dict(dash="dot", width=1.5, color=colors[0]), visible="legendonly"))
    chance = results.get("chance")
    if chance is not None:
        fig.add_hline(y=float(chance), line_dash="dot", line_color="gray", annotation_text=f"chance {float(chance):.3f}")
    task = results.get("task", "")
    fig.update_layout(title=title or f"{task}: probe {metric} by layer", xaxis_title="hook", yaxis_title=metric,
                      height=400, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def fourier_norms_figure(embed_norms: Any, key_freqs: Sequence[int] = (), logit_norms: Any = None,
                         title: str | None = "Norm per Fourier frequency") -> go.Figure:
    """Bars of the norm per frequency ``k = 1..`` (entry ``k - 1``), key frequencies highlighted.

    embed_norms: [n_freq] (a fourier run's ``embed_norms``); logit_norms: optional [n_freq'],
    drawn on a second axis as each vector is on its own scale.
    """
    e = to_numpy(embed_norms)
    if e.ndim != 1:
        raise ValueError(f"embed_norms must be a vector [n_freq], got shape {e.shape}.")
    freqs = np.arange(1, e.shape[0] + 1)
    keys = set(int(k) for k in key_freqs)
    colors = ["#e8590c" if int(k) in keys else "#adb5bd" for k in freqs]
    fig = go.Figure(go.Bar(x=freqs, y=e, marker_color=colors, name="embedding W_E",
                           hovertemplate="frequency %{x}<br>norm %{y:.3f}<extra></extra>"))
    if logit_norms is not None:
        lg = to_numpy(logit_norms)
        fig.add_trace(go.Scatter(x=np.arange(1, lg.shape[0] + 1), y=lg, name="logits along cos/sin w(a+b)",
                                 mode="markers", marker=dict(color="#1c7ed6", size=6), yaxis="y2"))
        fig.update_layout(yaxis2=dict(title="logit norm", overlaying="y", side="right", showgrid=False))
    label = ", ".join(str(k) for k in key_freqs)
    fig.update_layout(title=f"{title} (key: {label})" if keys and title else title, xaxis_title="frequency k",
                      yaxis_title="embedding norm", height=380, bargap=0.15, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.2))
    return fig
