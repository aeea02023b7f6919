"""Sparse autoencoders: architectures behind one registry, training, evaluation, features, io.

``SAEConfig`` + ``make_sae(cfg)`` build any registered architecture (see ``base``).
"""

from interp.sae.base import SAE, SAEConfig, architectures, make_sae, register

__all__ = ["SAE", "SAEConfig", "architectures", "make_sae", "register"]

# io, evaluation and feature analysis (issue 3b)
from interp.sae.evaluate import SAEEval, evaluate, held_out_start, reconstruction_metrics, splice_metrics  # noqa: E402
from interp.sae.features import FeatureConfig, Features, compute_features, save_features  # noqa: E402
from interp.sae.io import load_sae, save_sae  # noqa: E402

__all__ += ["FeatureConfig", "Features", "SAEEval", "compute_features", "evaluate", "held_out_start", "load_sae",
            "reconstruction_metrics", "save_features", "save_sae", "splice_metrics"]
