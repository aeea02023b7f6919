"""Transcoders on disk: a folder per model with ``cfg.json`` and ``weights.safetensors`` (no pickles).

``cfg.json`` is ``{"format": "interp-transcoder", "version": 1, "kind": "transcoder" | "clt",
"config": TranscoderConfig / CLTConfig fields}``; ``weights.safetensors`` is the module's
``state_dict`` under the parameter names of :mod:`interp.transcoders.base` / ``clt`` (a CLT's
lists as ``W_enc.0``, ``W_dec.3``, ...). Scales stay in the config (not folded into the
weights), so a loaded model maps raw activations exactly as it did after training.

A ``transcoder`` run keeps its models under ``transcoders/``: ``L<layer>/`` per layer for
per-layer transcoders, ``clt/`` for a cross-layer one. :func:`load_transcoders` reads a run,
that folder, or one model's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from interp.io import read_json, write_atomic, write_json_atomic
from interp.transcoders.base import Transcoder, TranscoderConfig
from interp.transcoders.clt import CLTConfig, CrossLayerTranscoder

FORMAT = "interp-transcoder"
CFG_FILE = "cfg.json"
WEIGHTS_FILE = "weights.safetensors"
MODELS_DIR = "transcoders"


class TranscoderIOError(ValueError):
    """A transcoder folder or run that cannot be read (missing, corrupt, or of another kind)."""


def model_dir(model: Transcoder | CrossLayerTranscoder) -> str:
    """The sub-folder name of ``model`` in a run's ``transcoders/`` folder: ``L<layer>`` or ``clt``."""
    return "clt" if isinstance(model, CrossLayerTranscoder) else f"L{model.cfg.layer}"


def save_transcoder(model: Transcoder | CrossLayerTranscoder, folder: str | Path) -> Path:
    """Write ``model`` to ``folder`` (created): ``cfg.json`` and ``weights.safetensors``, each atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_atomic(folder / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp), metadata={"format": FORMAT}))
    kind = "clt" if isinstance(model, CrossLayerTranscoder) else "transcoder"
    write_json_atomic(folder / CFG_FILE, {"format": FORMAT, "version": 1, "kind": kind, "config": model.cfg.to_json()})
    return folder


def save_transcoders(models: list[Transcoder] | CrossLayerTranscoder, folder: str | Path) -> list[Path]:
    """Every model under ``folder`` (``L<layer>/`` or ``clt/``); returns their folders."""
    items = [models] if isinstance(models, CrossLayerTranscoder) else list(models)
    return [save_transcoder(m, Path(folder) / model_dir(m)) for m in items]


def load_transcoder(folder: str | Path, device: str | torch.device = "cpu") -> Transcoder | CrossLayerTranscoder:
    """The model saved in ``folder`` by :func:`save_transcoder` (eval mode)."""
    folder = Path(folder)
    meta = read_json(folder / CFG_FILE, TranscoderIOError, "it is not a transcoder folder.",
                     "the file is corrupt; re-train or re-save the transcoder.")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("kind") not in ("transcoder", "clt"):
        raise TranscoderIOError(f"{folder / CFG_FILE} is not an interp transcoder config "
                                f"(format={meta.get('format') if isinstance(meta, dict) else None!r}).")
    try:
        cfg: Any = (CLTConfig if meta["kind"] == "clt" else TranscoderConfig).from_json(meta["config"])
        model = CrossLayerTranscoder(cfg) if meta["kind"] == "clt" else Transcoder(cfg)
    except (KeyError, TypeError, ValueError) as exc:
        raise TranscoderIOError(f"{folder / CFG_FILE} holds an unusable config ({exc}).") from None
    f = folder / WEIGHTS_FILE
    try:
        tensors = load_file(str(f))
        model.load_state_dict(tensors)
    except FileNotFoundError:
        raise TranscoderIOError(f"{f} is missing: {folder} has a config but no weights.") from None
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise TranscoderIOError(f"{f} does not hold this transcoder's weights ({exc}).") from None
    return model.to(device).eval()


def _models_folder(path: Path) -> Path:
    """The folder holding the models of a ``transcoder`` run (``path`` itself when it is not a run)."""
    if not (path / "run.json").is_file():
        return path
    from interp.runs import load_run

    run = load_run(path)
    if run.kind != "transcoder":
        raise TranscoderIOError(f"{run.path} is a {run.kind!r} run, not a 'transcoder' run.")
    return run.artifact("transcoders")


def load_transcoders(run_or_folder: str | Path, device: str | torch.device = "cpu"
                     ) -> list[Transcoder] | CrossLayerTranscoder:
    """Transcoders from a ``transcoder`` run, its ``transcoders/`` folder, or one model's folder.

    Per-layer transcoders come back as a list in layer order; a CLT as itself.
    """
    path = Path(run_or_folder)
    if not path.is_dir():
        raise TranscoderIOError(f"{path} is not a folder: give a transcoder run or a transcoders folder.")
    folder = _models_folder(path)
    if (folder / CFG_FILE).is_file():
        one = load_transcoder(folder, device)
        return one if isinstance(one, CrossLayerTranscoder) else [one]
    models = [load_transcoder(sub, device) for sub in sorted(folder.iterdir()) if (sub / CFG_FILE).is_file()]
    if not models:
        raise TranscoderIOError(f"{folder} holds no transcoder (no */{CFG_FILE}).")
    clts = [m for m in models if isinstance(m, CrossLayerTranscoder)]
    if clts:
        if len(models) > 1:
            raise TranscoderIOError(f"{folder} holds a CLT and other models; load one folder with load_transcoder.")
        return clts[0]
    return sorted(models, key=lambda m: (m.cfg.layer is None, m.cfg.layer))  # type: ignore[union-attr]
