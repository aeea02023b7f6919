"""interp.viz.attention: sink mass from patterns, and figures that keep every token and head apart."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.viz.attention import attention_heatmap, head_grid, head_heatmap, sink_mass


def _causal_uniform(n: int) -> np.ndarray:
    return np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]  # [q, k], row q uniform over 0..q


def test_sink_mass_known_values():
    p = np.zeros((2, 3, 4, 4))
    p[..., 0] = 1.0  # every query on position 0: a perfect sink
    p[1, 2] = np.eye(4)  # attends to itself only
    p[0, 1] = _causal_uniform(4)
    s = sink_mass(p)
    assert s.shape == (2, 3)
    assert s[0, 0] == 1.0 and s[1, 2] == 0.0  # query 0 (forced onto position 0) is left out
    assert s[0, 1] == pytest.approx(np.mean([1 / 2, 1 / 3, 1 / 4]))
    assert sink_mass(p[1, 2], skip_first_query=False) == pytest.approx(0.25)
    assert sink_mass(torch.tensor(p))[0, 0] == 1.0


def test_sink_mass_rejects_a_vector():
    with pytest.raises(ValueError, match="query_pos, key_pos"):
        sink_mass(np.ones(3))


def test_attention_heatmap_keeps_repeated_tokens_apart():
    labels = ["<bos>", " the", " cat", " the", " cat"]
    fig = attention_heatmap(_causal_uniform(5), labels)
    assert list(fig.data[0].x) == list(range(5))  # integer positions: the two ' the' stay two columns
    assert list(fig.layout.xaxis.ticktext) == labels
    assert fig.data[0].text[3][1] == " the →  the"
    with pytest.raises(ValueError, match="4 token labels for 5"):
        attention_heatmap(_causal_uniform(5), labels[:4])


def test_head_grid_titles_carry_sink_mass():
    p = np.stack([np.stack([_causal_uniform(6)] * 4)] * 2)  # [2, 4, 6, 6]
    fig = head_grid(p, sink_mass(p))
    assert len(fig.data) == 8
    titles = [a.text for a in fig.layout.annotations]
    expected = np.mean([1 / q for q in range(2, 7)])
    assert titles[0] == f"L0H0 · sink {expected:.2f}" and titles[-1].startswith("L1H3")
    assert [a.text for a in head_grid(p).layout.annotations][5] == "L1H1"
    with pytest.raises(ValueError, match="layer, head"):
        head_grid(p[0])


def test_head_grid_hover_names_tokens():
    p = torch.zeros(1, 2, 3, 3)
    p[..., 0] = 1.0
    fig = head_grid(p, tokens=["<s>", "a", "\n"])
    assert fig.data[1].text[2][0] == "↵ → &lt;s&gt;" and "%{text}" in fig.data[1].hovertemplate  # plotly shows "<s>"
    with pytest.raises(ValueError, match="2 token labels for 3"):
        head_grid(p, tokens=["<s>", "a"])
    with pytest.raises(ValueError, match=r"sink must be \[layer, head\]"):
        head_grid(p, sink=np.ones(2))


def test_head_heatmap_writes_values():
    v = np.arange(6, dtype=float).reshape(2, 3) / 10
    fig = head_heatmap(v, fmt=".1f")
    assert fig.data[0].text[1][2] == "0.5"
    assert fig.layout.yaxis.autorange == "reversed"  # layer 0 on top
    np.testing.assert_allclose(np.asarray(head_heatmap(torch.tensor(v)).data[0].z), v)
    with pytest.raises(ValueError, match="layer, head"):
        head_heatmap(v[0])
