"""Hooks layer: the one hooked forward pass, activation capture, and the on-disk store.

``forward`` runs the model with hooks (every analysis's passes go through it);
``capture`` runs it batch by batch and collects rows; ``ActivationStore`` reads them
back (with views such as ``split_sequences``); ``interp.hooks.pipeline`` records a
capture as a run; ``interp.hooks.rows`` reads rows from any source a piece at a time.
"""

from interp.hooks.capture import CaptureResult, HookNameError, capture, check_hook_names
from interp.hooks.forward import ForwardResult, cache_hooks, forward
from interp.hooks.store import ActivationStore, StoreError

__all__ = ["ActivationStore", "CaptureResult", "ForwardResult", "HookNameError", "StoreError", "cache_hooks",
           "capture", "check_hook_names", "forward"]
