"""Sparse autoencoders: architectures behind one registry, training, evaluation, features, io.

``SAEConfig`` + ``make_sae(cfg)`` build any registered architecture (see ``base``; one
module each in ``interp.sae.archs``): ``relu_l1``, ``topk``, ``batchtopk``, ``jumprelu``,
``matryoshka``. ``train_sae(TrainConfig(sae=cfg), acts)`` trains one on an ActivationStore
or a view of one, a ``.npy``/``.safetensors`` file or a tensor (``train_saes`` trains one
per hook from the same batches); ``evaluate`` scores it on held-out data, ``compute_features``
finds what each latent responds to, ``save_sae``/``load_sae`` use the SAELens folder format;
``interp.sae.pipeline`` records all of it as an ``sae`` run. ``interp.sae.synthetic`` makes
superposition data with known features and scores recovery (MMCS, MCC).
"""

from interp._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, globals(), {
    "interp.sae.base": ["SAE", "SAEConfig", "SAEOutput", "arch_class", "arch_options", "architectures", "make_sae", "register"],
    "interp.sae.checkpoint": ["CheckpointError"],
    "interp.sae.data": ["SourceError"],
    "interp.sae.evaluation": ["SAEEval", "evaluate", "reconstruction_metrics", "splice_metrics"],
    "interp.sae.features": ["FeatureConfig", "Features", "compute_features", "save_features"],
    "interp.sae.io": ["load_sae", "save_sae"],
    "interp.sae.trainer": ["TrainConfig", "TrainingDiverged", "TrainResult", "train_sae", "train_saes"],
})

__all__ = ["SAE", "SAEConfig", "SAEOutput", "arch_class", "arch_options", "architectures", "make_sae", "register",
           "CheckpointError", "SourceError", "TrainConfig", "TrainingDiverged", "TrainResult", "train_sae", "train_saes",
           "FeatureConfig", "Features", "SAEEval", "compute_features", "evaluate", "load_sae", "reconstruction_metrics",
           "save_features", "save_sae", "splice_metrics"]
