"""SAE figures build from plain arrays and show what they were given."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.viz.sae import (activation_histogram, context_html, density_histogram, feature_scatter, logit_effects,
                            tokens_html)


def test_figures_build_from_arrays():
    density = torch.tensor([0.0, 1e-3, 0.05, 0.3, 0.0])
    fig = density_histogram(density)
    assert "2 dead of 5" in fig.layout.title.text and len(fig.data[0].x) == 3
    counts, edges = np.array([3, 0, 5]), np.array([0.0, 1.0, 2.0, 4.0])
    fig = activation_histogram(counts, edges)
    assert list(fig.data[0].y) == [3, 0, 5] and list(fig.data[0].x) == [0.5, 1.5, 3.0]
    with pytest.raises(ValueError, match="one more"):
        activation_histogram(counts, edges[:-1])
    fig = logit_effects(["a", "b"], [2.0, 1.0], ["c", "d"], [-3.0, -0.5])
    assert list(fig.data[0].x) == [-0.5, -3.0, 1.0, 2.0]
    fig = feature_scatter(density, torch.tensor([0.0, 1.0, 2.0, 3.0, 0.0]), color=density)
    assert list(fig.data[0].customdata) == [1, 2, 3]


def test_tokens_html_shades_by_activation_and_escapes():
    out = tokens_html(["<b>", " x", None, "y"], [0.0, 2.0, 9.0, 4.0], centre=3)
    assert "&lt;b&gt;" in out and "<b>" not in out  # escaped
    assert out.count("<span") == 3  # None skipped
    assert 'rgba(255, 127, 14, 1.00)' in out and 'title="2"' in out and "underline" in out
    html = context_html(torch.tensor([-1, 0, 2]), torch.tensor([0.0, 1.0, 0.5]), ["zero", "one", "two"], ctx_left=1)
    assert "zero" in html and "two" in html and html.count("<span") == 2
