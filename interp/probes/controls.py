"""Controls, so that no probe accuracy is reported on its own (Hewitt & Liang 2019).

A probe's accuracy says that a property is *linearly decodable*, not that the model
uses it: a probe with enough capacity can memorise a label per word type. Two
controls put the number in context:

* **Control task** (:func:`control_labels`): every token *type* (token id, or any
  integer key per row, e.g. the ``(a, b)`` pair of a modular-addition input) gets a
  label drawn at random from the task's empirical label distribution, and every
  occurrence of that type keeps it. The control task has the same label
  distribution and the same type-to-label determinism as the real task, but no
  structure. **Selectivity** = task accuracy − control accuracy; a high selectivity
  means the probe reads the property, not the word identity.
* **Random model** (:func:`random_model`): the same architecture with freshly
  initialised weights. Properties that a random network already exposes (token
  identity survives random layers) are a baseline, not a finding.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import torch

from interp.models import model_device
from interp.models.device import move_model
from interp.probes.data import ProbeDataError


def control_labels(types: Any, labels: Any, seed: int = 0) -> torch.Tensor:
    """Labels of the control task: one random label per distinct ``types`` value.

    types: [rows] integer key per row (token id); labels: [rows] or [rows, k] task
    labels. Each type's label is the label of a uniformly drawn row, i.e. a draw from
    the empirical label distribution. Returns a tensor shaped like ``labels``.
    """
    types = torch.as_tensor(types)
    labels = torch.as_tensor(labels)
    if types.dim() != 1 or types.shape[0] != labels.shape[0]:
        raise ProbeDataError(
            f"types must be [rows] with one entry per label row ({labels.shape[0]}), got shape {tuple(types.shape)}."
        )
    if types.is_floating_point():
        raise ProbeDataError("types must be integer keys (token ids), got floating-point values.")
    _, inverse = torch.unique(types, return_inverse=True)
    n_types = int(inverse.max()) + 1 if inverse.numel() else 0
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randint(0, labels.shape[0], (n_types,), generator=gen)  # a random row's label per type
    return labels[pick][inverse]


def selectivity(task_score: float, control_score: float) -> float:
    """Hewitt & Liang's selectivity: task accuracy (or R²) minus control accuracy (or R²)."""
    return float(task_score) - float(control_score)


@torch.no_grad()
def reinit_module_weights(module: torch.nn.Module, seed: int = 0, std: float = 0.02) -> None:
    """BERT/GPT-style init in place: Linear and Embedding ~ N(0, std), biases 0, norms 1/0."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
        elif isinstance(m, torch.nn.LayerNorm) or type(m).__name__.endswith(("LayerNorm", "RMSNorm")):
            if getattr(m, "weight", None) is not None:
                m.weight.fill_(1.0)
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()


def random_model(model: Any, seed: int = 1) -> Any:
    """A model of the same architecture as ``model`` with random weights (the baseline model).

    Toy models are rebuilt with :func:`interp.models.boot_toy` from their config with
    ``seed`` (the shipped checkpoints use seed 0, so keep ``seed != 0``). Other bridges
    (MiniLM, HF checkpoints) are copied and every Linear/Embedding/LayerNorm of the
    underlying module is re-initialised with the config's ``initializer_range``.
    """
    toy_cfg = getattr(model, "toy_config", None)
    if toy_cfg is not None:
        from interp.models import boot_toy

        fresh = boot_toy(dataclasses.replace(toy_cfg, seed=seed), tokenizer=getattr(model, "tokenizer", None))
        fresh.toy_config = dataclasses.replace(toy_cfg, seed=seed)
    else:
        fresh = copy.deepcopy(model)
        inner = getattr(fresh, "original_model", fresh)
        std = float(getattr(getattr(inner, "config", None), "initializer_range", 0.02) or 0.02)
        reinit_module_weights(inner, seed=seed, std=std)
    device = model_device(model)
    move_model(fresh, device)
    spec = getattr(model, "interp_spec", None)
    fresh.interp_spec = f"random:{spec}" if spec else "random"
    fresh.eval()
    return fresh
