"""One shard's file image in memory, filled row block by row block: the writer's buffer and its helpers.

:class:`ShardImage` holds the exact bytes of a shard's file (header, then each tensor's
rows) at a block-aligned address, so rows are copied into place once and complete
blocks can be written with ``O_DIRECT`` while the rest fills. :class:`~interp.hooks.writer.StoreWriter`
owns these; nothing else needs them.
"""

from __future__ import annotations

import os
import threading

import torch

from interp.hooks.shards import CHECKSUM, META_KEYS, new_hasher

ALIGN = 4096  # O_DIRECT offsets, lengths and memory addresses are multiples of this


def pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while len(data):
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n


class ShardImage:
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
        self.hasher = new_hasher(CHECKSUM)
        self.hashed = 0  # bytes [0, hashed) of the file are hashed (a file is hashed in order)

    def ends(self, filled: int) -> list[int]:
        """Where each interval's complete bytes end once ``filled`` rows are in."""
        return [self.starts[i] + (len(self.prefix) if i == 0 else 0) + filled * rb for i, rb in enumerate(self.row_bytes)]


def aligned_bytes(size: int) -> torch.Tensor:
    """``size`` bytes (rounded up to whole blocks) at a block-aligned address, from the ordinary allocator.

    Ordinary memory, not a fresh ``mmap``: the allocator recycles it between captures, where a new
    mapping would fault in every page again (milliseconds per 16 MiB on a virtual machine).
    """
    n = -(-size // ALIGN) * ALIGN
    raw = torch.empty(n + ALIGN, dtype=torch.uint8)
    off = -raw.data_ptr() % ALIGN
    return raw[off : off + n]


POOL_BYTES = 256 << 20  # freed shard images this process keeps for its next capture
_pool: list[torch.Tensor] = []
_pool_lock = threading.Lock()


def take_image(size: int) -> torch.Tensor:
    """A block-aligned buffer of at least ``size`` bytes: a pooled one that fits, else a new one.

    Why a pool: the first write to a fresh buffer faults its pages in, and on a virtual machine
    that costs ~3 ms per 16 MiB, ten times the copy itself; a buffer kept from the last capture
    in this process is already mapped. (Huge pages would avoid the faults too, but their
    allocation can stall for tens of milliseconds while the kernel compacts memory.)
    """
    with _pool_lock:
        fits = [i for i, t in enumerate(_pool) if size <= t.numel() <= 2 * size + ALIGN]  # not a huge one for a small shard
        if fits:
            return _pool.pop(min(fits, key=lambda i: _pool[i].numel()))
    return aligned_bytes(size)


def keep_image(img: torch.Tensor) -> None:
    """Offer a buffer back for the next capture; kept while the pool holds at most ``POOL_BYTES``."""
    with _pool_lock:
        if sum(t.numel() for t in _pool) + img.numel() <= POOL_BYTES:
            _pool.append(img)


def release_images() -> None:
    """Free the pooled buffers (their memory stays resident until then)."""
    with _pool_lock:
        _pool.clear()


def gaps(size: int, done: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``[0, size)`` that no span in ``done`` covers."""
    out, pos = [], 0
    for lo, hi in sorted(done):
        if lo > pos:
            out.append((pos, lo))
        pos = max(pos, hi)
    if pos < size:
        out.append((pos, size))
    return out


def as_range(index: torch.Tensor | slice) -> torch.Tensor | slice:
    """``index`` (sorted row numbers) as a slice when it is one contiguous run: a plain copy beats a gather."""
    if isinstance(index, slice):
        return index
    n = index.numel()
    if n and int(index[-1]) - int(index[0]) + 1 == n:
        return slice(int(index[0]), int(index[0]) + n)
    return index


def gather_into(dst: torch.Tensor, src: torch.Tensor, index: torch.Tensor | slice | None, start: int, take: int) -> None:
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
