"""Training recipes for the toy models shipped in ``data/toy`` (``interp train-toy NAME``).

Each recipe is ``train_<name>(out_dir, seed=0, **overrides) -> Path`` in its own
module, next to ``RECIPE`` (a dataclass or a dict of defaults: the options it takes,
checked here once for every recipe); it builds the model with :func:`interp.models.toy.build_native`, trains it
with :func:`interp.models.training.common.train_loop`, and saves it with
:func:`interp.models.toy.save_toy` (config + weights + training curve).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from pathlib import Path
from typing import Any

TOY_RECIPES = {
    "induction": "interp.models.training.induction:train_induction",
    "induction-lm": "interp.models.training.inductionlm:train_induction_lm",
    "modadd": "interp.models.training.modadd:train_modadd",
    "othello": "interp.models.training.othello:train_othello",
    "toylm": "interp.models.training.toylm:train_toylm",
}


class RecipeError(TypeError, ValueError):
    """An override that the recipe does not have (the message lists those it has)."""


def recipe_options(name: str) -> list[str]:
    """The fields a toy recipe takes as overrides (``interp train-toy NAME --set FIELD=VALUE``)."""
    recipe = getattr(_module(name), "RECIPE")
    return [f.name for f in dataclasses.fields(recipe)] if dataclasses.is_dataclass(recipe) else list(recipe)


def _module(name: str) -> Any:
    if name not in TOY_RECIPES:
        raise ValueError(f"Unknown toy model {name!r}; choose one of {', '.join(TOY_RECIPES)}.")
    return importlib.import_module(TOY_RECIPES[name].split(":")[0])


def train_toy(name: str, out_dir: str | Path | None = None, seed: int = 0, **overrides: Any) -> Path:
    """Train toy model ``name`` and save it to ``out_dir`` (default: ``data/toy/<name>``).

    ``overrides`` replace recipe fields; one the recipe lacks is a :class:`RecipeError`
    that lists the fields it has, raised before any work.
    """
    from interp.models.toy import TOY_DIR

    module = _module(name)
    known = recipe_options(name)
    if unknown := sorted(set(overrides) - set(known)):
        raise RecipeError(f"Unknown {name} recipe options {unknown}; known: {', '.join(known)}.")
    train = getattr(module, TOY_RECIPES[name].split(":")[1])
    return train(Path(out_dir) if out_dir else TOY_DIR / name, seed=seed, **overrides)


def train_toy_run(name: str, out_dir: str | Path | None = None, seed: int = 0, *, root: Any = None,
                  **overrides: Any) -> Any:
    """:func:`train_toy` recorded as a ``train-toy`` run (config, final scalar metrics, checkpoint artifact)."""
    from interp.runs import start_run

    config = {"name": name, "seed": seed, "out": None if out_dir is None else str(out_dir), **overrides}
    with start_run("train-toy", config, model=f"toy:{name}", slug=name, root=root) as run:
        out = train_toy(name, out_dir, seed=seed, **overrides)
        training = out / "training.json"
        if training.is_file():
            final = json.loads(training.read_text()).get("final", {})
            run.metrics.update({k: v for k, v in final.items() if isinstance(v, (int, float))})  # scalars only
        run.config["checkpoint"] = str(Path(out).resolve())
        where = Path(out).resolve()  # the toy checkpoint folder: outside the run unless out_dir put it inside
        run.add_artifact("checkpoint", os.path.relpath(where, run.path.resolve()),
                         external=not where.is_relative_to(run.path.resolve()))
    return run
