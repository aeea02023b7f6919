"""Circuit figures build from the plain dicts/arrays of circuit and patching runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.viz.circuits import circuit_graph_figure, faithfulness_figure, graph_layout, patching_heatmap

NODES = [{"name": "input", "type": "input", "layer": -1, "head": None},
         {"name": "L0H0", "type": "head", "layer": 0, "head": 0},
         {"name": "L0H1", "type": "head", "layer": 0, "head": 1},
         {"name": "MLP0", "type": "mlp", "layer": 0, "head": None},
         {"name": "L1H0", "type": "head", "layer": 1, "head": 0},
         {"name": "logits", "type": "output", "layer": 2, "head": None}]
EDGES = [{"src": "input", "dst": "L0H1", "qkv": "q", "score": 2.0, "in_circuit": True},
         {"src": "L0H1", "dst": "L1H0", "qkv": "v", "score": -1.0, "in_circuit": True},
         {"src": "L1H0", "dst": "logits", "qkv": None, "score": 0.5, "in_circuit": True},
         {"src": "L0H0", "dst": "MLP0", "qkv": None, "score": 0.1, "in_circuit": False}]


def test_graph_layout_orders_by_depth():
    pos = graph_layout(NODES)
    xs = {n: p[0] for n, p in pos.items()}
    assert xs["input"] < xs["L0H0"] == xs["L0H1"] < xs["MLP0"] < xs["L1H0"] < xs["logits"]
    assert pos["L0H0"][1] != pos["L0H1"][1]


def test_circuit_graph_draws_edges_by_score():
    edges = EDGES + [{"src": "L0H1", "dst": "L1H0", "qkv": "k", "score": 0.2, "in_circuit": True}]
    fig = circuit_graph_figure({"method": "acdc", "nodes": NODES, "edges": edges}, only_circuit=False)
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == 5  # one trace per (kept, q/k/v, width bucket) in use
    widest = max(lines, key=lambda t: t.line.width)
    assert widest.line.width == pytest.approx(6.0) and list(widest.x) == [0.0, 1.0, None]  # input → L0H1, top score
    assert widest.name == "circuit edge (q)"
    assert [t.name for t in lines if t.showlegend] == ["pruned edge", "circuit edge", "circuit edge (k)",
                                                       "circuit edge (q)", "circuit edge (v)"]
    hover = [t for t in fig.data if t.name == "edges"][0].text
    assert "input → L0H1 (q): 2" in hover and "L0H1 → L1H0 (k): 0.2" in hover and "L0H0 → MLP0: 0.1 (pruned)" in hover
    assert len([t for t in fig.data if t.mode == "markers+text"][0].text) == 6
    only = circuit_graph_figure({"nodes": NODES, "edges": EDGES})  # default: circuit edges and their nodes only
    assert len([t for t in only.data if t.mode == "lines"]) == 3
    assert set([t for t in only.data if t.mode == "markers+text"][0].text) == {"input", "L0H1", "L1H0", "logits"}
    assert list(only.layout.xaxis.ticktext) == ["input", "L0 attn", "L1 attn", "output"]
    with pytest.raises(ValueError, match="not in the node list"):
        circuit_graph_figure({"nodes": NODES, "edges": [{"src": "input", "dst": "L9H9", "score": 1.0,
                                                         "in_circuit": True}]})
    with pytest.raises(ValueError, match="'nodes' and 'edges'"):
        circuit_graph_figure({"nodes": NODES})


def test_circuit_graph_keeps_thousands_of_edges_in_few_traces():
    nodes = [{"name": "input", "type": "input", "layer": -1, "head": None}]
    nodes += [{"name": f"L{l}H{h}", "type": "head", "layer": l, "head": h} for l in range(4) for h in range(8)]
    names = [n["name"] for n in nodes]
    rng = np.random.default_rng(0)
    edges = [{"src": names[i], "dst": names[j], "qkv": "qkv"[k], "score": float(rng.normal()), "in_circuit": bool(k)}
             for i in range(len(names)) for j in range(i + 1, len(names)) for k in range(3)]
    fig = circuit_graph_figure({"nodes": nodes, "edges": edges}, only_circuit=False)
    assert len(edges) > 1000 and len(fig.data) <= 4 * 6 + 2  # width buckets x (pruned, k, v) + hovers + nodes
    assert len([t for t in fig.data if t.name == "edges"][0].text) == len(edges)


def test_faithfulness_figure():
    curve = {"ablation": "corrupt", "edges_kept": [0, 2, 4], "fraction_kept": [0, 0.5, 1.0],
             "metric_recovered": [0.0, 0.8, 1.0], "auc": 0.65}
    fig = faithfulness_figure(curve)
    assert list(fig.data[0].y) == [0.0, 0.8, 1.0] and fig.data[0].name == "corrupt (AUC 0.650)"
    assert list(fig.data[0].text) == ["0 edges", "2 edges", "4 edges"]
    assert len(faithfulness_figure({"a": curve, "b": curve}).data) == 2
    assert list(faithfulness_figure(curve, x="edges_kept").data[0].x) == [0, 2, 4]
    with pytest.raises(ValueError, match="metric_recovered"):
        faithfulness_figure({"a": {"fraction_kept": [0.1]}})


def test_patching_heatmaps():
    hm = patching_heatmap(torch.rand(2, 3), "resid_pre", ["BOS", "A", "\n"])
    assert list(hm.data[0].x) == [0, 1, 2]  # integer positions: a repeated token keeps its own column
    assert list(hm.layout.xaxis.ticktext) == ["BOS", "A", "↵"]
    assert hm.data[0].zmin == -1.0 and hm.data[0].zmax == 1.0
    assert patching_heatmap(2 * torch.ones(2, 2)).data[0].zmax == 2.0  # symmetric, covering the data
    heads = patching_heatmap(np.array([[0.1, 0.9, 0.0, 0.2]]), "heads")
    assert list(heads.data[0].x) == [0, 1, 2, 3] and heads.layout.xaxis.title.text == "head"
    assert heads.data[0].text[0][1] == "0.90"
    with pytest.raises(ValueError, match="2-D"):
        patching_heatmap(torch.rand(3), "heads")
    with pytest.raises(ValueError, match="2 position labels for 3"):
        patching_heatmap(torch.rand(2, 3), "resid_pre", ["a", "b"])
