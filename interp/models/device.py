"""Where a model lives: analyses move their inputs to the model's device, never the other way round."""

from __future__ import annotations

from typing import Any

import torch


def model_device(model: Any) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")
