"""Matryoshka BatchTopK SAE (Bussmann et al. 2025; Nabeshima 2024): nested dictionaries in one.

The latents are ordered and cut into nested prefixes ``m_1 < m_2 < … < d_sae``
(``cfg.prefixes``, default ``d_sae/16, d_sae/8, d_sae/4, d_sae/2, d_sae``). Every
prefix must reconstruct ``x`` on its own: the loss adds, to the usual reconstruction
error, the error of each prefix's partial reconstruction ``z[:, :m] W_dec[:m] + b_dec``.
The first latents are thereby pushed to carry the broad, general features and later
ones to refine them, which counters feature absorption and splitting. Activation,
inference threshold and AuxK are BatchTopK's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from interp.sae.archs.batchtopk import BatchTopKSAE
from interp.sae.archs.topk import TopKConfig
from interp.sae.base import SAEOutput, register, sq_err


@dataclass
class MatryoshkaConfig(TopKConfig):
    prefixes: list[int] | None = None  # nested dictionary sizes, ending at d_sae (None: d_sae/16 ... d_sae)


@register("matryoshka")
class MatryoshkaSAE(BatchTopKSAE):
    Config = MatryoshkaConfig

    def __init__(self, cfg: MatryoshkaConfig) -> None:
        super().__init__(cfg)
        default = sorted({max(1, cfg.d_sae >> i) for i in range(4, -1, -1)})
        self.prefixes: list[int] = [int(m) for m in (cfg.prefixes or default)]
        p = self.prefixes
        if not p or p[-1] != cfg.d_sae or any(a >= b for a, b in zip(p, p[1:])) or p[0] <= 0:
            raise ValueError(f"Matryoshka prefixes must increase strictly and end at d_sae={cfg.d_sae}; got {p} "
                             "(set SAEConfig prefixes=[...]).")

    def loss(self, x: torch.Tensor, sparsity_scale: float = 1.0, dead: torch.Tensor | None = None) -> SAEOutput:
        z = self.batch_topk(self.pre_acts(x))  # [n, d_sae]
        if self.training:
            self._update_threshold(z)
        x_hat = self.b_dec.expand_as(x)
        inner = x.new_zeros(())
        start = 0
        for m in self.prefixes:
            x_hat = x_hat + z[:, start:m] @ self.W_dec[start:m]  # [n, d_in]: reconstruction by latents :m
            if m < self.d_sae:
                inner = inner + sq_err(x, x_hat)
            start = m
        return self.finish(x, x_hat, z, {"prefix_mse": (1.0, inner),
                                             "aux": (self.cfg.aux_coeff, self.aux_loss(x, x_hat, dead))})
