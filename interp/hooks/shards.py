"""The on-disk format of an activation store: constants, manifest, checksums, safetensors headers and maps.

Shards are safetensors files with the exact bytes ``safetensors.torch.save_file`` would
write (:func:`shard_layout`); the readers here parse the header themselves and
``np.memmap`` the data: zero copies, and a corrupt or truncated file is reported by
name. Each shard's checksum is recorded in the manifest as ``"<algorithm>:<hex>"``.
New stores use XXH3-128: it detects the corruption a store can suffer (flipped bits, a
torn or swapped block) as surely as SHA-256 for that purpose, at ~60 GB/s instead of
~2 GB/s, so hashing every shard as it is written costs capture ~0.3 ms per 16 MiB
instead of ~8 ms. It is not a defence against someone forging a shard, and neither
was SHA-256 next to a manifest anyone can rewrite. Version-1 stores (``"sha256"``)
still read and verify.

:mod:`interp.hooks.writer` writes stores; :mod:`interp.hooks.store` reads them.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import xxhash

from interp.io import read_json

STORE_FORMAT = "interp-activation-store"
STORE_VERSION = 2  # 2: shard checksums are "<algorithm>:<hex>" (XXH3-128); 1: "sha256" hex
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


REBUILD = ("Delete that file and resume the capture that wrote the store (`interp capture --resume RUN`): "
           "the shards from it on are captured again, the ones before it are kept.")


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


CHECKSUM = "xxh3_128"  # the algorithm new shards are hashed with
_HASHERS = {"xxh3_128": xxhash.xxh3_128, "sha256": hashlib.sha256}


def new_hasher(algorithm: str = CHECKSUM) -> Any:
    """An incremental hasher (``update(bytes)``, ``hexdigest()``) for a shard checksum."""
    return _HASHERS[algorithm]()


def file_checksum(path: Path, algorithm: str = CHECKSUM, chunk: int = 1 << 22) -> str:
    """``"<algorithm>:<hex>"`` of a file, read in chunks (a shard may not fit in memory)."""
    h = new_hasher(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return f"{algorithm}:{h.hexdigest()}"


def read_safetensors_header(path: Path, fix: str = REBUILD) -> tuple[dict[str, Any], int]:
    """``(header, data_start)`` of a safetensors file; StoreError names the file, and ``fix``, if it is corrupt."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise StoreError(f"{path} is truncated ({size} bytes): not a safetensors file. {fix}")
            (n,) = struct.unpack("<Q", raw)
            if n <= 0 or 8 + n > size:
                raise StoreError(f"{path} has a corrupt header (length {n}, file {size} bytes). {fix}")
            header = json.loads(f.read(n))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"Cannot read {path}: {exc}. The shard is corrupt. {fix}") from exc
    try:
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise StoreError(f"{path} has a malformed safetensors header ({exc!r}). The shard is corrupt. {fix}") from exc
    if 8 + n + end != size:
        raise StoreError(
            f"{path} is truncated or padded: its header describes {8 + n + end} bytes, the file has {size}. {fix}"
        )
    return header, 8 + n


def mmap_safetensors(path: Path, fix: str = REBUILD,
                     check: Callable[[memoryview], None] | None = None) -> dict[str, torch.Tensor]:
    """Memory-map a safetensors file once and view every tensor in it (no copy; pages load on access).

    ``check`` is handed the whole file's bytes first (a checksum), through the same mapping:
    the pages it touches are the ones the rows are then read from, so checking costs the hash
    itself and not a second read of the file.
    """
    header, start = read_safetensors_header(path, fix)
    size = path.stat().st_size
    raw = np.memmap(path, dtype=np.uint8, mode="c", shape=(size,))
    if check is not None:
        check(memoryview(raw))
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
        arr = raw[start + begin : start + end].view(np_dt).reshape(shape)
        t = torch.from_numpy(arr)
        out[name] = t.view(torch_dt) if torch_dt == torch.bfloat16 else t
    return out


@dataclass
class ShardInfo:
    file: str
    rows: int
    bytes: int
    checksum: str  # "<algorithm>:<hex>" of the whole file

    @classmethod
    def from_manifest(cls, entry: dict[str, Any], where: Path) -> "ShardInfo":
        """One ``shards`` entry of a manifest (version 1 recorded a bare ``sha256``).

        Every field is type-checked (a count is an int, never ``"5"`` or ``1.5``) and ``file`` must be a
        plain file name: the reader maps ``where / file``, which must not leave the store folder.
        """
        bad = f"{where / MANIFEST} has a malformed shard entry {entry!r:.200}"
        if not isinstance(entry, dict):
            raise StoreError(f"{bad} (not an object); the manifest is corrupt.")
        checksum = entry["checksum"] if "checksum" in entry else entry.get("sha256")
        if not isinstance(checksum, str) or not checksum:
            raise StoreError(f"{bad}: no checksum string; the manifest is corrupt.")
        checksum = checksum if "checksum" in entry else f"sha256:{checksum}"
        file, rows, size = entry.get("file"), entry.get("rows"), entry.get("bytes")
        if not isinstance(file, str) or not file or Path(file).name != file or file in (".", ".."):
            raise StoreError(f"{bad}: 'file' must be a file name inside the store folder; the manifest is corrupt.")
        for key, v in (("rows", rows), ("bytes", size)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**53:
                raise StoreError(f"{bad}: {key!r} must be a non-negative integer; the manifest is corrupt.")
        info = cls(file, rows, size, checksum)
        if info.algorithm not in _HASHERS:
            raise StoreError(f"{where / MANIFEST}: shard {info.file} has a checksum of unknown kind {info.algorithm!r}; "
                             f"this interp knows {sorted(_HASHERS)}.")
        return info

    @property
    def algorithm(self) -> str:
        return self.checksum.split(":", 1)[0]

    def check(self, path: Path, data: memoryview | None = None) -> None:
        """Hash this shard's file at ``path`` (or its bytes ``data``, already mapped); StoreError naming it on a mismatch."""
        if data is None:
            got = file_checksum(path, self.algorithm)
        else:
            h = new_hasher(self.algorithm)
            h.update(data)
            got = f"{self.algorithm}:{h.hexdigest()}"
        if got != self.checksum:
            raise StoreError(f"{path} fails its {self.algorithm} checksum: the shard is corrupt. {REBUILD}")



# safetensors writes tensors ordered by dtype (its enum order, descending), then by name
_ST_TAGS = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32"}
_ST_RANK = {"F16": 0, "BF16": 1, "I32": 2, "F32": 3}


def shard_layout(tensors: dict[str, tuple[torch.dtype, tuple[int, ...]]],
                 metadata: dict[str, str]) -> tuple[bytes, list[tuple[str, int, int]]]:
    """What ``safetensors.torch.save_file`` would write before the data, and where each tensor goes.

    Returns ``(prefix, [(name, begin, end), ...])``: the 8-byte header length plus the
    JSON header (space-padded to a multiple of 8), and each tensor's byte range after it,
    in file order. Writing the data ourselves from these offsets gives the same bytes
    as ``save_file`` (``tests/hooks/test_shard_writer.py`` checks it) without the copies.
    """
    order = sorted(tensors, key=lambda k: (-_ST_RANK[_ST_TAGS[tensors[k][0]]], k))
    header: dict[str, Any] = {"__metadata__": metadata}
    regions, offset = [], 0
    for name in order:
        dt, shape = tensors[name]
        size = int(np.prod(shape, dtype=np.int64)) * torch.empty(0, dtype=dt).element_size()
        header[name] = {"dtype": _ST_TAGS[dt], "shape": list(shape), "data_offsets": [offset, offset + size]}
        regions.append((name, offset, offset + size))
        offset += size
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw, regions


def _read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the store at ``path``, every field the readers use type-checked.

    A manifest is a file anyone can edit; the store and the writer index, sort and map
    what it says, so a wrong type is refused here, naming the file and the field, instead
    of surfacing later as a TypeError or KeyError far from its cause.
    """
    f = Path(path) / MANIFEST
    m = read_json(f, StoreError, f"{path} is not an activation store (capture one with `interp capture`).",
                  f"the store is corrupt. Delete {path} and recapture.")
    if not isinstance(m, dict) or m.get("format") != STORE_FORMAT:
        what = f"format={m.get('format')!r:.100}" if isinstance(m, dict) else f"a JSON {type(m).__name__}"
        raise StoreError(f"{f} is not an interp activation-store manifest ({what}).")
    version = m.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise StoreError(f"{f}: field 'version' is {version!r:.100}, not an integer; the manifest is corrupt.")
    if version > STORE_VERSION:
        raise StoreError(f"{f} has store version {version}; this interp reads up to {STORE_VERSION}. Upgrade interp.")
    for key in ("hooks", "d", "shards", "dtype"):
        if key not in m:
            raise StoreError(f"{f} lacks the field {key!r}; the manifest is corrupt.")
    hooks, d = m["hooks"], m["d"]
    checks = [
        ("hooks", isinstance(hooks, list) and all(isinstance(h, str) for h in hooks), "a list of hook names"),
        ("d", isinstance(d, dict) and all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**31
                                          for v in d.values()), "an object of hook name -> positive width"),
        ("dtype", isinstance(m["dtype"], str) and m["dtype"] in DTYPES, f"one of {sorted(DTYPES)}"),
        ("shards", isinstance(m["shards"], list), "a list of shard entries"),
        ("complete", isinstance(m.get("complete", False), bool), "true or false"),
        ("model", isinstance(m.get("model"), (str, type(None))), "a model spec (string) or null"),
        ("spec", isinstance(m.get("spec", {}), dict), "an object"),
        ("tokens_file", isinstance(tokens := m.get("tokens_file", TOKENS_FILE), str)
         and Path(tokens).name == tokens and tokens not in ("", ".", ".."), "a file name in the store folder"),
    ]
    for key, ok, want in checks:
        if not ok:
            raise StoreError(f"{f}: field {key!r} is {m.get(key)!r:.100}, not {want}; the manifest is corrupt. "
                             f"Delete {path} and recapture.")
    if missing := [h for h in hooks if h not in d]:
        raise StoreError(f"{f}: field 'd' has no width for hooks {missing}; the manifest is corrupt.")
    return m
