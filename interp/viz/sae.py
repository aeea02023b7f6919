"""Figures for SAE features, from the plain arrays an ``sae`` run saves (see docs/runs.md).

Each builder takes numpy/torch arrays or lists and returns a plotly ``Figure``;
:func:`tokens_html` returns an HTML snippet (tokens shaded by a latent's
activation, the value on hover) for a dashboard's top-contexts panel. Nothing
here loads a model or a run.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go


def _np(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def density_histogram(density: Any, n_bins: int = 40, lo: float = -7.0, title: str = "Latent firing density") -> go.Figure:
    """Histogram of log10(firing density) over latents [d_sae]; dead latents are counted in the title."""
    d = _np(density).astype(float)
    alive = d[d > 0]
    fig = go.Figure(go.Histogram(x=np.log10(np.clip(alive, 10**lo, None)), nbinsx=n_bins, marker_color="#4c78a8"))
    fig.add_vline(x=-1, line_dash="dot", annotation_text="dense (10%)")
    fig.update_layout(title=f"{title} ({int((d == 0).sum())} dead of {d.size})", xaxis_title="log10 density",
                      yaxis_title="latents", bargap=0.05)
    return fig


def activation_histogram(counts: Any, edges: Any, title: str = "Activation histogram") -> go.Figure:
    """One latent's histogram of non-zero activations: ``counts`` [n_bins], ``edges`` [n_bins + 1]."""
    c, e = _np(counts).astype(float), _np(edges).astype(float)
    if e.shape != (c.shape[0] + 1,):
        raise ValueError(f"edges must have one more entry than counts, got {e.shape} and {c.shape}.")
    fig = go.Figure(go.Bar(x=(e[:-1] + e[1:]) / 2, y=c, width=np.diff(e), marker_color="#f58518",
                           hovertemplate="[%{customdata[0]:.3g}, %{customdata[1]:.3g}): %{y}<extra></extra>",
                           customdata=np.stack([e[:-1], e[1:]], 1)))
    fig.update_layout(title=title, xaxis_title="activation", yaxis_title="tokens", bargap=0)
    return fig


def logit_effects(pos_tokens: Sequence[str], pos_vals: Any, neg_tokens: Sequence[str], neg_vals: Any,
                  title: str = "Direct logit effect (W_dec · W_U)") -> go.Figure:
    """Horizontal bars: the tokens a latent promotes (positive) and suppresses (negative)."""
    pv, nv = _np(pos_vals).astype(float), _np(neg_vals).astype(float)
    labels = [repr(t) for t in list(neg_tokens)[::-1]] + [repr(t) for t in pos_tokens[::-1]]
    vals = np.concatenate([nv[::-1], pv[::-1]])
    fig = go.Figure(go.Bar(x=vals, y=list(range(len(vals))), orientation="h",
                           marker_color=["#e45756" if v < 0 else "#54a24b" for v in vals],
                           hovertemplate="%{text}: %{x:.3f}<extra></extra>", text=labels))
    fig.update_layout(title=title, xaxis_title="logit change per unit activation",
                      yaxis=dict(tickmode="array", tickvals=list(range(len(vals))), ticktext=labels), height=max(300, 22 * len(vals)))
    return fig


def feature_scatter(density: Any, max_act: Any, color: Any = None, title: str = "Latents: density vs max activation") -> go.Figure:
    """Every live latent as a point (log10 density, max activation); hover shows its index."""
    d, m = _np(density).astype(float), _np(max_act).astype(float)
    idx = np.nonzero(d > 0)[0]
    marker: dict[str, Any] = {"size": 5, "opacity": 0.7}
    if color is not None:
        marker.update(color=_np(color)[idx], colorscale="Viridis", showscale=True)
    fig = go.Figure(go.Scattergl(x=np.log10(d[idx]), y=m[idx], mode="markers", marker=marker, customdata=idx,
                                 hovertemplate="latent %{customdata}<br>log10 density %{x:.2f}<br>max %{y:.3g}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="log10 density", yaxis_title="max activation")
    return fig


def tokens_html(tokens: Sequence[str], acts: Any, scale: float | None = None, centre: int | None = None,
                color: str = "255, 127, 14") -> str:
    """Tokens as inline spans shaded by activation (``title`` shows the value on hover).

    ``tokens`` are display strings (``None`` = outside the sequence, skipped);
    ``acts`` the latent's value on each; ``scale`` the activation that gets full
    colour (default: the window's max); ``centre`` is underlined.
    """
    a = _np(acts).astype(float)
    if len(tokens) != a.shape[0]:
        raise ValueError(f"{len(tokens)} tokens but {a.shape[0]} activations.")
    shown = np.array([v for t, v in zip(tokens, a) if t is not None] or [0.0])
    top = scale if scale and scale > 0 else (shown.max() if shown.max() > 0 else 1.0)
    spans = []
    for i, (t, v) in enumerate(zip(tokens, a)):
        if t is None:
            continue
        alpha = float(np.clip(v / top, 0, 1))
        style = f"background-color: rgba({color}, {alpha:.2f}); padding: 0 1px; border-radius: 2px;"
        if i == centre:
            style += " text-decoration: underline; font-weight: bold;"
        text = html.escape(t).replace("\n", "↵").replace(" ", "&nbsp;") or "&nbsp;"
        spans.append(f'<span style="{style}" title="{v:.4g}">{text}</span>')
    return '<div style="font-family: monospace; line-height: 1.7;">' + "".join(spans) + "</div>"


def context_html(token_ids: Any, acts: Any, vocab: Sequence[str] | None, scale: float | None = None,
                 ctx_left: int | None = None) -> str:
    """:func:`tokens_html` for one saved window: ids -1 (off the sequence) are dropped; ids via ``vocab``."""
    ids = _np(token_ids).astype(int)
    toks = [None if i < 0 else (vocab[i] if vocab is not None and i < len(vocab) else str(i)) for i in ids]
    return tokens_html(toks, acts, scale, ctx_left)
