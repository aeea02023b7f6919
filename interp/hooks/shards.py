"""The on-disk format of an activation store: constants, safetensors headers and memory maps, the writer.

:class:`StoreWriter` fills shards of ``tokens_per_shard`` rows; each is written to a
temporary name, renamed, then recorded in ``manifest.json`` (itself written
atomically), so at any kill point the folder holds only complete shards and a
capture can resume after the last one. The readers here parse the safetensors
header themselves and ``np.memmap`` the data: zero copies, and a corrupt or
truncated file is reported by name. :mod:`interp.hooks.store` is the read side.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
