"""Faithfulness: how much of the model's behaviour a circuit (a set of kept edges) reproduces.

A circuit is evaluated by running the model with every edge *outside* it cut
(its source replaced by the corrupted / mean / zero activation, see
:mod:`interp.circuits.graph`) and reading the task metric, normalised so 1 = the
full model on clean inputs and 0 = the model on corrupted inputs (Wang et al.
2022; Conmy et al. 2023). The *faithfulness curve* does this for the top-k edges of
a ranking over a grid of k, and its area under the curve (against the fraction of
edges kept) summarises a ranking in one number (Hanna et al. 2024).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from interp.circuits.graph import EdgeGraph, EdgeRun, patch_values
from interp.circuits.metrics import Task, metric_per_input, normalise
from interp.hooks.capture import model_device


@dataclass
class CircuitEval:
    """A prepared task: clean logits, endpoint metric values and the patch activations."""

    model: Any
    graph: EdgeGraph
    task: Task
    metric: str
    ablation: str
    clean_logits: torch.Tensor
    patch: torch.Tensor
    clean_value: float
    corrupt_value: float

    @classmethod
    def prepare(cls, model: Any, graph: EdgeGraph, task: Task, metric: str = "logit_diff",
                ablation: str = "corrupt") -> "CircuitEval":
        with torch.no_grad():
            clean_logits = model(task.clean.to(model_device(model)))
            corrupt_logits = model(task.corrupt.to(model_device(model)))
        clean = metric_per_input(metric, clean_logits, task, clean_logits).mean().item()
        corrupt = metric_per_input(metric, corrupt_logits, task, clean_logits).mean().item()
        patch = patch_values(model, graph, task.clean, ablation, corrupt=task.corrupt, reference=task.clean)
        return cls(model, graph, task, metric, ablation, clean_logits, patch, clean, corrupt)

    def logits(self, keep: torch.Tensor) -> torch.Tensor:
        """Logits with every valid edge not in ``keep`` [n_src, n_dst] (bool) cut."""
        self.graph.check(keep, "keep")
        with torch.no_grad():
            return EdgeRun(self.model, self.graph, self.patch, self.graph.valid & ~keep)(self.task.clean)

    def per_input(self, keep: torch.Tensor, metric: str | None = None) -> torch.Tensor:
        """The raw metric of the circuit per input: [batch]."""
        return metric_per_input(metric or self.metric, self.logits(keep), self.task, self.clean_logits)

    def recovered(self, keep: torch.Tensor) -> float:
        """Normalised metric of the circuit (1 = clean model, 0 = corrupted)."""
        return float(normalise(self.per_input(keep).mean().item(), self.clean_value, self.corrupt_value))


def top_k_mask(graph: EdgeGraph, ranking: torch.Tensor, k: int) -> torch.Tensor:
    """Keep-mask of the ``k`` valid edges with the largest ``ranking`` [n_src, n_dst]."""
    graph.check(ranking, "ranking")
    flat = torch.where(graph.valid, ranking.float(), torch.tensor(float("-inf"))).flatten()
    keep = torch.zeros(flat.numel(), dtype=torch.bool)
    if k > 0:
        keep[flat.topk(min(k, graph.n_edges)).indices] = True
    return keep.reshape(graph.valid.shape)


def faithfulness_curve(ev: CircuitEval, ranking: torch.Tensor, ks: Sequence[int] | None = None) -> dict[str, Any]:
    """Metric recovered when keeping the top-k edges of ``ranking``, for each k (default: 0..all, ~20 points).

    Returns the ``faithfulness.json`` dict of the ``circuit`` run plus ``auc``
    (trapezoid area of metric_recovered over fraction_kept).
    """
    n = ev.graph.n_edges
    if ks is None:
        ks = sorted({0, 1, 2, 3, 4, 5, 6, 8, 10, *[round(n * f) for f in torch.linspace(0, 1, 15).tolist()], n})
    ks = sorted({int(k) for k in ks if 0 <= k <= n})
    recovered = [ev.recovered(top_k_mask(ev.graph, ranking, k)) for k in ks]
    fractions = [k / n for k in ks]
    return {"ablation": ev.ablation, "metric": ev.metric, "edges_kept": ks, "fraction_kept": fractions,
            "metric_recovered": recovered, "auc": auc(fractions, recovered)}


def auc(x: Sequence[float], y: Sequence[float]) -> float:
    """Trapezoid area under y(x) (x ascending)."""
    return float(sum((x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2 for i in range(len(x) - 1)))
