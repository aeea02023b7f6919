"""JumpReLU SAE (Rajamanoharan et al. 2024): a learned per-latent threshold and a direct L0 penalty.

``z_i = pre_i · H(pre_i - θ_i)``, with ``H`` the Heaviside step, and the loss
``‖x - x̂‖² + λ Σ_i H(pre_i - θ_i)``: it penalises the *number* of active latents,
not their size, so there is no shrinkage. ``H`` has zero gradient almost everywhere,
so θ learns through a straight-through estimator: in the backward pass the step's
derivative with respect to θ is replaced by a rectangle kernel of width ε
(``cfg.jumprelu_bandwidth``), ``∂H(u - θ)/∂θ ≈ -1/ε · [|u - θ| < ε/2]``. The
gradient with respect to ``pre`` is the exact one (``H`` inside the JumpReLU, zero
inside the L0 term). ``threshold`` [d_sae] is a parameter, saved with the weights
and kept positive after each step. The decoder rows are unit-norm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from interp.sae.base import SAE, SAEConfig, SAEOutput, register


@dataclass
class JumpReLUConfig(SAEConfig):
    l0_coeff: float = 1.0  # L0 penalty coefficient
    jumprelu_threshold: float = 0.01  # initial threshold (inputs are scaled so E||x|| = sqrt(d_in))
    jumprelu_bandwidth: float = 0.05  # straight-through estimator kernel width


def _kernel(pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """Rectangle kernel ``[|pre - θ| < ε/2] / ε`` [n, d_sae]."""
    return ((pre - threshold).abs() < bandwidth / 2).to(pre.dtype) / bandwidth


class JumpReLUFn(torch.autograd.Function):
    """``pre · H(pre - θ)``; ∂/∂pre = H, ∂/∂θ = -θ · kernel (straight-through)."""

    @staticmethod
    def forward(ctx: Any, pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        pre, threshold = ctx.saved_tensors
        g_pre = grad * (pre > threshold)
        g_thr = -(threshold * _kernel(pre, threshold, ctx.bandwidth) * grad).sum(0)
        return g_pre, g_thr, None


class StepFn(torch.autograd.Function):
    """``H(pre - θ)``; ∂/∂pre = 0, ∂/∂θ = -kernel (straight-through)."""

    @staticmethod
    def forward(ctx: Any, pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        pre, threshold = ctx.saved_tensors
        return None, -(_kernel(pre, threshold, ctx.bandwidth) * grad).sum(0), None


@register("jumprelu")
class JumpReLUSAE(SAE):
    Config = JumpReLUConfig
    saelens_arch = "jumprelu"
    loads_saelens = True
    min_threshold = 1e-6

    def __init__(self, cfg: JumpReLUConfig) -> None:
        super().__init__(cfg)
        self.threshold = torch.nn.Parameter(torch.full((cfg.d_sae,), float(cfg.jumprelu_threshold)))  # [d_sae]

    def encode_scaled(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre_acts(x)
        return pre * (pre > self.threshold)

    @torch.no_grad()
    def after_optimizer_step(self) -> None:
        super().after_optimizer_step()
        self.threshold.clamp_(min=self.min_threshold)

    def loss(self, x: torch.Tensor, sparsity_scale: float = 1.0, dead: torch.Tensor | None = None) -> SAEOutput:
        pre = self.pre_acts(x)  # [n, d_sae]
        eps = self.cfg.jumprelu_bandwidth
        z = JumpReLUFn.apply(pre, self.threshold, eps)
        x_hat = z @ self.W_dec + self.b_dec
        l0 = StepFn.apply(pre, self.threshold, eps).sum(-1).mean()
        return self.finish(x, x_hat, z, {"l0": (self.cfg.l0_coeff * sparsity_scale, l0)}, l0=l0.detach())
