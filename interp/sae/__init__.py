"""Sparse autoencoders: architectures behind one registry, training, evaluation, features, io.

``SAEConfig`` + ``make_sae(cfg)`` build any registered architecture (see ``base``):
``relu_l1``, ``topk``, ``batchtopk``, ``jumprelu``, ``matryoshka``. ``train_sae(TrainConfig(sae=cfg), acts)``
trains one on an ActivationStore, a ``.npy``/``.safetensors`` file or a tensor
(``train_saes`` trains one per hook from the same batches); ``interp.sae.synthetic``
makes superposition data with known features and scores recovery (MMCS, MCC).
"""

from interp.sae.base import SAE, SAEConfig, SAEOutput, architectures, make_sae, register
from interp.sae import batchtopk, jumprelu, matryoshka, relu_l1, topk  # noqa: F401  (register the architectures)
from interp.sae.checkpoint import CheckpointError
from interp.sae.data import SourceError
from interp.sae.trainer import TrainConfig, TrainingDiverged, TrainResult, train_sae, train_saes

__all__ = ["SAE", "SAEConfig", "SAEOutput", "architectures", "make_sae", "register",
           "CheckpointError", "SourceError", "TrainConfig", "TrainingDiverged", "TrainResult", "train_sae", "train_saes"]
# io, evaluation and feature analysis
from interp.sae.evaluate import SAEEval, evaluate, held_out_start, reconstruction_metrics, splice_metrics  # noqa: E402
from interp.sae.features import FeatureConfig, Features, compute_features, save_features  # noqa: E402
from interp.sae.io import load_sae, save_sae  # noqa: E402

__all__ += ["FeatureConfig", "Features", "SAEEval", "compute_features", "evaluate", "held_out_start", "load_sae",
            "reconstruction_metrics", "save_features", "save_sae", "splice_metrics"]
