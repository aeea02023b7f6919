"""Training recipes for the toy models shipped in ``data/toy`` (``interp train-toy NAME``).

Each recipe is ``train_<name>(out_dir, seed=0, **overrides) -> Path`` in its own
module; it builds the model with :func:`interp.models.toy.build_native`, trains it
with :func:`interp.models.training.common.train_loop`, and saves it with
:func:`interp.models.toy.save_toy` (config + weights + training curve).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

TOY_RECIPES = {
    "induction": "interp.models.training.induction:train_induction",
    "modadd": "interp.models.training.modadd:train_modadd",
    "toylm": "interp.models.training.toylm:train_toylm",
}


def train_toy(name: str, out_dir: str | Path | None = None, seed: int = 0, **overrides: Any) -> Path:
    """Train toy model ``name`` and save it to ``out_dir`` (default: ``data/toy/<name>``)."""
    if name not in TOY_RECIPES:
        raise ValueError(f"Unknown toy model {name!r}; choose one of {', '.join(TOY_RECIPES)}.")
    from interp.models.toy import TOY_DIR

    module, func = TOY_RECIPES[name].split(":")
    train = getattr(importlib.import_module(module), func)
    return train(Path(out_dir) if out_dir else TOY_DIR / name, seed=seed, **overrides)
