"""interp.viz.probes builds figures from a probe run's rows and a Fourier run's norms."""

from __future__ import annotations

import pytest
import torch

from interp.viz.probes import fourier_norms_figure, probe_accuracy_figure


def test_probe_accuracy_figure_shows_the_controls():
    rows = [{"hook": f"blocks.{i}.hook_resid_post", "layer": i + 1, "train": 0.9, "val": 0.8, "test": 0.8 + i / 100,
             "control": 0.6, "selectivity": 0.2 + i / 100, "random_model": 0.55} for i in range(3)]
    fig = probe_accuracy_figure({"task": "t", "metric": "accuracy", "chance": 0.5, "rows": rows})
    names = [t.name for t in fig.data]
    assert names == ["probe (test)", "control task", "selectivity", "random model", "probe (val)"]
    assert list(fig.data[0].y) == pytest.approx([0.8, 0.81, 0.82])
    assert fig.data[0].x[0] == "L1 0.hook_resid_post"
    assert any("chance" in (a.text or "") for a in fig.layout.annotations)
    with pytest.raises(ValueError, match="no rows"):
        probe_accuracy_figure({"rows": []})
    with pytest.raises(ValueError, match="contract"):
        probe_accuracy_figure({"rows": [{"hook": "h", "test": 1.0}]})


def _row(hook: str, layer: int, test: float) -> dict:
    return {"hook": hook, "layer": layer, "train": 1.0, "val": test, "test": test, "control": 0.5,
            "selectivity": test - 0.5, "random_model": 0.4}


def test_probe_figure_is_one_series_in_depth_order():
    # MiniLM's sweep: the embedding output (blocks.0.hook_resid_pre, layer 0) then every block output.
    rows = [_row(f"blocks.{l}.hook_resid_post", l + 1, 0.6 + l / 10) for l in range(3)]
    fig = probe_accuracy_figure({"rows": [_row("blocks.0.hook_resid_pre", 0, 0.55)] + rows})
    test = fig.data[0]
    assert len(test.x) == 4 and test.x[0] == "L0 0.hook_resid_pre"  # the first point of the same series
    assert list(test.y) == pytest.approx([0.55, 0.6, 0.7, 0.8])
    # modadd's four hooks of one block, given out of order: one series, sorted by depth, ties in row order
    hooks = [("blocks.0.hook_resid_post", 1), ("blocks.0.hook_resid_pre", 0), ("blocks.0.hook_resid_mid", 0),
             ("blocks.0.mlp.hook_post", 0)]
    fig = probe_accuracy_figure({"rows": [_row(h, l, 0.1 * i) for i, (h, l) in enumerate(hooks)]})
    assert list(fig.data[0].x) == ["L0 0.hook_resid_pre", "L0 0.hook_resid_mid", "L0 0.mlp.hook_post",
                                   "L1 0.hook_resid_post"]
    assert list(fig.data[0].y) == pytest.approx([0.1, 0.2, 0.3, 0.0])
    val = [t for t in fig.data if t.name == "probe (val)"]
    assert len(val) == 1 and val[0].visible == "legendonly"


def test_fourier_norms_figure_highlights_key_frequencies():
    norms = torch.rand(56)
    fig = fourier_norms_figure(norms, [3, 7], logit_norms=torch.rand(56))
    bars = fig.data[0]
    assert len(bars.x) == 56 and bars.x[0] == 1
    assert bars.marker.color[2] == bars.marker.color[6] != bars.marker.color[0]
    assert len(fig.data) == 2 and "3, 7" in fig.layout.title.text
    with pytest.raises(ValueError, match="vector"):
        fourier_norms_figure(torch.rand(2, 3))
