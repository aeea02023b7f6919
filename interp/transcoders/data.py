"""Where transcoders read (input, output) pairs: a multi-hook ActivationStore, or named tensors.

A transcoder needs, for the same token, its layer's MLP input and MLP output, so both hooks
must come from *one* capture (``capture_run(CaptureConfig(hooks=[all inputs and outputs]))``):
the store then serves every hook of a row together (``iter_batches(hooks=[...])``, through
:func:`interp.hooks.rows.open_rows`). :class:`TensorPairs` does the same for in-memory tensors
(synthetic data with a known answer, tests), with the same shuffled, restartable epochs.

:func:`layer_hooks` finds each layer's hooks by name: the input is ``blocks.L.ln2.hook_normalized``
(the LayerNorm's output before its affine, an affine function away from what the MLP reads)
where the source has it, else ``blocks.L.hook_mlp_in``; the output is ``blocks.L.hook_mlp_out``.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import torch

from interp.hooks.rows import RowSource, TensorRows, open_rows
from interp.sae.data import SourceError

INPUT_HOOKS = ("blocks.{layer}.ln2.hook_normalized", "blocks.{layer}.hook_mlp_in")
OUTPUT_HOOK = "blocks.{layer}.hook_mlp_out"


class TensorPairs(TensorRows):
    """Named 2-D tensors with the same rows ``{name: [n, d_name]}``: one permutation shuffles them all.

    :class:`~interp.hooks.rows.TensorRows` over a dict, raising the SAE data layer's ``SourceError``;
    one data path for SAEs and transcoders, so the ranks of a DDP run read disjoint rows here too.
    """

    def __init__(self, data: dict[str, torch.Tensor], error: type[Exception] = SourceError) -> None:
        if not isinstance(data, dict):
            raise error(f"TensorPairs takes {{name: [rows, d] tensor}}, got {type(data).__name__}.")
        super().__init__(data, error=error)


def open_pairs(data: Any, hooks: Sequence[str], buffer_shards: int = 4) -> RowSource:
    """A row source serving ``hooks`` together: a store / view / capture run folder, or ``{name: tensor}``."""
    if isinstance(data, dict):
        missing = [h for h in hooks if h not in data]
        if missing:
            raise SourceError(f"The tensors hold {sorted(data)}, not {missing}.")
        return TensorPairs({h: data[h] for h in hooks})
    return open_rows(data, list(hooks), error=SourceError, buffer_shards=buffer_shards)


def available_hooks(data: Any) -> list[str]:
    """The hook names a source holds (a store's hooks, a dict's keys)."""
    if isinstance(data, dict):
        return list(data)
    if isinstance(data, RowSource):
        return list(data.names)
    hooks = getattr(data, "hooks", None)
    if hooks is None:
        raise SourceError(f"Cannot list the hooks of a {type(data).__name__}; pass an ActivationStore or {{name: tensor}}.")
    return list(hooks)


def layer_hooks(hooks: Sequence[str], layers: Sequence[int] | None = None, hook_in: str | None = None,
                hook_out: str = OUTPUT_HOOK) -> list[tuple[int, str, str]]:
    """``(layer, input hook, output hook)`` for ``layers`` (None: every layer ``hooks`` has both for).

    ``hook_in`` / ``hook_out`` are templates with ``{layer}``; ``hook_in=None`` takes the first of
    :data:`INPUT_HOOKS` present. A layer that lacks a hook is a :class:`SourceError` that says
    what the capture must include.
    """
    have = set(hooks)
    if layers is None:
        found = sorted({int(m.group(1)) for h in hooks if (m := re.match(r"blocks\.(\d+)\.", h))})
        layers = [l for l in found if hook_out.format(layer=l) in have]
        if not layers:
            raise SourceError(f"No layer has its MLP output ({hook_out.format(layer='L')}) in {sorted(have)}; capture "
                              "each layer's MLP input and output together (interp capture --hooks ...).")
    out = []
    for l in layers:
        cands = [hook_in] if hook_in else list(INPUT_HOOKS)
        h_in = next((c.format(layer=l) for c in cands if c.format(layer=l) in have), None)
        h_out = hook_out.format(layer=l)
        if h_in is None or h_out not in have:
            want = [c.format(layer=l) for c in cands[:1]] + [h_out]
            raise SourceError(f"Layer {l} needs {' and '.join(want)} captured together; the source holds {sorted(have)}.")
        out.append((int(l), h_in, h_out))
    return out
