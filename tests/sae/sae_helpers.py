"""Helpers for the SAE io / evaluate / features tests: small SAEs with known weights.

The architectures themselves live in interp.sae (relu_l1, topk, jumprelu, ...);
``make`` builds one with chosen weights so tests can predict its output exactly.
"""

from __future__ import annotations

import torch

import interp.sae  # noqa: F401  (registers the architectures)
from interp.sae import SAEConfig, make_sae


def make(arch: str, d_in: int, d_sae: int, seed: int = 0, **cfg) -> torch.nn.Module:
    """An SAE of ``arch`` with random (seeded) weights and biases."""
    gen = torch.Generator().manual_seed(seed)
    sae = make_sae(SAEConfig(arch=arch, d_in=d_in, d_sae=d_sae, **cfg))
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(d_in, d_sae, generator=gen) / d_in**0.5)
        sae.W_dec.copy_(torch.randn(d_sae, d_in, generator=gen) / d_in**0.5)
        sae.b_enc.copy_(torch.randn(d_sae, generator=gen) * 0.1)
        sae.b_dec.copy_(torch.randn(d_in, generator=gen) * 0.1)
    return sae.eval()


def identity_sae(d: int, arch: str = "relu_l1", **cfg) -> torch.nn.Module:
    """x -> [relu(x), relu(-x)] -> x exactly: an SAE with 2d latents that reconstructs perfectly."""
    sae = make_sae(SAEConfig(arch=arch, d_in=d, d_sae=2 * d, **cfg))
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], 1))
        sae.W_dec.copy_(torch.cat([eye, -eye], 0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval()
