"""Transcoders: sparse replacements for MLPs, per layer (PLT) or cross-layer (CLT), trained on our own stores.

A transcoder reads an MLP's input and predicts its *output* through a wide, sparse layer of
latents, so the latents are features the MLP computes rather than features of one activation;
replacing every MLP by its transcoder gives the "replacement model" attribution graphs are
built on (``interp.graphs``).

Why a package of its own and not another architecture in :mod:`interp.sae.archs`: an SAE's
contract is "reconstruct the activation you read" (``decode(encode(x)) ≈ x``: one hook, one
width, ``b_dec`` subtracted before encoding, SAELens's folder format), and the trainer,
evaluation, features and io all rely on it. A transcoder's target is another hook of another
width; its encoder is affine in ``x`` (what attribution differentiates); it may have a skip
matrix; and a CLT spans every layer, with one decoder per (source, target) pair, one loss over
all layers and one set of per-layer scales. Forcing that into ``SAE`` would bend every one of
those contracts. What is the same is reused, not copied: the activation functions
(``topk_latents``, the JumpReLU straight-through estimators), the init and unit-norm decoder
handling, the training loop (:func:`interp.sae.trainer.run_loop`: schedule, checkpoints and
resume, dead latents, divergence guard) and the reconstruction metrics
(:class:`interp.sae.evaluation.ReconstructionSums`).

Modules: ``base`` (:class:`Transcoder`, :class:`TranscoderConfig`), ``clt``
(:class:`CrossLayerTranscoder`, :class:`CLTConfig`), ``common`` (the shared nonlinearities),
``data`` (paired rows), ``train`` (:func:`train_transcoders`), ``evaluate``
(:func:`evaluate_transcoders`, the replacement model), ``io`` (:func:`load_transcoders`),
``features`` (:func:`transcoder_features`: the Features page's dashboards of each layer's latents),
``pipeline`` (:func:`train_transcoder_run`, :func:`write_transcoder_run`, :func:`features_transcoder_run`), ``cli``.
"""

from interp._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, globals(), {
    "interp.transcoders.base": ["Transcoder", "TranscoderConfig"],
    "interp.transcoders.clt": ["CLTConfig", "CrossLayerTranscoder"],
    "interp.transcoders.data": ["TensorPairs", "layer_hooks"],
    "interp.transcoders.train": ["TranscoderTrainConfig", "TranscoderTrainResult", "train_transcoders"],
    "interp.transcoders.evaluate": ["TranscoderEval", "evaluate_transcoders", "replacement_hooks", "replacement_metrics"],
    "interp.transcoders.io": ["TranscoderIOError", "load_transcoder", "load_transcoders", "save_transcoder",
                              "save_transcoders"],
    "interp.transcoders.features": ["TranscoderLatents", "transcoder_features", "write_transcoder_features"],
    "interp.transcoders.pipeline": ["TranscoderRunConfig", "TranscoderRunResult", "features_transcoder_run",
                                    "train_transcoder_run", "write_transcoder_run"],
})

__all__ = ["CLTConfig", "CrossLayerTranscoder", "TensorPairs", "Transcoder", "TranscoderConfig", "TranscoderEval",
           "TranscoderIOError", "TranscoderLatents", "TranscoderRunConfig", "TranscoderRunResult",
           "TranscoderTrainConfig", "TranscoderTrainResult", "evaluate_transcoders", "features_transcoder_run",
           "layer_hooks", "load_transcoder", "load_transcoders", "replacement_hooks", "replacement_metrics",
           "save_transcoder", "save_transcoders", "train_transcoder_run", "transcoder_features",
           "write_transcoder_features", "write_transcoder_run"]
