"""The attribution-graph figure, on a small Graph written by hand (no model): layout, edges, hover, clicks."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from interp.graphs.attribute import Graph
from interp.viz.graphs import NEGATIVE, POSITIVE, clicked_node, graph_figure, node_layout

# node order: features 0-3, error nodes 4-9 (layer 0 at positions 0-2, then layer 1), embeddings 10-12, logits 13-14
F0, F1, F2, F3, ERR0, EMB0, EMB1, EMB2, LOGIT_ON, LOGIT_I = 0, 1, 2, 3, 4, 10, 11, 12, 13, 14
EDGES = {(F0, EMB1): 1.0, (F1, EMB0): -0.5, (F2, F0): 2.0, (F2, F1): -1.0, (F2, ERR0): 0.3,
         (LOGIT_ON, F2): 1.5, (LOGIT_I, F2): -0.25, (F3, EMB2): 0.7}  # (target, source): weight


def small_graph() -> tuple[Graph, np.ndarray, np.ndarray, np.ndarray]:
    """A graph over 3 tokens and layers [0, 1]; feature F3 is pruned, and so is the edge ERR0 → F2."""
    n = 15
    adj = torch.zeros(n, n)
    for (t, s), w in EDGES.items():
        adj[t, s] = w
    graph = Graph(tokens=[0, 1, 2], token_strs=["<bos>", " cat", " <b>sat"], layers=[0, 1],
                  feat_layer=torch.tensor([0, 0, 1, 1]), feat_pos=torch.tensor([1, 1, 2, 0]),
                  feat_idx=torch.tensor([5, 7, 3, 9]), feat_act=torch.tensor([1.0, 0.5, 2.0, 0.7]),
                  logit_ids=torch.tensor([11, 12]), logit_probs=torch.tensor([0.6, 0.1]), adjacency=adj,
                  values=torch.zeros(n), bias=torch.zeros(n), logit_pos=2,
                  meta={"logit_strs": [" on", " <i>"], "model_logits": [3.0, 1.2]})
    node_keep = np.ones(n, dtype=bool)
    node_keep[F3] = False
    edge_keep = (adj != 0).numpy()
    edge_keep[F2, ERR0] = False
    influence = np.linspace(1.0, 0.1, n)
    return graph, node_keep, edge_keep, influence


def _trace(fig, name):
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, [t.name for t in fig.data]
    return found[0]


def _segments(trace) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    x, y = list(trace.x), list(trace.y)
    assert x[2::3] == [None] * (len(x) // 3) and y[2::3] == [None] * (len(y) // 3)  # segment, gap, segment...
    return [((x[i], y[i]), (x[i + 1], y[i + 1])) for i in range(0, len(x), 3)]


def test_nodes_sit_at_their_position_and_layer():
    graph, keep, _, inf = small_graph()
    no_errors = keep & ~np.isin(np.arange(15), range(4, 10))
    x, y = node_layout(graph, no_errors, inf)
    assert (x[F2], y[F2]) == (2.0, 2.0)  # alone in its cell: exactly at (position 2, row of layer 1)
    ex, ey = node_layout(graph, keep, inf)
    assert ey[F2] == ey[9] == 2.0 and 1.6 <= ex[F2] < ex[9] <= 2.4  # shares it with error node L1 @2, spread
    x, y = ex, ey
    assert y[F0] == y[F1] == 1.0 and x[F0] != x[F1] and abs(x[F0] - 1) <= 0.4 and abs(x[F1] - 1) <= 0.4
    assert list(x[EMB0:EMB2 + 1]) == [0.0, 1.0, 2.0] and list(y[EMB0:EMB2 + 1]) == [0.0, 0.0, 0.0]
    assert list(y[4:10]) == [1, 1, 1, 2, 2, 2]  # error nodes: layer 0's row, then layer 1's
    assert y[LOGIT_ON] == y[LOGIT_I] == 3.0 and all(abs(x[i] - 2) <= 0.4 for i in (LOGIT_ON, LOGIT_I))
    assert np.isnan(x[F3]) and np.isnan(y[F3])  # not kept: no place


def test_edges_are_the_kept_ones_coloured_by_sign_and_sized_by_weight():
    graph, keep, ekeep, inf = small_graph()
    fig = graph_figure(graph, keep, ekeep, inf)
    x, y = node_layout(graph, keep & ~np.isin(np.arange(15), range(4, 10)), inf)  # as drawn: no isolated error nodes
    at = lambda i: (float(x[i]), float(y[i]))  # noqa: E731
    lines = [t for t in fig.data if t.mode == "lines"]
    pos = [s for t in lines if t.name == "positive edge" for s in _segments(t)]
    neg = [s for t in lines if t.name == "negative edge" for s in _segments(t)]
    assert sorted(pos) == sorted([(at(EMB1), at(F0)), (at(F0), at(F2)), (at(F2), at(LOGIT_ON))])
    assert sorted(neg) == sorted([(at(EMB0), at(F1)), (at(F1), at(F2)), (at(F2), at(LOGIT_I))])
    rgb = lambda hex_: ",".join(str(int(hex_[i:i + 2], 16)) for i in (1, 3, 5))  # noqa: E731
    assert all(rgb(POSITIVE) in t.line.color for t in lines if t.name == "positive edge")
    assert all(rgb(NEGATIVE) in t.line.color for t in lines if t.name == "negative edge")
    widest = max(lines, key=lambda t: t.line.width)
    assert widest.name == "positive edge" and _segments(widest) == [(at(F0), at(F2))]  # |2.0|, the largest
    assert widest.line.width > min(t.line.width for t in lines)
    assert "error nodes" not in [t.name for t in fig.data]  # ERR0's only edge is pruned: an isolated node
    assert len(_trace(fig, "edge hover").text) == 6


def test_hover_labels_and_click_data():
    graph, keep, ekeep, inf = small_graph()
    fig = graph_figure(graph, keep, ekeep, inf, selected=F2)
    feats = _trace(fig, "features")
    assert len(feats.x) == 3  # F3 is pruned
    assert [list(c) for c in feats.customdata] == [[0, 5], [0, 7], [1, 3]]  # [layer, feature index], for clicks
    assert "bdata" not in str(fig.to_plotly_json()["data"][[t.name for t in fig.data].index("features")]
                              ["customdata"])  # plain JSON lists: a click hands them back as lists
    assert feats.hovertext[2] == f"L1 f3 @2<br>activation 2<br>influence {inf[F2]:.4g}"
    logits = _trace(fig, "logits")
    assert logits.hovertext[0] == "logit ' on'<br>p = 0.6" and "' &lt;i&gt;'" in logits.hovertext[1]
    assert list(logits.text) == [" on", " &lt;i&gt;"]  # run text never reaches plotly as HTML
    assert _trace(fig, "embeddings").marker.symbol != feats.marker.symbol
    assert "L0 f5 @1 → L1 f3 @2: +2" in _trace(fig, "edge hover").text
    assert list(fig.layout.xaxis.ticktext) == ["&lt;bos&gt;", " cat", " &lt;b&gt;sat"]
    assert list(fig.layout.yaxis.ticktext) == ["embeddings", "L0", "L1", "logits"]
    ring = _trace(fig, "selected")
    assert (ring.x[0], ring.y[0]) == (2.0, 2.0)
    everything = graph_figure(graph, keep, ekeep, inf, hide_isolated=False)
    err = _trace(everything, "error nodes")
    assert len(err.x) == 6 and err.marker.symbol != feats.marker.symbol and err.marker.color != feats.marker.color


def test_a_click_maps_back_to_the_feature_node():
    graph, keep, _, _ = small_graph()
    assert clicked_node(graph, keep, {"customdata": [1, 3], "x": 2.0}) == F2
    assert clicked_node(graph, keep, {"customdata": [0, 7], "x": 1.1}) == F1
    assert clicked_node(graph, keep, {"customdata": [1, 9], "x": 0.0}) is None  # that latent was pruned
    assert clicked_node(graph, keep, {"x": 1.0}) is None  # an edge or a logit, not a feature
    assert clicked_node(graph, keep, {"customdata": {"0": 0, "1": 5}, "x": 1.0}) == F0  # a typed-array row as JSON
    assert clicked_node(graph, keep, {"customdata": "junk", "x": 1.0}) is None
    graph.feat_idx[F3] = 3  # latent 3 of layer 1 now fires at position 0 too: x tells the two apart
    keep[F3] = True
    assert clicked_node(graph, keep, {"customdata": [1, 3], "x": 0.1}) == F3
    assert clicked_node(graph, keep, {"customdata": [1, 3], "x": 1.8}) == F2


def test_mismatched_masks_are_refused():
    graph, keep, ekeep, inf = small_graph()
    with pytest.raises(ValueError, match="15 nodes"):
        graph_figure(graph, keep[:-1], ekeep, inf)


def test_hundreds_of_nodes_and_thousands_of_edges_stay_a_few_traces():
    rng = np.random.default_rng(0)
    n_pos, layers, n_feat, n_logit = 40, list(range(6)), 600, 5
    n = n_feat + len(layers) * n_pos + n_pos + n_logit
    feat_layer = torch.tensor(rng.integers(0, len(layers), n_feat))
    adj = torch.zeros(n, n)
    tgt = rng.integers(0, n_feat, 6000)
    src = rng.integers(0, n, 6000)
    ok = (src != tgt) & ~((src >= n_feat + len(layers) * n_pos + n_pos))  # no logit is a source
    adj[tgt[ok], src[ok]] = torch.tensor(rng.normal(size=int(ok.sum())), dtype=torch.float32)
    graph = Graph(list(range(n_pos)), [f" t{i}" for i in range(n_pos)], layers, feat_layer,
                  torch.tensor(rng.integers(0, n_pos, n_feat)), torch.tensor(rng.integers(0, 1000, n_feat)),
                  torch.rand(n_feat), torch.arange(n_logit), torch.full((n_logit,), 0.2), adj, torch.zeros(n),
                  torch.zeros(n), n_pos - 1, {"logit_strs": [f" l{i}" for i in range(n_logit)]})
    keep = np.ones(n, dtype=bool)
    keep[500:n_feat] = False  # 500 kept features
    t0 = time.perf_counter()
    fig = graph_figure(graph, keep, (adj != 0).numpy(), rng.random(n))
    took = time.perf_counter() - t0
    n_edges = len(_trace(fig, "edge hover").text)
    assert n_edges > 4000 and len(fig.data) <= 2 * 5 + 6
    assert len(_trace(fig, "features").x) == 500
    assert took < 5.0, took
