"""Paths to one node of an attribution graph: which inputs reach a logit, and along which route.

Pruning (:mod:`~interp.graphs.prune`) answers "what matters for the output as a whole";
a reader checking a known mechanism asks narrower questions about *one* target, usually
the correct answer's logit: how much of its input comes through which nodes, and what is
the single strongest route from the prompt's tokens to it. Both are read on the same
normalised graph as pruning: ``Â = |A|`` with every row scaled to sum to 1, so an edge
is the fraction of its target's total (absolute) input that the source supplies.

* :func:`influence_on`: each node's influence on the target, the sum over all paths of
  the products of those fractions (``e_t · (Â + Â² + ...)``), the single-target version
  of :func:`interp.graphs.prune.influence`;
* :func:`strongest_path`: the path whose product of fractions is largest, from an input
  node (a token embedding or an error node: the nodes nothing is attributed to) to the
  target. A longest-path search on a DAG, in products instead of sums.

In the local replacement, attention is frozen, so a path through attention is just an
edge: e.g. the route "token embedding at position j → (frozen layer-1 head reading j) →
logit" is one edge from that embedding to the logit, and what the head attends to is
fixed by the prompt, not part of the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from interp.graphs.attribute import Graph
from interp.graphs.prune import normalized


def logit_node(graph: Graph, token: int) -> int:
    """The node index of ``token``'s logit; a clear error when the graph did not attribute it."""
    ids = graph.logit_ids.tolist()
    if int(token) not in ids:
        raise ValueError(f"Token {int(token)} is not a logit node of this graph (it has {ids}); build the graph "
                         f"with AttributionConfig(target={int(token)}).")
    return graph.n_nodes - graph.n_logit + ids.index(int(token))


def _check(graph: Graph, target: int) -> None:
    if not 0 <= target < graph.n_nodes:
        raise IndexError(f"node {target} out of range: the graph has {graph.n_nodes} nodes.")
    if graph.kind(target) in ("error", "embedding"):
        raise ValueError(f"node {target} ({graph.label(target)}) is an input: nothing is attributed to it. "
                         "Pick a feature or logit node.")


def influence_on(graph: Graph, target: int) -> torch.Tensor:
    """Each node's total influence on node ``target`` [n_nodes] (1 for the target itself)."""
    _check(graph, target)
    a = normalized(graph.adjacency).double()
    total = torch.zeros(graph.n_nodes, dtype=torch.float64)
    total[target] = 1.0
    frontier = total.clone()
    for _ in range(graph.n_nodes):  # the graph has no cycles: the series ends after its depth (~2 * layers)
        frontier = frontier @ a
        if not bool(frontier.abs().sum() > 1e-15):
            break
        total += frontier
    return total.float()


@dataclass
class Path:
    """A route from an input node to a target: ``nodes`` (node indices, input first), ``labels`` and ``strength``.

    ``strength`` is the product of the normalised edge fractions along it, ``fractions`` those fractions.
    """

    nodes: list[int]
    labels: list[str]
    fractions: list[float]
    strength: float


def best_path_strengths(graph: Graph, target: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For every node, the strongest path's product of fractions to ``target`` and its next hop.

    Returns ``(strength [n_nodes], next [n_nodes])`` (``next`` is -1 where no path exists and at the target).
    Dynamic programming on the DAG: a node's best is the best over its successors of
    (edge fraction) x (successor's best); repeated until nothing changes (at most the depth).
    """
    _check(graph, target)
    a = normalized(graph.adjacency).double()  # [t, s]
    best = torch.zeros(graph.n_nodes, dtype=torch.float64)
    best[target] = 1.0
    nxt = torch.full((graph.n_nodes,), -1, dtype=torch.long)
    for _ in range(graph.n_nodes):
        via = a * best[:, None]  # [t, s]: fraction s -> t times t's best to the target
        cand, arg = via.max(0)  # [s]
        better = cand > best * (1 + 1e-12)
        better[target] = False
        if not bool(better.any()):
            break
        best = torch.where(better, cand, best)
        nxt = torch.where(better, arg, nxt)
    return best.float(), nxt


def strongest_path(graph: Graph, target: int, start: int | None = None) -> Path:
    """The strongest path into ``target``: from ``start`` if given, else from the best input node.

    Input nodes are token embeddings and error nodes (nothing is attributed to them); a path
    from a feature would always lose to that feature's single edge, so paths start at inputs.
    """
    best, nxt = best_path_strengths(graph, target)
    if start is None:
        inputs = torch.arange(graph.n_feat, graph.n_feat + graph.n_err + graph.n_pos)
        start = int(inputs[best[inputs].argmax()])
    if float(best[start]) <= 0:
        raise ValueError(f"No path from {graph.label(start)} to {graph.label(target)} in this graph.")
    a = normalized(graph.adjacency)
    nodes = [start]
    while nodes[-1] != target:
        nodes.append(int(nxt[nodes[-1]]))
    fractions = [float(a[t, s]) for s, t in zip(nodes, nodes[1:])]
    return Path(nodes, [graph.label(i) for i in nodes], fractions, float(best[start]))
