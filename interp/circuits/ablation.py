"""Ablations: knock out a component and see what the model loses.

An ablation replaces a component's activation with something that carries no
information about the current input:

* ``zero``: 0 (simple, but pushes the model off its distribution);
* ``mean``: the component's mean activation over a reference set of inputs, per
  position or pooled over positions (keeps the activation "typical");
* ``resample``: the activation the component had on a *different* (corrupted)
  input, position by position (Chan et al.'s causal scrubbing; the least
  off-distribution choice).

Components are addressed through TransformerLens hook names, so every function
here returns a ``fwd_hooks`` list for :func:`interp.hooks.hooked.forward`
(``forward(model, tokens, fwd_hooks=...)``):

==============  =================================  ============================
component       hook                               indexed by
==============  =================================  ============================
attention head  ``blocks.L.attn.hook_z``            ``[batch, pos, head, d_head]``
MLP             ``blocks.L.hook_mlp_out``           ``[batch, pos, d_model]``
neuron          ``blocks.L.mlp.hook_post``          ``[batch, pos, d_mlp]``
SAE latent      any hook the SAE reads (spliced)    ``[batch, pos, d_sae]``
==============  =================================  ============================

Heads are ablated at ``hook_z`` (before ``W_O``), which removes exactly that
head's contribution to the residual stream. An SAE is *spliced* in: the hook's
activation ``x`` becomes ``decode(z') + (x - decode(encode(x)))`` where ``z'``
is the latent vector with the chosen latents ablated, so the SAE's reconstruction
error is kept and only the named latents change (any object with
``encode``/``decode``, e.g. :class:`interp.sae.SAE`, works).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from interp.hooks.hooked import cache_hooks
from interp.models import model_device

KINDS = ("zero", "mean", "resample")
Hook = tuple[str, Callable[..., torch.Tensor]]


@dataclass
class Ablation:
    """How to ablate: the kind, where, and the inputs that define mean/resample values.

    positions: sequence positions to ablate (None = all). per_position: for ``mean``,
    average over the reference batch separately at each position (True) or over
    batch and positions (False). reference: tokens [n, pos] for ``mean``;
    corrupt: tokens [batch, pos] (same shape as the run's input) for ``resample``.
    """

    kind: str = "zero"
    positions: Sequence[int] | None = None
    per_position: bool = True
    reference: torch.Tensor | None = None
    corrupt: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown ablation kind {self.kind!r}; choose one of {KINDS}.")
        if self.kind == "mean" and self.reference is None:
            raise ValueError("A mean ablation needs reference tokens: Ablation('mean', reference=tokens).")
        if self.kind == "resample" and self.corrupt is None:
            raise ValueError("A resample ablation needs corrupted inputs: Ablation('resample', corrupt=tokens).")


def _replacement(model: Any, hook: str, ablation: Ablation) -> torch.Tensor | None:
    """What replaces the activation: None (zero), [pos or 1, ...] (mean) or [batch, pos, ...] (resample)."""
    if ablation.kind == "zero":
        return None
    if ablation.kind == "mean":
        ref = cache_hooks(model, ablation.reference, [hook])[hook]  # [n, pos, ...]
        return ref.mean(0) if ablation.per_position else ref.mean((0, 1))[None]
    return cache_hooks(model, ablation.corrupt, [hook])[hook]


def _source(value: torch.Tensor | None, act: torch.Tensor, hook: str) -> torch.Tensor:
    """The replacement values at full shape ``act.shape``: zeros, the broadcast mean, or the resampled run."""
    if value is None:
        return torch.zeros_like(act)
    if value.dim() == act.dim():  # resample: one row per input
        if value.shape != act.shape:
            raise ValueError(
                f"Resample ablation at {hook}: corrupted activations have shape {tuple(value.shape)}, the run "
                f"{tuple(act.shape)}; pass corrupted inputs of the same shape as the clean ones."
            )
        return value.to(act)
    if value.shape[0] not in (1, act.shape[1]):  # mean: [pos or 1, ...]
        raise ValueError(
            f"Mean ablation at {hook}: the reference has {value.shape[0]} positions, the run {act.shape[1]}; "
            "use per_position=False or reference inputs of the same length."
        )
    return value.to(act)[None].expand_as(act)


def _mask(act: torch.Tensor, positions: list[int] | None, axis: int | None, index: list[int] | None) -> torch.Tensor:
    """Bool mask broadcastable to ``act``: True at the chosen positions (axis 1) and indices along ``axis``."""
    shape = [1] * act.dim()
    mask = torch.ones(shape, dtype=torch.bool, device=act.device)
    if positions is not None:
        pos_shape = list(shape)
        pos_shape[1] = act.shape[1]
        pm = torch.zeros(act.shape[1], dtype=torch.bool, device=act.device)
        pm[positions] = True
        mask = mask & pm.reshape(pos_shape)
    if axis is not None and index is not None:
        ax = axis % act.dim()
        idx_shape = list(shape)
        idx_shape[ax] = act.shape[ax]
        im = torch.zeros(act.shape[ax], dtype=torch.bool, device=act.device)
        im[index] = True
        mask = mask & im.reshape(idx_shape)
    return mask


def _overwrite_hook(
    name: str, ablation: Ablation, value: torch.Tensor | None, axis: int | None = None, index: list[int] | None = None
) -> Hook:
    """A hook replacing ``act`` by the ablation value at the chosen positions and ``index`` along ``axis``."""
    positions = None if ablation.positions is None else list(ablation.positions)

    def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:
        return torch.where(_mask(act, positions, axis, index), _source(value, act, name), act)

    return name, fn


def _indexed_hooks(model: Any, items: Sequence[tuple[int, int]], what: str, size: int, hook: str, axis: int,
                   ablation: Ablation) -> list[Hook]:
    """One overwrite hook per layer for ``(layer, index)`` items (heads along axis 2, neurons along -1)."""
    by_layer: dict[int, list[int]] = {}
    for layer, i in items:
        _check_range("layer", layer, model.cfg.n_layers)
        _check_range(what, i, size)
        by_layer.setdefault(layer, []).append(i)
    names = {layer: hook.format(layer) for layer in by_layer}
    return [_overwrite_hook(names[layer], ablation, _replacement(model, names[layer], ablation), axis=axis, index=idx)
            for layer, idx in sorted(by_layer.items())]


def head_ablation_hooks(model: Any, heads: Sequence[tuple[int, int]], ablation: Ablation) -> list[Hook]:
    """fwd_hooks ablating attention heads ``[(layer, head), ...]`` at ``blocks.L.attn.hook_z``."""
    return _indexed_hooks(model, heads, "head", model.cfg.n_heads, "blocks.{}.attn.hook_z", 2, ablation)


def _require_mlps(model: Any) -> None:
    if getattr(model.cfg, "attn_only", False):
        raise ValueError("This model is attention-only: it has no MLPs (or MLP neurons) to ablate.")


def mlp_ablation_hooks(model: Any, layers: Sequence[int], ablation: Ablation) -> list[Hook]:
    """fwd_hooks ablating whole MLP outputs (``blocks.L.hook_mlp_out``)."""
    _require_mlps(model)
    hooks = []
    for layer in layers:
        _check_range("layer", layer, model.cfg.n_layers)
        name = f"blocks.{layer}.hook_mlp_out"
        hooks.append(_overwrite_hook(name, ablation, _replacement(model, name, ablation)))
    return hooks


def neuron_ablation_hooks(model: Any, neurons: Sequence[tuple[int, int]], ablation: Ablation) -> list[Hook]:
    """fwd_hooks ablating single MLP neurons ``[(layer, neuron), ...]`` at ``blocks.L.mlp.hook_post``."""
    _require_mlps(model)
    return _indexed_hooks(model, neurons, "neuron", model.cfg.d_mlp, "blocks.{}.mlp.hook_post", -1, ablation)


def sae_latent_ablation_hooks(
    model: Any, sae: Any, hook_name: str | None, latents: Sequence[int], ablation: Ablation
) -> list[Hook]:
    """fwd_hooks splicing ``sae`` into ``hook`` with ``latents`` ablated (reconstruction error kept).

    ``sae`` is any object with ``encode(x [n, d_in]) -> [n, d_sae]`` and
    ``decode(z) -> [n, d_in]``, or the path of an ``sae`` run / SAE folder (what
    ``interp sae train`` writes, or a SAELens folder). ``hook_name`` may be None for
    an SAE that records its hook. Mean and resample values are latent activations on
    the reference / corrupted inputs.
    """
    if isinstance(sae, (str, Path)):
        from interp.sae.io import open_sae

        sae = open_sae(sae)[0].to(model_device(model)).eval()
    for attr in ("encode", "decode"):
        if not callable(getattr(sae, attr, None)):
            raise TypeError(f"The SAE must have an {attr}() method (got {type(sae).__name__}).")
    trained_on = getattr(getattr(sae, "cfg", None), "hook", None)
    hook_name = hook_name or trained_on
    if not hook_name:
        raise ValueError("This SAE does not record the hook it was trained on: pass hook_name.")
    if trained_on and trained_on != hook_name:
        raise ValueError(f"The SAE was trained on {trained_on!r}, not {hook_name!r}: splice it where it was "
                         f"trained (hook_name={trained_on!r}) or pass hook_name=None.")
    d_sae = getattr(getattr(sae, "cfg", None), "d_sae", None)
    latents = list(latents)
    for i in latents if d_sae else []:
        _check_range("latent", int(i), d_sae)
    pos = None if ablation.positions is None else list(ablation.positions)

    def encode(x: torch.Tensor) -> torch.Tensor:
        return sae.encode(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)

    def decode(z: torch.Tensor) -> torch.Tensor:
        return sae.decode(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], -1)

    value = None
    if ablation.kind != "zero":
        src = ablation.reference if ablation.kind == "mean" else ablation.corrupt
        with torch.no_grad():
            z_ref = encode(cache_hooks(model, src, [hook_name])[hook_name])  # [n, pos, d_sae]
        if ablation.kind == "mean":
            value = z_ref.mean(0) if ablation.per_position else z_ref.mean((0, 1))[None]
        else:
            value = z_ref

    def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:
        d_in = getattr(getattr(sae, "cfg", None), "d_in", None)
        if d_in and act.shape[-1] != d_in:
            raise ValueError(f"{hook_name} has width {act.shape[-1]} but the SAE reads {d_in}: it was trained "
                             "on another model or hook.")
        z = encode(act)  # [batch, pos, d_sae]
        error = act - decode(z)  # what the SAE misses stays in
        z_new = torch.where(_mask(z, pos, -1, latents), _source(value, z, hook_name), z)
        return decode(z_new) + error

    return [(hook_name, fn)]


def _check_range(what: str, value: int, size: int) -> None:
    if not 0 <= value < size:
        raise ValueError(f"{what} {value} is out of range: the model has {size} ({what}s 0..{size - 1}).")
