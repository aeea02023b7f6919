"""Figures the dashboard draws from run artifacts (SAE features, circuits, patching, probes, sinks).

Every builder takes the plain arrays/dicts a run stores (docs/runs.md) and returns
a plotly ``Figure`` (or, for token contexts, an HTML string), so a notebook that
loads the same run draws the same picture::

    run = load_run("runs/sae/...")
    f = {k: v.numpy() for k, v in run.read_tensors("features").items()}
    activation_histogram(f["hist_counts"][7], f["hist_edges"][7])

Topic modules (``interp.viz.sae``, ``sinks``, ``probes``, ``circuits``) may grow
their own versions of some of these; this module holds the ones the pages need.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=float)


# --- SAE features -------------------------------------------------------------------------------

def display_token(s: str) -> str:
    """Make whitespace visible in a token string (newline → ↵, tab → ⇥); spaces stay spaces."""
    return s.replace("\n", "↵").replace("\t", "⇥").replace("\r", "")


def context_html(tokens: Sequence[str], acts: Any, max_act: float | None = None, centre: int | None = None,
                 rgb: tuple[int, int, int] = (255, 140, 0)) -> str:
    """Tokens as inline spans shaded by activation; hovering a token shows its value.

    tokens: the display strings of one context window; acts: [ctx] the latent on each
    token; max_act: the value that gets full colour (default: this context's max);
    centre: the index to underline (the token the context was chosen for).
    """
    a = _np(acts)
    if len(tokens) != len(a):
        raise ValueError(f"{len(tokens)} tokens but {len(a)} activations.")
    scale = float(max_act) if max_act and max_act > 0 else float(max(a.max(initial=0.0), 1e-9))
    spans = []
    for i, (tok, v) in enumerate(zip(tokens, a)):
        alpha = float(np.clip(v / scale, 0.0, 1.0))
        style = f"background-color: rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha:.2f}); border-radius: 3px; padding: 0 1px;"
        if i == centre:
            style += " border-bottom: 2px solid #333;"
        text = html.escape(display_token(tok))  # spaces kept by pre-wrap, and lines can still wrap there
        spans.append(f'<span class="tok" style="{style}" title="{html.escape(repr(tok))}: {v:.3f}">{text}</span>')
    return ('<div class="ctx" style="font-family: monospace; line-height: 1.9; white-space: pre-wrap; '
            'overflow-wrap: anywhere;">'
            + "".join(spans) + "</div>")


def activation_histogram(counts: Any, edges: Any, title: str | None = "Activations (non-zero)") -> go.Figure:
    """A latent's histogram of non-zero activations: counts [n_bins], edges [n_bins + 1]."""
    c, e = _np(counts), _np(edges)
    if e.shape[-1] != c.shape[-1] + 1:
        raise ValueError(f"edges must have one more entry than counts ({c.shape[-1] + 1}), got {e.shape[-1]}.")
    centres, widths = (e[:-1] + e[1:]) / 2, np.diff(e)
    fig = go.Figure(go.Bar(x=centres, y=c, width=widths, marker_color="#f08c00",
                           hovertemplate="%{x:.3f}: %{y:d}<extra></extra>"))
    fig.update_layout(title=title, height=260, bargap=0, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis_title="activation", yaxis_title="tokens")
    return fig


def density_histogram(density: Any, selected: float | None = None) -> go.Figure:
    """log10 firing density of every latent (dead latents counted apart); marks one latent's value."""
    d = _np(density)
    live = d[d > 0]
    fig = go.Figure(go.Histogram(x=np.log10(live), nbinsx=50, marker_color="#4c6ef5",
                                 hovertemplate="10^%{x:.2f}: %{y} latents<extra></extra>"))
    if selected is not None and selected > 0:
        fig.add_vline(x=float(np.log10(selected)), line_color="#e8590c", line_width=2)
    fig.update_layout(title=f"All latents: density ({int((d <= 0).sum())} dead)", height=260,
                      margin=dict(l=10, r=10, t=40, b=10), xaxis_title="log10 density", yaxis_title="latents")
    return fig


def logit_effects(pos_tokens: Sequence[str], pos_vals: Any, neg_tokens: Sequence[str], neg_vals: Any) -> go.Figure:
    """Top positive and negative logit effects (W_dec · W_U) of one latent as two bar charts."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("promotes", "suppresses"), horizontal_spacing=0.25)
    for col, toks, vals, colour in ((1, pos_tokens, pos_vals, "#2f9e44"), (2, neg_tokens, neg_vals, "#e03131")):
        v = _np(vals)
        labels = [repr(display_token(t)) for t in toks]
        fig.add_trace(go.Bar(x=v, y=labels, orientation="h", marker_color=colour, showlegend=False,
                             hovertemplate="%{y}: %{x:.3f}<extra></extra>"), row=1, col=col)
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    fig.update_layout(height=max(26 * max(len(pos_tokens), len(neg_tokens)) + 80, 200),
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


# --- circuits and patching ----------------------------------------------------------------------

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


def circuit_graph(nodes: Sequence[dict[str, Any]], edges: Sequence[dict[str, Any]], circuit_only: bool = False,
                  title: str | None = None) -> go.Figure:
    """A circuit graph (graph.json): nodes by depth, edges as lines whose width is |score|; circuit edges in colour."""
    shown = [e for e in edges if e.get("in_circuit") or not circuit_only]
    known = {n["name"] for n in nodes}
    missing = {n for e in shown for n in (e["src"], e["dst"]) if n not in known}
    if missing:
        raise ValueError(f"edges name nodes that are not in the node list: {sorted(missing)[:5]}")
    used = {n for e in shown for n in (e["src"], e["dst"])} if circuit_only else known
    nodes = [n for n in nodes if n["name"] in used]
    pos = graph_layout(nodes)
    top = max((abs(float(e.get("score", 0))) for e in shown), default=1.0) or 1.0
    # One trace per (kept?, width bucket), segments separated by None: thousands of edges stay fast.
    # Edges into a head's query, key and value share a line; the hover names each.
    lines: dict[tuple[bool, int], tuple[list, list]] = {}
    mid_x, mid_y, hover = [], [], []
    for e in shown:
        score = float(e.get("score", 0))
        (x0, y0), (x1, y1) = pos[e["src"]], pos[e["dst"]]
        xs, ys = lines.setdefault((bool(e.get("in_circuit")), min(5, int(6 * abs(score) / top))), ([], []))
        xs += [x0, x1, None]
        ys += [y0, y1, None]
        mid_x.append((x0 + x1) / 2)
        mid_y.append((y0 + y1) / 2)
        hover.append(f"{e['src']} → {e['dst']}{' (' + e['qkv'] + ')' if e.get('qkv') else ''}: {score:.4g}"
                     + ("" if e.get("in_circuit") else " (pruned)"))
    fig = go.Figure()
    seen: set[bool] = set()
    for (in_c, bucket), (xs, ys) in sorted(lines.items()):
        name = "circuit edge" if in_c else "pruned edge"
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=name, legendgroup=name, showlegend=in_c not in seen,
                                 hoverinfo="skip", line=dict(width=0.5 + 5.5 * (bucket + 1) / 6,
                                                             color="#e8590c" if in_c else "rgba(160,160,160,0.35)")))
        seen.add(in_c)
    fig.add_trace(go.Scatter(x=mid_x, y=mid_y, mode="markers", marker=dict(size=8, opacity=0), text=hover,
                             hoverinfo="text", showlegend=False, name="edges"))
    names = [n["name"] for n in nodes]
    colours = {"input": "#495057", "head": "#4c6ef5", "mlp": "#2f9e44", "output": "#495057"}
    fig.add_trace(go.Scatter(x=[pos[n][0] for n in names], y=[pos[n][1] for n in names], mode="markers+text",
                             text=names, textposition="top center", name="node", showlegend=False,
                             marker=dict(size=16, color=[colours.get(n.get("type"), "#868e96") for n in nodes],
                                         line=dict(width=1, color="white")), hoverinfo="text"))
    depths = sorted({_depth(n) for n in nodes})
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(depths))), ticktext=[_column_name(d) for d in depths],
                     showgrid=False, zeroline=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=title, height=520, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.12))
    return fig


def faithfulness_curve(fraction_kept: Sequence[float], metric_recovered: Sequence[float],
                       edges_kept: Sequence[int] | None = None, title: str | None = "Faithfulness") -> go.Figure:
    """Metric recovered (1 = full model) against the fraction of edges kept."""
    text = [f"{k} edges" for k in edges_kept] if edges_kept is not None else None
    fig = go.Figure(go.Scatter(x=list(fraction_kept), y=list(metric_recovered), mode="lines+markers", text=text,
                               hovertemplate="%{x:.3f} of edges (%{text})<br>recovered %{y:.3f}<extra></extra>"))
    fig.add_hline(y=1.0, line_dash="dot", line_color="gray")
    fig.update_layout(title=title, height=320, xaxis_title="fraction of edges kept",
                      yaxis_title="metric recovered", margin=dict(l=10, r=10, t=40, b=10))
    return fig


def patching_heatmap(values: Any, pos_labels: Sequence[str] | None = None, title: str | None = None) -> go.Figure:
    """A patching sweep [layer, pos] (1 = clean, 0 = corrupt) with token labels along the positions."""
    v = _np(values)
    if v.ndim != 2:
        raise ValueError(f"values must be [layer, pos], got shape {v.shape}.")
    n_layers, n_pos = v.shape
    labels = list(pos_labels) if pos_labels is not None and len(pos_labels) == n_pos else [str(i) for i in range(n_pos)]
    fig = go.Figure(go.Heatmap(z=v, x=list(range(n_pos)), y=list(range(n_layers)), colorscale="RdBu", zmid=0,
                               text=[labels] * n_layers,
                               hovertemplate="layer %{y}, %{text}<br>%{z:.3f}<extra></extra>"))
    fig.update_xaxes(title="position", tickmode="array", tickvals=list(range(n_pos)),
                     ticktext=[display_token(t) for t in labels], tickangle=-45)
    fig.update_yaxes(title="layer", dtick=1, autorange="reversed")
    fig.update_layout(title=title, height=max(30 * n_layers + 160, 260), margin=dict(l=10, r=10, t=40, b=10))
    return fig


# --- probes -------------------------------------------------------------------------------------

def probe_curves(rows: Sequence[dict[str, Any]], metric: str = "accuracy", chance: float | None = None,
                 title: str | None = None) -> go.Figure:
    """Probe score by layer (results.json rows): test and control scores, selectivity, the random-model baseline.

    Rows from several hook types (resid_post, attn_out, ...) become separate groups of lines.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        hook = str(r.get("hook", ""))
        kind = hook.split(".", 2)[-1] if hook.startswith("blocks.") else hook
        groups.setdefault(kind, []).append(r)
    series = (("test", "solid", "test"), ("val", "dot", "val"), ("control", "dash", "control task"),
              ("selectivity", "solid", "selectivity"), ("random_model", "dashdot", "random model"))
    fig = go.Figure()
    palette = ["#1c7ed6", "#e8590c", "#2f9e44", "#ae3ec9", "#495057"]
    for gi, (kind, rs) in enumerate(groups.items()):
        rs = sorted(rs, key=lambda r: r.get("layer", 0))
        for si, (key, dash, label) in enumerate(series):
            ys = [r.get(key) for r in rs]
            if all(y is None for y in ys):
                continue
            name = label if len(groups) == 1 else f"{kind}: {label}"
            fig.add_trace(go.Scatter(x=[r.get("layer") for r in rs], y=ys, mode="lines+markers", name=name,
                                     line=dict(dash=dash, color=palette[si % len(palette)],
                                               width=3 if key in ("test", "selectivity") else 1.5),
                                     opacity=1.0 if gi == 0 else 0.6))
    if chance is not None:
        fig.add_hline(y=chance, line_dash="dot", line_color="gray", annotation_text="chance")
    fig.update_layout(title=title, height=380, xaxis_title="layer", yaxis_title=metric,
                      xaxis=dict(dtick=1), margin=dict(l=10, r=10, t=40, b=10))
    return fig


# --- sinks --------------------------------------------------------------------------------------

def category_mass(mass: Any, categories: Sequence[str],
                  title: str | None = "Attention mass by token category") -> go.Figure:
    """Mean attention mass per token category for every head: mass [layer, head, n_categories], stacked."""
    m = _np(mass)
    if m.ndim != 3 or m.shape[2] != len(categories):
        raise ValueError(f"mass must be [layer, head, {len(categories)}], got shape {m.shape}.")
    n_layers, n_heads, _ = m.shape
    heads = [f"L{l}H{h}" for l in range(n_layers) for h in range(n_heads)]
    fig = go.Figure([go.Bar(x=heads, y=m[:, :, c].reshape(-1), name=str(cat)) for c, cat in enumerate(categories)])
    fig.update_layout(barmode="stack", title=title, height=340, yaxis_title="attention mass",
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


def emergence_curves(curves: Sequence[dict[str, Any]], title: str | None = "Sink emergence over training") -> go.Figure:
    """curves.json runs: sink rate (left) and loss (right) against training step, one line per setting."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("sink rate", "loss"))
    for i, c in enumerate(curves):
        colour = f"hsl({(i * 67) % 360},65%,45%)"
        label = str(c.get("label", i))
        fig.add_trace(go.Scatter(x=c["steps"], y=c["sink_rate"], mode="lines+markers", name=label,
                                 legendgroup=label, line=dict(color=colour)), row=1, col=1)
        if c.get("loss"):
            fig.add_trace(go.Scatter(x=c["steps"], y=c["loss"], mode="lines", name=label, legendgroup=label,
                                     showlegend=False, line=dict(color=colour)), row=1, col=2)
    fig.update_xaxes(title="step")
    fig.update_yaxes(range=[0, 1.05], row=1, col=1)
    fig.update_layout(title=title, height=380, margin=dict(l=10, r=10, t=60, b=10))
    return fig
