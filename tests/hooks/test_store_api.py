"""The store's public read API: views, held-out splits by sequence, row lookups, inputs."""

from __future__ import annotations

import torch

from interp.hooks import ActivationStore, capture

HOOK = "blocks.0.hook_resid_post"


def _store(tiny_model, tmp_path, padded: bool = False) -> tuple[ActivationStore, torch.Tensor, torch.Tensor]:
    tokens = torch.randint(0, 50, (20, 16), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(tokens)
    if padded:  # ragged sequences: row counts differ per sequence
        for i in range(20):
            mask[i, 16 - (i % 5):] = 0
    from interp.hooks.capturing import as_inputs

    inputs = as_inputs(tiny_model, tokens, attention_mask=mask)
    store = capture(tiny_model, inputs, [HOOK], batch_size=6, out=tmp_path / "s", tokens_per_shard=37, progress=False)
    return store, tokens, mask


def test_split_sequences_gives_whole_sequence_views_that_read_like_stores(tiny_model, tmp_path):
    store, tokens, mask = _store(tiny_model, tmp_path, padded=True)
    full = store.rows(HOOK)
    train, held = store.split_sequences(0.25)
    assert len(train) + len(held) == len(store) and train.is_view and held.is_view
    s_train, s_held = torch.unique(train.seq_ids()), torch.unique(held.seq_ids())
    assert set(s_train.tolist()).isdisjoint(s_held.tolist())  # no sequence on both sides
    assert len(s_held) == 5 and int(s_held.min()) == 15  # the last quarter of the 20 sequences
    a, b = held.row_range
    assert torch.equal(held.rows(HOOK), full[a:b]) and torch.equal(train.rows(HOOK), full[:a])
    assert torch.equal(held.rows(HOOK, 3, 9), full[a + 3:a + 9])
    assert torch.equal(held.meta()["seq_id"], store.meta()["seq_id"][a:b])
    # batches of a view: every row of the view exactly once, nothing from outside it
    seen = torch.cat([bt[HOOK] for bt in held.iter_batches(7, seed=1)])
    assert seen.shape == (len(held), full.shape[1])
    assert torch.equal(seen[seen[:, 0].argsort()], full[a:b][full[a:b, 0].argsort()])
    # a view of a view counts from its own first row
    inner = held.view(2, 10)
    assert torch.equal(inner.rows(HOOK), full[a + 2:a + 10])
    inputs = held.inputs(torch.unique(held.seq_ids()))
    assert torch.equal(inputs.tokens, tokens[15:]) and torch.equal(inputs.attention_mask, mask[15:])


def test_rows_at_and_row_index_round_trip(tiny_model, tmp_path):
    store, tokens, mask = _store(tiny_model, tmp_path, padded=True)
    full = store.rows(HOOK)
    idx = torch.tensor([len(store) - 1, 0, 40, 40, 5, 73])
    assert torch.equal(store.rows_at(HOOK, idx), full[idx])
    seq, pos = store.seq_ids()[idx], store.seq_positions()[idx]
    assert torch.equal(store.row_index(seq, pos), idx)
    # a padded position and a position past the end have no row
    assert store.row_index(torch.tensor([1, 3, 2]), torch.tensor([15, 40, -1])).tolist() == [-1, -1, -1]
    _, held = store.split_sequences(0.5)
    local = held.row_index(held.seq_ids()[:4], held.seq_positions()[:4])
    assert local.tolist() == [0, 1, 2, 3]
    assert int(held.row_index(0, 0)) == -1  # sequence 0 is not in the held-out half
    assert torch.equal(held.rows_at(HOOK, local), full[held.row_range[0]:held.row_range[0] + 4])


def test_inputs_is_the_captured_corpus(tiny_model, tmp_path):
    store, tokens, mask = _store(tiny_model, tmp_path)
    inputs = store.inputs()
    assert torch.equal(inputs.tokens, tokens) and torch.equal(inputs.attention_mask, mask)
    assert inputs.n_prefix == 0 and store.inputs_shape() == (20, 16)
    reopened = ActivationStore(store.path)
    assert torch.equal(reopened.inputs([3, 1]).tokens, tokens[[3, 1]])
