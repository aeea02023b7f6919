"""The rows adapter: stores, views, tensors and files read as the same rows; shuffled epochs; errors in the caller's class."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from interp.hooks import ActivationStore, CaptureResult, StoreError
from interp.hooks.rows import RowsError, StoreRows, TensorRows, open_rows
from interp.hooks.store import StoreWriter

HOOKS = ["a", "b"]
N, D, SEQ = 300, 6, 10  # 30 sequences of 10 rows


class MyError(ValueError):
    pass


def _store(path, rows_per_shard: int = 37) -> tuple[ActivationStore, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    x = {"a": torch.randn(N, D, generator=g), "b": torch.randn(N, D + 2, generator=g)}
    w = StoreWriter(path, {"model": "synthetic"}, HOOKS, {h: v.shape[1] for h, v in x.items()},
                    {h: [v.shape[1]] for h, v in x.items()}, torch.float32, rows_per_shard, N)
    w.append(x, {"__seq_id": torch.arange(N) // SEQ, "__seq_pos": torch.arange(N) % SEQ,
                 "__token_id": torch.zeros(N, dtype=torch.long)})
    w.close()
    return ActivationStore(path), x


def test_store_and_tensor_give_the_same_chunks(tmp_path):
    store, x = _store(tmp_path / "s")
    from_store, from_tensor = open_rows(store, "a"), open_rows(x["a"])
    assert isinstance(from_store, StoreRows) and isinstance(from_tensor, TensorRows)
    assert len(from_store) == len(from_tensor) == N and from_store.d == {"a": D}
    a = list(from_store.chunks(50))
    b = list(from_tensor.chunks(50))
    assert [s for s, _ in a] == [s for s, _ in b] == list(range(0, N, 50))  # chunks cross shard boundaries (37 rows)
    for (_, u), (_, v) in zip(a, b):
        assert u.dtype == torch.float32 and torch.equal(u, v)
    gen = lambda: torch.Generator().manual_seed(4)  # noqa: E731
    assert from_store.chunk_starts(50, shuffle=True, generator=gen()) == from_tensor.chunk_starts(50, True, gen())
    assert sorted(from_store.chunk_starts(50, shuffle=True, generator=gen())) == list(range(0, N, 50))


def test_files_and_captures_read_as_tensors(tmp_path):
    _, x = _store(tmp_path / "s")
    np.save(tmp_path / "x.npy", x["a"].numpy())
    save_file({"a": x["a"].contiguous(), "b": x["b"].contiguous()}, str(tmp_path / "x.safetensors"))
    cap = CaptureResult(acts={"a": x["a"], "b": x["b"]}, meta={})
    for rows in (open_rows(tmp_path / "x.npy"), open_rows(tmp_path / "x.safetensors", "a"), open_rows(cap, "a")):
        assert torch.equal(torch.cat([c for _, c in rows.chunks(64)]), x["a"])
        idx = torch.linspace(0, N - 1, 20).long()
        assert torch.equal(rows.sample(20)[rows.names[0]], x["a"][idx])
    folder = open_rows(tmp_path / "s", "b")  # a store folder (or a capture run folder) opens as the store
    assert isinstance(folder, StoreRows) and torch.equal(folder.chunk(10, 5), x["b"][10:15])


def test_a_view_yields_only_its_rows(tmp_path):
    store, x = _store(tmp_path / "s")
    rest, held = store.split_sequences(0.2)
    a0 = held.row_range[0]
    assert a0 == 240 and len(held) == 60
    rows = open_rows(held, "a")
    assert torch.equal(torch.cat([c for _, c in rows.chunks(25)]), x["a"][a0:])
    seen = torch.cat([b["a"] for b in rows.epoch(0, 8, seed=1)])  # drop_last: 60 // 8 = 7 batches
    assert seen.shape == (56, D)
    inside = (seen[:, None, :] == x["a"][None, a0:, :]).all(-1).any(1)
    assert bool(inside.all())  # every training row is a held-out row, none from before it
    sample = open_rows(rest, "a").sample(64)["a"]
    assert bool((sample[:, None, :] == x["a"][None, :a0, :]).all(-1).any(1).all())


def test_tensor_epochs_are_seeded_restartable_and_split_across_ranks():
    x = torch.randn(100, 4, generator=torch.Generator().manual_seed(1))
    rows = open_rows(x)
    full = [b["x"] for b in rows.epoch(2, 20, seed=7)]
    assert len(full) == 5 and torch.equal(torch.cat(full).sort(0).values, x.sort(0).values)
    assert all(torch.equal(u["x"], v) for u, v in zip(rows.epoch(2, 20, seed=7, start=3), full[3:]))
    assert not torch.equal(next(rows.epoch(3, 20, seed=7))["x"], full[0])  # another epoch, another order
    halves = [list(rows.epoch(2, 20, seed=7, rank=r, world_size=2)) for r in range(2)]
    for b, batch in enumerate(full):  # the two ranks' slices make up the one-process batch
        assert torch.equal(torch.cat([halves[0][b]["x"], halves[1][b]["x"]]), batch)


def test_store_epochs_serve_several_hooks_from_the_same_rows(tmp_path):
    store, x = _store(tmp_path / "s")
    rows = open_rows(store, HOOKS)
    assert rows.names == HOOKS and rows.d == {"a": D, "b": D + 2}
    batches = list(rows.epoch(0, 32, seed=3))
    again = list(rows.epoch(0, 32, seed=3, start=2))
    assert all(torch.equal(u["b"], v["b"]) for u, v in zip(again, batches[2:]))
    first = batches[0]
    idx = (first["a"][:, None, :] == x["a"][None]).all(-1).float().argmax(1)  # the store rows of the batch
    assert torch.equal(first["b"], x["b"][idx])  # hook b of the same rows


def test_errors_are_the_callers_and_name_the_problem(tmp_path):
    store, x = _store(tmp_path / "s")
    with pytest.raises(MyError, match="2-D"):
        open_rows(x["a"][0], error=MyError)
    with pytest.raises(MyError, match="floating point"):
        open_rows(torch.zeros(4, 3, dtype=torch.long), error=MyError)
    with pytest.raises(MyError, match="several hooks.*say which"):
        open_rows(store, error=MyError)
    with pytest.raises(StoreError, match="not in"):
        open_rows(store, "c", error=MyError)
    with pytest.raises(MyError, match="does not exist"):
        open_rows(tmp_path / "missing.npy", error=MyError)
    save_file({"a": x["a"].contiguous(), "b": x["b"].contiguous()}, str(tmp_path / "x.safetensors"))
    with pytest.raises(MyError, match="name the one"):
        open_rows(tmp_path / "x.safetensors", error=MyError)
    with pytest.raises(MyError, match="Pass hook="):
        open_rows(CaptureResult(acts={"a": x["a"], "b": x["b"]}, meta={}), error=MyError)
    with pytest.raises(RowsError, match="fewer than one batch"):
        next(open_rows(x["a"]).epoch(0, 1000, seed=0))
    with pytest.raises(MyError, match="fewer than the 20 ranks"):
        next(open_rows(store, "a", error=MyError).epoch(0, 20, seed=0, world_size=20))
    bad = x["a"].clone()
    bad[123, 2] = float("nan")
    rows = open_rows(bad, error=MyError)
    rows.chunk(0, 100, finite=True)  # rows 0..99 are clean
    with pytest.raises(MyError, match="NaN or inf.*row 123"):
        list(rows.chunks(100, finite=True))


def test_a_garbage_npy_file_names_the_file(tmp_path):
    import pytest

    from interp.hooks.rows import RowsError, open_rows

    f = tmp_path / "acts.npy"
    f.write_bytes(b"\x93NUMPY garbage that is no array header at all" * 3)
    with pytest.raises(RowsError, match=f"{f} is not a readable .npy array"):
        open_rows(f)
