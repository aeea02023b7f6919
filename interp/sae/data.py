"""Where the trainer's activations come from: a store, a .npy/.safetensors file, or a tensor.

Every source yields ``{name: [batch, d_in]}`` minibatches for one *epoch* at a time,
shuffled with a seed derived from the training seed and the epoch, and can restart
an epoch at a given batch, which is how a resumed run continues on exactly the rows
the interrupted one would have seen next.

* :class:`ArraySource` (tensor, ``.npy`` file memory-mapped, ``.safetensors`` file
  memory-mapped): each epoch is one random permutation of the rows, cut into global
  batches; under DDP, rank r reads only its slice of each global batch, so the union
  of the ranks' batches is exactly what a single process would see (this is what
  makes the 2-process result match the 1-process one). Only batch rows are read.
* :class:`StoreSource` (:class:`interp.hooks.ActivationStore`): batches come from
  ``ActivationStore.iter_batches`` (shards visited in seeded order, a few shards in
  memory at a time); under DDP each rank reads its own shards. One source can feed
  several hooks at once (multi-hook training).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from interp.hooks.store import ActivationStore, mmap_safetensors


class SourceError(ValueError):
    """The activations given to the trainer cannot be used (wrong type, shape, or too few rows)."""


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


class ArraySource:
    """Rows of a 2-D array [n, d_in] (in memory or memory-mapped)."""

    def __init__(self, data: Any, name: str = "x") -> None:
        if not isinstance(data, (torch.Tensor, np.ndarray)) or data.ndim != 2:
            shape = getattr(data, "shape", None)
            raise SourceError(f"Activations must be a 2-D array [n, d_in]; got {type(data).__name__} with shape {shape}.")
        self.data = data
        self.names = [name]
        self.d = {name: int(data.shape[1])}

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def sample(self, n: int) -> dict[str, torch.Tensor]:
        """Up to ``n`` evenly spaced rows (the same on every rank): for input scaling and b_dec."""
        idx = torch.linspace(0, len(self) - 1, min(n, len(self))).long()
        return {self.names[0]: self._rows(idx)}

    def _rows(self, idx: torch.Tensor) -> torch.Tensor:
        if isinstance(self.data, np.ndarray):  # e.g. a read-only np.memmap: gather only these rows
            return torch.from_numpy(np.ascontiguousarray(self.data[idx.numpy()])).float()
        return self.data[idx].float()

    def epoch(self, epoch: int, batch_size: int, seed: int, start: int = 0, rank: int = 0,
              world_size: int = 1) -> Iterator[dict[str, torch.Tensor]]:
        n_batches = len(self) // batch_size
        if n_batches == 0:
            raise SourceError(f"{len(self)} rows are fewer than one batch of {batch_size}; lower batch_size.")
        perm = torch.randperm(len(self), generator=torch.Generator().manual_seed(_epoch_seed(seed, epoch)))
        local = batch_size // world_size
        for b in range(start, n_batches):
            rows = perm[b * batch_size + rank * local : b * batch_size + (rank + 1) * local]
            yield {self.names[0]: self._rows(rows)}


class StoreSource:
    """Rows of one or more hooks of an :class:`ActivationStore`, via ``iter_batches``."""

    def __init__(self, store: ActivationStore, hooks: Sequence[str], buffer_shards: int = 4) -> None:
        self.store = store
        self.names = list(hooks)
        store._hooks(self.names)  # raises StoreError naming the hooks the store has
        self.d = {h: store.d[h] for h in self.names}
        self.buffer_shards = buffer_shards

    def __len__(self) -> int:
        return len(self.store)

    def sample(self, n: int) -> dict[str, torch.Tensor]:
        chunks = 16
        per = max(1, min(n, len(self)) // chunks)
        starts = np.linspace(0, max(len(self) - per, 0), chunks).astype(int)
        return {h: torch.cat([self.store.rows(h, int(s), int(s) + per) for s in starts]).float() for h in self.names}

    def epoch(self, epoch: int, batch_size: int, seed: int, start: int = 0, rank: int = 0,
              world_size: int = 1) -> Iterator[dict[str, torch.Tensor]]:
        if world_size > len(self.store.shards):
            raise SourceError(f"{self.store.path} has {len(self.store.shards)} shards, fewer than the {world_size} "
                              "ranks that must each read their own; capture with smaller --tokens-per-shard.")
        it = self.store.iter_batches(batch_size // world_size, hooks=self.names, seed=_epoch_seed(seed, epoch),
                                     buffer_shards=self.buffer_shards, rank=rank, world_size=world_size, drop_last=True)
        for b, batch in enumerate(it):
            if b >= start:
                yield {h: batch[h].float() for h in self.names}


def open_source(activations: Any, hooks: Sequence[str] | None = None, buffer_shards: int = 4) -> ArraySource | StoreSource:
    """A source for ``activations``: an ActivationStore (or its folder) + ``hooks``, a file, or a tensor."""
    if isinstance(activations, (ArraySource, StoreSource)):
        return activations
    if isinstance(activations, (str, Path)):
        path = Path(activations)
        if path.is_dir():
            activations = ActivationStore(path)
        elif path.suffix == ".npy":
            if not path.is_file():
                raise SourceError(f"{path} does not exist.")
            return ArraySource(np.load(path, mmap_mode="r"))
        elif path.suffix == ".safetensors":
            if not path.is_file():
                raise SourceError(f"{path} does not exist.")
            tensors = {k: v for k, v in mmap_safetensors(path).items() if v.ndim == 2}
            key = next((h for h in hooks or [] if h in tensors), None)
            if key is None and len(tensors) != 1:
                raise SourceError(f"{path} holds 2-D tensors {sorted(tensors)}; name the one to train on (hook=...).")
            key = key or next(iter(tensors))
            return ArraySource(tensors[key], name=key)
        else:
            raise SourceError(f"Cannot read activations from {path}: give an ActivationStore folder, a .npy or a .safetensors file.")
    if isinstance(activations, ActivationStore):
        if not hooks:
            if len(activations.hooks) != 1:
                raise SourceError(f"{activations.path} holds hooks {activations.hooks}; say which to train on (hook=...).")
            hooks = activations.hooks
        return StoreSource(activations, hooks, buffer_shards)
    return ArraySource(activations)
