"""Head scores on hand-built attention patterns (exact answers) and on the shipped toy:induction."""

from __future__ import annotations

import pytest
import torch

from interp.circuits import induction_score, previous_token_score
from interp.circuits.head_scores import (
    induction_score_from_pattern,
    previous_token_score_from_pattern,
)
from interp.datasets.synthetic import half_losses, induction_batch, induction_eval_batch


def _one_hot_pattern(key_of_query, pos: int, batch: int = 2, heads: int = 1) -> torch.Tensor:
    """[batch, head, q, k] with all of query q's attention on key_of_query(q)."""
    pattern = torch.zeros(batch, heads, pos, pos)
    for q in range(pos):
        pattern[:, :, q, key_of_query(q)] = 1.0
    return pattern


def test_scores_of_pure_patterns_are_exact():
    pos, n = 11, 5  # BOS + 2 * 5
    prev = _one_hot_pattern(lambda q: max(q - 1, 0), pos)
    bos = _one_hot_pattern(lambda q: 0, pos)
    ind = _one_hot_pattern(lambda q: q - n + 1 if q >= pos - n else 0, pos)
    assert previous_token_score_from_pattern(prev).tolist() == [1.0]
    assert previous_token_score_from_pattern(bos).tolist() == [pytest.approx(0.1)]  # only query 1 -> key 0
    assert induction_score_from_pattern(ind, n).tolist() == [1.0]
    assert induction_score_from_pattern(bos, n).tolist() == [0.0]
    assert induction_score_from_pattern(prev, n).tolist() == [0.0]


def test_scores_average_over_queries_heads_stay_separate():
    pos, n = 9, 4
    half = 0.5 * _one_hot_pattern(lambda q: max(q - 1, 0), pos) + 0.5 * _one_hot_pattern(lambda q: q, pos)
    ind = _one_hot_pattern(lambda q: q - n + 1 if q >= pos - n else q, pos)
    both = torch.cat([half, ind], dim=1)  # head 0: half previous-token, head 1: induction
    torch.testing.assert_close(previous_token_score_from_pattern(both), torch.tensor([0.5, 0.0]))
    torch.testing.assert_close(induction_score_from_pattern(both, n), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError):
        induction_score_from_pattern(both, 5)  # two copies of 5 do not fit in 9 positions
    with pytest.raises(ValueError):
        previous_token_score_from_pattern(both[0])


def test_model_scores_read_hook_pattern(tiny_model):
    """Replace every hook_pattern with a one-hot pattern; the scores must see exactly that."""
    n, pos = 6, 13
    tokens = induction_batch(3, pos, 50, torch.Generator().manual_seed(0))
    prev = _one_hot_pattern(lambda q: max(q - 1, 0), pos, batch=3, heads=4)
    ind = _one_hot_pattern(lambda q: q - n + 1 if q >= pos - n else 0, pos, batch=3, heads=4)
    layer_patterns = [prev, ind, prev]
    handles = [
        tiny_model.blocks[layer].attn.hook_pattern.add_hook(lambda act, hook, p=p: p.to(act.dtype))
        for layer, p in enumerate(layer_patterns)
    ]
    try:
        prev_scores = previous_token_score(tiny_model, tokens)
        ind_scores = induction_score(tiny_model, tokens, n)
    finally:
        tiny_model.reset_hooks()
        del handles
    assert prev_scores.shape == ind_scores.shape == (3, 4)
    torch.testing.assert_close(prev_scores[[0, 2]], torch.ones(2, 4))
    torch.testing.assert_close(prev_scores[1], torch.full((4,), 1 / (pos - 1)))  # only query 1 -> BOS
    torch.testing.assert_close(ind_scores[1], torch.ones(4))
    torch.testing.assert_close(ind_scores[[0, 2]], torch.zeros(2, 4))


@pytest.fixture(scope="module")
def induction_model():
    from interp.models import load_model

    return load_model("toy:induction", device="cpu")


def test_shipped_induction_model_has_the_circuit(induction_model):
    """Known answer (Olsson et al. 2022): a previous-token head in layer 0, an induction head in layer 1."""
    segment = induction_model.toy_config.extra["eval_segment"]
    vocab = induction_model.cfg.d_vocab
    tokens, first, second = induction_eval_batch(64, segment, vocab, torch.Generator().manual_seed(123))
    prev = previous_token_score(induction_model, tokens)
    ind = induction_score(induction_model, tokens, segment)
    assert prev[0].max() >= 0.8, prev
    assert ind[1].max() >= 0.8, ind
    with torch.no_grad():
        first_loss, repeat_loss = half_losses(induction_model(tokens), tokens, first, second)
    assert first_loss >= 3 * repeat_loss, (first_loss, repeat_loss)
    assert first_loss == pytest.approx(torch.log(torch.tensor(vocab - 1.0)).item(), rel=0.1)  # random half


def test_shipped_induction_model_copies_at_other_segment_lengths(induction_model):
    """Induction is by content, not position: a shorter repeat works as well."""
    tokens, first, second = induction_eval_batch(32, 9, induction_model.cfg.d_vocab, torch.Generator().manual_seed(7))
    assert induction_score(induction_model, tokens, 9)[1].max() >= 0.8
    with torch.no_grad():
        first_loss, repeat_loss = half_losses(induction_model(tokens), tokens, first, second)
    assert first_loss >= 3 * repeat_loss


def test_heads_run_names_the_shipped_induction_circuit(tmp_path):
    """Known answer on toy:induction: previous-token head L0H4, induction head L1H2 or L1H5 (docs: issue 4 note)."""
    from interp.circuits.pipeline import run_heads

    run = run_heads("toy:induction", n_seq=16, root=tmp_path)
    assert run.kind == "heads" and run.status == "complete"
    assert run.config == {"model": "toy:induction", "segment_len": 20, "n_seq": 16}
    m = run.metrics
    assert m["prev_token_head"] == "L0H4" and m["induction_head"] in ("L1H2", "L1H5")
    assert m["prev_token_score"] > 0.9 and m["induction_score"] > 0.8
    assert m["repeat_loss"] * 3 < m["first_half_loss"]
    scores = run.read_json("scores")
    assert len(scores["previous_token"]) == 2 and len(scores["induction"][1]) == 8
