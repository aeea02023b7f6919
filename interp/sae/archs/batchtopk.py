"""BatchTopK SAE (Bussmann et al. 2024): top ``k·n`` latents over the whole batch, a threshold at inference.

Training keeps the ``k · n`` largest (ReLU'd) pre-activations of an ``n``-token batch,
wherever they fall, so easy tokens use fewer latents and hard ones more while the
batch averages ``k``. That rule depends on the batch, so for inference the SAE keeps
a single threshold: the running mean of the smallest activation kept per training
batch. ``encode`` (and everything after training) is then a JumpReLU,
``z = pre · [pre > threshold]``, with ``threshold`` saved as a per-latent [d_sae]
buffer so the SAE saves and loads like a JumpReLU one (as SAELens does).

Decoder rows are unit-norm and AuxK revives dead latents, as for TopK.
"""

from __future__ import annotations

import torch

from interp.sae.archs.topk import TopKConfig, TopKSAE
from interp.sae.base import SAEOutput, register


@register("batchtopk")
class BatchTopKSAE(TopKSAE):
    saelens_arch = "jumprelu"  # saved for inference as a JumpReLU with its learned threshold, as SAELens does
    loads_saelens = False  # (a SAELens JumpReLU folder loads as our jumprelu)
    threshold_momentum = 0.05  # weight of each batch in the running threshold (an EMA)

    def __init__(self, cfg: TopKConfig) -> None:
        super().__init__(cfg)
        self.register_buffer("threshold", torch.zeros(cfg.d_sae))  # [d_sae], all equal
        self.register_buffer("threshold_batches", torch.zeros((), dtype=torch.long))

    def encode_scaled(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre_acts(x)
        return pre * (pre > self.threshold)

    def batch_topk(self, pre: torch.Tensor) -> torch.Tensor:
        """Dense latents [n, d_sae] keeping the top ``k·n`` ReLU'd pre-activations of the batch."""
        acts = pre.relu()
        flat = acts.reshape(-1)
        vals, idx = flat.topk(self.cfg.k * pre.shape[0], sorted=False)
        return torch.zeros_like(flat).scatter(0, idx, vals).view_as(acts)

    @torch.no_grad()
    def _update_threshold(self, z: torch.Tensor) -> None:
        pos = z[z > 0]
        if pos.numel() == 0:
            return
        m = pos.min().float()
        w = 1.0 if int(self.threshold_batches) == 0 else self.threshold_momentum
        self.threshold.mul_(1 - w).add_(w * m)
        self.threshold_batches += 1

    def loss(self, x: torch.Tensor, sparsity_scale: float = 1.0, dead: torch.Tensor | None = None) -> SAEOutput:
        z = self.batch_topk(self.pre_acts(x))  # [n, d_sae]
        if self.training:
            self._update_threshold(z)
        x_hat = z @ self.W_dec + self.b_dec
        return self.finish(x, x_hat, z, {"aux": (self.cfg.aux_coeff, self.aux_loss(x, x_hat, dead))})
