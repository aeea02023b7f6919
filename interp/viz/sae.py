"""Figures for SAE features, from the plain arrays an ``sae`` run saves (see docs/runs.md).

The panels researchers know from sae_vis / Neuronpedia, each from one run artifact:

* :func:`density_histogram`: log10 firing density of every latent, one latent marked.
* :func:`activation_histogram`: one latent's histogram of non-zero activations.
* :func:`logit_effects`: the tokens a latent promotes and suppresses (W_dec · W_U).
* :func:`feature_scatter`: every live latent by density and max activation.
* :func:`tokens_html` / :func:`context_html`: a context as HTML, each token shaded by
  the latent's activation, the token and value on hover. ``tokens_html`` takes display
  strings (e.g. live text run through the model); ``context_html`` takes one saved
  window (``top_tokens`` / ``quantile_tokens`` ids, -1 off the sequence) and the run's
  ``vocab``.

Typical use with a run::

    f = {k: v.numpy() for k, v in run.read_tensors("features").items()}
    vocab = run.read_json("vocab"); left = run.read_json("features_meta")["ctx_left"]
    activation_histogram(f["hist_counts"][7], f["hist_edges"][7])
    context_html(f["top_tokens"][7, 0], f["top_acts"][7, 0], vocab, f["max_act"][7], left)

Nothing here loads a model or a run.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.viz.base import display_token, plot_label, to_numpy as _np

_MARGIN = dict(l=10, r=10, t=40, b=10)


def density_histogram(density: Any, selected: float | None = None, n_bins: int = 40, lo: float = -7.0,
                      title: str = "Latent density") -> go.Figure:
    """Histogram of log10(firing density) over latents [d_sae]; dead latents are counted in the title.

    selected: one latent's density, marked with a vertical line (ignored if 0: a dead latent).
    Densities below ``10**lo`` are drawn at ``lo``; a dotted line marks 10% (dense latents).
    """
    d = _np(density)
    alive = d[d > 0]
    fig = go.Figure(go.Histogram(x=np.log10(np.clip(alive, 10**lo, None)), nbinsx=n_bins, marker_color="#4c6ef5",
                                 hovertemplate="10^%{x:.2f}: %{y} latents<extra></extra>"))
    fig.add_vline(x=-1, line_dash="dot", line_color="gray", annotation_text="dense (10%)")
    if selected is not None and selected > 0:
        fig.add_vline(x=float(np.log10(max(selected, 10**lo))), line_color="#e8590c", line_width=2)
    fig.update_layout(title=f"{title} ({int((d <= 0).sum())} dead / {d.size})", xaxis_title="log10 density",
                      yaxis_title="latents", bargap=0.05, height=260, margin=_MARGIN)
    return fig


def activation_histogram(counts: Any, edges: Any, title: str = "Activations (non-zero)") -> go.Figure:
    """One latent's histogram of non-zero activations: ``counts`` [n_bins], ``edges`` [n_bins + 1]."""
    c, e = _np(counts), _np(edges)
    if c.ndim != 1 or e.shape != (c.shape[0] + 1,):
        raise ValueError(f"edges must have one more entry than counts, got {e.shape} and {c.shape}.")
    fig = go.Figure(go.Bar(x=(e[:-1] + e[1:]) / 2, y=c, width=np.diff(e), marker_color="#f08c00",
                           hovertemplate="[%{customdata[0]:.3g}, %{customdata[1]:.3g}): %{y}<extra></extra>",
                           customdata=np.stack([e[:-1], e[1:]], 1)))
    fig.update_layout(title=title, xaxis_title="activation", yaxis_title="tokens", bargap=0, height=260,
                      margin=_MARGIN)
    return fig


def logit_effects(pos_tokens: Sequence[str], pos_vals: Any, neg_tokens: Sequence[str], neg_vals: Any,
                  title: str | None = None) -> go.Figure:
    """Top positive and negative logit effects (W_dec · W_U) of one latent, side by side, largest first."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("promotes", "suppresses"), horizontal_spacing=0.25)
    for col, toks, vals, colour in ((1, pos_tokens, pos_vals, "#2f9e44"), (2, neg_tokens, neg_vals, "#e03131")):
        v = _np(vals)
        if len(toks) != len(v):
            raise ValueError(f"{len(toks)} tokens but {len(v)} logit values.")
        labels = [plot_label(repr(display_token(str(t)))) for t in toks]
        fig.add_trace(go.Bar(x=v, y=labels, orientation="h", marker_color=colour, showlegend=False,
                             hovertemplate="%{y}: %{x:.3f}<extra></extra>"), row=1, col=col)
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    fig.update_layout(title=title, height=max(26 * max(len(pos_tokens), len(neg_tokens)) + 80, 200),
                      margin=dict(_MARGIN, t=60 if title else 40))
    return fig


def feature_scatter(density: Any, max_act: Any, color: Any = None, title: str = "Latents: density vs max activation") -> go.Figure:
    """Every live latent as a point (log10 density, max activation); hover shows its index."""
    d, m = _np(density), _np(max_act)
    idx = np.nonzero(d > 0)[0]
    marker: dict[str, Any] = {"size": 5, "opacity": 0.7}
    if color is not None:
        marker.update(color=_np(color)[idx], colorscale="Viridis", showscale=True)
    fig = go.Figure(go.Scattergl(x=np.log10(d[idx]), y=m[idx], mode="markers", marker=marker, customdata=idx,
                                 hovertemplate="latent %{customdata}<br>log10 density %{x:.2f}<br>max %{y:.3g}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="log10 density", yaxis_title="max activation")
    return fig


def tokens_html(tokens: Sequence[str | None], acts: Any, scale: float | None = None, centre: int | None = None,
                color: str = "255, 140, 0") -> str:
    """Tokens as inline spans shaded by activation; hovering a token shows it and its value.

    ``tokens`` are display strings (``None`` = outside the sequence, skipped); ``acts``
    [ctx] the latent on each; ``scale`` the activation that gets full colour (default:
    the shown tokens' max); ``centre`` (an index into ``tokens``) is underlined. Spaces
    are kept (``pre-wrap``), newlines and tabs shown as ↵ and ⇥, text HTML-escaped.
    """
    a = _np(acts)
    if len(tokens) != a.shape[0]:
        raise ValueError(f"{len(tokens)} tokens but {a.shape[0]} activations.")
    shown = [v for t, v in zip(tokens, a) if t is not None]
    top = float(scale) if scale and scale > 0 else float(max(max(shown, default=0.0), 1e-9))
    spans = []
    for i, (tok, v) in enumerate(zip(tokens, a)):
        if tok is None:
            continue
        alpha = float(np.clip(v / top, 0.0, 1.0))
        style = f"background-color: rgba({color}, {alpha:.2f}); border-radius: 3px; padding: 0 1px;"
        if i == centre:
            style += " border-bottom: 2px solid #333;"
        text = html.escape(display_token(tok))
        spans.append(f'<span class="tok" style="{style}" title="{html.escape(repr(tok))}: {v:.3f}">{text}</span>')
    return ('<div class="ctx" style="font-family: monospace; line-height: 1.9; white-space: pre-wrap; '
            'overflow-wrap: anywhere;">' + "".join(spans) + "</div>")


def context_html(token_ids: Any, acts: Any, vocab: Sequence[str] | None, scale: float | None = None,
                 ctx_left: int | None = None) -> str:
    """:func:`tokens_html` for one saved window [ctx]: ids -1 (off the sequence) are dropped, ids named via
    ``vocab`` (the id itself without one); ``ctx_left`` is the window's centre (the token it was chosen for)."""
    ids = _np(token_ids, dtype=None).astype(int)
    toks = [None if i < 0 else (str(vocab[i]) if vocab is not None and i < len(vocab) else str(i)) for i in ids]
    return tokens_html(toks, acts, scale, ctx_left)
