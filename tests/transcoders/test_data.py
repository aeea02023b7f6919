"""In-memory (input, output) pairs: the rows stay paired, ranks split each batch, bad input is named."""

from __future__ import annotations

import pytest
import torch

from interp.sae.data import SourceError
from interp.transcoders.data import TensorPairs, open_pairs


def test_pairs_stay_paired_and_ranks_read_disjoint_halves_of_each_batch():
    x = torch.arange(40.0)[:, None].repeat(1, 3)  # row i is all i
    pairs = open_pairs({"in": x, "out": -x[:, :2], "other": x}, ["in", "out"])
    assert isinstance(pairs, TensorPairs) and pairs.names == ["in", "out"] and pairs.d == {"in": 3, "out": 2}
    whole = list(pairs.epoch(0, 8, seed=1))
    halves = [list(pairs.epoch(0, 8, seed=1, rank=r, world_size=2)) for r in range(2)]
    assert len(whole) == 5
    for b, batch in enumerate(whole):
        assert torch.equal(batch["out"], -batch["in"][:, :2])  # the same rows of both hooks
        ids = [set(h[b]["in"][:, 0].tolist()) for h in halves]
        assert len(ids[0]) == len(ids[1]) == 4 and not ids[0] & ids[1]
        assert ids[0] | ids[1] == set(batch["in"][:, 0].tolist())  # together: the global batch


def test_bad_pairs_are_named():
    with pytest.raises(SourceError, match="same rows"):
        TensorPairs({"in": torch.zeros(4, 2), "out": torch.zeros(5, 2)})
    with pytest.raises(SourceError, match="'out' must be floating"):
        TensorPairs({"in": torch.zeros(4, 2), "out": torch.zeros(4, 2, dtype=torch.long)})
    with pytest.raises(SourceError, match="not \\['b'\\]"):
        open_pairs({"a": torch.zeros(4, 2)}, ["a", "b"])
