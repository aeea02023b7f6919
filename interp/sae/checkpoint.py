"""Training checkpoints: everything needed to continue a run to the same final weights.

A checkpoint folder holds ``checkpoint.json`` and one ``ckpt-<step>.safetensors``::

    sae.<name>            SAE parameters and buffers (state_dict)
    optim.<i>.<key>       Adam state per parameter (step, exp_avg, exp_avg_sq)
    trainer.<name>        trainer state (tokens since each latent last fired)
    rng.torch             the CPU RNG state (uint8); rng.cuda when on a GPU

``checkpoint.json`` records the step, tokens seen, each rank's data position
(epoch, next batch), the SAE and training configs, the optimiser's param groups,
the loss history, and the name of the tensor file. The tensor file is written
first under a new name, then the json is replaced atomically, then older tensor
files are removed, so a kill at any point leaves the last complete checkpoint
readable. Nothing is pickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from interp.io import read_json, write_atomic, write_json_atomic

CKPT_JSON = "checkpoint.json"
CKPT_FORMAT = "interp-sae-checkpoint"


class CheckpointError(ValueError):
    """A training checkpoint is missing, corrupt, or belongs to a different run."""


def save_checkpoint(folder: str | Path, sae: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    trainer_state: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write a checkpoint for ``meta["step"]``; returns the tensor file's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"sae.{k}": v.detach().cpu().contiguous() for k, v in sae.state_dict().items()}
    opt = optimizer.state_dict()
    for i, st in opt["state"].items():
        for key, v in st.items():
            tensors[f"optim.{i}.{key}"] = (v if torch.is_tensor(v) else torch.tensor(v)).detach().cpu().contiguous()
    tensors.update({f"trainer.{k}": v.detach().cpu().contiguous() for k, v in trainer_state.items()})
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    name = f"ckpt-{int(meta['step']):08d}.safetensors"
    write_atomic(folder / name, lambda tmp: save_file(tensors, str(tmp)))
    write_json_atomic(folder / CKPT_JSON, {"format": CKPT_FORMAT, "version": 1, "file": name,
                                           "param_groups": opt["param_groups"], **meta})
    for old in folder.glob("ckpt-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return folder / name


def has_checkpoint(folder: str | Path | None) -> bool:
    return folder is not None and (Path(folder) / CKPT_JSON).is_file()


def load_checkpoint(folder: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(meta, tensors)`` of the checkpoint in ``folder``."""
    folder = Path(folder)
    meta = read_json(folder / CKPT_JSON, CheckpointError, "no checkpoint to resume from.",
                     "the checkpoint is corrupt; delete the folder to start over.")
    if not isinstance(meta, dict) or meta.get("format") != CKPT_FORMAT:
        what = f"format={meta.get('format')!r}" if isinstance(meta, dict) else f"a JSON {type(meta).__name__}"
        raise CheckpointError(f"{folder / CKPT_JSON} is not an interp SAE checkpoint ({what}).")
    name = meta.get("file")
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(".safetensors"):
        raise CheckpointError(f"{folder / CKPT_JSON} names the tensor file {name!r:.100}, not a .safetensors file "
                              "in the checkpoint folder; the checkpoint is corrupt. Delete the folder to start over.")
    f = folder / name
    if not f.is_file():
        raise CheckpointError(f"{f} (named by {folder / CKPT_JSON}) is missing; the checkpoint is incomplete.")
    try:
        return meta, load_file(str(f))
    except (SafetensorError, OSError, ValueError) as exc:  # truncated by a full disk, or overwritten
        raise CheckpointError(f"{f} is not a readable safetensors file ({exc}); the checkpoint is corrupt. "
                              "Delete the folder to start over.") from exc


def restore(sae: torch.nn.Module, optimizer: torch.optim.Optimizer, meta: dict[str, Any],
            tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Load weights, optimiser and RNG state in place; returns the ``trainer.*`` tensors."""
    device = next(sae.parameters()).device
    sae.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("sae.")})
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, i, key = k.split(".", 2)
            state.setdefault(int(i), {})[key] = v if key == "step" else v.to(device)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return {k[8:]: v.to(device) for k, v in tensors.items() if k.startswith("trainer.")}
