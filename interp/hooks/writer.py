"""Writing an activation store: :class:`StoreWriter` fills shards and commits each one atomically.

Each shard is written to a temporary name, renamed, then recorded in ``manifest.json``
(itself written atomically), so at any kill point the folder holds only complete shards
and a capture can resume after the last one. Shards are written with the exact bytes
``safetensors.torch.save_file`` would write (:func:`~interp.hooks.shards.shard_layout`),
from one in-memory image per shard, on a background thread and around the page cache
where the filesystem allows it. One writer at a time: a lock file in the folder names
the process that holds it. :mod:`interp.hooks.shards` is the format,
:mod:`interp.hooks.store` the read side.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import os
import queue
import warnings
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from interp.hooks.shards import (
    CHECKSUM,
    MANIFEST,
    META_KEYS,
    STORE_FORMAT,
    STORE_VERSION,
    TOKENS_FILE,
    ShardInfo,
    StoreError,
    _read_manifest,
    dtype_name,
    shard_layout,
    shard_name,
)
from interp.hooks.background import executor
from interp.hooks.shard_image import (
    ALIGN,
    ShardImage,
    aligned_bytes,
    as_range,
    gaps,
    gather_into,
    keep_image,
    pwrite_all,
    take_image,
)
from interp.hooks.lock import take_lock
from interp.io import write_atomic, write_json_atomic



DIRECT_IO = hasattr(os, "O_DIRECT")  # write shards around the page cache where the filesystem allows it
MAX_PENDING = 4  # jobs handed to the writer thread and not yet done
WRITE_CHUNK = 1 << 20  # bytes of new rows before the writer thread is woken: about a batch, so close() waits for one batch
HASH_IN_CALLER: bool | None = None  # None: decided per writer (see _hash_in_caller)


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
    d: dict[str, int] | None  # values per row of each hook; None: set by set_shapes (or a resumed manifest)
    row_shape: dict[str, list[int]] | None
    dtype: torch.dtype
    tokens_per_shard: int
    planned_rows: int
    shards: list[ShardInfo] = field(default_factory=list)
    complete: bool = False

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = take_lock(self.path)
        try:
            if (self.path / MANIFEST).exists():
                self._resume()
                self._write_manifest()  # the shards kept (a resume may have dropped some)
        except BaseException:
            self._release_lock()
            raise
        # A new store's manifest is first written with its first shard: until then there is nothing to keep.
        self._dtypes = {**{h: self.dtype for h in self.hooks}, **{k: torch.int32 for k in META_KEYS}}
        self._cur: ShardImage | None = None
        self._fill = 0
        self._next_index = len(self.shards)
        self._images = 0  # allocated so far (at most 2)
        self._free: queue.SimpleQueue[torch.Tensor] = queue.SimpleQueue()
        self._pending: collections.deque[Future[None]] = collections.deque()  # jobs handed to the writer thread
        self._error: BaseException | None = None
        self._reported = False
        self._direct = DIRECT_IO  # cleared if the filesystem refuses O_DIRECT
        self._hash_here: bool | None = HASH_IN_CALLER

    def _resume(self) -> None:
        """Take over the shards of an earlier capture with the same spec, up to the first one missing or cut short.

        A shard that is gone or has the wrong size (deleted after a failed checksum, or torn by
        a crash of the disk) ends what is kept: it and every shard after it are captured again,
        so deleting a corrupt shard and resuming rebuilds it.
        """
        old = _read_manifest(self.path)
        if old.get("spec") != self.spec:
            diff = sorted(k for k in set(old.get("spec", {})) | set(self.spec) if old.get("spec", {}).get(k) != self.spec.get(k))
            raise StoreError(
                f"{self.path} already holds a store captured with different settings ({', '.join(diff)}). "
                "Use a new --out folder, or delete this one to recapture."
            )
        shards = [ShardInfo.from_manifest(s, self.path) for s in old["shards"]]
        self.complete = bool(old.get("complete"))
        if self.d is None:  # the same spec: the shapes are the earlier capture's (set_shapes checks them)
            self.d, self.row_shape = dict(old["d"]), dict(old.get("row_shape") or {h: [n] for h, n in old["d"].items()})
        for i, s in enumerate(shards):  # only shards listed in the manifest count
            f = self.path / s.file
            if not f.is_file() or f.stat().st_size != s.bytes:
                warnings.warn(f"{f} is missing or has the wrong size: the capture resumes from it "
                              f"(shards {i}..{len(shards) - 1} are captured again).", stacklevel=4)
                shards, self.complete = shards[:i], False
                break
        self.shards = shards

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.unlink(missing_ok=True)
            self._lock = None

    def set_shapes(self, d: dict[str, int], row_shape: dict[str, list[int]]) -> None:
        """Give the row shapes once they are known (``capture`` reads them off its first batch).

        A resumed store already has them: they must agree, or the model behind the same spec
        has changed (a retrained local checkpoint) and the old shards cannot be continued.
        """
        if self.d is None:
            self.d, self.row_shape = dict(d), {h: list(v) for h, v in row_shape.items()}
        elif self.d != d:
            self._release_lock()
            raise StoreError(
                f"{self.path} holds rows of {self.d} values per hook, but the model now gives {d}: it changed "
                "since the capture began. Use a new --out folder, or delete this one to recapture."
            )

    @property
    def rows_done(self) -> int:
        return sum(s.rows for s in self.shards)

    # -- caller's thread ---------------------------------------------------------------------------

    def append(self, acts: dict[str, torch.Tensor], meta: dict[str, torch.Tensor]) -> None:
        """Add rows (``acts[hook]``: [rows, d]; ``meta[key]``: [rows]); full shards are written."""
        self.append_rows(acts, None, meta)

    def append_rows(self, src: dict[str, torch.Tensor], index: torch.Tensor | slice | None, meta: dict[str, torch.Tensor]) -> None:
        """Add rows ``src[hook][index]`` (``index`` None: every row of ``src[hook]`` [n, d], in order).

        The rows are gathered straight into the shard's file image (one copy, any device or
        dtype conversion included); ``meta[key]`` gives one value per added row.
        """
        self._raise_if_failed()
        if self.d is None:
            raise RuntimeError("StoreWriter.set_shapes must be called before the first rows are appended.")
        n = int(meta["__seq_id"].shape[0])
        if index is not None:
            index = as_range(index)
        start = 0
        while start < n:
            if self._cur is None:
                self._open_shard()
            sh = self._cur
            take = min(n - start, sh.rows - self._fill)
            dst = slice(self._fill, self._fill + take)
            for h in self.hooks:
                gather_into(sh.views[h][dst], src[h], index, start, take)
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
            if self._fill == sh.rows:  # the last planned shard's commit marks the store complete
                last = sh.index * self.tokens_per_shard + sh.rows >= self.planned_rows
                self._submit("last" if last else "commit", sh, sh.rows)
                self._cur = None
            elif (self._fill - sh.submitted) * sh.bytes_per_row >= WRITE_CHUNK:  # wake the writer once per chunk
                sh.submitted = self._fill
                self._submit("rows", sh, self._fill)

    def write_file(self, name: str, write: Callable[[Path], Any]) -> None:
        """Write a side file of the store (the corpus) atomically on the writer thread, before later shards."""
        self._pending.append(executor("store-writer").submit(self._side_job, name, write))

    def _side_job(self, name: str, write: Callable[[Path], Any]) -> None:
        try:
            write_atomic(self.path / name, write)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self._error = exc

    def close(self) -> None:
        """Write the last partial shard, wait for every write, and mark the store complete."""
        if self.d is None:
            self.abort()
            raise RuntimeError("StoreWriter.close before set_shapes: nothing was captured, so nothing is complete.")
        if self._cur is not None and self._fill:
            self._submit("last", self._cur, self._fill)  # its manifest entry marks the store complete
        self._cur = None
        try:
            self._finish()
            if not self.complete:  # no partial shard was left: the manifest is written here
                self.complete = True
                self._write_manifest()
        finally:
            self._release_lock()

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
            try:
                if self.d is not None and not (self.path / MANIFEST).exists():  # stopped before the first shard:
                    self._write_manifest()  # still an (empty, incomplete) store with its spec, resumable
            finally:
                self._release_lock()

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
        self._cur = ShardImage(i, rows, prefix, regions, self._image(len(prefix) + regions[-1][2]), self._dtypes)
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
                    img = take_image(max(size, len(prefix) + regions[-1][2]))
                else:
                    self._raise_if_failed()
                    try:
                        img = self._free.get(timeout=0.05)
                    except queue.Empty:
                        pass
        return img if img.numel() >= size else aligned_bytes(size)  # more rows than planned: a bigger one

    def _submit(self, kind: str, sh: ShardImage, filled: int) -> None:
        while len(self._pending) >= MAX_PENDING:  # the disk sets the pace
            self._pending.popleft().result()
        self._pending.append(executor("store-writer").submit(self._job, kind, sh, filled))

    def _finish(self, quiet: bool = False) -> None:
        while self._pending:
            self._pending.popleft().result()
        while True:  # the images go back to the process's pool for the next capture
            try:
                keep_image(self._free.get_nowait())
            except queue.Empty:
                break
        if not quiet:
            self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            self._reported = True
            raise self._error

    # -- writer thread -----------------------------------------------------------------------------

    def _job(self, kind: str, sh: ShardImage, filled: int) -> None:
        """One job on the writer thread; an error is kept for the caller's thread, never raised here."""
        if self._error is not None:  # after a failure: drop the rest, but hand images back
            if kind != "rows":
                self._release(sh)
            return
        try:
            if kind == "rows":
                self._write(sh, filled)
            else:
                self._commit(sh, filled, final=kind == "last")
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self._error = exc
            if sh.fd is not None:
                os.close(sh.fd)
                sh.fd = None
            self._tmp(sh.index).unlink(missing_ok=True)  # a shard that failed leaves nothing behind
            if kind != "rows":
                self._release(sh)

    def _release(self, sh: ShardImage) -> None:
        """Hand the shard's image back to the pool (once; images made for one odd shard are just dropped)."""
        if sh.pooled and not sh.released:
            sh.released = True
            self._free.put(sh.image)

    def _tmp(self, index: int) -> Path:
        return self.path / (shard_name(index) + ".tmp")

    def _open_file(self, sh: ShardImage) -> None:
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC
        if self._direct:
            try:
                sh.fd, sh.align = os.open(self._tmp(sh.index), flags | os.O_DIRECT, 0o666), ALIGN
                return
            except OSError:  # tmpfs and some network filesystems refuse O_DIRECT
                self._direct = False
        sh.fd, sh.align = os.open(self._tmp(sh.index), flags, 0o666), 1

    def _write(self, sh: ShardImage, filled: int, last: bool = False, waited_for: bool = False) -> None:
        """Write the complete blocks not yet on disk (all of the file when ``last``) and extend the hash.

        ``waited_for``: the store's last shard, which ``close`` waits for; its tail goes through
        the page cache (a quick copy) rather than to the device.
        """
        if sh.fd is None:
            self._open_file(sh)
        a = sh.align
        ends = sh.ends(filled)
        if last:  # everything is complete: whatever is not on disk yet, the last block padded
            spans = gaps(-(-sh.size // a) * a, [d for d in sh.done if d is not None])
        else:
            spans = []
            for i, end in enumerate(ends):
                lo, hi = sh.done[i] or (-(-sh.starts[i] // a) * a,) * 2
                if end // a * a > hi:
                    spans.append((hi, end // a * a))
                    sh.done[i] = (lo, end // a * a)
        view = sh.bytes
        if waited_for and last and a > 1:
            fd = os.open(self._tmp(sh.index), os.O_WRONLY)
            try:
                for lo, hi in spans:
                    if min(hi, sh.size) > lo:
                        pwrite_all(fd, view[lo : min(hi, sh.size)], lo)
            finally:
                os.close(fd)
            spans = []
        try:
            for lo, hi in spans:
                pwrite_all(sh.fd, view[lo:hi], lo)
        except OSError as exc:
            if a == 1 or exc.errno != errno.EINVAL:
                raise
            os.close(sh.fd)  # O_DIRECT refused at write time: this shard's file again, without it
            self._direct, sh.fd, sh.done = False, None, [None] * len(sh.done)
            self._write(sh, filled, last, waited_for)
            return
        hash_to = sh.size if last else 0 if self._hash_here else ends[0]
        if hash_to > sh.hashed:
            sh.hasher.update(view[sh.hashed : hash_to])
            sh.hashed = hash_to

    def _commit(self, sh: ShardImage, rows: int, final: bool = False) -> None:
        if rows != sh.rows:  # fewer rows than planned (close() on a short shard): lay the file out again
            if sh.fd is not None:
                os.close(sh.fd)
                sh.fd = None
            old = sh
            prefix, regions = self._layout(rows)
            size = len(prefix) + regions[-1][2]
            sh = ShardImage(old.index, rows, prefix, regions, aligned_bytes(size), self._dtypes)
            sh.pooled = False
            for name, view in sh.views.items():
                view.copy_(old.views[name][:rows])
            self._release(old)
            self._commit(sh, rows, final)
            return
        self._write(sh, rows, last=True, waited_for=final)
        os.ftruncate(sh.fd, sh.size)  # drop the padding of the last block
        os.close(sh.fd)
        sh.fd = None
        path = self.path / shard_name(sh.index)
        os.replace(self._tmp(sh.index), path)
        self._release(sh)
        self.shards.append(ShardInfo(path.name, rows, sh.size, f"{CHECKSUM}:{sh.hasher.hexdigest()}"))
        self.complete = final
        try:
            self._write_manifest()
        except BaseException:
            self.complete = False
            raise

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
            "shards": [dataclasses.asdict(s) for s in self.shards],
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
