"""Sink metrics on hand-built attention patterns whose answers are known exactly."""

from __future__ import annotations

import pytest
import torch

from interp.sinks.metrics import (
    TokenCategories,
    category_mass,
    category_mean,
    sink_rate,
    sink_scores,
    uniform_alpha0,
    visible,
)


def causal_uniform(batch: int, heads: int, pos: int) -> torch.Tensor:
    """Each query attends uniformly to keys 0..q: A[q, k] = 1 / (q + 1)."""
    tri = torch.ones(pos, pos).tril()
    return (tri / tri.sum(-1, keepdim=True)).expand(batch, heads, pos, pos).clone()


def first_token_head(batch: int, heads: int, pos: int) -> torch.Tensor:
    p = torch.zeros(batch, heads, pos, pos)
    p[..., 0] = 1.0
    return p


def test_head_attending_only_to_position_0_has_alpha0_one():
    alpha = sink_scores(first_token_head(2, 3, 6), causal=True)  # [batch, head, key]
    assert torch.equal(alpha[..., 0], torch.ones(2, 3))
    assert torch.equal(alpha[..., 1:], torch.zeros(2, 3, 5))
    assert sink_rate(alpha, 0.3) == 1.0 and sink_rate(alpha, 0.3, key=1) == 0.0


def test_uniform_causal_alpha_matches_closed_form():
    pos = 5
    alpha = sink_scores(causal_uniform(1, 1, pos), causal=True)[0, 0]
    # alpha_k = mean over q = k..T-1 of 1/(q+1)
    expected = torch.tensor([sum(1 / (q + 1) for q in range(k, pos)) / (pos - k) for k in range(pos)])
    torch.testing.assert_close(alpha, expected)
    assert alpha[0].item() == pytest.approx(uniform_alpha0(pos))
    assert alpha[-1].item() == pytest.approx(1 / pos)  # only the last query sees the last key


def test_encoder_counts_all_queries_causal_counts_visible_ones():
    # Bidirectional uniform attention over 4 tokens: alpha_k = 1/4 for every key.
    enc = torch.full((1, 1, 4, 4), 0.25)
    torch.testing.assert_close(sink_scores(enc, causal=False)[0, 0], torch.full((4,), 0.25))
    # The same tensor read as causal averages key 3 over query 3 only (value 0.25 as well)
    # but key 0 over 4 queries; now a pattern that differs: all mass on the last key.
    last = torch.zeros(1, 1, 4, 4)
    last[..., 3] = 1.0
    assert sink_scores(last, causal=False)[0, 0, 3].item() == 1.0  # all 4 queries, each gives 1
    vis = visible(torch.ones(1, 4, dtype=torch.bool), causal=True)
    assert vis.sum(1)[0].tolist() == [4, 3, 2, 1]  # T - k visible queries per key
    assert visible(torch.ones(1, 4, dtype=torch.bool), causal=False).sum(1)[0].tolist() == [4, 4, 4, 4]


def test_padding_is_excluded_as_query_and_key():
    # Row 0 has 3 real tokens + 2 pads; pads attend with garbage that must not count.
    pat = causal_uniform(2, 1, 5)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    pat[0] = 0.0
    pat[0, :, :3, :3] = causal_uniform(1, 1, 3)[0]  # real queries see only the 3 real keys
    pat[0, :, 3:, :] = 7.0  # padding queries: garbage that must not count
    alpha = sink_scores(pat, mask, causal=True)
    torch.testing.assert_close(alpha[0, 0, :3], sink_scores(causal_uniform(1, 1, 3), causal=True)[0, 0])
    assert torch.isnan(alpha[0, 0, 3:]).all()  # padding keys have no score
    torch.testing.assert_close(alpha[1], sink_scores(causal_uniform(1, 1, 5), causal=True)[0])
    # sink rate over (sample, head) at key 4 only counts the sample where it is real
    assert sink_rate(alpha, 0.1, key=4) == 1.0  # 1/5 = 0.2 > 0.1 for sample 1; sample 0 excluded
    with pytest.raises(ValueError, match="key position"):
        sink_rate(alpha[:1], 0.1, key=4)


def test_sink_rate_threshold_is_strict_and_counts_fraction():
    alpha = torch.tensor([[[0.9, 0.1]], [[0.3, 0.7]], [[0.31, 0.0]], [[0.8, 0.0]]])  # [batch=4, head=1, key=2]
    assert sink_rate(alpha, 0.3) == 0.75  # 0.3 itself is not > 0.3
    assert sink_rate(alpha, 0.8) == 0.25  # Barbero et al.'s threshold


def test_category_mass_sums_to_one_and_ignores_padding():
    pat = causal_uniform(1, 2, 4)
    pat[0, 1] = first_token_head(1, 1, 4)[0, 0]
    cats = torch.tensor([[0, 1, 2, 2]])  # first, punct, other, other
    mass, n_q = category_mass(pat, cats, 3)
    assert n_q == 4
    mean = mass / n_q
    torch.testing.assert_close(mean.sum(-1), torch.ones(2))
    assert mean[1].tolist() == [1.0, 0.0, 0.0]
    # uniform causal: first-token mass = mean_q 1/(q+1)
    assert mean[0, 0].item() == pytest.approx(uniform_alpha0(4))
    # with the last position padded, its row is dropped and the key is never counted
    mass_p, n_p = category_mass(pat, torch.tensor([[0, 1, 2, -1]]), 3, torch.tensor([[1, 1, 1, 0]]))
    assert n_p == 3
    assert (mass_p[1] / n_p).tolist() == [1.0, 0.0, 0.0]


def test_category_mean_of_value_norms():
    values = torch.tensor([[[1.0], [3.0], [5.0]]])  # [batch=1, pos=3, head=1]
    sums, counts = category_mean(values, torch.tensor([[0, 1, 1]]), 2)
    assert (sums[0] / counts).tolist() == [1.0, 4.0]


def test_token_categories_encoder_and_causal(minilm):
    tok = minilm.tokenizer
    cats = TokenCategories(tok, minilm.cfg.d_vocab, encoder=True)
    assert cats.labels == ["[CLS]", "[SEP]", "punct", "other"]
    ids = tok("Hello, world.")["input_ids"]  # [CLS] hello , world . [SEP]
    got = cats(torch.tensor([ids + [0]]), torch.tensor([[1] * len(ids) + [0]]))[0].tolist()
    assert got == [0, 3, 2, 3, 2, 1, -1]
    causal = TokenCategories(tok, minilm.cfg.d_vocab, encoder=False, first_label="BOS")
    assert causal.labels == ["BOS", "punct", "other"]
    assert causal(torch.tensor([ids]))[0].tolist() == [0, 2, 1, 2, 1, 2]


def test_bad_pattern_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\[batch, head, query_pos, key_pos\]"):
        sink_scores(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="attention_mask"):
        sink_scores(torch.zeros(1, 1, 3, 3), torch.ones(1, 4))
