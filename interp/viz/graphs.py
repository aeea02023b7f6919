"""Figures for attribution graphs (``graph`` runs): the pruned graph drawn over the prompt.

Input is a :class:`interp.graphs.attribute.Graph` (what ``interp.graphs.read_graph``
returns: node order features, error nodes, token embeddings, logits) and the pruning as
plain arrays (``node_keep`` [n_nodes], ``edge_keep`` [n_nodes, n_nodes], ``influence``
[n_nodes]), so a notebook re-pruning with other thresholds draws with the same call.

The layout reads like the prompt: x is the token position and y the depth (embeddings
at the bottom, then each transcoder layer's features and error node, the logits on top
at the position they predict from), so information flows up and to the right. Several
nodes of one (layer, position) cell are spread a little around it (the most influential
in the middle) instead of drawn on top of each other. A pruned graph of a long prompt has
hundreds of nodes and thousands of edges, so edges are bucketed by sign and |weight|
into a few line traces (segments separated by ``None``) rather than one trace per edge,
and an invisible marker at each edge's midpoint carries its hover text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

from interp.viz.base import plot_label, to_numpy

if TYPE_CHECKING:  # typing only: the figure reads a Graph's fields, it never computes one
    from interp.graphs.attribute import Graph

POSITIVE, NEGATIVE = "#1c7ed6", "#e03131"  # edge colours: excitatory blue, inhibitory red
_POS_RGB, _NEG_RGB = "28,126,214", "224,49,49"
NODE_STYLE = {  # kind -> (trace name, marker symbol, colour)
    "feature": ("features", "circle", "#f59f00"),
    "error": ("error nodes", "diamond", "#868e96"),
    "embedding": ("embeddings", "square", "#495057"),
    "logit": ("logits", "hexagon", "#2f9e44"),
}
_N_WIDTHS = 5  # edge width buckets per sign
CELL_WIDTH = 0.8  # how far the nodes of one (layer, position) cell spread along x


def node_kinds(graph: Graph) -> np.ndarray:
    """Each node's kind (``feature``, ``error``, ``embedding``, ``logit``) [n_nodes], in the Graph's node order."""
    return np.array(["feature"] * graph.n_feat + ["error"] * graph.n_err + ["embedding"] * graph.n_pos
                    + ["logit"] * graph.n_logit, dtype=object)


def node_cells(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """The (row, position) cell of every node [n_nodes] each: row 0 the embeddings, ``1 + i`` the features and
    error nodes of ``graph.layers[i]``, ``len(layers) + 1`` the logits (at ``graph.logit_pos``)."""
    row_of = {int(l): i + 1 for i, l in enumerate(graph.layers)}
    feat_layer = to_numpy(graph.feat_layer, dtype=None).astype(int)
    unknown = sorted({int(l) for l in feat_layer} - set(row_of))
    if unknown:
        raise ValueError(f"features on layers {unknown}, which are not among the graph's layers {graph.layers}.")
    n_pos, n_layers = graph.n_pos, len(graph.layers)
    err = np.arange(graph.n_err)
    rows = np.concatenate([[row_of[int(l)] for l in feat_layer], 1 + err // n_pos, np.zeros(n_pos),
                           np.full(graph.n_logit, n_layers + 1)]).astype(int)
    pos = np.concatenate([to_numpy(graph.feat_pos, dtype=None).astype(int), err % n_pos, np.arange(n_pos),
                          np.full(graph.n_logit, graph.logit_pos)]).astype(int)
    return rows, pos


def node_layout(graph: Graph, shown: Any, influence: Any | None = None) -> tuple[np.ndarray, np.ndarray]:
    """x, y of every node [n_nodes] (NaN where not ``shown``): x = token position, y = row (see node_cells).

    The shown nodes of a cell are spread over ``CELL_WIDTH`` around its position, ordered by influence with the
    largest in the middle, error nodes last; crowded cells (more than 3) are also staggered a little in y. A
    cell with one node has it exactly on its position and row.
    """
    shown = to_numpy(shown, dtype=bool)
    inf = np.zeros(graph.n_nodes) if influence is None else to_numpy(influence)
    kinds = node_kinds(graph)
    rows, pos = node_cells(graph)
    x, y = np.full(graph.n_nodes, np.nan), np.full(graph.n_nodes, np.nan)
    cells: dict[tuple[int, int], list[int]] = {}
    for i in np.flatnonzero(shown):
        cells.setdefault((int(rows[i]), int(pos[i])), []).append(int(i))
    for (row, p), members in cells.items():
        members.sort(key=lambda i: (kinds[i] == "error", -inf[i]))
        n = len(members)
        # centre-out order: 0 in the middle, then alternately right and left of it
        slots = sorted(range(n), key=lambda k: (abs(k - (n - 1) / 2), k))
        step = CELL_WIDTH / (n - 1) if n > 1 else 0.0
        step = min(step, 0.2)
        for rank, i in enumerate(members):
            k = slots[rank]
            x[i] = p + (k - (n - 1) / 2) * step
            y[i] = row + ((k % 3) - 1) * 0.18 if n > 3 else row
    return x, y


def _node_hover(graph: Graph, kinds: np.ndarray, inf: np.ndarray, i: int) -> str:
    label = plot_label(graph.label(i))
    if kinds[i] == "feature":
        return f"{label}<br>activation {float(graph.feat_act[i]):.4g}<br>influence {inf[i]:.4g}"
    if kinds[i] == "logit":
        j = i - (graph.n_nodes - graph.n_logit)
        token = graph.meta.get("logit_strs", [""] * graph.n_logit)[j]
        return f"logit {plot_label(repr(str(token)))}<br>p = {float(graph.logit_probs[j]):.4g}"
    return f"{label}<br>influence {inf[i]:.4g}"


def graph_figure(graph: Graph, node_keep: Any, edge_keep: Any, influence: Any, *, selected: int | None = None,
                 hide_isolated: bool = True, title: str | None = None, height: int | None = None) -> go.Figure:
    """The pruned attribution graph: kept nodes over (position, layer), kept edges coloured by sign.

    node_keep [n_nodes] and edge_keep [n_nodes, n_nodes] (target, source) are the pruning
    (``Pruned.node_mask`` / ``edge_mask``, or ``read_graph``'s ``node_keep`` / ``edge_keep``);
    influence [n_nodes] sizes the features and goes in the hover. Only edges between kept nodes
    are drawn, width ~ |weight| / the largest kept |weight|. hide_isolated: error and embedding
    nodes without a drawn edge are left out (pruning keeps every one of them, and a long prompt
    has layers × positions of them); kept features and the logits are always drawn. selected:
    a node index to ring. Feature points carry ``customdata = [layer, feature index]`` (the
    ``features`` trace lists the kept features in node order), for click-to-open.
    """
    n = graph.n_nodes
    keep = to_numpy(node_keep, dtype=bool).reshape(-1)
    ekeep = to_numpy(edge_keep, dtype=bool)
    inf = to_numpy(influence).reshape(-1)
    if keep.shape != (n,) or inf.shape != (n,) or ekeep.shape != (n, n):
        raise ValueError(f"node_keep {keep.shape}, influence {inf.shape} and edge_keep {ekeep.shape} must be "
                         f"[{n}], [{n}] and [{n}, {n}] for this graph of {n} nodes.")
    adj = to_numpy(graph.adjacency)
    kinds = node_kinds(graph)
    ekeep = ekeep & (adj != 0) & keep[:, None] & keep[None, :]
    tgt, src = np.nonzero(ekeep)
    w = adj[tgt, src]
    shown = keep.copy()
    if hide_isolated:
        touched = np.zeros(n, dtype=bool)
        touched[tgt] = touched[src] = True
        shown &= touched | np.isin(kinds, ["feature", "logit"])
    x, y = node_layout(graph, shown, inf)

    fig = go.Figure()
    top = float(np.abs(w).max()) if w.size else 1.0
    bucket = np.minimum(_N_WIDTHS - 1, (_N_WIDTHS * np.abs(w) / (top or 1.0)).astype(int))
    for positive, rgb, name in ((True, _POS_RGB, "positive edge"), (False, _NEG_RGB, "negative edge")):
        first = True
        for b in range(_N_WIDTHS):
            sel = ((w > 0) == positive) & (bucket == b)
            if not sel.any():
                continue
            seg_x = np.stack([x[src[sel]], x[tgt[sel]], np.full(int(sel.sum()), np.nan)], 1).reshape(-1)
            seg_y = np.stack([y[src[sel]], y[tgt[sel]], np.full(int(sel.sum()), np.nan)], 1).reshape(-1)
            frac = (b + 1) / _N_WIDTHS
            fig.add_trace(go.Scatter(
                x=[None if np.isnan(v) else float(v) for v in seg_x],
                y=[None if np.isnan(v) else float(v) for v in seg_y], mode="lines", name=name, legendgroup=name,
                showlegend=first, hoverinfo="skip",
                line=dict(width=0.5 + 4.5 * frac, color=f"rgba({rgb},{0.25 + 0.6 * frac:.2f})")))
            first = False
    labels = {int(i): plot_label(graph.label(int(i))) for i in np.flatnonzero(shown)}
    fig.add_trace(go.Scatter(
        x=(x[src] + x[tgt]) / 2, y=(y[src] + y[tgt]) / 2, mode="markers", name="edge hover", showlegend=False,
        marker=dict(size=6, opacity=0), hoverinfo="text",
        text=[f"{labels[int(s)]} → {labels[int(t)]}: {v:+.4g}" for s, t, v in zip(src, tgt, w)]))

    feat_inf = inf[: graph.n_feat][keep[: graph.n_feat]]
    big = float(feat_inf.max()) if feat_inf.size and feat_inf.max() > 0 else 1.0
    for kind, (name, symbol, colour) in NODE_STYLE.items():
        idx = np.flatnonzero(shown & (kinds == kind))
        if not idx.size:
            continue
        size: Any = 10
        extra: dict[str, Any] = {}
        if kind == "feature":
            size = 7 + 11 * np.sqrt(np.clip(inf[idx], 0, None) / big)
            # plain lists: a numpy array would go out base64-typed, and plotly.js hands a click's row of a
            # typed array back as {"0": .., "1": ..}
            extra["customdata"] = [[int(l), int(f)] for l, f in zip(to_numpy(graph.feat_layer, dtype=None)[idx],
                                                                    to_numpy(graph.feat_idx, dtype=None)[idx])]
        elif kind == "logit":  # name the three most probable on the plot; all of them in the hover
            probs = to_numpy(graph.logit_probs)
            strs = graph.meta.get("logit_strs", [""] * graph.n_logit)
            best = set(np.argsort(-probs)[:3].tolist())
            j0 = n - graph.n_logit
            extra.update(mode="markers+text", textposition="top center", textfont=dict(size=11),
                         text=[plot_label(str(strs[i - j0])) if i - j0 in best else "" for i in idx])
        fig.add_trace(go.Scatter(
            x=x[idx], y=y[idx], mode=extra.pop("mode", "markers"), name=name, hoverinfo="text",
            hovertext=[_node_hover(graph, kinds, inf, int(i)) for i in idx],
            marker=dict(size=size, symbol=symbol, color=colour, line=dict(width=1, color="white")), **extra))
    if selected is not None and 0 <= int(selected) < n and shown[int(selected)]:
        s = int(selected)
        fig.add_trace(go.Scatter(x=[x[s]], y=[y[s]], mode="markers", name="selected", hoverinfo="skip",
                                 marker=dict(size=24, symbol="circle-open", color="#212529", line=dict(width=2.5))))

    n_rows = len(graph.layers) + 2
    fig.update_xaxes(tickmode="array", tickvals=list(range(graph.n_pos)),
                     ticktext=[plot_label(str(t)) for t in graph.token_strs], tickangle=-45, showgrid=False,
                     zeroline=False, range=[-0.6, graph.n_pos - 0.4], title="token position")
    fig.update_yaxes(tickmode="array", tickvals=list(range(n_rows)),
                     ticktext=["embeddings", *(f"L{l}" for l in graph.layers), "logits"], zeroline=False,
                     range=[-0.6, n_rows - 0.4], title="layer")
    fig.update_layout(title=title, height=height or max(420, 90 * n_rows + 160), hovermode="closest",
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10), legend=dict(orientation="h", y=1.02,
                                                                                       yanchor="bottom"))
    return fig


def drawn_features(graph: Graph, node_keep: Any) -> np.ndarray:
    """The node indices of the ``features`` trace's points, in order (point i of a click is node ``[i]``)."""
    return np.flatnonzero(to_numpy(node_keep, dtype=bool).reshape(-1)[: graph.n_feat])


def clicked_node(graph: Graph, node_keep: Any, point: dict[str, Any]) -> int | None:
    """The kept feature node a plotly click/selection ``point`` (a dict with ``customdata`` and ``x``) refers to.

    ``customdata`` says which transcoder latent ([layer, feature index]); the same latent can be
    active at several positions, so the point's x (the token position, spread by at most half a
    cell) picks the one nearest. None for points that are not features (edges, logits, ...).
    """
    data = point.get("customdata") if isinstance(point, dict) else None
    if isinstance(data, dict):  # a typed-array row, as JSON
        data = [data.get("0", data.get(0)), data.get("1", data.get(1))]
    try:
        layer, idx = int(data[0]), int(data[1])  # type: ignore[index]
        x = float(point.get("x", np.nan))
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    cand = drawn_features(graph, node_keep)
    same = (to_numpy(graph.feat_layer, dtype=None)[cand] == layer) & (to_numpy(graph.feat_idx, dtype=None)[cand] == idx)
    cand = cand[same]
    if not cand.size:
        return None
    pos = to_numpy(graph.feat_pos, dtype=None)[cand].astype(float)
    return int(cand[np.argmin(np.abs(pos - x))]) if np.isfinite(x) else int(cand[0])
