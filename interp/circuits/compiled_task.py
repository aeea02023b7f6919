"""Circuit tasks on compiled models (``toy:compiled-<name>``), and their ground truth as an edge mask.

A compiled model (:mod:`interp.models.compiled`) runs a known program and names the
edges that compute it. This module gives the circuit tools what they need on it:

* :func:`compiled_task`: clean inputs are random program inputs; corrupt inputs are
  independent random inputs of the same length (resample ablation's reference
  distribution). The metric reads the positions where the program is defined on
  both and its outputs differ, with ``answer`` = the clean output and ``wrong`` =
  the corrupt one (so ``logit_diff`` is the margin of the right answer over the
  answer the corrupt input would give).
* :func:`truth_mask`: the ground-truth edge names as an ``[n_src, n_dst]`` mask of
  an :class:`~interp.circuits.graph.EdgeGraph`.
* :func:`edge_effects`: what cutting each edge *alone* does to the logits (the
  definition the ground truth must meet: exactly the true edges change the output).
"""

from __future__ import annotations

from typing import Any

import torch

from interp.circuits.graph import EdgeGraph, EdgeRun, patch_values
from interp.circuits.metrics import Task
from interp.hooks.hooked import forward


def program_of(model: Any) -> Any:
    """The :class:`~interp.models.compiled.CompiledProgram` a compiled model carries, or a clear error."""
    prog = getattr(model, "compiled", None)
    if prog is None:
        raise ValueError("This model has no compiled program (model.compiled): load one with "
                         "load_model('toy:compiled-<name>'), e.g. toy:compiled-induction.")
    return prog


def compiled_task(model: Any, n: int, seed: int = 0, length: int | None = None) -> Task:
    """``n`` clean/corrupt pairs for the compiled model's program (see the module docstring); ``seed`` rebuilds it."""
    prog = program_of(model)
    gen = torch.Generator().manual_seed(seed)
    rows: list[tuple[torch.Tensor, ...]] = []
    for _ in range(100):  # a few rows have no position where both are defined and differ: draw more
        clean, corrupt = prog.sample(2 * n, gen, length), prog.sample(2 * n, gen, length)
        y_clean, y_corrupt = prog.outputs(clean), prog.outputs(corrupt)
        positions = (y_clean >= 0) & (y_corrupt >= 0) & (y_clean != y_corrupt)  # [2n, pos]
        ok = positions.any(1)
        rows += list(zip(clean[ok], corrupt[ok], positions[ok], y_clean[ok].clamp(min=0), y_corrupt[ok].clamp(min=0)))
        if len(rows) >= n:
            break
    else:
        raise RuntimeError(f"Could not draw {n} inputs on which the program {prog.name!r} distinguishes clean "
                           "from corrupt; use longer inputs.")
    clean, corrupt, positions, answer, wrong = (torch.stack(t) for t in zip(*rows[:n]))
    return Task(clean, corrupt, positions, answer, wrong, ["BOS"] + [f"x{i}" for i in range(1, clean.shape[1])])


def truth_mask(graph: EdgeGraph, edges: tuple[str, ...] | list[str]) -> torch.Tensor:
    """The edges named ``src->dst[.q|.k|.v]`` as a bool mask [n_src, n_dst] of ``graph``."""
    index = {graph.edge_name(i, j): (i, j) for i, j in graph.edges()}
    mask = torch.zeros_like(graph.valid)
    unknown = [e for e in edges if e not in index]
    if unknown:
        raise ValueError(f"Edges {unknown} are not edges of this graph ({graph.n_layers} layers x {graph.n_heads} "
                         f"heads); edge names look like {next(iter(index))!r}.")
    for e in edges:
        mask[index[e]] = True
    return mask


@torch.no_grad()
def edge_effects(model: Any, graph: EdgeGraph, tokens: torch.Tensor, ablation: str = "zero",
                 corrupt: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """What cutting each edge alone does where the program is defined: ``{"max_logit_change", "breaks"}``.

    max_logit_change: [n_src, n_dst] largest |logit change|; breaks: [n_src, n_dst] bool,
    the argmax differs from the program's output at some defined position. One pass per edge.
    """
    y = program_of(model).outputs(tokens)
    defined = y >= 0  # [batch, pos]
    clean = forward(model, tokens).logits[defined]  # [n_defined, vocab]
    patch = patch_values(model, graph, tokens, ablation, corrupt=corrupt, reference=tokens)
    change = torch.zeros(graph.valid.shape)
    breaks = torch.zeros(graph.valid.shape, dtype=torch.bool)
    for i, j in graph.edges():
        cut = torch.zeros_like(graph.valid)
        cut[i, j] = True
        logits = EdgeRun(model, graph, patch, cut)(tokens)[defined]
        change[i, j] = (logits - clean).abs().max()
        breaks[i, j] = bool((logits.argmax(-1) != y[defined].to(logits.device)).any())
    return {"max_logit_change": change, "breaks": breaks}
