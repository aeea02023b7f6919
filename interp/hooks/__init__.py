"""Hooks layer: capture activations by TransformerLens hook name and stream them to disk.

``capture`` runs the model and collects rows; ``ActivationStore`` reads them back.
"""

from interp.hooks.capture import CaptureResult, HookNameError, capture, check_hook_names
from interp.hooks.store import ActivationStore, StoreError

__all__ = ["ActivationStore", "CaptureResult", "HookNameError", "StoreError", "capture", "check_hook_names"]
