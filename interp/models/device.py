"""Where a model lives: analyses move their inputs to the model's device, never the other way round."""

from __future__ import annotations

from typing import Any

import torch


def model_device(model: Any) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def move_model(model: Any, device: Any = None, dtype: Any = None) -> Any:
    """``model.to(device, dtype)`` without TransformerBridge's "Moving model to device" print.

    The bridge prints on every ``.to``; a workbench that builds random baselines and loads
    several models would print it many times for nothing.
    """
    kwargs = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
    if hasattr(model, "hook_dict"):  # a TransformerBridge
        return model.to(print_details=False, **kwargs)
    return model.to(**kwargs)
