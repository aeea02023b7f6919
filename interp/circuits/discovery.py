"""Circuit discovery: choose the edges that matter, by ACDC pruning or by attribution scores.

* **ACDC** (Conmy et al. 2023, "Towards automated circuit discovery"): start from the
  full graph; visit downstream inputs from the logits backwards and, for each
  incoming edge, cut it tentatively; if the objective (KL(clean || circuit) by
  default, or the normalised distance of a task metric from its clean value) rises
  by less than ``threshold`` (τ) the cut stays, else the edge is restored. A node
  whose outgoing edges were all cut cannot influence the output, so its incoming
  edges are cut without testing (score 0). One forward pass per tested edge in
  effect; in fact the next few edges of a node are tried together, speculatively: trial
  ``m`` cuts the edges before it as well, as if they were all pruned; the first rejected
  edge invalidates the trials after it, which are tried again. Decisions and scores are
  those of one trial at a time (the number tried together grows while edges are pruned
  and shrinks on a rejection; one pass runs the layers before the node once for all).
* **Top-n** (Syed et al. 2023; Hanna et al. 2024): rank edges by |EAP| or |EAP-IG|
  score (:mod:`interp.circuits.attribution`) and keep the ``n`` largest.

Both return a :class:`Circuit`: the keep-mask, a score per edge and how faithful
the circuit is (:mod:`interp.circuits.faithfulness`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from interp.circuits.faithfulness import CircuitEval, top_k_mask, trials_per_pass
from interp.circuits.graph import EdgeGraph


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
    """keep-masks [k, n_src, n_dst] -> distance of each from the clean model (lower is better)."""
    if objective == "kl":
        return lambda keeps: ev.per_input_many(keeps, "kl").mean(1).tolist()
    scale = abs(ev.clean_value - ev.corrupt_value)

    def distance(keeps: torch.Tensor) -> list[float]:
        return [abs(v - ev.clean_value) / scale for v in ev.per_input_many(keeps, objective).mean(1).tolist()]

    return distance


def acdc(ev: CircuitEval, threshold: float, objective: str = "kl", progress: bool = True,
         per_pass: int = 0) -> Circuit:
    """ACDC greedy pruning of ``ev.graph`` at ``threshold`` (see the module docstring).

    ev: a prepared task (:meth:`CircuitEval.prepare`); its ablation decides what a cut
    edge carries. objective: ``kl`` or a metric name (``logit_diff``, ``logprob``, ``loss``).
    per_pass: most trials evaluated together (0 = automatic, 1 = one at a time).
    """
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}.")
    g = ev.graph
    f = _objective(ev, objective)
    keep = g.valid.clone()
    scores = torch.zeros(g.valid.shape)
    current = f(keep[None])[0]
    spec = 1  # trials per pass now
    bar = tqdm(total=g.n_edges, desc=f"ACDC tau={threshold:g}", disable=not progress)
    for j in reversed(range(len(g.dst))):
        node = g.dst[j].node
        src_idx = g.src.index(node) if node.type != "output" else None
        todo = list(reversed(range(g.n_upstream(j))))
        most = per_pass or trials_per_pass(ev, node.layer)  # the trials share the layers before node's
        if src_idx is not None and not bool(keep[src_idx].any()):  # the node no longer reaches the output:
            keep[todo, j] = False  # its inputs cannot matter
            bar.update(len(todo))
            continue
        while todo:
            trials = keep[None].repeat(min(spec, most, len(todo)), 1, 1)  # trial m also cuts the m edges before it
            for m, i in enumerate(todo[: len(trials)]):
                trials[m:, i, j] = False
            tried = 0
            for i, trial in zip(list(todo), f(trials)):
                tried += 1
                todo.pop(0)
                scores[i, j] = trial - current
                if trial - current < threshold:
                    current = trial
                    keep[i, j] = False
                else:
                    break  # the later trials assumed this edge cut: try them again
            bar.update(tried)
            spec = min(most, 2 * spec) if tried == len(trials) and scores[i, j] < threshold else max(1, spec // 2)
    bar.close()
    return Circuit("acdc", g, keep, scores, threshold=threshold)
