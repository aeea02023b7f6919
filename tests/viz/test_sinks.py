"""Sink figures are built from plain arrays, carry the numbers given, and reject wrong shapes clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.viz.sinks import attention_heatmap, category_mass_bars, emergence_curves, head_grid, layer_head_heatmap


def test_layer_head_heatmap_carries_values():
    v = torch.tensor([[0.1, 0.9], [0.5, 0.0], [1.0, 0.2]])
    fig = layer_head_heatmap(v, title="sink rate")
    np.testing.assert_allclose(np.asarray(fig.data[0].z), v.numpy())
    assert list(fig.data[0].y) == ["L0", "L1", "L2"] and list(fig.data[0].x) == ["H0", "H1"]
    with pytest.raises(ValueError, match=r"\[layer, head\]"):
        layer_head_heatmap(np.zeros(3))


def test_category_mass_bars_stack_per_category():
    mass = np.zeros((2, 3, 3))
    mass[..., 0], mass[..., 2] = 0.25, 0.75
    fig = category_mass_bars(mass, ["BOS", "punct", "other"])
    assert [t.name for t in fig.data] == ["BOS", "punct", "other"]
    np.testing.assert_allclose(fig.data[0].y, [0.25, 0.25])
    with pytest.raises(ValueError, match="categories"):
        category_mass_bars(mass, ["a", "b"])


def test_emergence_curves_one_line_per_run_and_uniform_floor():
    curves = {"epsilon": 0.3, "runs": [
        {"label": "bos", "bos": True, "steps": [0, 10], "sink_rate": [0.0, 0.5], "alpha0": [0.1, 0.4], "uniform_alpha0": 0.1},
        {"label": "nobos", "bos": False, "steps": [0, 10], "sink_rate": [0.0, 0.1], "alpha0": [0.1, 0.2]}]}
    fig = emergence_curves(curves)
    assert [t.name for t in fig.data] == ["bos", "nobos"] and list(fig.data[0].y) == [0.0, 0.5]
    assert fig.data[1].line.dash == "dash"
    assert len(emergence_curves(curves, "alpha0").data) == 3  # + the first run's uniform floor
    with pytest.raises(ValueError, match="no 'loss' curve"):
        emergence_curves(curves, "loss")


def test_attention_heatmap_and_head_grid():
    pat = torch.zeros(2, 3, 4, 4)
    pat[..., 0] = 1.0
    toks = ["<s>", "a", "b", "."]
    fig = attention_heatmap(pat[1, 2], toks, title="L1H2")
    assert list(fig.data[0].x) == ["0:<s>", "1:a", "2:b", "3:."]
    grid = head_grid(pat, toks, sink_mass=pat[..., 0].mean(-1))
    assert len(grid.data) == 6
    assert [a.text for a in grid.layout.annotations][:2] == ["L0H0 1.00", "L0H1 1.00"]
    with pytest.raises(ValueError, match="tokens"):
        attention_heatmap(pat[0, 0], toks[:3])
