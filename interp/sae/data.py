"""Where the trainer's activations come from: the shared rows adapter, raising :class:`SourceError`.

:func:`open_source` is :func:`interp.hooks.rows.open_rows` with the trainer's error
class: an ActivationStore or a view of one (e.g. the training part of
``store.split_sequences(0.1)``: only its rows are read) with one or more hooks, a
``.npy`` / ``.safetensors`` file (memory-mapped), a CaptureResult, or a tensor
[n, d_in]. A source serves one shuffled *epoch* of minibatches at a time and can
restart an epoch at a given batch, which is how a resumed run continues on exactly
the rows the interrupted one would have seen next; see :mod:`interp.hooks.rows` for
how tensors and stores shuffle and split across DDP ranks.
"""

from __future__ import annotations

from typing import Any, Sequence

from interp.hooks.rows import RowSource, open_rows


class SourceError(ValueError):
    """The activations given to the trainer cannot be used (wrong type, shape, or too few rows)."""


def open_source(activations: Any, hooks: Sequence[str] | None = None, buffer_shards: int = 4) -> RowSource:
    """A row source for ``activations`` (see the module docstring); errors are :class:`SourceError`."""
    return open_rows(activations, hooks, error=SourceError, buffer_shards=buffer_shards)
