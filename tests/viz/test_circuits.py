"""Circuit figures build from the plain dicts/arrays of circuit and patching runs."""

from __future__ import annotations

import pytest
import torch

from interp.viz.circuits import circuit_graph_figure, faithfulness_figure, patching_heatmap

GRAPH = {
    "method": "acdc",
    "nodes": [{"name": "input", "type": "input", "layer": -1, "head": None},
              {"name": "L0H0", "type": "head", "layer": 0, "head": 0},
              {"name": "L0H1", "type": "head", "layer": 0, "head": 1},
              {"name": "MLP0", "type": "mlp", "layer": 0, "head": None},
              {"name": "logits", "type": "output", "layer": 1, "head": None}],
    "edges": [{"src": "input", "dst": "L0H0", "qkv": "k", "score": 0.5, "in_circuit": True},
              {"src": "input", "dst": "L0H1", "qkv": "v", "score": -0.1, "in_circuit": False},
              {"src": "L0H0", "dst": "MLP0", "qkv": None, "score": 0.2, "in_circuit": True},
              {"src": "MLP0", "dst": "logits", "score": 1.0, "in_circuit": True}],
}


def test_circuit_graph_draws_circuit_edges_and_every_node():
    fig = circuit_graph_figure(GRAPH)
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == 3  # only in-circuit edges
    assert max(t.line.width for t in lines) == pytest.approx(6.5)  # the |score| = 1 edge
    names = [n for t in fig.data if t.mode == "markers+text" for n in t.text]
    assert sorted(names) == sorted(n["name"] for n in GRAPH["nodes"])
    assert len([t for t in circuit_graph_figure(GRAPH, only_circuit=False).data if t.mode == "lines"]) == 4


def test_faithfulness_and_heatmaps():
    curve = {"ablation": "corrupt", "edges_kept": [0, 2, 4], "fraction_kept": [0, 0.5, 1.0],
             "metric_recovered": [0.0, 0.8, 1.0], "auc": 0.65}
    fig = faithfulness_figure(curve)
    assert list(fig.data[0].y) == [0.0, 0.8, 1.0] and "0.650" in fig.data[0].name
    assert len(faithfulness_figure({"a": curve, "b": curve}).data) == 2
    hm = patching_heatmap(torch.rand(2, 3), "resid_pre", ["BOS", "A", "A"])
    assert list(hm.data[0].x) == ["0:BOS", "1:A", "2:A"]
    assert list(patching_heatmap(torch.rand(2, 4), "heads").data[0].x) == ["H0", "H1", "H2", "H3"]
    with pytest.raises(ValueError, match="2-D"):
        patching_heatmap(torch.rand(3), "heads")
