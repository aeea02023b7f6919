"""Use a probe's direction on the live model: ablate it or steer along it, through hooks.

A probe is only half the story; the other half is whether the direction it found
matters to the model. These helpers turn a fitted probe (or raw directions
``[k, d]``) into ``fwd_hooks`` for :func:`interp.hooks.hooked.forward`:

* :func:`ablation_hooks` removes the probe's directions from the activation, i.e.
  replaces the component along them with the probe's training mean (mean
  ablation within the subspace; ``center=False`` projects to zero instead).
  With ``directions="weights"`` (default) these are the directions the probe
  reads: its logits no longer depend on the input, so its accuracy on the patched
  activations falls to the constant-prediction level (chance). But a readout
  direction need not be where the information lives: another probe can often
  still read it. ``directions="pattern"`` removes ``Cov(x, probe output)``
  instead (Haufe et al. 2014's activation pattern), which zeroes the covariance
  with the probe's output, so a *retrained* linear probe finds nothing either
  (linear concept erasure in the sense of LEACE, Belrose et al. 2023, though
  not its minimal-distortion map). On ``toy:modadd`` removing the 6 pattern
  directions of the Fourier probe breaks the model; removing its 6 weight
  directions barely moves the loss (experiments/probe_modadd.py).
* :func:`steering_hooks` adds ``alpha`` times the unit direction of one class (for
  a binary probe, the direction towards ``classes_[1]``; negative ``alpha`` pushes
  towards ``classes_[0]``).

Both work on any hook whose tensor is ``[batch, pos, ...]`` (the trailing dims are
flattened, as in :func:`interp.hooks.capturing`), at all positions or chosen ones.
:func:`ablation_losses` measures what ablating each probe's directions does to the
model's loss, against as many random directions.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from interp.hooks.hooked import forward
from interp.probes.base import Probe

Hook = tuple[str, Callable[..., torch.Tensor]]


def _basis(directions: torch.Tensor) -> torch.Tensor:
    """Orthonormal basis [d, k] of the span of ``directions`` [k, d] (rank-revealing)."""
    if directions.dim() == 1:
        directions = directions[None]
    q, r = torch.linalg.qr(directions.double().T)  # q: [d, k]
    keep = r.diagonal().abs() > 1e-8 * r.diagonal().abs().max().clamp_min(1e-30)
    return q[:, keep].float()


def project_out(x: torch.Tensor, directions: torch.Tensor, center: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` [..., d] with its component along ``directions`` [k, d] set to that of ``center`` (or 0)."""
    q = _basis(directions).to(x.device, x.dtype)  # [d, k]
    offset = x if center is None else x - center.to(x.device, x.dtype)
    return x - (offset @ q) @ q.T


def _directions(probe_or_dirs: Probe | torch.Tensor, kind: str = "weights") -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(probe_or_dirs, Probe):
        return probe_or_dirs.directions(kind), probe_or_dirs.mean.detach()
    return torch.as_tensor(probe_or_dirs).float(), None


def _at_positions(fn: Callable[[torch.Tensor], torch.Tensor], positions: Sequence[int] | None) -> Callable[..., torch.Tensor]:
    def hook_fn(t: torch.Tensor, hook: Any = None) -> torch.Tensor:
        if t.dim() < 2:
            raise ValueError(f"Hook {getattr(hook, 'name', '')} gives shape {tuple(t.shape)}, not [batch, pos, ...].")
        flat = t.reshape(*t.shape[:2], -1)  # [batch, pos, d]
        if positions is None:
            new = fn(flat)
        else:
            new = flat.clone()
            new[:, list(positions)] = fn(flat[:, list(positions)])
        return new.reshape(t.shape)

    return hook_fn


def ablation_hooks(probe_or_dirs: Probe | torch.Tensor, hook: str | None = None, positions: Sequence[int] | None = None,
                   center: bool = True, directions: str = "weights") -> list[Hook]:
    """``[(hook, fn)]`` that removes the probe's directions at ``hook`` (default: the hook it was fitted on).

    ``directions``: ``"weights"`` (what the probe reads) or ``"pattern"`` (where its output
    varies in the activations); see the module docstring.
    """
    dirs, mean = _directions(probe_or_dirs, directions)
    hook = _hook_name(probe_or_dirs, hook)
    c = mean if (center and mean is not None and mean.numel()) else None
    return [(hook, _at_positions(lambda x: project_out(x, dirs, c), positions))]


def steering_hooks(probe_or_dir: Probe | torch.Tensor, alpha: float, hook: str | None = None,
                   positions: Sequence[int] | None = None, cls: int | None = None) -> list[Hook]:
    """``[(hook, fn)]`` adding ``alpha *`` the unit direction (of class index ``cls`` for multiclass probes)."""
    directions, _ = _directions(probe_or_dir)
    if directions.dim() == 1:
        directions = directions[None]
    if directions.shape[0] > 1 and cls is None:
        raise ValueError(f"The probe has {directions.shape[0]} directions (one per class); pass cls=<class index>.")
    v = directions[cls or 0]
    v = v / v.norm().clamp_min(1e-12)
    hook = _hook_name(probe_or_dir, hook)
    return [(hook, _at_positions(lambda x: x + alpha * v.to(x.device, x.dtype), positions))]


def _hook_name(probe_or_dirs: Any, hook: str | None) -> str:
    name = hook or getattr(probe_or_dirs, "hook", None)
    if not name:
        raise ValueError("Pass hook=<TransformerLens hook name>: the probe was not fitted on a named hook.")
    return name


def ablation_losses(model: Any, tokens: torch.Tensor, targets: torch.Tensor, reports: Sequence[Any], seed: int = 0,
                    position: int = -1) -> list[dict[str, Any]]:
    """Model loss at ``position`` with each report's probe directions (or as many random ones) mean-ablated there.

    tokens: [batch, pos]; targets: [batch] the token the model should predict at ``position``;
    reports: :class:`~interp.probes.report.ProbeReport`\ s whose probes were fitted at their hooks.
    A row per report: ``clean_loss``, ``ablated_loss`` (the probe's weight directions),
    ``pattern_ablated_loss`` (its pattern directions) and ``random_dirs_loss``.
    """
    import torch.nn.functional as F

    def loss(fwd_hooks: list[Hook]) -> float:
        logits = forward(model, tokens, fwd_hooks=fwd_hooks).logits  # [batch, pos, d_vocab]
        return float(F.cross_entropy(logits[:, position].float(), targets.to(logits.device)))

    gen = torch.Generator().manual_seed(seed)
    clean = loss([])
    out = []
    for r in reports:
        dirs = r.probe.directions()
        random_dirs = torch.randn(dirs.shape, generator=gen)
        out.append({"hook": r.hook, "n_directions": int(dirs.shape[0]), "clean_loss": clean,
                    "ablated_loss": loss(ablation_hooks(r.probe, positions=[position])),
                    "pattern_ablated_loss": loss(ablation_hooks(r.probe, positions=[position], directions="pattern")),
                    "random_dirs_loss": loss(ablation_hooks(random_dirs, hook=r.hook, positions=[position]))})
    return out
