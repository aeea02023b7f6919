"""Sparse autoencoders: architectures behind one registry, training, evaluation, features, io.

``SAEConfig`` + ``make_sae(cfg)`` build any registered architecture (see ``base``).
"""

from interp.sae.base import SAE, SAEConfig, architectures, make_sae, register

__all__ = ["SAE", "SAEConfig", "architectures", "make_sae", "register"]
