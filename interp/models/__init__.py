"""Models: load any spec as a TransformerBridge, and our toy checkpoints (see ``load`` and ``toy``)."""

from interp.models.device import model_device
from interp.models.load import (
    MINILM,
    UnknownModelError,
    available_specs,
    default_device,
    load_model,
    minilm_path,
    resolve_dtype,
)
from interp.models.toy import ToyConfig, boot_toy, list_toy_models, load_toy, resolve_toy_path, save_toy

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
