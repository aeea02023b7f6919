"""SAE figures build from plain arrays and show what they were given; contexts render as escaped, shaded HTML."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.viz.sae import (activation_histogram, context_html, density_histogram, feature_scatter, logit_effects,
                            tokens_html)


def test_density_histogram_counts_dead_and_marks_the_selected_latent():
    density = torch.tensor([0.0, 1e-3, 0.05, 0.3, 0.0])
    fig = density_histogram(density)
    assert "(2 dead / 5)" in fig.layout.title.text and len(fig.data[0].x) == 3
    assert list(fig.data[0].x) == pytest.approx([-3.0, np.log10(0.05), np.log10(0.3)])
    marks = [s.x0 for s in density_histogram(density, selected=1e-2).layout.shapes]
    assert -2.0 in marks and -1 in marks  # the latent, and the 10% "dense" line
    assert len(density_histogram(density, selected=0.0).layout.shapes) == 1  # a dead latent has no mark


def test_activation_histogram_and_scatter():
    counts, edges = np.array([3, 0, 5]), np.array([0.0, 1.0, 2.0, 4.0])
    fig = activation_histogram(counts, edges)
    assert list(fig.data[0].y) == [3, 0, 5] and list(fig.data[0].x) == [0.5, 1.5, 3.0]
    assert list(fig.data[0].width) == [1.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="one more"):
        activation_histogram(counts, edges[:-1])
    density = torch.tensor([0.0, 1e-3, 0.05, 0.3, 0.0])
    fig = feature_scatter(density, torch.tensor([0.0, 1.0, 2.0, 3.0, 0.0]), color=density)
    assert list(fig.data[0].customdata) == [1, 2, 3]


def test_logit_effects_two_panels_largest_first():
    fig = logit_effects([" a", "\n"], [2.0, 1.0], [" c"], torch.tensor([-1.0]))
    assert list(fig.data[0].y) == ["' a'", "'↵'"] and list(fig.data[0].x) == [2.0, 1.0]
    assert list(fig.data[1].x) == [-1.0]
    assert [a.text for a in fig.layout.annotations] == ["promotes", "suppresses"]
    with pytest.raises(ValueError, match="2 tokens but 1"):
        logit_effects(["a", "b"], [1.0], [], [])


def test_tokens_html_shades_escapes_and_hovers():
    out = tokens_html(["<b>", " cat", None, "\n"], [0.0, 2.0, 9.0, 1.0], scale=4.0, centre=1)
    assert "<b>" not in out and "&lt;b&gt;" in out  # token text is escaped
    assert out.count("<span") == 3  # None (off the sequence) skipped
    assert "rgba(255, 140, 0, 0.50)" in out and "rgba(255, 140, 0, 0.25)" in out  # 2/4 and 1/4 of full colour
    assert 'title="&#x27; cat&#x27;: 2.000"' in out  # hover: the token and its value
    assert "> cat</span>" in out  # spaces kept as spaces (pre-wrap), so text search still finds the token
    assert "↵" in out and "border-bottom" in out  # newline made visible, centre underlined
    assert tokens_html(["a", None], [5.0, 9.0]).count("0, 1.00)") == 1  # default scale: the shown tokens' max
    with pytest.raises(ValueError, match="2 tokens but 1"):
        tokens_html(["a", "b"], [1.0])


def test_context_html_reads_saved_windows():
    html = context_html(torch.tensor([-1, 0, 2]), torch.tensor([0.0, 1.0, 0.5]), ["zero", "one", "two"], ctx_left=1)
    assert ">zero</span>" in html and ">two</span>" in html and html.count("<span") == 2
    assert html.index("border-bottom") < html.index("zero") < html.index(">two")  # centre = window index 1 = "zero"
    assert ">7</span>" in context_html([7], [1.0], None)  # no vocab: the id itself
