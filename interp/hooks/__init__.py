"""Hooks layer: the one hooked forward pass, activation capture, and the on-disk store.

``forward`` runs the model with hooks (every analysis's passes go through it);
``capture`` runs it batch by batch and collects rows; ``ActivationStore`` reads them
back (with views such as ``split_sequences``); ``interp.hooks.pipeline`` records a
capture as a run; ``interp.hooks.rows`` reads rows from any source a piece at a time.
"""

from interp._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, globals(), {
    "interp.hooks.capturing": ["CaptureResult", "HookNameError", "capture", "check_hook_names"],
    "interp.hooks.hooked": ["ForwardResult", "cache_hooks", "forward"],
    "interp.hooks.store": ["ActivationStore", "StoreError"],
})

__all__ = ["ActivationStore", "CaptureResult", "ForwardResult", "HookNameError", "StoreError", "cache_hooks",
           "capture", "check_hook_names", "forward"]
