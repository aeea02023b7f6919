"""Synthetic task data: shapes, the repeat structure, and reproducible modular-addition splits."""

from __future__ import annotations

import pytest
import torch

from interp.datasets.synthetic import (
    half_losses,
    induction_batch,
    induction_eval_batch,
    modadd_dataset,
    shifted_induction_batch,
)


def test_induction_batch_is_bos_then_a_segment_and_its_repeat():
    tokens = induction_batch(16, 21, 30, torch.Generator().manual_seed(0))
    assert tokens.shape == (16, 21) and tokens.dtype == torch.long
    assert (tokens[:, 0] == 0).all()
    assert torch.equal(tokens[:, 1:11], tokens[:, 11:21])
    assert tokens[:, 1:].min() >= 1 and tokens[:, 1:].max() <= 29  # BOS never drawn as a random token


def test_induction_batch_without_bos_and_bad_lengths():
    tokens = induction_batch(4, 10, 7, torch.Generator().manual_seed(0), bos=None)
    assert tokens.shape == (4, 10) and torch.equal(tokens[:, :5], tokens[:, 5:])
    with pytest.raises(ValueError, match="seq_len"):
        induction_batch(4, 10, 7)  # BOS + 9 cannot split into two equal halves


def test_random_tokens_cover_the_non_special_vocab_uniformly():
    tokens = induction_batch(2000, 21, 6, torch.Generator().manual_seed(1), bos=2)[:, 1:11]
    counts = torch.bincount(tokens.flatten(), minlength=6).float()
    assert counts[2] == 0
    others = counts[[0, 1, 3, 4, 5]] / counts.sum()
    assert torch.allclose(others, torch.full_like(others, 0.2), atol=0.01)


def test_induction_batch_is_deterministic_per_generator():
    a = induction_batch(3, 9, 50, torch.Generator().manual_seed(5))
    b = induction_batch(3, 9, 50, torch.Generator().manual_seed(5))
    c = induction_batch(3, 9, 50, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_eval_batch_slices_name_the_two_copies():
    tokens, first, second = induction_eval_batch(5, 8, 40, torch.Generator().manual_seed(0))
    assert tokens.shape == (5, 17) and (first, second) == (slice(1, 9), slice(9, 17))
    assert torch.equal(tokens[:, first], tokens[:, second])


def test_half_losses_read_each_copy():
    tokens, first, second = induction_eval_batch(2, 4, 10, torch.Generator().manual_seed(0))
    logits = torch.zeros(2, 9, 10)  # uniform everywhere ...
    for pos in range(second.start - 1, second.stop - 1):  # ... except a confident, correct repeat
        logits[torch.arange(2), pos, tokens[:, pos + 1]] = 100.0
    first_loss, second_loss = half_losses(logits, tokens, first, second)
    assert first_loss == pytest.approx(torch.log(torch.tensor(10.0)).item(), rel=1e-5)
    assert second_loss == pytest.approx(0.0, abs=1e-5)


def test_shifted_batch_holds_one_repeat_at_varying_places():
    gen = torch.Generator().manual_seed(0)
    tokens = shifted_induction_batch(64, 41, 1000, gen, min_segment=5, max_segment=12)
    assert tokens.shape == (64, 41) and (tokens[:, 0] == 0).all()
    starts, lengths = set(), set()
    for row in tokens[:, 1:]:
        # With 999 token ids, a run of >= 5 matches at lag n is the planted repeat.
        found = [(n, s) for n in range(5, 13) for s in range(40 - 2 * n + 1)
                 if torch.equal(row[s:s + n], row[s + n:s + 2 * n])]
        assert found, "every row holds a segment followed by its repeat"
        lengths.add(found[0][0])
        starts.add(found[0][1])
    assert len(starts) > 5 and len(lengths) > 3
    with pytest.raises(ValueError):
        shifted_induction_batch(2, 11, 10, gen, min_segment=3, max_segment=6)


def test_modadd_split_sizes_labels_and_disjointness():
    train_x, train_y, test_x, test_y = modadd_dataset(p=13, frac_train=0.3, seed=0)
    assert train_x.shape == (int(0.3 * 169), 3) and test_x.shape == (169 - int(0.3 * 169), 3)
    assert train_y.shape == (train_x.shape[0],) and test_y.shape == (test_x.shape[0],)
    for x, y in ((train_x, train_y), (test_x, test_y)):
        assert (x[:, 2] == 13).all() and torch.equal(y, (x[:, 0] + x[:, 1]) % 13)
    pairs_train = {tuple(r) for r in train_x[:, :2].tolist()}
    pairs_test = {tuple(r) for r in test_x[:, :2].tolist()}
    assert not pairs_train & pairs_test and len(pairs_train | pairs_test) == 169


def test_modadd_split_is_determined_by_its_seed():
    a, b = modadd_dataset(p=23, seed=3), modadd_dataset(p=23, seed=3)
    c = modadd_dataset(p=23, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    with pytest.raises(ValueError):
        modadd_dataset(p=5, frac_train=1.0)


def test_pool_tokens_puts_a_task_on_chosen_lm_tokens():
    from interp.datasets.synthetic import pool_tokens

    pool = torch.tensor([7, 300, 41])
    batch = induction_batch(5, 9, vocab=len(pool) + 1, generator=torch.Generator().manual_seed(0))  # ids 0..3
    mapped = pool_tokens(batch, pool)
    assert (mapped[:, 0] == 0).all() and set(mapped[:, 1:].unique().tolist()) <= {7, 300, 41}
    assert torch.equal(mapped[:, 1:5], mapped[:, 5:])  # still a segment and its repeat
    assert torch.equal(mapped == 0, batch == 0) and torch.equal(pool[batch[:, 1:] - 1], mapped[:, 1:])
    with pytest.raises(ValueError, match="vocab=len\\(pool\\) \\+ 1"):
        pool_tokens(torch.tensor([[0, 4]]), pool)
