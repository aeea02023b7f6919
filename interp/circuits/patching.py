"""Activation patching sweeps: which activations carry the difference between two prompts.

Run the model on one prompt while overwriting a single activation with its value
from the other prompt, and watch a metric (Meng et al. 2022; Wang et al. 2022;
best practices from Heimersheim & Nanda 2024 and Zhang & Nanda 2024):

* **denoising** (clean -> corrupt): run the *corrupt* prompt, patch in a *clean*
  activation. A high normalised value means this activation alone is *sufficient*
  to restore the behaviour.
* **noising** (corrupt -> clean): run the *clean* prompt, patch in a *corrupt*
  activation. A low value means the activation is *necessary*.

Both are reported normalised, ``(m - m_corrupt) / (m_clean - m_corrupt)`` (1 =
clean, 0 = corrupt), for the metrics of :mod:`interp.circuits.metrics`.

Sweeps (each a tensor, the shapes of the ``patching`` run in docs/runs.md):

* ``resid_pre [layer, pos]``  ``blocks.L.hook_resid_pre`` at one position;
* ``attn_out [layer, pos]``   ``blocks.L.hook_attn_out`` at one position;
* ``mlp_out [layer, pos]``    ``blocks.L.hook_mlp_out`` at one position (models with MLPs);
* ``heads [layer, head]``     ``blocks.L.attn.hook_z`` of one head at every position.

One patched forward pass per cell, batched over the task's inputs; positions are
aligned because the corruption keeps the token count (symmetric token replacement).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from interp.circuits.ablation import cache_hooks
from interp.circuits.metrics import METRICS, Task, metric_per_input, normalise
from interp.hooks.capture import model_device

SWEEPS = ("resid_pre", "attn_out", "mlp_out", "heads")
DIRECTIONS = ("denoising", "noising")
_HOOK = {"resid_pre": "blocks.{}.hook_resid_pre", "attn_out": "blocks.{}.hook_attn_out",
         "mlp_out": "blocks.{}.hook_mlp_out", "heads": "blocks.{}.attn.hook_z"}


@dataclass
class PatchingResult:
    """Normalised sweep values (1 = clean, 0 = corrupt) and the raw endpoints."""

    metric: str
    direction: str
    sweeps: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> [layer, pos] or [layer, head]
    clean_value: float = 0.0
    corrupt_value: float = 0.0
    pos_labels: list[str] = field(default_factory=list)


def _logits(model: Any, tokens: torch.Tensor, fwd_hooks: list | None = None) -> torch.Tensor:
    with torch.no_grad(), model.hooks(fwd_hooks=fwd_hooks or []):
        return model(tokens.to(model_device(model)))


def endpoint_values(model: Any, task: Task, metric: str) -> tuple[float, float, torch.Tensor]:
    """(clean metric, corrupt metric, clean logits) averaged over the task's inputs."""
    clean_logits = _logits(model, task.clean)
    corrupt_logits = _logits(model, task.corrupt)
    clean = metric_per_input(metric, clean_logits, task, clean_logits).mean().item()
    corrupt = metric_per_input(metric, corrupt_logits, task, clean_logits).mean().item()
    return clean, corrupt, clean_logits


def _patch_hook(name: str, source: torch.Tensor, pos: int | None, head: int | None):
    """Overwrite ``act`` with ``source`` at one position (or one head at all positions)."""

    def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:
        out = act.clone()
        if head is not None:
            out[:, :, head] = source[:, :, head].to(act)
        else:
            out[:, pos] = source[:, pos].to(act)
        return out

    return name, fn


def patching_sweep(
    model: Any,
    task: Task,
    metric: str = "logit_diff",
    direction: str = "denoising",
    sweeps: Sequence[str] = ("resid_pre", "attn_out", "mlp_out", "heads"),
    progress: bool = True,
) -> PatchingResult:
    """Run the requested sweeps; each cell is one patched run, values normalised (1 = clean)."""
    if metric not in METRICS:
        raise ValueError(f"Unknown metric {metric!r}; choose one of {METRICS}.")
    if direction not in DIRECTIONS:
        raise ValueError(f"Unknown direction {direction!r}; choose 'denoising' (clean -> corrupt) or 'noising'.")
    unknown = [s for s in sweeps if s not in SWEEPS]
    if unknown:
        raise ValueError(f"Unknown sweeps {unknown}; choose from {SWEEPS}.")
    if getattr(model.cfg, "attn_only", False):
        sweeps = [s for s in sweeps if s != "mlp_out"]  # no MLPs to patch
    clean_v, corrupt_v, clean_logits = endpoint_values(model, task, metric)
    target, source_tokens = (task.corrupt, task.clean) if direction == "denoising" else (task.clean, task.corrupt)
    n_layers, n_pos, n_heads = model.cfg.n_layers, task.clean.shape[1], model.cfg.n_heads
    hooks = [_HOOK[s].format(layer) for s in sweeps for layer in range(n_layers)]
    source = cache_hooks(model, source_tokens, hooks)
    result = PatchingResult(metric, direction, clean_value=clean_v, corrupt_value=corrupt_v,
                            pos_labels=task.pos_labels or [str(i) for i in range(n_pos)])
    cells = [(s, layer, j) for s in sweeps for layer in range(n_layers)
             for j in range(n_heads if s == "heads" else n_pos)]
    for s in sweeps:
        result.sweeps[s] = torch.zeros(n_layers, n_heads if s == "heads" else n_pos)
    for s, layer, j in tqdm(cells, desc=f"patching ({direction})", disable=not progress):
        hook = _HOOK[s].format(layer)
        fh = [_patch_hook(hook, source[hook], None if s == "heads" else j, j if s == "heads" else None)]
        value = metric_per_input(metric, _logits(model, target, fh), task, clean_logits).mean().item()
        result.sweeps[s][layer, j] = normalise(value, clean_v, corrupt_v)
    return result


def save_patching_run(model_spec: str, task: Task, result: PatchingResult, corruption: str, prompts: str,
                      slug: str = "patching", root: Any = None) -> Any:
    """Write a ``patching`` run (docs/runs.md): ``patching.safetensors`` + ``patching.json``."""
    from safetensors.torch import save_file

    from interp.io import write_atomic, write_json_atomic
    from interp.runs import start_run

    config = {"model": model_spec, "metric": result.metric, "direction": result.direction,
              "corruption": corruption, "prompts": prompts, "n_prompts": len(task), "sweeps": sorted(result.sweeps)}
    with start_run("patching", config, model=model_spec, slug=slug, root=root) as run:
        tensors = {k: v.float().contiguous() for k, v in result.sweeps.items()}
        write_atomic(run.path / "patching.safetensors", lambda p: save_file(tensors, str(p)))
        meta = {"metric": result.metric, "direction": result.direction, "pos_labels": result.pos_labels,
                "clean_value": result.clean_value, "corrupt_value": result.corrupt_value}
        write_json_atomic(run.path / "patching.json", meta)
        run.add_artifact("results", "patching.safetensors")
        run.add_artifact("meta", "patching.json")
        run.metrics.update({"clean_value": result.clean_value, "corrupt_value": result.corrupt_value})
        for name, t in result.sweeps.items():
            flat = int(t.argmin() if result.direction == "noising" else t.argmax())
            run.metrics[f"{name}_extreme"] = float(t.flatten()[flat])
    return run
