"""interp.viz.dashboard: token contexts as HTML, feature panels, circuit graphs, probes, sinks."""

from __future__ import annotations

import numpy as np
import pytest

from interp.viz.dashboard import (
    activation_histogram,
    category_mass,
    circuit_graph,
    context_html,
    density_histogram,
    emergence_curves,
    faithfulness_curve,
    graph_layout,
    logit_effects,
    patching_heatmap,
    probe_curves,
)


def test_context_html_shades_by_activation_and_escapes():
    html = context_html(["<b>", " cat", "\n"], [0.0, 2.0, 1.0], max_act=4.0, centre=1)
    assert "<b>" not in html and "&lt;b&gt;" in html  # token text is escaped
    assert "rgba(255,140,0,0.50)" in html and "rgba(255,140,0,0.25)" in html  # 2/4 and 1/4 of full colour
    assert 'title="&#x27; cat&#x27;: 2.000"' in html  # hover: the token and its value
    assert "↵" in html and "border-bottom" in html  # newline made visible, centre underlined
    assert context_html(["a"], [5.0]).count("0,1.00)") == 1  # default scale: the context's own max
    with pytest.raises(ValueError, match="2 tokens but 1"):
        context_html(["a", "b"], [1.0])


def test_feature_panels():
    fig = activation_histogram([3, 1], [0.0, 0.5, 1.0])
    assert list(fig.data[0].x) == [0.25, 0.75]
    with pytest.raises(ValueError, match="one more entry"):
        activation_histogram([3, 1], [0.0, 1.0])
    fig = density_histogram(np.array([0.0, 1e-3, 1e-2, 0.1]), selected=1e-2)
    assert "(1 dead)" in fig.layout.title.text and len(fig.data[0].x) == 3
    fig = logit_effects([" a", " b"], [2.0, 1.0], [" c"], [-1.0])
    assert list(fig.data[0].y) == ["' a'", "' b'"] and list(fig.data[1].x) == [-1.0]


NODES = [{"name": "input", "type": "input", "layer": None, "head": None},
         {"name": "L0H0", "type": "head", "layer": 0, "head": 0},
         {"name": "L0H1", "type": "head", "layer": 0, "head": 1},
         {"name": "MLP0", "type": "mlp", "layer": 0, "head": None},
         {"name": "L1H0", "type": "head", "layer": 1, "head": 0},
         {"name": "output", "type": "output", "layer": None, "head": None}]
EDGES = [{"src": "input", "dst": "L0H1", "score": 2.0, "in_circuit": True},
         {"src": "L0H1", "dst": "L1H0", "score": -1.0, "in_circuit": True},
         {"src": "L1H0", "dst": "output", "score": 0.5, "in_circuit": True},
         {"src": "L0H0", "dst": "MLP0", "score": 0.1, "in_circuit": False}]


def test_graph_layout_orders_by_depth():
    pos = graph_layout(NODES)
    xs = {n: p[0] for n, p in pos.items()}
    assert xs["input"] < xs["L0H0"] == xs["L0H1"] < xs["MLP0"] < xs["L1H0"] < xs["output"]
    assert pos["L0H0"][1] != pos["L0H1"][1]


def test_circuit_graph_draws_edges_by_score():
    edges = EDGES + [{"src": "L0H1", "dst": "L1H0", "qkv": "k", "score": 0.2, "in_circuit": True}]
    fig = circuit_graph(NODES, edges)
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == 5  # one per (kept, width bucket) in use, not one trace per edge
    by_width = {round(t.line.width, 3): t for t in lines}
    widest = by_width[6.0]
    assert list(widest.x) == [0.0, 1.0, None]  # input → L0H1, the top score, in the widest bucket
    assert [t.name for t in lines if t.showlegend] == ["pruned edge", "circuit edge"]
    hover = [t for t in fig.data if t.name == "edges"][0].text
    assert "input → L0H1: 2" in hover and "L0H1 → L1H0 (k): 0.2" in hover and "L0H0 → MLP0: 0.1 (pruned)" in hover
    nodes = [t for t in fig.data if t.mode == "markers+text"][0]
    assert len(nodes.text) == 6
    only = circuit_graph(NODES, EDGES, circuit_only=True)
    assert set([t for t in only.data if t.mode == "markers+text"][0].text) == {"input", "L0H1", "L1H0", "output"}
    assert list(only.layout.xaxis.ticktext) == ["input", "L0 attn", "L1 attn", "output"]
    with pytest.raises(ValueError, match="not in the node list"):
        circuit_graph(NODES, [{"src": "input", "dst": "L9H9", "score": 1.0, "in_circuit": True}])


def test_curves_and_heatmaps():
    fig = faithfulness_curve([0.1, 0.5, 1.0], [0.3, 0.9, 1.0], [1, 5, 10])
    assert list(fig.data[0].y) == [0.3, 0.9, 1.0]
    fig = patching_heatmap(np.zeros((2, 3)), ["a", "\n", "c"])
    assert list(fig.layout.xaxis.ticktext) == ["a", "↵", "c"]
    with pytest.raises(ValueError, match="layer, pos"):
        patching_heatmap(np.zeros(3))
    rows = [{"hook": f"blocks.{l}.hook_resid_post", "layer": l, "test": 0.5 + l / 10, "control": 0.4,
             "selectivity": 0.1 + l / 10} for l in range(3)]
    rows.append({"hook": "blocks.0.hook_attn_out", "layer": 0, "test": 0.45, "control": 0.4, "selectivity": 0.05})
    fig = probe_curves(rows, chance=0.25)
    names = [t.name for t in fig.data]
    assert "hook_resid_post: test" in names and "hook_attn_out: selectivity" in names
    assert list(fig.data[0].x) == [0, 1, 2]
    fig = category_mass(np.ones((2, 2, 3)) / 3, ["bos", "punct", "other"])
    assert len(fig.data) == 3 and list(fig.data[0].x) == ["L0H0", "L0H1", "L1H0", "L1H1"]
    with pytest.raises(ValueError, match=r"\[layer, head, 2\]"):
        category_mass(np.ones((2, 2, 3)), ["a", "b"])
    fig = emergence_curves([{"label": "bos", "steps": [0, 10], "sink_rate": [0.0, 0.5], "loss": [5.0, 4.0]}])
    assert len(fig.data) == 2 and fig.data[1].showlegend is False
