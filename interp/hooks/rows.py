"""Rows of activations from wherever they live, read a piece at a time: the adapter SAEs and probes share.

An analysis that fits something to activations (an SAE, a probe) sees ``n`` rows
of width ``d`` per *name* (a hook), and must not care whether they are an
in-memory tensor, a memory-mapped ``.npy`` / ``.safetensors`` file, one or more
hooks of an :class:`~interp.hooks.ActivationStore` (or a view of one, e.g. the
training part of ``store.split_sequences(0.1)``), or a
:class:`~interp.hooks.CaptureResult`. :func:`open_rows` turns any of these into a
:class:`RowSource` with two backends:

* :class:`TensorRows`: one 2-D array [n, d] or named ones with the same rows (a tensor, or a numpy array / memmap,
  from which only the rows asked for are read);
* :class:`StoreRows`: hooks of a store or view, read through the store's public API.

Both offer the same reads, none of which loads the whole source:

* ``chunk(start, size)`` / ``chunks(size)``: contiguous float32 pieces in row order
  (probes' streamed passes, evaluation), optionally refusing NaN/inf;
* ``sample(n)``: a spread-out sample of about ``n`` rows (input scaling, ``b_dec``);
* ``epoch(epoch, batch_size, seed, start, rank, world_size)``: one shuffled pass of
  minibatches ``{name: [batch, d]}`` seeded by ``(seed, epoch)``, restartable at a
  batch (how a resumed SAE run continues on exactly the rows it would have seen),
  and split across DDP ranks. A tensor epoch is one permutation of all rows cut in
  global batches, each rank reading its slice of every batch (so 2 ranks see what 1
  process sees); a store epoch is ``ActivationStore.iter_batches`` (shards in seeded
  order, a few in memory at a time; each rank reads its own shards).

Errors are raised as the caller's exception class (``error=``): the SAE trainer's
``SourceError``, probes' ``ProbeDataError``; a missing hook stays the store's
``StoreError``. This module imports nothing above the hooks layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from interp.hooks.capturing import CaptureResult
from interp.hooks.store import ActivationStore, mmap_safetensors


class RowsError(ValueError):
    """Activations that cannot be read as rows (the default ``error`` class)."""


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffling seed of one epoch: distinct per epoch, reproducible from the training seed."""
    return seed * 1_000_003 + epoch


class RowSource:
    """``len(self)`` rows of width ``d[name]`` for each name in ``names``; subclasses say where they come from."""

    names: list[str]
    d: dict[str, int]
    error: type[Exception]

    def __len__(self) -> int:
        raise NotImplementedError

    def rows(self, name: str, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop`` of ``name`` [rows, d] as stored (dtype unchanged)."""
        raise NotImplementedError

    def sample(self, n: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def epoch(self, epoch: int, batch_size: int, seed: int, start: int = 0, rank: int = 0,
              world_size: int = 1) -> Iterator[dict[str, torch.Tensor]]:
        raise NotImplementedError

    def chunk(self, start: int, size: int, name: str | None = None, finite: bool = False) -> torch.Tensor:
        """Rows ``start : start + size`` of ``name`` (default: the only one) as float32 [rows, d].

        ``finite=True`` refuses NaN/inf, naming the first bad row.
        """
        name = name or self.names[0]
        x = self.rows(name, start, min(start + size, len(self))).float()
        if finite and not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).any(1).nonzero()[0, 0]) + start
            raise self.error(f"Activations contain NaN or inf (first at row {bad}); clean them before fitting.")
        return x

    def chunk_starts(self, size: int, shuffle: bool = False, generator: torch.Generator | None = None) -> list[int]:
        """First rows of the ``size``-row chunks, in order or in a random order drawn from ``generator``."""
        starts = list(range(0, len(self), size))
        if shuffle and len(starts) > 1:
            starts = [starts[i] for i in torch.randperm(len(starts), generator=generator).tolist()]
        return starts

    def chunks(self, size: int, name: str | None = None, shuffle: bool = False,
               generator: torch.Generator | None = None, finite: bool = False) -> Iterator[tuple[int, torch.Tensor]]:
        """``(start, x [rows, d])`` for every chunk: one chunk in memory at a time."""
        for s in self.chunk_starts(size, shuffle, generator):
            yield s, self.chunk(s, size, name, finite)

    def _too_few(self, batch_size: int) -> Exception:
        return self.error(f"{len(self)} rows are fewer than one batch of {batch_size}; lower batch_size.")


class TensorRows(RowSource):
    """Rows of a 2-D array [n, d] (a tensor, or a numpy array / memmap read only where asked), or of
    several named ones ``{name: [n, d_name]}`` with the same rows: one permutation shuffles them all
    (a transcoder's MLP input and output must stay paired)."""

    def __init__(self, data: Any, name: str = "x", error: type[Exception] = RowsError) -> None:
        self.error = error
        named = dict(data) if isinstance(data, dict) else {name: data}
        if not named:
            raise error("No activations: pass a [rows, d] array or a {name: [rows, d]} dict of them.")
        for key, arr in named.items():
            if not isinstance(arr, (torch.Tensor, np.ndarray)) or arr.ndim != 2:
                shape = tuple(arr.shape) if hasattr(arr, "shape") else None
                raise error(f"Activations {key!r} must be [rows, d] (a 2-D array), got {type(arr).__name__} with "
                            f"shape {shape}; flatten with x.reshape(-1, x.shape[-1]).")
            floating = arr.is_floating_point() if isinstance(arr, torch.Tensor) else np.issubdtype(arr.dtype, np.floating)
            if not floating:
                raise error(f"Activations {key!r} must be floating point, got {arr.dtype}.")
        lengths = {key: int(arr.shape[0]) for key, arr in named.items()}
        if len(set(lengths.values())) != 1:
            raise error(f"Named activations must have the same rows; got {lengths}.")
        self.data = named
        self.names = list(named)
        self.d = {key: int(arr.shape[1]) for key, arr in named.items()}

    def __len__(self) -> int:
        return int(next(iter(self.data.values())).shape[0])

    def rows(self, name: str, start: int, stop: int) -> torch.Tensor:
        part = self.data[name][start:stop]
        return torch.from_numpy(np.array(part)) if isinstance(part, np.ndarray) else part

    def _rows_at(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        for key, arr in self.data.items():
            if isinstance(arr, np.ndarray):  # e.g. a read-only np.memmap: gather only these rows
                out[key] = torch.from_numpy(np.ascontiguousarray(arr[idx.numpy()])).float()
            else:
                out[key] = arr[idx].float()
        return out

    def sample(self, n: int) -> dict[str, torch.Tensor]:
        """Up to ``n`` evenly spaced rows (the same on every rank)."""
        return self._rows_at(torch.linspace(0, len(self) - 1, min(n, len(self))).long())

    def epoch(self, epoch: int, batch_size: int, seed: int, start: int = 0, rank: int = 0,
              world_size: int = 1) -> Iterator[dict[str, torch.Tensor]]:
        n_batches = len(self) // batch_size
        if n_batches == 0:
            raise self._too_few(batch_size)
        perm = torch.randperm(len(self), generator=torch.Generator().manual_seed(epoch_seed(seed, epoch)))
        local = batch_size // world_size
        for b in range(start, n_batches):
            yield self._rows_at(perm[b * batch_size + rank * local : b * batch_size + (rank + 1) * local])


class StoreRows(RowSource):
    """Rows of one or more hooks of an :class:`ActivationStore` or a view of one."""

    def __init__(self, store: ActivationStore, hooks: Sequence[str], buffer_shards: int = 4,
                 error: type[Exception] = RowsError) -> None:
        self.store, self.error, self.buffer_shards = store, error, buffer_shards
        self.names = store.check_hooks(list(hooks))  # StoreError naming the hooks the store holds
        self.d = {h: int(store.d[h]) for h in self.names}

    def __len__(self) -> int:
        return len(self.store)

    def rows(self, name: str, start: int, stop: int) -> torch.Tensor:
        return self.store.rows(name, start, stop)

    def sample(self, n: int) -> dict[str, torch.Tensor]:
        """16 evenly spaced runs of contiguous rows, about ``n`` in all (contiguous reads are cheap on a store)."""
        chunks = 16
        per = max(1, min(n, len(self)) // chunks)
        starts = np.linspace(0, max(len(self) - per, 0), chunks).astype(int)
        return {h: torch.cat([self.store.rows(h, int(s), int(s) + per) for s in starts]).float() for h in self.names}

    def epoch(self, epoch: int, batch_size: int, seed: int, start: int = 0, rank: int = 0,
              world_size: int = 1) -> Iterator[dict[str, torch.Tensor]]:
        n_pieces = len(self.store.pieces())
        if world_size > n_pieces:
            raise self.error(f"{self.store.path} has {n_pieces} shards, fewer than the {world_size} ranks that must "
                             "each read their own; capture with smaller --tokens-per-shard.")
        it = self.store.iter_batches(batch_size // world_size, hooks=self.names, seed=epoch_seed(seed, epoch),
                                     buffer_shards=self.buffer_shards, rank=rank, world_size=world_size, drop_last=True)
        for b, batch in enumerate(it):
            if b >= start:
                yield {h: batch[h].float() for h in self.names}


def _one_hook(hooks: Sequence[str] | str | None) -> str | None:
    if isinstance(hooks, str):
        return hooks
    return hooks[0] if hooks else None


def open_rows(data: Any, hooks: Sequence[str] | str | None = None, *, error: type[Exception] = RowsError,
              buffer_shards: int = 4) -> RowSource:
    """A :class:`RowSource` for ``data``; ``hooks`` names what to read where ``data`` holds several.

    ``data``: a RowSource (returned as is), an ActivationStore or view, a store or
    ``capture`` run folder, a ``.npy`` or ``.safetensors`` file (memory-mapped), a
    CaptureResult, or a 2-D tensor / array (``hooks`` is then ignored).
    """
    if isinstance(data, RowSource):
        return data
    if isinstance(hooks, str):
        hooks = [hooks]
    if isinstance(data, (str, Path)):
        path = Path(data)
        if path.is_dir():
            from interp.hooks.pipeline import open_store

            data = open_store(path)
        elif path.suffix in (".npy", ".safetensors") and not path.is_file():
            raise error(f"{path} does not exist.")
        elif path.suffix == ".npy":
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError, EOFError) as exc:
                raise error(f"{path} is not a readable .npy array of activations ({exc}).") from None
            return TensorRows(array, error=error)
        elif path.suffix == ".safetensors":
            tensors = {k: v for k, v in mmap_safetensors(path, "Give a readable safetensors file of [rows, d] tensors.").items() if v.ndim == 2}
            key = next((h for h in hooks or [] if h in tensors), None)
            if key is None and len(tensors) != 1:
                raise error(f"{path} holds 2-D tensors {sorted(tensors)}; name the one to read (hook=...).")
            key = key or next(iter(tensors))
            return TensorRows(tensors[key], name=key, error=error)
        else:
            raise error(f"Cannot read activations from {path}: give an ActivationStore folder, a .npy or a .safetensors file.")
    if isinstance(data, CaptureResult):
        hook = _one_hook(hooks) or (next(iter(data.acts)) if len(data.acts) == 1 else None)
        if hook is None:
            raise error(f"Pass hook=... to read a capture; it holds {list(data.acts)}.")
        if hook not in data.acts:
            raise error(f"Hook {hook!r} is not in this capture; it holds {list(data.acts)}.")
        return TensorRows(data.acts[hook], name=hook, error=error)
    if isinstance(data, ActivationStore):
        if not hooks:
            if len(data.hooks) != 1:
                raise error(f"{data.path} holds several hooks {data.hooks}; say which to read (hook=...).")
            hooks = data.hooks
        return StoreRows(data, hooks, buffer_shards, error)
    return TensorRows(data, error=error)
