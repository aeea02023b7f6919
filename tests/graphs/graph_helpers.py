"""Transcoders for graph tests: our own classes with random weights (no training needed).

The exact identities of an attribution graph (completeness, exact direct effects, logits
reproduced) hold for any transcoders, trained or not: the error nodes absorb the rest.
Training starts the skip weights at 0; here every parameter is random, so a skip path is
really exercised.
"""

from __future__ import annotations

import torch

from interp.transcoders.base import Transcoder, TranscoderConfig


def randomised(module: torch.nn.Module, seed: int, scale: float = 0.3) -> torch.nn.Module:
    """``module`` with every parameter drawn at random (vectors 3x smaller than matrices), in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (scale if p.dim() > 1 else scale / 3))
    return module.eval()


def random_transcoders(model, d_sae: int = 64, k: int = 8, skip: bool = False, seed: int = 0,
                       output_scale: float = 1.0) -> list[Transcoder]:
    """One random TopK transcoder per layer of ``model``, reading ``ln2.hook_normalized``, replacing ``hook_mlp_out``."""
    d = model.cfg.d_model
    return [randomised(Transcoder(TranscoderConfig(d_in=d, d_out=d, d_sae=d_sae, activation="topk", k=k, skip=skip,
                                                   input_scale=1.3, output_scale=output_scale,
                                                   hook_in=f"blocks.{L}.ln2.hook_normalized",
                                                   hook_out=f"blocks.{L}.hook_mlp_out", layer=L)), seed + L,
                       scale=1 / d ** 0.5 * 3)
            for L in range(model.cfg.n_layers)]
