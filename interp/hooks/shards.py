"""The on-disk format of an activation store: constants, safetensors headers and memory maps, the writer.

:class:`StoreWriter` fills shards of ``tokens_per_shard`` rows; each is written to a
temporary name, renamed, then recorded in ``manifest.json`` (itself written
atomically), so at any kill point the folder holds only complete shards and a
capture can resume after the last one. Shards are written with the exact bytes
``safetensors.torch.save_file`` would write (:func:`shard_layout`), from one in-memory
image per shard, on a background thread and around the page cache where the filesystem
allows it (see :class:`StoreWriter`). The readers here parse the safetensors
header themselves and ``np.memmap`` the data: zero copies, and a corrupt or
truncated file is reported by name. :mod:`interp.hooks.store` is the read side.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import queue
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from interp.io import read_json, write_json_atomic

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


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while len(data):
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n


DIRECT_IO = hasattr(os, "O_DIRECT")  # write shards around the page cache where the filesystem allows it
ALIGN = 4096  # O_DIRECT offsets, lengths and memory addresses are multiples of this
MAX_PENDING = 4  # jobs handed to the writer thread and not yet done
WRITE_CHUNK = 4 << 20  # bytes of new rows before the writer thread is woken (each wake-up costs a thread switch)
HASH_IN_CALLER: bool | None = None  # None: decided per writer (see _hash_in_caller)


class _Shard:
    """One shard being filled: the file's exact bytes in memory (``image``, block-aligned), the hash so far.

    ``views[name]`` are the tensors' places in ``image`` ([rows, d], or [rows] for the row metadata);
    rows are copied there once, and the writer thread writes and hashes the parts that are complete.
    """

    def __init__(self, index: int, rows: int, prefix: bytes, regions: list[tuple[str, int, int]],
                 image: torch.Tensor, dtypes: dict[str, torch.dtype]) -> None:
        self.index, self.rows, self.prefix, self.regions, self.image = index, rows, prefix, regions, image
        self.size = len(prefix) + regions[-1][2]
        self.bytes = memoryview(image.numpy())
        self.bytes[: len(prefix)] = prefix
        self.views: dict[str, torch.Tensor] = {}
        for name, begin, end in regions:
            t = image[len(prefix) + begin : len(prefix) + end].view(dtypes[name])
            self.views[name] = t if name in META_KEYS else t.view(rows, -1)
        # The complete bytes of the file form intervals that grow at their ends as rows come in:
        # [0, header + first tensor's rows so far), then [start of tensor i, its rows so far) for each other one.
        self.starts = [0] + [len(prefix) + begin for _, begin, _ in regions[1:]]
        self.row_bytes = [(end - begin) // rows for _, begin, end in regions]
        self.done: list[tuple[int, int] | None] = [None] * len(regions)  # per interval: the span on disk
        self.fd: int | None = None
        self.align = 1
        self.pooled, self.released = True, False
        self.submitted = 0  # rows handed to the writer thread so far
        self.bytes_per_row = sum(self.row_bytes)
        self.hasher = hashlib.sha256()
        self.hashed = 0  # bytes [0, hashed) of the file are hashed (a file is hashed in order)

    def ends(self, filled: int) -> list[int]:
        """Where each interval's complete bytes end once ``filled`` rows are in."""
        return [self.starts[i] + (len(self.prefix) if i == 0 else 0) + filled * rb for i, rb in enumerate(self.row_bytes)]


@dataclass
class StoreWriter:
    """Fills shards of ``tokens_per_shard`` rows and commits each one atomically.

    ``spec`` is everything that determines the store's content (model, hooks,
    dtype, capture options, corpus digest). Opening a folder whose manifest has the
    same spec resumes it; a different spec is refused rather than overwritten.

    Disk work runs on a background thread, overlapped with the caller's next forward
    passes. The number of rows of every shard is known from ``planned_rows``, so a
    shard's file is laid out in memory from its first row (the exact bytes
    ``safetensors`` would write) and each appended batch is copied once to its place
    there; the writer thread writes the parts of the file that are complete and hashes
    it as far as it is contiguous, batch by batch, then hashes the rest, renames the
    file into place and records it in the manifest. Writes bypass the page cache
    (``O_DIRECT``, whole aligned blocks) where the filesystem allows it: on a small
    machine, copying gigabytes into the page cache costs more CPU than the forward
    passes can spare; elsewhere they are plain writes. At any kill point the folder
    holds only complete shards (plus perhaps a ``.tmp`` file, overwritten on resume).
    Memory: at most two shard images (one filling, one being committed). An error in
    the background thread is raised by the next ``append``/``close``.
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
        self._dtypes = {**{h: self.dtype for h in self.hooks}, **{k: torch.int32 for k in META_KEYS}}
        self._cur: _Shard | None = None
        self._fill = 0
        self._next_index = len(self.shards)
        self._images = 0  # allocated so far (at most 2)
        self._free: queue.SimpleQueue[torch.Tensor] = queue.SimpleQueue()
        self._jobs: queue.Queue[tuple[str, _Shard, int] | None] = queue.Queue(MAX_PENDING)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._reported = False
        self._direct = DIRECT_IO  # cleared if the filesystem refuses O_DIRECT
        self._hash_here: bool | None = HASH_IN_CALLER

    @property
    def rows_done(self) -> int:
        return sum(s.rows for s in self.shards)

    # -- caller's thread ---------------------------------------------------------------------------

    def append(self, acts: dict[str, torch.Tensor], meta: dict[str, torch.Tensor]) -> None:
        """Add rows (``acts[hook]``: [rows, d]; ``meta[key]``: [rows]); full shards are written."""
        self.append_rows(acts, None, meta)

    def append_rows(self, src: dict[str, torch.Tensor], index: torch.Tensor | None, meta: dict[str, torch.Tensor]) -> None:
        """Add rows ``src[hook][index]`` (``index`` None: every row of ``src[hook]`` [n, d], in order).

        The rows are gathered straight into the shard's file image (one copy, any device or
        dtype conversion included); ``meta[key]`` gives one value per added row.
        """
        self._raise_if_failed()
        n = int(meta["__seq_id"].shape[0])
        if index is not None:
            index = _as_range(index)
        start = 0
        while start < n:
            if self._cur is None:
                self._open_shard()
            sh = self._cur
            take = min(n - start, sh.rows - self._fill)
            dst = slice(self._fill, self._fill + take)
            for h in self.hooks:
                _gather_into(sh.views[h][dst], src[h], index, start, take)
            for k in META_KEYS:
                sh.views[k][dst].copy_(meta[k][start : start + take])
            self._fill += take
            start += take
            if self._hash_here is None:
                self._hash_here = _hash_in_caller(src)
            if self._hash_here:  # extend the hash over the file's contiguous prefix here, not on the writer
                end = sh.ends(self._fill)[0]
                sh.hasher.update(sh.bytes[sh.hashed : end])
                sh.hashed = end
            if self._fill == sh.rows:
                self._submit("commit", sh, sh.rows)
                self._cur = None
            elif (self._fill - sh.submitted) * sh.bytes_per_row >= WRITE_CHUNK:  # wake the writer once per chunk
                sh.submitted = self._fill
                self._submit("rows", sh, self._fill)

    def close(self) -> None:
        """Write the last partial shard, wait for every write, and mark the store complete."""
        if self._cur is not None and self._fill:
            self._submit("commit", self._cur, self._fill)
        self._cur = None
        self._finish()
        self.complete = True
        self._write_manifest()

    def abort(self) -> None:
        """Stop without completing the store: commit the full shards already handed over, drop the partial one."""
        cur, self._cur = self._cur, None
        try:
            self._finish(quiet=self._reported)  # an error the caller has already seen is not raised again
        finally:
            if cur is not None and cur.fd is not None:  # never reached "commit": the writer left it open
                os.close(cur.fd)
                cur.fd = None
            if cur is not None:
                self._tmp(cur.index).unlink(missing_ok=True)

    def _layout(self, rows: int) -> tuple[bytes, list[tuple[str, int, int]]]:
        tensors = {h: (self.dtype, (rows, self.d[h])) for h in self.hooks}
        tensors.update({k: (torch.int32, (rows,)) for k in META_KEYS})
        return shard_layout(tensors, {"format": STORE_FORMAT})

    def _open_shard(self) -> None:
        i = self._next_index
        self._next_index += 1
        left = self.planned_rows - i * self.tokens_per_shard
        rows = min(self.tokens_per_shard, left) if left > 0 else self.tokens_per_shard
        prefix, regions = self._layout(rows)
        self._cur = _Shard(i, rows, prefix, regions, self._image(len(prefix) + regions[-1][2]), self._dtypes)
        self._fill = 0

    def _image(self, size: int) -> torch.Tensor:
        """A free shard image of at least ``size`` bytes (reused; a second one while the first is being committed)."""
        img = None
        while img is None:
            try:
                img = self._free.get_nowait()
            except queue.Empty:
                if self._images < 2:
                    self._images += 1
                    full = min(self.tokens_per_shard, max(1, self.planned_rows))  # the largest shard planned
                    prefix, regions = self._layout(full)
                    img = _aligned(max(size, len(prefix) + regions[-1][2]))
                else:
                    self._raise_if_failed()
                    try:
                        img = self._free.get(timeout=0.05)
                    except queue.Empty:
                        pass
        return img if img.numel() >= size else _aligned(size)  # more rows than planned: a bigger one

    def _submit(self, kind: str, sh: _Shard, filled: int) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=f"StoreWriter({self.path.name})", daemon=True)
            self._thread.start()
        self._jobs.put((kind, sh, filled))  # blocks while MAX_PENDING jobs wait: the disk sets the pace

    def _finish(self, quiet: bool = False) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        if not quiet:
            self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            self._reported = True
            raise self._error

    # -- writer thread -----------------------------------------------------------------------------

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            kind, sh, filled = job
            if self._error is not None:  # after a failure: drop the rest, but hand images back
                if kind == "commit":
                    self._release(sh)
                continue
            try:
                if kind == "rows":
                    self._write(sh, filled)
                else:
                    self._commit(sh, filled)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = exc
                if sh.fd is not None:
                    os.close(sh.fd)
                    sh.fd = None
                self._tmp(sh.index).unlink(missing_ok=True)  # a shard that failed leaves nothing behind
                if kind == "commit":
                    self._release(sh)

    def _release(self, sh: _Shard) -> None:
        """Hand the shard's image back to the pool (once; images made for one odd shard are just dropped)."""
        if sh.pooled and not sh.released:
            sh.released = True
            self._free.put(sh.image)

    def _tmp(self, index: int) -> Path:
        return self.path / (shard_name(index) + ".tmp")

    def _open_file(self, sh: _Shard) -> None:
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC
        if self._direct:
            try:
                sh.fd, sh.align = os.open(self._tmp(sh.index), flags | os.O_DIRECT, 0o666), ALIGN
                return
            except OSError:  # tmpfs and some network filesystems refuse O_DIRECT
                self._direct = False
        sh.fd, sh.align = os.open(self._tmp(sh.index), flags, 0o666), 1

    def _write(self, sh: _Shard, filled: int, last: bool = False) -> None:
        """Write the complete blocks not yet on disk (all of the file when ``last``) and extend the hash."""
        if sh.fd is None:
            self._open_file(sh)
        a = sh.align
        ends = sh.ends(filled)
        if last:  # everything is complete: whatever is not on disk yet, the last block padded
            spans = _gaps(-(-sh.size // a) * a, [d for d in sh.done if d is not None])
        else:
            spans = []
            for i, end in enumerate(ends):
                lo, hi = sh.done[i] or (-(-sh.starts[i] // a) * a,) * 2
                if end // a * a > hi:
                    spans.append((hi, end // a * a))
                    sh.done[i] = (lo, end // a * a)
        view = sh.bytes
        try:
            for lo, hi in spans:
                _pwrite_all(sh.fd, view[lo:hi], lo)
        except OSError as exc:
            if a == 1 or exc.errno != errno.EINVAL:
                raise
            os.close(sh.fd)  # O_DIRECT refused at write time: this shard's file again, without it
            self._direct, sh.fd, sh.done = False, None, [None] * len(sh.done)
            self._write(sh, filled, last)
            return
        hash_to = sh.size if last else 0 if self._hash_here else ends[0]
        if hash_to > sh.hashed:
            sh.hasher.update(view[sh.hashed : hash_to])
            sh.hashed = hash_to

    def _commit(self, sh: _Shard, rows: int) -> None:
        if rows != sh.rows:  # fewer rows than planned (close() on a short shard): lay the file out again
            if sh.fd is not None:
                os.close(sh.fd)
                sh.fd = None
            old = sh
            prefix, regions = self._layout(rows)
            size = len(prefix) + regions[-1][2]
            sh = _Shard(old.index, rows, prefix, regions, _aligned(size), self._dtypes)
            sh.pooled = False
            for name, view in sh.views.items():
                view.copy_(old.views[name][:rows])
            self._release(old)
            self._commit(sh, rows)
            return
        self._write(sh, rows, last=True)
        os.ftruncate(sh.fd, sh.size)  # drop the padding of the last block
        os.close(sh.fd)
        sh.fd = None
        final = self.path / shard_name(sh.index)
        os.replace(self._tmp(sh.index), final)
        self._release(sh)
        self.shards.append(ShardInfo(final.name, rows, sh.size, sh.hasher.hexdigest()))
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


def _hash_in_caller(src: dict[str, torch.Tensor]) -> bool:
    """Hash in the caller's thread when the rows come from the CPU and torch's threads already use every core.

    There a background thread only takes turns with the forward pass's intra-op threads (and each
    switch between them costs more than it saves); with a spare core, or activations on a GPU, the
    writer thread hashes while the next batches run.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    on_cpu = all(t.device.type == "cpu" for t in src.values())
    return on_cpu and torch.get_num_threads() >= cores


def _aligned(size: int) -> torch.Tensor:
    """``size`` bytes (rounded up to whole blocks) at a block-aligned address, from the ordinary allocator.

    Ordinary memory, not a fresh ``mmap``: the allocator recycles it between captures, where a new
    mapping would fault in every page again (milliseconds per 16 MiB on a virtual machine).
    """
    n = -(-size // ALIGN) * ALIGN
    raw = torch.empty(n + ALIGN, dtype=torch.uint8)
    off = -raw.data_ptr() % ALIGN
    return raw[off : off + n]


def _gaps(size: int, done: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``[0, size)`` that no span in ``done`` covers."""
    out, pos = [], 0
    for lo, hi in sorted(done):
        if lo > pos:
            out.append((pos, lo))
        pos = max(pos, hi)
    if pos < size:
        out.append((pos, size))
    return out


def _as_range(index: torch.Tensor) -> torch.Tensor | slice:
    """``index`` (sorted row numbers) as a slice when it is one contiguous run: a plain copy beats a gather."""
    n = index.numel()
    if n and int(index[-1]) - int(index[0]) + 1 == n:
        return slice(int(index[0]), int(index[0]) + n)
    return index


def _gather_into(dst: torch.Tensor, src: torch.Tensor, index: torch.Tensor | slice | None, start: int, take: int) -> None:
    """``dst[:] = src[index][start:start + take]`` with one copy."""
    if index is None:
        dst.copy_(src[start : start + take])
    elif isinstance(index, slice):
        dst.copy_(src[index.start + start : index.start + start + take])
    else:
        idx = index[start : start + take].to(src.device)
        if src.device == dst.device and src.dtype == dst.dtype and dst.is_contiguous():
            torch.index_select(src, 0, idx, out=dst)
        else:
            dst.copy_(src.index_select(0, idx))


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
