"""ReLU SAE with an L1 penalty weighted by decoder norms (Anthropic's April-2024 recipe).

``z = ReLU((x - b_dec) W_enc + b_enc)``; the loss is ``‖x - x̂‖² + λ Σ_i |z_i| ‖W_dec,i‖``.
Weighting the L1 term by each decoder row's norm removes the cheat where the SAE
shrinks latents and grows decoder rows to dodge the penalty, so the decoder is left
unconstrained (no unit-norm projection). The recipe also scales inputs so that
E‖x‖ = √d_in (the trainer measures ``cfg.input_scale`` on the data, which makes λ
transferable across models), initialises ``W_enc = W_decᵀ`` with decoder rows of
small random norm, and warms λ up over the first steps of training (the trainer's
``sparsity_scale``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from interp.sae.base import SAE, SAEConfig, SAEOutput, register


@dataclass
class ReluL1Config(SAEConfig):
    l1_coeff: float = 5.0  # sparsity coefficient (on |z| * ||W_dec row||)


@register("relu_l1")
class ReluL1SAE(SAE):
    Config = ReluL1Config
    saelens_arch = "standard"
    loads_saelens = True
    unit_norm_decoder = False
    init_decoder_norm = 0.1  # April-2024: decoder rows start as random directions of norm ~0.05-1

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        super().reset_parameters(generator)
        with torch.no_grad():
            self.W_dec.mul_(self.init_decoder_norm)
            self.W_enc.copy_(self.W_dec.T)

    def encode_scaled(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.pre_acts(x))

    def loss(self, x: torch.Tensor, sparsity_scale: float = 1.0, dead: torch.Tensor | None = None) -> SAEOutput:
        z = self.encode_scaled(x)  # [n, d_sae]
        x_hat = z @ self.W_dec + self.b_dec  # [n, d_in]
        l1 = z.float().sum(0) @ self.W_dec.norm(dim=-1) / z.shape[0]  # mean_b Σ_i z_bi ‖W_dec,i‖, one column sum
        return self.finish(x, x_hat, z, {"l1": (self.cfg.l1_coeff * sparsity_scale, l1)})
