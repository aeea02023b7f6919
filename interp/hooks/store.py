"""ActivationStore: activations on disk, in shards, that any analysis can stream.

Capturing activations once and reading them many times (SAE training, probes,
feature dashboards) is what lets the workbench scale past memory. A store is a
folder::

    manifest.json            # format, model spec, hooks, dtype, d and row shape per hook,
                             # tokens per shard, totals, tokens file, shards (file, rows, bytes, checksum)
    corpus.safetensors       # the token ids the rows came from (tokens, attention_mask, doc_ids, doc_offsets)
    shard_00000.safetensors  # one tensor per hook, [rows, d]; plus __seq_id/__seq_pos/__token_id [rows]
    ...

Each row is one token position of one input sequence. ``__seq_id``/``__seq_pos``
locate the row in ``corpus.safetensors`` so a dashboard can show its context.

Writing lives in :mod:`interp.hooks.writer` (:class:`StoreWriter`: atomic shards, a
resumable manifest, one writer at a time), the format in :mod:`interp.hooks.shards`.
Reading (:class:`ActivationStore`): shards are memory-mapped (zero copies), sizes and
headers are checked when the store is opened, each shard's checksum the first time
it is read (so a flipped byte is an error naming the file, never a silently altered
row), and :meth:`ActivationStore.iter_batches` serves shuffled
minibatches across shards with memory bounded by a few shards.

This class is the only reader of that layout: analyses ask it for rows
(``rows``, ``rows_at``), where rows come from (``meta``, ``seq_ids``,
``row_index``, ``inputs``) and for *views* (``view``, ``split_sequences``): a
view is a row range that answers every method in its own numbering, so a
held-out split is two views, not two copies.
"""

from __future__ import annotations

import copy
from concurrent.futures import Future
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from interp.hooks.shards import (  # noqa: F401  (the format's names, re-exported for readers)
    DTYPES,
    MANIFEST,
    META_KEYS,
    REBUILD,
    STORE_FORMAT,
    STORE_VERSION,
    TOKENS_FILE,
    ShardInfo,
    StoreError,
    _read_manifest,
    dtype_name,
    mmap_safetensors,
    read_safetensors_header,
    shard_name,
)
from interp.hooks.background import executor
from interp.hooks.writer import StoreWriter  # noqa: F401  (re-exported: the write side)


VERIFY = ("size", "checksum", "read", "sha256", "none")
CORPUS_FIX = "The store's token ids are damaged: capture the store again (into a new --out folder)."


def row_locations(seq_id: torch.Tensor, seq_pos: torch.Tensor, corpus: dict[str, torch.Tensor],
                  n_prefix: int, n_suffix: int = 0) -> dict[str, torch.Tensor]:
    """``doc_id`` and ``doc_pos`` of rows given by (sequence, position) in a tokenized corpus.

    ``doc_pos`` is -1 for the special tokens around the content (BOS/[CLS] before, [SEP] after).
    """
    seq_id, seq_pos = seq_id.long(), seq_pos.long()
    doc_pos = corpus["doc_offsets"].long()[seq_id] + seq_pos - n_prefix
    real_len = corpus["attention_mask"].long()[seq_id].sum(1)
    special = (seq_pos < n_prefix) | (seq_pos >= real_len - n_suffix)
    return {"doc_id": corpus["doc_ids"].long()[seq_id], "doc_pos": torch.where(special, -1, doc_pos)}



class ActivationStore:
    """Read side of a store: memory-mapped shards, row lookup and shuffled minibatches.

    ``verify``: ``"size"`` (default) checks every shard's size and header on open and
    its checksum the first time it is read; ``"checksum"`` hashes every shard on open
    (``"sha256"`` is the old name of that); ``"read"`` only checks on first read (for a
    store this process has just written); ``"none"`` skips all of it.
    """

    def __init__(self, path: str | Path, verify: str = "size") -> None:
        self.path = Path(path)
        self.manifest = _read_manifest(self.path)
        self.hooks: list[str] = list(self.manifest["hooks"])
        self.d: dict[str, int] = dict(self.manifest["d"])
        self.dtype: torch.dtype = DTYPES[self.manifest["dtype"]]
        if verify not in VERIFY:
            raise ValueError(f"verify={verify!r}: use one of {VERIFY}.")
        self.shards = [ShardInfo.from_manifest(s, self.path) for s in self.manifest["shards"]]
        self._check_on_read = verify != "none"
        self._offsets = np.cumsum([0] + [s.rows for s in self.shards])
        self._lo, self._hi = 0, int(self._offsets[-1])  # the rows this object shows (a view shows fewer)
        self._maps: dict[int, dict[str, torch.Tensor]] = {}
        self._verifying: dict[int, Future[dict[str, torch.Tensor]]] = {}  # shards being mapped and checked
        self._checked: set[int] = set()  # shards whose checksum has passed
        self._corpus: dict[str, torch.Tensor] | None = None
        self._row_meta: dict[str, torch.Tensor] = {}
        if not self.manifest.get("complete"):
            warnings.warn(f"{self.path} is an incomplete capture ({len(self)} rows so far); resume it to finish.", stacklevel=2)
        if verify in ("size", "checksum", "sha256"):
            self.verify(checksums=verify in ("checksum", "sha256"))

    def __len__(self) -> int:
        return self._hi - self._lo

    @property
    def model(self) -> str | None:
        return self.manifest.get("model")

    def __repr__(self) -> str:
        view = f", view=[{self._lo}:{self._hi}]" if self.is_view else ""
        return f"ActivationStore({str(self.path)!r}, rows={len(self)}, hooks={self.hooks}, dtype={self.manifest['dtype']}{view})"

    @property
    def is_view(self) -> bool:
        """True for a view from :meth:`view` / :meth:`split_sequences` (a row range of the store)."""
        return (self._lo, self._hi) != (0, int(self._offsets[-1]))

    @property
    def row_range(self) -> tuple[int, int]:
        """``(first, stop)``: the store rows this object shows (``(0, total)`` for a whole store)."""
        return self._lo, self._hi

    def verify(self, checksums: bool = True) -> None:
        """Check every shard against the manifest; the error names the first bad file."""
        for i, s in enumerate(self.shards):
            f = self.path / s.file
            if not f.is_file():
                raise StoreError(f"{f} is missing (listed in {self.path / MANIFEST}). Resume the capture that wrote the "
                                 "store (`interp capture --resume RUN`) to rebuild it.")
            if f.stat().st_size != s.bytes:
                raise StoreError(
                    f"{f} has {f.stat().st_size} bytes, the manifest says {s.bytes}: the shard is truncated or "
                    f"was replaced. {REBUILD}"
                )
            header, _ = read_safetensors_header(f)
            for h in self.hooks:
                entry = header.get(h)
                shape = entry.get("shape") if isinstance(entry, dict) else None
                if shape != [s.rows, self.d[h]]:
                    raise StoreError(f"{f}: tensor {h!r} has shape {shape}, the manifest expects {[s.rows, self.d[h]]}.")
            if checksums:
                s.check(f)
                self._checked.add(i)

    def check_hooks(self, hooks: str | Sequence[str] | None) -> list[str]:
        """``hooks`` as a list (all of the store's for None); StoreError naming the held hooks if one is absent."""
        if hooks is None:
            return self.hooks
        wanted = [hooks] if isinstance(hooks, str) else list(hooks)
        for h in wanted:
            if h not in self.hooks:
                raise StoreError(f"Hook {h!r} is not in {self.path}; it holds {self.hooks}.")
        return wanted

    def shard(self, i: int) -> dict[str, torch.Tensor]:
        """Memory-mapped tensors of shard ``i`` (hooks and ``__`` metadata), checked on first use."""
        if i not in self._maps:
            pending = self._verifying.pop(i, None)
            self._maps[i] = pending.result() if pending is not None else self._map(i)
        return self._maps[i]

    def _map(self, i: int) -> dict[str, torch.Tensor]:
        f, info = self.path / self.shards[i].file, self.shards[i]
        check = None
        if self._check_on_read and i not in self._checked:
            check = lambda data: info.check(f, data)  # noqa: E731  (the hash, through the map the rows come from)
        maps = mmap_safetensors(f, check=check)
        self._checked.add(i)
        return maps

    def prefetch(self, shards: Sequence[int]) -> None:
        """Map and check ``shards`` on a background thread, so a later :meth:`shard` finds them ready.

        The rows of a shard are only handed out once its checksum has passed: :meth:`shard`
        waits for the background check (and raises its error) before returning anything.
        """
        for i in shards:
            if i not in self._maps and i not in self._verifying:
                self._verifying[i] = executor("store-verify").submit(self._map, i)

    def rows(self, hook: str, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Rows ``start:stop`` of ``hook`` as one in-memory tensor [rows, d]."""
        (hook,) = self.check_hooks(hook)
        return self._gather(hook, start, len(self) if stop is None else min(stop, len(self)))

    def rows_at(self, hook: str, idx: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """Rows of ``hook`` at indices ``idx`` [m] (any order, repeats allowed) -> [m, d]; reads only those rows."""
        (hook,) = self.check_hooks(hook)
        idx = torch.as_tensor(idx, dtype=torch.long).reshape(-1)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= len(self)):
            raise IndexError(f"Row indices must be in [0, {len(self)}); got {int(idx.min())}..{int(idx.max())}.")
        out = torch.empty(idx.numel(), self.d[hook], dtype=self.dtype)
        glob = idx + self._lo
        offsets = torch.as_tensor(self._offsets, dtype=torch.long)
        shard = torch.searchsorted(offsets, glob, right=True) - 1
        for s in torch.unique(shard).tolist():
            sel = (shard == s).nonzero().flatten()
            out[sel] = self.shard(s)[hook][glob[sel] - offsets[s]]
        return out

    def seq_ids(self) -> torch.Tensor:
        """The input sequence of every row [rows] (int64; cached: two ints per row)."""
        return self._meta_column("__seq_id")

    def seq_positions(self) -> torch.Tensor:
        """The position of every row in its sequence [rows] (int64; cached)."""
        return self._meta_column("__seq_pos")

    def _meta_column(self, key: str) -> torch.Tensor:
        if key not in self._row_meta:
            self._row_meta[key] = torch.cat([self.shard(i)[key].long() for i in range(len(self.shards))]) \
                if self.shards else torch.zeros(0, dtype=torch.long)
        return self._row_meta[key][self._lo:self._hi]

    def row_index(self, seq_id: torch.Tensor | int, seq_pos: torch.Tensor | int) -> torch.Tensor:
        """Row of each ``(seq_id, seq_pos)`` pair (broadcast), -1 where this store has no such row."""
        seq_id, seq_pos = torch.broadcast_tensors(torch.as_tensor(seq_id, dtype=torch.long),
                                                  torch.as_tensor(seq_pos, dtype=torch.long))
        width = int(self.inputs_shape()[1])
        keys = self.seq_ids() * width + self.seq_positions()  # increasing: rows are in (seq, pos) order
        want = (seq_id * width + seq_pos).reshape(-1)
        at = torch.searchsorted(keys, want).clamp_max(max(len(keys) - 1, 0))
        found = (keys[at] == want) if len(keys) else torch.zeros(want.numel(), dtype=torch.bool)
        found &= (seq_pos.reshape(-1) >= 0) & (seq_pos.reshape(-1) < width)
        return torch.where(found, at, -1).reshape(seq_id.shape)

    def inputs_shape(self) -> tuple[int, int]:
        """``(n_seq, seq_len)`` of the inputs the store was captured from."""
        return tuple(self.corpus()["tokens"].shape)  # type: ignore[return-value]

    def inputs(self, seq_ids: torch.Tensor | Sequence[int] | None = None) -> Any:
        """The tokenized inputs rows came from, as a :class:`~interp.datasets.TokenizedCorpus`.

        ``seq_ids`` selects sequences (e.g. ``torch.unique(view.seq_ids())``: the
        sequences of a held-out view, ready to run through the model).
        """
        from interp.datasets.corpus import TokenizedCorpus, special_token_counts

        c = self.corpus()
        header, _ = read_safetensors_header(self.path / self.manifest.get("tokens_file", TOKENS_FILE), CORPUS_FIX)
        idx = slice(None) if seq_ids is None else torch.as_tensor(seq_ids, dtype=torch.long)
        return TokenizedCorpus(c["tokens"][idx].long(), c["attention_mask"][idx].long(), c["doc_ids"][idx].long(),
                               c["doc_offsets"][idx].long(), **special_token_counts(header.get("__metadata__")))

    def view(self, start: int, stop: int) -> "ActivationStore":
        """Rows ``start:stop`` of this store (or view) as a store of their own: no rows are read or copied.

        A view answers every read method (``rows``, ``rows_at``, ``meta``, ``iter_batches``,
        ``seq_ids``, ``row_index``) in its own row numbering, so ``train_sae``, ``evaluate``
        and probes take it like a store.
        """
        if not 0 <= start <= stop <= len(self):
            raise ValueError(f"A view needs 0 <= start <= stop <= {len(self)}, got {start}:{stop}.")
        v = copy.copy(self)  # shares the memory maps and cached metadata
        v._lo, v._hi = self._lo + start, self._lo + stop
        return v

    def split_sequences(self, frac: float) -> tuple["ActivationStore", "ActivationStore"]:
        """``(rest, held_out)``: views with the last ``frac`` of the sequences held out, whole sequences only.

        A capture writes rows in sequence order, so the held-out tail is one
        contiguous block of rows *and* complete token sequences (for splicing).
        """
        if not 0 < frac < 1:
            raise ValueError(f"held-out fraction must be in (0, 1), got {frac}.")
        if len(self) == 0:
            raise ValueError(f"{self.path} is empty.")
        seq = self.seq_ids()
        uniq = torch.unique(seq)
        cut = uniq[int(len(uniq) * (1 - frac))] if len(uniq) > 1 else uniq[0]
        start = int((seq >= cut).nonzero()[0, 0])
        if start == 0:
            raise ValueError(f"{self.path} holds a single sequence; capture more data to hold some out.")
        return self.view(0, start), self.view(start, len(self))

    def pieces(self) -> list[tuple[int, int, int]]:
        """``(shard, first, stop)`` row ranges (within each shard) that make up this store or view."""
        out = []
        for i in range(len(self.shards)):
            lo, hi = int(self._offsets[i]), int(self._offsets[i + 1])
            a, b = max(lo, self._lo), min(hi, self._hi)
            if b > a:
                out.append((i, a - lo, b - lo))
        return out

    def meta(self, start: int = 0, stop: int | None = None) -> dict[str, torch.Tensor]:
        """Where rows ``start:stop`` come from: ``seq_id``, ``seq_pos``, ``token_id``, ``doc_id``, ``doc_pos``.

        ``doc_pos`` is the token's index among its document's content tokens, -1 for
        special tokens (BOS, [CLS], [SEP]) that are not part of the document.
        """
        stop = len(self) if stop is None else min(stop, len(self))
        out = {k.strip("_"): self._gather(k, start, stop).long() for k in META_KEYS}
        from interp.datasets.corpus import special_token_counts

        header, _ = read_safetensors_header(self.path / self.manifest.get("tokens_file", TOKENS_FILE), CORPUS_FIX)
        out.update(row_locations(out["seq_id"], out["seq_pos"], self.corpus(),
                                 **special_token_counts(header.get("__metadata__"))))
        return out

    def _gather(self, key: str, start: int, stop: int) -> torch.Tensor:
        start, stop = start + self._lo, min(stop + self._lo, self._hi)
        parts = []
        first = int(np.searchsorted(self._offsets, start, side="right") - 1)
        for i in range(max(first, 0), len(self.shards)):
            lo, hi = int(self._offsets[i]), int(self._offsets[i + 1])
            if lo >= stop:
                break
            a, b = max(start, lo) - lo, min(stop, hi) - lo
            if b > a:
                parts.append(self.shard(i)[key][a:b])
        if not parts:
            if self.shards:
                return self.shard(0)[key][:0].clone()
            return torch.empty(0, self.d[key], dtype=self.dtype) if key in self.d else torch.empty(0, dtype=torch.int32)
        return torch.cat(parts)  # a new tensor: never a view of the (copy-on-write) map

    def corpus(self) -> dict[str, torch.Tensor]:
        """The tokenized inputs (``tokens`` [n_seq, seq_len], ``attention_mask``, ``doc_ids``, ``doc_offsets``)."""
        if self._corpus is None:
            f = self.path / self.manifest.get("tokens_file", TOKENS_FILE)
            if not f.is_file():
                raise StoreError(f"{f} is missing: the store's token ids are gone, so contexts cannot be shown.")
            self._corpus = mmap_safetensors(f, CORPUS_FIX)
        return self._corpus

    def iter_batches(
        self,
        batch_size: int,
        hooks: str | Sequence[str] | None = None,
        shuffle: bool = True,
        seed: int = 0,
        buffer_shards: int = 4,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        with_meta: bool = False,
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Yield ``{hook: [batch, d]}`` minibatches, shuffled across shards.

        Shards are visited in a seeded random order, ``buffer_shards`` at a time;
        the rows of those shards are mixed and served, so memory stays at about
        ``buffer_shards`` shards however large the store. With ``world_size > 1``
        each rank reads a disjoint set of shards (for distributed training). A view
        reads only its own part of each shard.
        """
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        keys = self.check_hooks(hooks) + (list(META_KEYS) if with_meta else [])
        gen = torch.Generator().manual_seed(seed)
        pieces = self.pieces()
        order = torch.randperm(len(pieces), generator=gen).tolist() if shuffle else list(range(len(pieces)))
        order = order[rank::world_size]
        carry: dict[str, torch.Tensor] | None = None
        for g in range(0, len(order), max(1, buffer_shards)):
            group = [pieces[j] for j in order[g : g + max(1, buffer_shards)]]
            self.prefetch([pieces[j][0] for j in order[g + max(1, buffer_shards) : g + 2 * max(1, buffer_shards)]])
            pool = {k: torch.cat([self.shard(i)[k][a:b] for i, a, b in group]) for k in keys}
            if carry is not None:
                pool = {k: torch.cat([carry[k], pool[k]]) for k in keys}
            n = next(iter(pool.values())).shape[0]
            perm = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
            full = n // batch_size * batch_size
            for s in range(0, full, batch_size):
                idx = perm[s : s + batch_size]
                yield {k.strip("_") if k in META_KEYS else k: pool[k][idx] for k in keys}
            carry = {k: pool[k][perm[full:]] for k in keys} if full < n else None
        if carry is not None and not drop_last:
            yield {k.strip("_") if k in META_KEYS else k: v for k, v in carry.items()}
