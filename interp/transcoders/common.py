"""What per-layer and cross-layer transcoders share: the nonlinearities, their training forms, decoder norms.

The nonlinearities are the SAE package's, applied to a transcoder's pre-activations:

* ``topk``: the ``k`` largest of ``relu(pre)`` per row (:func:`interp.sae.sparse_ops.topk_latents`);
  trained on reconstruction alone, with AuxK (:func:`auxk_loss`) giving dead latents a gradient;
* ``relu``: trained with an L1 penalty weighted by each latent's decoder norm (the April-2024 recipe
  of :mod:`interp.sae.archs.relu_l1`), so the decoder is left free;
* ``jumprelu``: ``pre · H(pre − θ)`` with a learned per-latent threshold θ, trained with an L0 penalty
  through the straight-through estimators of :mod:`interp.sae.archs.jumprelu`.

TopK and JumpReLU keep decoder rows at unit norm, as the SAEs do. A cross-layer latent has one
decoder row per target layer; the unit norm is that of their concatenation (a latent may write
to few layers), which is why these helpers take a *list* of decoder matrices.

:class:`TranscoderBase` is what both models build on: their sizes, the loss's sparsity terms and
the decoder-norm constraint, written once over *latent sets* (a PLT has one, a CLT one per layer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from interp.sae.archs.jumprelu import JumpReLUFn, StepFn
from interp.sae.base import sq_err
from interp.sae.sparse_ops import TopKEncodeFunction, sparse_decode, topk_latents

ACTIVATIONS = ("topk", "relu", "jumprelu")
UNIT_NORM = ("topk", "jumprelu")  # activations trained with unit-norm decoder rows
L0_ROWS = 512  # dense activations estimate the logged L0 on this many rows (as the SAE trainer does)


def check_activation(activation: str, k: int | None, d_sae: int) -> None:
    """ValueError naming what is wrong with an activation and its ``k``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"Unknown transcoder activation {activation!r}; choose one of {list(ACTIVATIONS)}.")
    if activation == "topk" and (k is None or not 0 < k <= d_sae):
        raise ValueError(f"activation 'topk' needs 0 < k <= d_sae, got k={k} (d_sae={d_sae}).")


def activate(pre: torch.Tensor, activation: str, k: int | None, threshold: torch.Tensor | None) -> torch.Tensor:
    """Latents [..., d_sae] from pre-activations [..., d_sae] (inference: no straight-through estimators)."""
    if activation == "relu":
        return pre.relu()
    if activation == "jumprelu":
        return pre * (pre > threshold)
    flat = pre.reshape(-1, pre.shape[-1])
    vals, idx = topk_latents(flat, int(k))  # type: ignore[arg-type]
    return torch.zeros_like(flat).scatter_(1, idx, vals).reshape(pre.shape)


@dataclass
class Code:
    """One layer's latents during training, in the form its decoder wants (sparse for TopK)."""

    vals: torch.Tensor | None  # [n, k] TopK values (≥ 0)
    idx: torch.Tensor | None  # [n, k] TopK latent indices
    dense: torch.Tensor | None  # [n, d_sae] ReLU / JumpReLU latents
    fired: torch.Tensor  # [d_sae] > 0 where the latent was active on some row
    l0: torch.Tensor  # [] mean active latents per row (detached)
    l0_penalty: torch.Tensor | None = None  # [] JumpReLU: the straight-through L0 term

    def decode(self, W_dec: torch.Tensor) -> torch.Tensor:
        """``latents @ W_dec`` [n, d_out] (TopK: without forming the dense latents)."""
        if self.dense is None:
            return sparse_decode(self.vals, self.idx, W_dec)
        return self.dense @ W_dec


def train_code(x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, activation: str, k: int | None,
               threshold: torch.Tensor | None, bandwidth: float) -> Code:
    """The differentiable latents of scaled inputs x [n, d_in] for the training loss.

    TopK goes through :class:`~interp.sae.sparse_ops.TopKEncodeFunction`, whose backward touches
    only the k kept latents a row (no dense [n, d_sae] gradient, no dense ``dW_enc`` matmul).
    """
    d_sae = W_enc.shape[1]
    if activation == "topk":
        vals, idx = TopKEncodeFunction.apply(x, W_enc, b_enc, int(k))  # type: ignore[arg-type]
        active = vals.detach() > 0
        fired = torch.zeros(d_sae, dtype=torch.long, device=idx.device).index_add_(0, idx.reshape(-1),
                                                                                    active.reshape(-1).long())
        return Code(vals, idx, None, fired, active.sum(-1).float().mean())
    pre = torch.addmm(b_enc, x, W_enc)  # [n, d_sae]
    if activation == "relu":
        z = pre.relu()
        penalty = None
    else:
        z = JumpReLUFn.apply(pre, threshold, bandwidth)
        penalty = StepFn.apply(pre, threshold, bandwidth).sum(-1).mean()
    zd = z.detach()
    l0 = penalty.detach() if penalty is not None else torch.count_nonzero(zd[:L0_ROWS]).float() / min(len(zd), L0_ROWS)
    return Code(None, None, z, zd.amax(0) > 0, l0, penalty)


def auxk_loss(x: torch.Tensor, W_enc: torch.Tensor, b_enc: torch.Tensor, dead: torch.Tensor | None, k_aux: int,
              W_dec: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """AuxK: the ``k_aux`` largest *dead* latents of each row model the (detached) residual; 0 when none are dead.

    ``x`` [n, d_in] scaled inputs, ``W_enc`` [d_in, d_sae], ``b_enc`` [d_sae], ``dead`` [d_sae] bool,
    ``W_dec`` [d_sae, d_out], ``residual`` [n, d_out]. Only the dead latents' pre-activations are computed.
    """
    n_dead = 0 if dead is None else int(dead.sum())
    if n_dead == 0:
        return x.new_zeros(())
    cols = dead.nonzero().squeeze(1)  # [n_dead]
    pre = torch.addmm(b_enc.index_select(0, cols), x, W_enc.index_select(1, cols))  # [n, n_dead]
    vals, idx = topk_latents(pre, min(k_aux, n_dead))
    return sq_err(residual.detach(), sparse_decode(vals, idx, W_dec.index_select(0, cols)))


def row_norms(decoders: list[torch.Tensor]) -> torch.Tensor:
    """[d_sae] norm of each latent's decoder rows, concatenated over ``decoders`` (each [d_sae, d_out_i])."""
    return torch.stack([w.pow(2).sum(-1) for w in decoders]).sum(0).sqrt()


@torch.no_grad()
def remove_parallel_grad(decoders: list[torch.Tensor]) -> None:
    """Drop the gradient component that would change the (unit) norm of each latent's concatenated rows."""
    if any(w.grad is None for w in decoders):
        return
    dot = torch.stack([(w.grad * w).sum(-1) for w in decoders]).sum(0)  # [d_sae]
    for w in decoders:
        w.grad -= dot[:, None] * w


@torch.no_grad()
def normalise_rows(decoders: list[torch.Tensor]) -> None:
    """Rescale each latent's concatenated decoder rows to unit norm."""
    n = row_norms(decoders).clamp_min(1e-8)[:, None]
    for w in decoders:
        w /= n


@dataclass
class TrainOut:
    """One training forward pass (scaled units): the loss, its parts, and what the trainer logs."""

    loss: torch.Tensor  # [] total loss
    parts: dict[str, torch.Tensor]  # [] each (unweighted): "mse" (summed over targets) and the sparsity / aux terms
    fired: torch.Tensor  # [d_sae] or [n_layers, d_sae]: > 0 where a latent was active
    l0: torch.Tensor  # [n_layers] mean active latents per row, per source layer (detached)
    sse: torch.Tensor  # [n_targets] summed squared error per target layer (detached)
    sst: torch.Tensor  # [n_targets] summed squared deviation of the target from its batch mean (detached)


def finish(targets: list[torch.Tensor], estimates: list[torch.Tensor], codes: list[Code],
           terms: dict[str, tuple[float, torch.Tensor]]) -> TrainOut:
    """The :class:`TrainOut` of per-target estimates and weighted extra terms ``{name: (coeff, value)}``."""
    errs = [sq_err(y, y_hat) for y, y_hat in zip(targets, estimates)]
    mse = torch.stack(errs).sum()
    loss = mse
    for coeff, value in terms.values():
        loss = loss + coeff * value
    with torch.no_grad():
        n = targets[0].shape[0]
        sse = torch.stack([e.detach().float() * n for e in errs])
        sst = torch.stack([(y.float() - y.float().mean(0)).pow(2).sum() for y in targets])
    fired = codes[0].fired if len(codes) == 1 else torch.stack([c.fired.long() for c in codes])
    return TrainOut(loss, {"mse": mse, **{k: v for k, (_, v) in terms.items()}}, fired,
                    torch.stack([c.l0.float() for c in codes]), sse, sst)


class TranscoderBase(nn.Module):
    """What a per-layer and a cross-layer transcoder do the same way, on their *latent sets*.

    A PLT has one latent set with one decoder; a CLT has one per layer, each with a decoder per
    target layer. Subclasses say which (:meth:`latent_decoders`, :meth:`thresholds`); the sizes,
    the sparsity terms of the loss and the decoder-norm constraint follow from that here, once.
    """

    cfg: Any
    init_decoder_norm_relu = 0.1  # relu: decoder rows start small and free (no unit-norm constraint)

    @property
    def d_in(self) -> int:
        return self.cfg.d_in

    @property
    def d_out(self) -> int:
        return self.cfg.d_out

    @property
    def d_sae(self) -> int:
        return self.cfg.d_sae

    @property
    def unit_norm_decoder(self) -> bool:
        return self.cfg.activation in UNIT_NORM

    def latent_decoders(self) -> list[list[torch.Tensor]]:
        """Per latent set, its decoders [d_sae, d_out] in target order; the first is to its own layer."""
        raise NotImplementedError

    def thresholds(self) -> list[torch.Tensor]:
        """Per latent set, its JumpReLU thresholds [d_sae] (empty for other activations)."""
        raise NotImplementedError

    def encoders(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per latent set, its ``(W_enc [d_in, d_sae], b_enc [d_sae])``."""
        raise NotImplementedError

    def train_codes(self, xs: list[torch.Tensor]) -> list[Code]:
        """Per latent set, its differentiable latents (:func:`train_code`) of that set's scaled inputs [n, d_in]."""
        c, thresholds = self.cfg, self.thresholds()
        return [train_code(x, W, b, c.activation, c.k, thresholds[i] if thresholds else None, c.jumprelu_bandwidth)
                for i, (x, (W, b)) in enumerate(zip(xs, self.encoders()))]

    def sparsity_terms(self, xs: list[torch.Tensor], codes: list[Code], dead: list[torch.Tensor | None],
                       residuals: list[torch.Tensor], sparsity_scale: float) -> dict[str, tuple[float, torch.Tensor]]:
        """The loss's extra terms ``{name: (coeff, value)}``, summed over latent sets.

        TopK: AuxK, each set's dead latents (``dead`` [d_sae] bool per set) modelling the residual of its
        own layer (``residuals`` [n, d_out] per set); ReLU: L1 of the latents weighted by their
        decoder norms; JumpReLU: the straight-through L0. ``xs`` [n, d_in] per set, scaled.
        """
        c, decoders = self.cfg, self.latent_decoders()
        if c.activation == "topk":
            k_aux = c.k_aux or c.d_out // 2
            return {"aux": (c.aux_coeff, sum(auxk_loss(x, W, b, d, k_aux, decs[0], r) for x, (W, b), d, decs, r
                                             in zip(xs, self.encoders(), dead, decoders, residuals)))}
        if c.activation == "relu":
            l1 = sum(code.dense.float().sum(0) @ row_norms(decs) for code, decs in zip(codes, decoders))
            return {"l1": (c.l1_coeff * sparsity_scale, l1 / len(xs[0]))}
        return {"l0": (c.l0_coeff * sparsity_scale, sum(code.l0_penalty for code in codes))}

    def before_optimizer_step(self) -> None:
        if self.unit_norm_decoder:
            for decs in self.latent_decoders():
                remove_parallel_grad(decs)

    @torch.no_grad()
    def after_optimizer_step(self) -> None:
        if self.unit_norm_decoder:
            for decs in self.latent_decoders():
                normalise_rows(decs)
        for thr in self.thresholds():
            thr.clamp_(min=1e-6)
