"""Pruning an attribution graph by influence on the logits.

A graph of a 64-token prompt has thousands of nodes and millions of edges; what one
reads is the part that carries most of the effect on the output. Influence is measured
on the normalised graph: every row of ``|A|`` scaled to sum to 1 (each target's inputs
as fractions of its total input), so a node's influence on the logits is the sum over
all paths of the products of those fractions, weighted by the logits' probabilities:
``influence = w · (Â + Â² + Â³ + ...)`` (the graph has no cycles, so the series ends).
Feature nodes are kept by influence until ``node_threshold`` of the total is covered;
error, embedding and logit nodes are always kept (they are what the reader checks the
features against). Edges are then kept by their own influence (the edge's fraction
times its target's influence) until ``edge_threshold`` of that total is covered.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from interp.graphs.attribute import Graph


@dataclass
class Pruned:
    """Which nodes and edges survive: ``node_mask`` [n_nodes], ``edge_mask`` [n_nodes, n_nodes], and the scores."""

    node_mask: torch.Tensor
    edge_mask: torch.Tensor
    node_influence: torch.Tensor  # [n_nodes]
    node_threshold: float
    edge_threshold: float


def normalized(adjacency: torch.Tensor) -> torch.Tensor:
    """``|A|`` with each non-empty row scaled to sum to 1."""
    a = adjacency.abs()
    s = a.sum(1, keepdim=True)
    return torch.where(s > 0, a / s.clamp_min(1e-30), a)


def influence(graph: Graph) -> torch.Tensor:
    """Each node's total influence on the logits [n_nodes] (logit nodes: their probabilities)."""
    a = normalized(graph.adjacency).double()
    w = torch.zeros(graph.n_nodes, dtype=torch.float64)
    w[-graph.n_logit:] = graph.logit_probs.double() / graph.logit_probs.double().sum().clamp_min(1e-30)
    total, frontier = w.clone(), w
    for _ in range(graph.n_nodes):  # paths are at most as long as the graph has nodes; in practice ~2 * layers
        frontier = frontier @ a
        if not bool(frontier.abs().sum() > 1e-15):
            break
        total += frontier
    return total.float()


def _covering(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """Mask of the highest ``scores`` that together reach ``fraction`` of their sum."""
    order = scores.argsort(descending=True)
    cum = scores[order].cumsum(0)
    total = float(cum[-1]) if len(cum) else 0.0
    n = int((cum < fraction * total).sum()) + 1 if total > 0 else 0
    mask = torch.zeros_like(scores, dtype=torch.bool)
    mask[order[: min(n, len(order))]] = True
    return mask


def prune(graph: Graph, node_threshold: float = 0.8, edge_threshold: float = 0.98) -> Pruned:
    """Keep the features that carry ``node_threshold`` of the influence and the edges that carry ``edge_threshold``."""
    if not (0 < node_threshold <= 1 and 0 < edge_threshold <= 1):
        raise ValueError(f"thresholds must be in (0, 1], got {node_threshold}, {edge_threshold}.")
    inf = influence(graph)
    keep = torch.ones(graph.n_nodes, dtype=torch.bool)
    keep[: graph.n_feat] = _covering(inf[: graph.n_feat], node_threshold)
    a = normalized(graph.adjacency) * keep[None, :] * keep[:, None]
    edge_scores = a * inf[:, None]
    flat = _covering(edge_scores.flatten(), edge_threshold).reshape(edge_scores.shape) & (a > 0)
    return Pruned(keep, flat, inf, node_threshold, edge_threshold)
