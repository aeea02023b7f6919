"""Where a probe's rows come from, and how they are split: tensors and stores read the same way.

A probe is fitted on ``n`` rows of activations ``[n, d]`` with one label per row.
Those rows may be an in-memory tensor (a capture, a notebook cache) or one hook of
an :class:`~interp.hooks.ActivationStore` larger than memory. :class:`Rows` hides the
difference: it hands out contiguous chunks ``(start, x [rows, d])`` of at most
``chunk_rows`` rows, so every pass over the data (feature statistics, an epoch of
mini-batches, evaluation) holds one chunk at a time, whatever the store's size.

Splits are a per-row code (0 train, 1 validation, 2 test) drawn from a seed, so the
task probe, its control task and the random-model baseline can all be scored on
exactly the same rows. With ``groups`` (e.g. the sequence id of each token) whole
groups go to one split, so tokens of one sentence never sit on both sides.
"""

from __future__ import annotations

from typing import Any, Iterator

import torch

TRAIN, VAL, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "val", "test")


class ProbeDataError(ValueError):
    """Activations or labels a probe cannot be fitted on (wrong shape, count, NaN...)."""


class Rows:
    """``n`` rows of width ``d`` from a tensor, one hook of an ActivationStore (or view) or a CaptureResult,
    served in contiguous float32 chunks of at most ``chunk_rows`` rows (see :mod:`interp.hooks.rows`)."""

    def __init__(self, x: Any, hook: str | None = None, chunk_rows: int = 65536) -> None:
        from interp.hooks import ActivationStore, CaptureResult
        from interp.hooks.rows import open_rows

        if chunk_rows <= 0:
            raise ProbeDataError(f"chunk_rows must be positive, got {chunk_rows}.")
        if not isinstance(x, (torch.Tensor, ActivationStore, CaptureResult)):
            raise ProbeDataError(
                f"Cannot fit a probe on {type(x).__name__}: pass a [rows, d] tensor, an ActivationStore "
                "(with hook=...) or a CaptureResult (with hook=...)."
            )
        self.source = open_rows(x, hook, error=ProbeDataError)
        self.chunk_rows = chunk_rows
        self.hook = hook if isinstance(x, torch.Tensor) else self.source.names[0]
        self.n, self.d = len(self.source), self.source.d[self.source.names[0]]
        if self.n == 0:
            raise ProbeDataError("No rows to fit on: the activations are empty.")

    def chunk(self, start: int) -> torch.Tensor:
        """Rows ``start : start + chunk_rows`` as float32 [rows, d]; NaN/inf is refused."""
        return self.source.chunk(start, self.chunk_rows, finite=True)

    def starts(self, shuffle: bool = False, generator: torch.Generator | None = None) -> list[int]:
        return self.source.chunk_starts(self.chunk_rows, shuffle, generator)

    def chunks(self, shuffle: bool = False, generator: torch.Generator | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        return self.source.chunks(self.chunk_rows, shuffle=shuffle, generator=generator, finite=True)


def make_split(n: int, val_frac: float, test_frac: float, seed: int = 0, groups: torch.Tensor | None = None) -> torch.Tensor:
    """A code per row, 0 train / 1 val / 2 test, drawn from ``seed`` (whole ``groups`` together).

    Returns: int8 [n].
    """
    if val_frac < 0 or test_frac < 0 or val_frac + test_frac >= 1:
        raise ProbeDataError(f"val_frac={val_frac} and test_frac={test_frac} must be >= 0 and leave rows to train on.")
    gen = torch.Generator().manual_seed(seed)
    if groups is None:
        inverse = torch.arange(n)
        n_units = n
    else:
        groups = torch.as_tensor(groups)
        if groups.shape != (n,):
            raise ProbeDataError(f"groups must have one entry per row ({n}), got shape {tuple(groups.shape)}.")
        _, inverse = torch.unique(groups, return_inverse=True)
        n_units = int(inverse.max()) + 1
    order = torch.randperm(n_units, generator=gen)
    unit_code = torch.zeros(n_units, dtype=torch.int8)
    n_test, n_val = round(test_frac * n_units), round(val_frac * n_units)
    unit_code[order[:n_test]] = TEST
    unit_code[order[n_test : n_test + n_val]] = VAL
    split = unit_code[inverse]
    if not bool((split == TRAIN).any()):
        raise ProbeDataError(f"The split leaves no training rows ({n_units} rows/groups); lower val_frac/test_frac.")
    return split


def check_split(split: Any, n: int) -> torch.Tensor:
    split = torch.as_tensor(split).to(torch.int8)
    if split.shape != (n,):
        raise ProbeDataError(f"split must have one code (0 train, 1 val, 2 test) per row ({n}), got shape {tuple(split.shape)}.")
    if not bool(((split >= 0) & (split <= 2)).all()):
        raise ProbeDataError("split codes must be 0 (train), 1 (val) or 2 (test).")
    if not bool((split == TRAIN).any()):
        raise ProbeDataError("split has no training rows (code 0).")
    return split


def feature_stats(rows: Rows, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std [d] of the rows where ``mask`` is true, in one streamed pass (float64 sums)."""
    total = torch.zeros(rows.d, dtype=torch.float64)
    sq = torch.zeros(rows.d, dtype=torch.float64)
    count = 0
    for start, x in rows.chunks():
        m = mask[start : start + x.shape[0]]
        xs = x[m].double()
        total += xs.sum(0)
        sq += (xs * xs).sum(0)
        count += int(m.sum())
    mean = total / max(count, 1)
    var = (sq / max(count, 1) - mean * mean).clamp_min(0)
    std = var.sqrt()
    std = torch.where(std > 1e-6 * (std.max() + 1e-12), std, torch.ones_like(std))  # constant features: leave as is
    return mean.float(), std.float()


def as_labels(y: Any, n: int) -> torch.Tensor:
    """``y`` as a tensor with one entry (or row) per activation row; clear errors otherwise."""
    try:
        y = torch.as_tensor(y)
    except (TypeError, ValueError) as exc:
        raise ProbeDataError(f"Labels must be a tensor, array or list of numbers: {exc}.") from None
    if y.dim() == 0 or y.shape[0] != n:
        got = "a scalar" if y.dim() == 0 else f"{y.shape[0]} labels"
        raise ProbeDataError(f"Got {got} for {n} activation rows; pass exactly one label per row.")
    if y.is_floating_point() and not bool(torch.isfinite(y).all()):
        bad = int((~torch.isfinite(y.reshape(n, -1))).any(1).nonzero()[0, 0])
        raise ProbeDataError(f"Labels contain NaN or inf (first at row {bad}); drop those rows before fitting.")
    return y
