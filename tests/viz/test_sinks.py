"""Sink figures are built from plain arrays, carry the numbers given, and reject wrong shapes clearly."""

from __future__ import annotations

import numpy as np
import pytest

from interp.viz.sinks import category_mass_bars, emergence_curves


def test_category_mass_bars_stack_per_head_or_layer():
    mass = np.zeros((2, 3, 3))
    mass[..., 0], mass[..., 2] = 0.25, 0.75
    mass[1, 2] = [1.0, 0.0, 0.0]  # one sink head
    fig = category_mass_bars(mass, ["BOS", "punct", "other"])
    assert [t.name for t in fig.data] == ["BOS", "punct", "other"] and fig.layout.barmode == "stack"
    assert list(fig.data[0].x) == ["L0H0", "L0H1", "L0H2", "L1H0", "L1H1", "L1H2"]
    np.testing.assert_allclose(fig.data[0].y, [0.25] * 5 + [1.0])
    fig = category_mass_bars(mass, ["BOS", "punct", "other"], by="layer")
    assert list(fig.data[0].x) == ["L0", "L1"]
    np.testing.assert_allclose(fig.data[0].y, [0.25, 0.5])
    with pytest.raises(ValueError, match="categories"):
        category_mass_bars(mass, ["a", "b"])
    with pytest.raises(ValueError, match="'head' or 'layer'"):
        category_mass_bars(mass, ["a", "b", "c"], by="query")


CURVES = {"epsilon": 0.3, "runs": [
    {"label": "bos", "bos": True, "steps": [0, 10], "sink_rate": [0.0, 0.5], "alpha0": [0.1, 0.4], "uniform_alpha0": 0.1},
    {"label": "nobos", "bos": False, "steps": [0, 10], "sink_rate": [0.0, 0.1], "alpha0": [0.1, 0.2]}]}


def test_emergence_curves_one_line_per_run_and_uniform_floor():
    fig = emergence_curves(CURVES)
    assert [t.name for t in fig.data] == ["bos", "nobos"] and list(fig.data[0].y) == [0.0, 0.5]
    assert fig.data[1].line.dash == "dash"  # no BOS
    assert fig.layout.title.text.startswith("Sink emergence") and "0.3" in fig.layout.title.text
    floor = emergence_curves(CURVES, "alpha0").data
    assert len(floor) == 3 and list(floor[1].y) == [0.1, 0.1]  # + the first run's uniform floor ...
    assert floor[1].line.color == floor[0].line.color  # ... in that run's colour
    assert [t.name for t in emergence_curves(CURVES["runs"]).data] == ["bos", "nobos"]  # the runs list alone
    with pytest.raises(ValueError, match="no 'loss' curve"):
        emergence_curves(CURVES, "loss")
    with pytest.raises(ValueError, match="no runs"):
        emergence_curves({"runs": []})
