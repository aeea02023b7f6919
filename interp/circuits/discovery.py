"""Circuit discovery: choose the edges that matter, by ACDC pruning or by attribution scores.

* **ACDC** (Conmy et al. 2023, "Towards automated circuit discovery"): start from the
  full graph; visit downstream inputs from the logits backwards and, for each
  incoming edge, cut it tentatively; if the objective (KL(clean || circuit) by
  default, or the normalised distance of a task metric from its clean value) rises
  by less than ``threshold`` (τ) the cut stays, else the edge is restored. A node
  whose outgoing edges were all cut cannot influence the output, so its incoming
  edges are cut without testing (score 0). One forward pass per tested edge.
* **Top-n** (Syed et al. 2023; Hanna et al. 2024): rank edges by |EAP| or |EAP-IG|
  score (:mod:`interp.circuits.attribution`) and keep the ``n`` largest.

Both return a :class:`Circuit`: the keep-mask, a score per edge and how faithful
the circuit is (:mod:`interp.circuits.faithfulness`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from interp.circuits.faithfulness import CircuitEval, top_k_mask
from interp.circuits.graph import EdgeGraph
from interp.circuits.metrics import metric_per_input


@dataclass
class Circuit:
    method: str  # "acdc" | "eap" | "eap-ig"
    graph: EdgeGraph
    keep: torch.Tensor  # [n_src, n_dst] bool
    scores: torch.Tensor  # [n_src, n_dst]: ACDC objective increase when cut / attribution score
    threshold: float | None = None
    top_n: int | None = None

    @property
    def edges_kept(self) -> int:
        return int((self.keep & self.graph.valid).sum())

    def ranking(self) -> torch.Tensor:
        """Edge order for faithfulness curves: kept edges first, each group by |score|."""
        return self.scores.abs() + self.keep.float() * (self.scores.abs().max() + 1.0)

    def kept_edges(self) -> list[str]:
        return [self.graph.edge_name(i, j) for i, j in self.keep.nonzero().tolist()]

    def nodes(self) -> list[str]:
        """Names of the nodes that some kept edge touches (upstream order, logits last)."""
        used = {self.graph.src[i].name for i, _ in self.keep.nonzero().tolist()}
        used |= {self.graph.dst[j].node.name for _, j in self.keep.nonzero().tolist()}
        return [n["name"] for n in self.graph.node_dicts() if n["name"] in used]


def top_n_circuit(graph: EdgeGraph, scores: torch.Tensor, n: int, method: str) -> Circuit:
    """The ``n`` edges with the largest |score|."""
    if not 0 <= n <= graph.n_edges:
        raise ValueError(f"top_n={n} must be between 0 and the number of edges ({graph.n_edges}).")
    return Circuit(method, graph, top_k_mask(graph, scores.abs(), n), scores, top_n=n)


def _objective(ev: CircuitEval, objective: str):
    """keep-mask -> distance from the clean model (lower is better)."""
    if objective == "kl":
        return lambda keep: ev.per_input(keep, "kl").mean().item()
    scale = abs(ev.clean_value - ev.corrupt_value)

    def distance(keep: torch.Tensor) -> float:
        value = metric_per_input(objective, ev.logits(keep), ev.task, ev.clean_logits).mean().item()
        return abs(value - ev.clean_value) / scale

    return distance


def acdc(ev: CircuitEval, threshold: float, objective: str = "kl", progress: bool = True) -> Circuit:
    """ACDC greedy pruning of ``ev.graph`` at ``threshold`` (see the module docstring).

    ev: a prepared task (:meth:`CircuitEval.prepare`); its ablation decides what a cut
    edge carries. objective: ``kl`` or a metric name (``logit_diff``, ``logprob``, ``loss``).
    """
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}.")
    g = ev.graph
    f = _objective(ev, objective)
    keep = g.valid.clone()
    scores = torch.zeros(g.valid.shape)
    current = f(keep)
    bar = tqdm(total=g.n_edges, desc=f"ACDC tau={threshold:g}", disable=not progress)
    for j in reversed(range(len(g.dst))):
        node = g.dst[j].node
        src_idx = g.src.index(node) if node.type != "output" else None
        dead = src_idx is not None and not bool(keep[src_idx].any())
        for i in reversed(range(g.n_upstream(j))):
            bar.update(1)
            if dead:  # the node no longer reaches the output: its inputs cannot matter
                keep[i, j] = False
                continue
            keep[i, j] = False
            trial = f(keep)
            scores[i, j] = trial - current
            if trial - current < threshold:
                current = trial
            else:
                keep[i, j] = True
    bar.close()
    return Circuit("acdc", g, keep, scores, threshold=threshold)
