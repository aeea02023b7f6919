"""ActivationStore: activations on disk, in shards, that any analysis can stream.

Capturing activations once and reading them many times (SAE training, probes,
feature dashboards) is what lets the workbench scale past memory. A store is a
folder::

    manifest.json            # format, model spec, hooks, dtype, d and row shape per hook,
                             # tokens per shard, totals, tokens file, shards (file, rows, bytes, sha256)
    corpus.safetensors       # the token ids the rows came from (tokens, attention_mask, doc_ids, doc_offsets)
    shard_00000.safetensors  # one tensor per hook, [rows, d]; plus __seq_id/__seq_pos/__token_id [rows]
    ...

Each row is one token position of one input sequence. ``__seq_id``/``__seq_pos``
locate the row in ``corpus.safetensors`` so a dashboard can show its context.

Writing (:class:`StoreWriter`): shards fill a preallocated buffer and are written to
a temporary name, then renamed, then recorded in the manifest (itself written
atomically), so at any kill point the folder holds only complete shards and a
capture can resume after the last one. Reading (:class:`ActivationStore`):
shards are memory-mapped (we parse the safetensors header and ``np.memmap`` the
data, zero copies), sizes and headers are checked when the store is opened and
checksums on demand or on first read, and :meth:`ActivationStore.iter_batches`
serves shuffled minibatches across shards with memory bounded by a few shards.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from safetensors.torch import save_file

from interp.io import read_json, write_atomic, write_json_atomic

STORE_FORMAT = "interp-activation-store"
STORE_VERSION = 1
MANIFEST = "manifest.json"
TOKENS_FILE = "corpus.safetensors"
META_KEYS = ("__seq_id", "__seq_pos", "__token_id")

_ST_DTYPES = {  # safetensors dtype tag -> (numpy dtype to map, torch dtype to view as)
    "F32": (np.float32, torch.float32),
    "F16": (np.float16, torch.float16),
    "BF16": (np.uint16, torch.bfloat16),
    "I64": (np.int64, torch.int64),
    "I32": (np.int32, torch.int32),
}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class StoreError(ValueError):
    """An activation store is missing, corrupt, or does not match what was asked."""


def dtype_name(dtype: torch.dtype | str) -> str:
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise StoreError(f"Unsupported store dtype {dtype!r}; use one of {sorted(DTYPES)}.")
        return dtype
    for name, dt in DTYPES.items():
        if dt == dtype:
            return name
    raise StoreError(f"Unsupported store dtype {dtype}; use one of {sorted(DTYPES)}.")


def shard_name(i: int) -> str:
    return f"shard_{i:05d}.safetensors"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_safetensors_header(path: Path) -> tuple[dict[str, Any], int]:
    """``(header, data_start)`` of a safetensors file; StoreError names the file if it is corrupt."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise StoreError(f"{path} is truncated ({size} bytes): not a safetensors file.")
            (n,) = struct.unpack("<Q", raw)
            if n <= 0 or 8 + n > size:
                raise StoreError(f"{path} has a corrupt header (length {n}, file {size} bytes).")
            header = json.loads(f.read(n))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"Cannot read {path}: {exc}. The shard is corrupt; delete it and re-run the capture to rebuild it.") from exc
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end != size:
        raise StoreError(
            f"{path} is truncated or padded: its header describes {8 + n + end} bytes, the file has {size}. "
            "Delete it and re-run the capture with the same arguments to rebuild it."
        )
    return header, 8 + n


def mmap_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Memory-map every tensor of a safetensors file (no copy; pages load on access)."""
    header, start = read_safetensors_header(path)
    out: dict[str, torch.Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _ST_DTYPES:
            raise StoreError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}.")
        np_dt, torch_dt = _ST_DTYPES[info["dtype"]]
        shape = tuple(info["shape"])
        begin, end = info["data_offsets"]
        if end == begin:
            out[name] = torch.empty(shape, dtype=torch_dt)
            continue
        arr = np.memmap(path, dtype=np_dt, mode="c", offset=start + begin, shape=shape)
        t = torch.from_numpy(arr)
        out[name] = t.view(torch_dt) if torch_dt == torch.bfloat16 else t
    return out


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


@dataclass
class ShardInfo:
    file: str
    rows: int
    bytes: int
    sha256: str


@dataclass
class StoreWriter:
    """Fills shards of ``tokens_per_shard`` rows and commits each one atomically.

    ``spec`` is everything that determines the store's content (model, hooks,
    dtype, capture options, corpus digest). Opening a folder whose manifest has the
    same spec resumes it; a different spec is refused rather than overwritten.
    """

    path: Path
    spec: dict[str, Any]
    hooks: list[str]
    d: dict[str, int]
    row_shape: dict[str, list[int]]
    dtype: torch.dtype
    tokens_per_shard: int
    planned_rows: int
    shards: list[ShardInfo] = field(default_factory=list)
    complete: bool = False

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._buf: dict[str, torch.Tensor] = {}
        self._fill = 0
        manifest = self.path / MANIFEST
        if manifest.exists():
            old = _read_manifest(self.path)
            if old.get("spec") != self.spec:
                diff = sorted(k for k in set(old.get("spec", {})) | set(self.spec) if old.get("spec", {}).get(k) != self.spec.get(k))
                raise StoreError(
                    f"{self.path} already holds a store captured with different settings ({', '.join(diff)}). "
                    "Use a new --out folder, or delete this one to recapture."
                )
            self.shards = [ShardInfo(**s) for s in old["shards"]]
            self.complete = bool(old.get("complete"))
            for s in self.shards:  # only shards listed in the manifest count; check they are intact
                f = self.path / s.file
                if not f.is_file() or f.stat().st_size != s.bytes:
                    raise StoreError(f"{f} is missing or has the wrong size; the store is corrupt. Delete {self.path} and recapture.")
        self._write_manifest()

    @property
    def rows_done(self) -> int:
        return sum(s.rows for s in self.shards)

    def _alloc(self) -> None:
        n = self.tokens_per_shard
        self._buf = {h: torch.empty(n, self.d[h], dtype=self.dtype) for h in self.hooks}
        self._buf.update({k: torch.empty(n, dtype=torch.int32) for k in META_KEYS})
        self._fill = 0

    def append(self, acts: dict[str, torch.Tensor], meta: dict[str, torch.Tensor]) -> None:
        """Add rows (``acts[hook]``: [rows, d]; ``meta[key]``: [rows]); full shards are written."""
        n = meta["__seq_id"].shape[0]
        start = 0
        while start < n:
            if not self._buf:
                self._alloc()
            take = min(n - start, self.tokens_per_shard - self._fill)
            sl = slice(self._fill, self._fill + take)
            for h in self.hooks:
                self._buf[h][sl].copy_(acts[h][start : start + take])
            for k in META_KEYS:
                self._buf[k][sl].copy_(meta[k][start : start + take])
            self._fill += take
            start += take
            if self._fill == self.tokens_per_shard:
                self._flush()

    def _flush(self) -> None:
        if not self._buf or self._fill == 0:
            return
        name = shard_name(len(self.shards))
        final = self.path / name
        tensors = {k: v[: self._fill].contiguous() for k, v in self._buf.items()}
        write_atomic(final, lambda tmp: save_file(tensors, str(tmp), metadata={"format": STORE_FORMAT}))
        self.shards.append(ShardInfo(name, self._fill, final.stat().st_size, sha256_file(final)))
        self._write_manifest()
        self._fill = 0  # the buffer is reused for the next shard: no allocator churn

    def close(self) -> None:
        """Write the last partial shard and mark the store complete."""
        self._flush()
        self.complete = True
        self._write_manifest()

    def _write_manifest(self) -> None:
        write_json_atomic(self.path / MANIFEST, {
            "format": STORE_FORMAT,
            "version": STORE_VERSION,
            "model": self.spec.get("model"),
            "hooks": self.hooks,
            "dtype": dtype_name(self.dtype),
            "d": self.d,
            "row_shape": self.row_shape,
            "tokens_per_shard": self.tokens_per_shard,
            "planned_tokens": self.planned_rows,
            "total_tokens": self.rows_done,
            "tokens_file": TOKENS_FILE,
            "complete": self.complete,
            "spec": self.spec,
            "shards": [s.__dict__ for s in self.shards],
        })


def _read_manifest(path: Path) -> dict[str, Any]:
    f = Path(path) / MANIFEST
    m = read_json(f, StoreError, f"{path} is not an activation store (capture one with `interp capture`).",
                  f"the store is corrupt. Delete {path} and recapture.")
    if m.get("format") != STORE_FORMAT:
        raise StoreError(f"{f} is not an interp activation-store manifest (format={m.get('format')!r}).")
    if m.get("version", 0) > STORE_VERSION:
        raise StoreError(f"{f} has store version {m['version']}; this interp reads up to {STORE_VERSION}. Upgrade interp.")
    for key in ("hooks", "d", "shards", "dtype"):
        if key not in m:
            raise StoreError(f"{f} lacks the field {key!r}; the manifest is corrupt.")
    return m


class ActivationStore:
    """Read side of a store: memory-mapped shards, row lookup and shuffled minibatches.

    ``verify``: ``"size"`` (default) checks every shard's size and header on open;
    ``"sha256"`` also hashes every shard; ``"none"`` skips both.
    """

    def __init__(self, path: str | Path, verify: str = "size") -> None:
        self.path = Path(path)
        self.manifest = _read_manifest(self.path)
        self.hooks: list[str] = list(self.manifest["hooks"])
        self.d: dict[str, int] = dict(self.manifest["d"])
        self.dtype: torch.dtype = DTYPES[self.manifest["dtype"]]
        self.shards = [ShardInfo(**s) for s in self.manifest["shards"]]
        self._offsets = np.cumsum([0] + [s.rows for s in self.shards])
        self._maps: dict[int, dict[str, torch.Tensor]] = {}
        self._corpus: dict[str, torch.Tensor] | None = None
        if not self.manifest.get("complete"):
            import warnings

            warnings.warn(f"{self.path} is an incomplete capture ({len(self)} rows so far); resume it to finish.", stacklevel=2)
        if verify != "none":
            self.verify(checksums=verify == "sha256")

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def model(self) -> str | None:
        return self.manifest.get("model")

    def __repr__(self) -> str:
        return f"ActivationStore({str(self.path)!r}, rows={len(self)}, hooks={self.hooks}, dtype={self.manifest['dtype']})"

    def verify(self, checksums: bool = True) -> None:
        """Check every shard against the manifest; the error names the first bad file."""
        for i, s in enumerate(self.shards):
            f = self.path / s.file
            if not f.is_file():
                raise StoreError(f"{f} is missing (listed in {self.path / MANIFEST}). Re-run the capture to rebuild it.")
            if f.stat().st_size != s.bytes:
                raise StoreError(
                    f"{f} has {f.stat().st_size} bytes, the manifest says {s.bytes}: the shard is truncated or "
                    "was replaced. Delete it and re-run the capture to rebuild it."
                )
            header, _ = read_safetensors_header(f)
            for h in self.hooks:
                shape = header.get(h, {}).get("shape")
                if shape != [s.rows, self.d[h]]:
                    raise StoreError(f"{f}: tensor {h!r} has shape {shape}, the manifest expects {[s.rows, self.d[h]]}.")
            if checksums and sha256_file(f) != s.sha256:
                raise StoreError(f"{f} fails its sha256 check: the shard is corrupt. Delete it and re-run the capture.")

    def _hooks(self, hooks: str | Sequence[str] | None) -> list[str]:
        if hooks is None:
            return self.hooks
        wanted = [hooks] if isinstance(hooks, str) else list(hooks)
        for h in wanted:
            if h not in self.hooks:
                raise StoreError(f"Hook {h!r} is not in {self.path}; it holds {self.hooks}.")
        return wanted

    def shard(self, i: int) -> dict[str, torch.Tensor]:
        """Memory-mapped tensors of shard ``i`` (hooks and ``__`` metadata)."""
        if i not in self._maps:
            self._maps[i] = mmap_safetensors(self.path / self.shards[i].file)
        return self._maps[i]

    def rows(self, hook: str, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Rows ``start:stop`` of ``hook`` as one in-memory tensor [rows, d]."""
        (hook,) = self._hooks(hook)
        return self._gather(hook, start, len(self) if stop is None else min(stop, len(self)))

    def meta(self, start: int = 0, stop: int | None = None) -> dict[str, torch.Tensor]:
        """Where rows ``start:stop`` come from: ``seq_id``, ``seq_pos``, ``token_id``, ``doc_id``, ``doc_pos``.

        ``doc_pos`` is the token's index among its document's content tokens, -1 for
        special tokens (BOS, [CLS], [SEP]) that are not part of the document.
        """
        stop = len(self) if stop is None else min(stop, len(self))
        out = {k.strip("_"): self._gather(k, start, stop).long() for k in META_KEYS}
        from interp.datasets.corpus import special_token_counts

        header, _ = read_safetensors_header(self.path / self.manifest.get("tokens_file", TOKENS_FILE))
        out.update(row_locations(out["seq_id"], out["seq_pos"], self.corpus(),
                                 **special_token_counts(header.get("__metadata__"))))
        return out

    def _gather(self, key: str, start: int, stop: int) -> torch.Tensor:
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
            return self.shard(0)[key][:0].clone() if self.shards else torch.empty(0)
        return torch.cat(parts).clone()

    def corpus(self) -> dict[str, torch.Tensor]:
        """The tokenized inputs (``tokens`` [n_seq, seq_len], ``attention_mask``, ``doc_ids``, ``doc_offsets``)."""
        if self._corpus is None:
            f = self.path / self.manifest.get("tokens_file", TOKENS_FILE)
            if not f.is_file():
                raise StoreError(f"{f} is missing: the store's token ids are gone, so contexts cannot be shown.")
            self._corpus = mmap_safetensors(f)
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
        each rank reads a disjoint set of shards (for distributed training).
        """
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        keys = self._hooks(hooks) + (list(META_KEYS) if with_meta else [])
        gen = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self.shards), generator=gen).tolist() if shuffle else list(range(len(self.shards)))
        order = order[rank::world_size]
        carry: dict[str, torch.Tensor] | None = None
        for g in range(0, len(order), max(1, buffer_shards)):
            group = order[g : g + max(1, buffer_shards)]
            pool = {k: torch.cat([self.shard(i)[k] for i in group]) for k in keys}
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
