"""TopK SAE (Gao et al. 2024): keep the k largest latents per token, plus AuxK for dead latents.

``z = TopK(ReLU((x - b_dec) W_enc + b_enc))``: sparsity is set by ``k`` rather than
by a penalty, so the loss is reconstruction alone, and the decoder rows are kept at
unit norm (the gradient component along each row is removed before the optimiser
step, the rows renormalised after it).

Latents that stop firing get no gradient and stay dead. AuxK gives them one: the
``k_aux`` largest *dead* latents of each token reconstruct the main model's residual
``e = x - x̂`` (detached) and ``aux_coeff · ‖e - ê‖²`` joins the loss. The trainer
decides who is dead (no activation for ``dead_tokens`` tokens) and passes the mask.

Training uses the fast path in :mod:`interp.sae.sparse_ops` (``self.fast``, on by
default); ``fast = False`` runs the same maths through dense autograd, which is the
reference the fast path is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from interp.sae.base import SAE, SAEConfig, SAEOutput, register, sq_err
from interp.sae.sparse_ops import TopKSAEFunction, sparse_decode, topk_latents


@dataclass
class TopKConfig(SAEConfig):
    k_aux: int | None = None  # AuxK: dead latents used to model the residual (default d_in // 2)
    aux_coeff: float = 1 / 32  # AuxK loss coefficient


@register("topk")
class TopKSAE(SAE):
    Config = TopKConfig
    needs_k = True
    saelens_arch = "topk"
    loads_saelens = True

    def __init__(self, cfg: TopKConfig) -> None:
        if cfg.k is None or not 0 < cfg.k <= cfg.d_sae:
            raise ValueError(f"arch {cfg.arch!r} needs 0 < k <= d_sae, got k={cfg.k} (d_sae={cfg.d_sae}); set SAEConfig.k.")
        super().__init__(cfg)
        self.fast = True  # the sparse-backward path; False = dense autograd reference

    def encode_scaled(self, x: torch.Tensor) -> torch.Tensor:
        vals, idx = topk_latents(self.pre_acts(x), self.cfg.k)
        return torch.zeros(x.shape[0], self.d_sae, dtype=vals.dtype, device=x.device).scatter_(1, idx, vals)

    def _forward_sparse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x̂ [n, d_in], vals [n, k], idx [n, k])`` on the fast or the dense path."""
        if self.fast:
            args = (x, self.W_enc, self.b_enc, self.W_dec, self.b_dec)
            dev = x.device.type
            if torch.is_autocast_enabled(dev):  # run the whole function in the autocast dtype (bf16)
                dt = torch.get_autocast_dtype(dev)
                with torch.autocast(dev, enabled=False):
                    return TopKSAEFunction.apply(*(a.to(dt) for a in args), self.cfg.k)
            return TopKSAEFunction.apply(*args, self.cfg.k)
        pre = self.pre_acts(x)
        vals, idx = topk_latents(pre, self.cfg.k)
        z = torch.zeros_like(pre).scatter(1, idx, vals)  # dense [n, d_sae]
        return z @ self.W_dec + self.b_dec, vals.detach(), idx

    def aux_loss(self, x: torch.Tensor, x_hat: torch.Tensor, dead: torch.Tensor | None) -> torch.Tensor:
        """AuxK: the top ``k_aux`` dead latents reconstruct the residual; 0 when none are dead."""
        n_dead = 0 if dead is None else int(dead.sum())
        if n_dead == 0:
            return x_hat.new_zeros(())
        k_aux = min(self.cfg.k_aux or self.d_in // 2, n_dead)
        cols = dead.nonzero().squeeze(1)  # [n_dead]
        W = self.W_enc.index_select(1, cols)  # [d_in, n_dead]
        pre = torch.addmm(self.b_enc.index_select(0, cols) - self.b_dec @ W, x, W)
        vals, idx = topk_latents(pre, k_aux)
        e_hat = sparse_decode(vals, idx, self.W_dec.index_select(0, cols))
        return sq_err((x - x_hat).detach(), e_hat)

    def loss(self, x: torch.Tensor, sparsity_scale: float = 1.0, dead: torch.Tensor | None = None) -> SAEOutput:
        x_hat, vals, idx = self._forward_sparse(x)
        active = vals > 0
        fired = torch.zeros(self.d_sae, dtype=torch.long, device=x.device).index_add_(0, idx.reshape(-1), active.reshape(-1).long())
        return self.finish(x, x_hat, None, {"aux": (self.cfg.aux_coeff, self.aux_loss(x, x_hat, dead))},
                           fired=fired, l0=active.sum(-1).float().mean())
