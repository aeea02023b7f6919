"""Models: load any spec as a TransformerBridge, and our toy checkpoints (see ``load`` and ``toy``)."""

from interp._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, globals(), {
    "interp.models.device": ["model_device"],
    "interp.models.load": ["UnknownModelError", "default_device", "load_model", "resolve_dtype"],
    "interp.models.specs": ["MINILM", "available_specs", "list_toy_models", "minilm_path", "resolve_toy_path"],
    "interp.models.toy": ["ToyConfig", "boot_toy", "load_toy", "save_toy"],
})

__all__ = [
    "MINILM",
    "ToyConfig",
    "UnknownModelError",
    "available_specs",
    "boot_toy",
    "default_device",
    "list_toy_models",
    "load_model",
    "load_toy",
    "minilm_path",
    "model_device",
    "resolve_dtype",
    "resolve_toy_path",
    "save_toy",
]
