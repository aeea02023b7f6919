"""Edge attribution patching: EAP and EAP-IG scores for every edge of the graph at once.

Activation patching an edge ``u -> v`` costs one forward pass per edge. Attribution
patching (Nanda 2023; Syed et al. 2023, "Attribution patching outperforms automated
circuit discovery") replaces it by a first-order Taylor estimate, for every edge
from one forward and one backward pass::

    score(u -> v) = sum_{batch, pos} (a_u^patch - a_u^clean) · d metric / d input_v

``a_u`` is the output of upstream node ``u`` and ``input_v`` the downstream input
(a head's q, k or v input, an MLP input, or the logits' input) of
:mod:`interp.circuits.graph`. The score estimates ``metric(edge cut) - metric(clean)``.

EAP-IG (Hanna, Pezzelle & Belinkov 2024, "Have faith in faithfulness") averages the
gradient over points between the clean and the corrupted computation (a Riemann
sum with ``steps`` points ``alpha_k = k / steps, k = 0..steps-1``; ``alpha = 0`` is
the clean run, so ``steps = 1`` is exactly EAP)::

    score(u -> v) = (a_u^patch - a_u^clean) · mean_k d metric / d input_v |_(alpha_k)

Two integration paths:

* ``path="edges"`` (default; akin to their EAP-IG-activations): at ``alpha`` *every*
  edge is cut by the fraction ``alpha`` (each downstream input gets
  ``(1 - alpha) a_u + alpha a_u^patch`` from each upstream node), a straight line
  from the clean graph to the fully corrupted one;
* ``path="inputs"`` (their EAP-IG-inputs): only the input embedding moves from the
  clean to the corrupted one, ``alpha`` of the way.

On ``toy:induction`` the induction mechanism runs through saturated attention
softmaxes (the K-composition edges), where the clean-point gradient is nearly 0:
EAP ranks those edges low, ``inputs`` helps a little, ``edges`` nearly matches the
ranking by exact edge patching (:func:`edge_patching`, one forward pass per edge).
``interp circuits induction`` reports the faithfulness AUC of each ranking.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from interp.circuits.graph import EdgeGraph, EdgeRun, node_activations, patch_values
from interp.circuits.metrics import Task, metric_fn
from interp.hooks.hooked import forward

METHODS = ("eap", "eap-ig")
IG_PATHS = ("edges", "inputs")


def edge_attribution(
    model: Any,
    graph: EdgeGraph,
    tokens: torch.Tensor,
    patch: torch.Tensor,
    metric: Callable[[torch.Tensor], torch.Tensor],
    steps: int = 1,
    path: str = "edges",
) -> torch.Tensor:
    """Attribution scores [n_src, n_dst] (0 where no edge) for cutting each edge to ``patch``.

    tokens: [batch, pos] clean inputs; patch: [batch, pos, n_src, d_model] the values a
    cut edge carries (e.g. :func:`node_activations` of corrupted inputs); metric:
    ``logits -> scalar``. ``steps = 1`` is EAP; ``steps > 1`` is EAP-IG along ``path``
    (see the module docstring): ``"edges"`` cuts every edge by a fraction ``alpha``,
    ``"inputs"`` interpolates the input embedding from ``patch[:, :, 0]`` to the clean one.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1 (1 = EAP), got {steps}.")
    if path not in IG_PATHS:
        raise ValueError(f"Unknown integration path {path!r}; choose one of {IG_PATHS}.")
    clean = node_activations(model, graph, tokens)  # [batch, pos, n_src, d_model]
    diff = patch.to(clean) - clean
    start = patch[:, :, 0].to(clean)  # the corrupted input embedding
    grads = torch.zeros(*tokens.shape, len(graph.dst), clean.shape[-1])
    for k in range(steps):
        alpha = k / steps  # 0 (the clean run, i.e. EAP) .. (steps - 1) / steps
        if path == "inputs" or steps == 1:
            beta = 1.0 - alpha  # fraction of the clean input embedding
            input_fn = None if steps == 1 else (lambda a, beta=beta: start + beta * (a - start))
            run = EdgeRun(model, graph, input_fn=input_fn, probes=True)
        else:
            run = EdgeRun(model, graph, patch, graph.valid.float() * alpha, probes=True)
        value = metric(run(tokens))
        grads += run.input_grads(list(torch.autograd.grad(value, run.probe_tensors()))).detach().cpu()
    grads /= steps
    scores = torch.einsum("bsnd,bskd->nk", diff.cpu(), grads)
    return scores * graph.valid


def task_attribution(
    model: Any,
    graph: EdgeGraph,
    task: Task,
    metric: str = "logit_diff",
    method: str = "eap-ig",
    steps: int = 5,
    path: str = "edges",
    ablation: str = "corrupt",
    batch_size: int = 32,
    progress: bool = True,
) -> torch.Tensor:
    """EAP or EAP-IG scores [n_src, n_dst] on a task, in minibatches (scores are batch means)."""
    if method not in METHODS:
        raise ValueError(f"Unknown attribution method {method!r}; choose one of {METHODS}.")
    if metric == "kl" and method == "eap":
        raise ValueError("EAP with the KL metric scores every edge 0 (KL has zero gradient at the clean run); "
                         "use method='eap-ig' or a task metric such as logit_diff.")
    n = len(task)
    total = torch.zeros_like(graph.valid, dtype=torch.float32)
    for lo in tqdm(range(0, n, batch_size), desc=f"{method} attribution", disable=not progress):
        sub = task.subset(slice(lo, lo + batch_size))
        clean_logits = forward(model, sub.clean).logits if metric == "kl" else None
        fn = metric_fn(metric, sub, clean_logits)
        patch = patch_values(model, graph, sub.clean, ablation, corrupt=sub.corrupt, reference=task.clean)
        total += edge_attribution(model, graph, sub.clean, patch, fn, 1 if method == "eap" else steps, path) * len(sub)
    return total / n


def edge_patching(ev: Any, progress: bool = True, per_pass: int = 0) -> torch.Tensor:
    """Exact effect of cutting each edge alone: ``metric(edge cut) - metric(clean)``, [n_src, n_dst].

    ev: a prepared :class:`~interp.circuits.faithfulness.CircuitEval`. One forward pass
    per edge in effect, the ground truth that EAP approximates to first order; in fact
    ``per_pass`` edges into the same layer share a pass (0 = automatic), which runs the
    layers before theirs once (:meth:`CircuitEval.per_input_many`).
    """
    from interp.circuits.faithfulness import trials_per_pass

    g = ev.graph
    scores = torch.zeros(g.valid.shape)
    by_layer: dict[int, list[tuple[int, int]]] = {}
    for i, j in g.edges():
        by_layer.setdefault(g.dst[j].node.layer, []).append((i, j))
    bar = tqdm(total=g.n_edges, desc="edge patching", disable=not progress)
    for layer, edges in by_layer.items():
        k = per_pass or trials_per_pass(ev, layer)
        for lo in range(0, len(edges), k):
            chunk = edges[lo : lo + k]
            keeps = g.valid[None].repeat(len(chunk), 1, 1)  # [k, n_src, n_dst]
            for c, (i, j) in enumerate(chunk):
                keeps[c, i, j] = False
            for (i, j), value in zip(chunk, ev.per_input_many(keeps).mean(1).tolist()):
                scores[i, j] = value - ev.clean_value
            bar.update(len(chunk))
    bar.close()
    return scores
