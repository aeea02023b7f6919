"""Faithfulness: how much of the model's behaviour a circuit (a set of kept edges) reproduces.

A circuit is evaluated by running the model with every edge *outside* it cut
(its source replaced by the corrupted / mean / zero activation, see
:mod:`interp.circuits.graph`) and reading the task metric, normalised so 1 = the
full model on clean inputs and 0 = the model on corrupted inputs (Wang et al.
2022; Conmy et al. 2023). The *faithfulness curve* does this for the top-k edges of
a ranking over a grid of k, and its area under the curve (against the fraction of
edges kept) summarises a ranking in one number (Hanna et al. 2024).

Speed. Evaluating circuits is the inner loop of ACDC, exact edge patching and the
curves, so :meth:`CircuitEval.per_input_many` evaluates ``k`` keep-masks in one
forward pass (:class:`TrialRun`), repeating the batch once per mask at the first layer
where the masks differ (for single-edge trials, the layer of the edge's downstream
node). Layers before the first cut edge compute what the uncut run computed, so that
state is recorded once and swapped into a one-row pass there: exact edge patching and
ACDC (which prunes from the logits backwards) never recompute the layers before the
edge they try. Runs stop after the last metric position and compute logits only where
the metric reads them (:class:`~interp.circuits.patching.ReadOut`). Each mask's value
equals that of its own :class:`~interp.circuits.graph.EdgeRun` (tested to 1e-5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from interp.circuits.graph import EdgeGraph, EdgeRun, patch_values
from interp.circuits.metrics import Task, metric_per_input, normalise
from interp.circuits.patching import ReadOut, fan_out
from interp.hooks.hooked import forward

TRIALS_PER_PASS = 64  # rows (masks x inputs) per forward pass when evaluating many masks


Snapshot = tuple[list, dict, dict, torch.Tensor]  # (node outputs, residuals, hook_z, the activation) at a point


class TrialRun(EdgeRun):
    """``k`` edge-cut sets (``cuts`` [k, n_src, n_dst] bool) in one forward pass, no gradients.

    The pass splits at layer ``split`` (``n_layers`` = the logits' input): slots before it
    get the cuts all sets share, on the plain batch; there every activation is repeated
    ``k`` times and copy ``c`` gets the cuts of set ``c``. ``mode``:

    * ``"fan"``: split at the first layer where the sets differ;
    * ``"start"``: split at the first layer where any set cuts an edge (or they differ),
      where the state of the uncut run (``starts``, recorded by a ``record=True`` run) is
      swapped in: the caller runs a single row, and the layers before are not recomputed;
    * ``"repeat"``: the caller repeated the tokens ``k`` times (models that refuse the others).
    """

    def __init__(self, model: Any, graph: EdgeGraph, patch: torch.Tensor, cuts: torch.Tensor, ro: ReadOut,
                 mode: str = "fan", starts: dict[int, Snapshot] | None = None, record: bool = False,
                 split: int | None = None) -> None:
        super().__init__(model, graph, patch)
        self.cuts = (cuts & graph.valid).float()  # [k, n_src, n_dst]
        self.k, self.batch, self.ro, self.starts, self.record = cuts.shape[0], patch.shape[0], ro, starts, record
        layers = torch.tensor([slot.node.layer for slot in graph.dst])  # [n_dst]
        differ = (self.cuts != self.cuts[:1]).flatten(0, 1).any(0)  # [n_dst]
        first = lambda m: int(layers[m].min()) if m.any() else graph.n_layers  # noqa: E731
        if mode == "start":
            self.split = first(differ | self.cuts.flatten(0, 1).any(0)) if split is None else split
        else:
            self.starts = None
            self.split = first(differ) if mode == "fan" and self.k > 1 else None
        self.fanned = self.k > 1 and mode == "repeat"
        self.z: dict[int, torch.Tensor] = {}  # layer -> hook_z activations [rows, pos, head, d_head]
        self.snapshots: dict[int, Snapshot] = {}
        self._deltas: dict[tuple, tuple] = {}  # (n_up, fanned) -> (delta of the group, slot -> column)
        self._groups: dict[int, list[int]] = {}  # n_up -> the downstream inputs with that many upstream nodes
        for j in range(len(graph.dst)):
            self._groups.setdefault(graph.n_upstream(j), []).append(j)

    def _snapshot(self, point: int, act: torch.Tensor) -> None:
        self.snapshots[point] = (list(self.cur), dict(self.resid), dict(self.z), act)

    def _split_here(self, point: int, act: torch.Tensor) -> torch.Tensor:
        """Swap in the uncut run's state (``start`` mode), then repeat everything ``k`` times."""
        if self.starts is not None:
            cur, resid, z, act = self.starts[point]
            self.cur, self.resid, self.z = list(cur), dict(resid), dict(z)
        self.cur = [None if a is None else fan_out(a, self.k, self.batch) for a in self.cur]
        self.resid = {key: fan_out(v, self.k, self.batch) for key, v in self.resid.items()}
        self.z = {layer: fan_out(v, self.k, self.batch) for layer, v in self.z.items()}
        self.fanned = True
        out = fan_out(act, self.k, self.batch)
        return out.clone() if out is act else out  # the model must never write into a recorded state

    def _z(self, layer: int) -> Callable:
        def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:  # act: [batch, pos, head, d_head]
            self.z[layer] = act  # a head's output is computed only if one of its edges is cut (_node)
            self.cur.extend([None] * self.g.n_heads)
            return act

        return fn

    def _node(self, n: int) -> torch.Tensor:
        """Upstream node ``n``'s output in this run: [rows, pos, d_model]."""
        if self.cur[n] is None:
            node = self.g.src[n]
            z = self.z[node.layer][:, :, node.head]  # [rows, pos, d_head]
            self.cur[n] = z @ self.W_O[node.layer, node.head].to(z)
        return self.cur[n]

    def _delta(self, n_up: int, slots: list[int]) -> torch.Tensor | None:
        """As :meth:`EdgeRun._delta`, per copy once fanned out, over the nodes cut somewhere only.

        The inputs that read the same upstream nodes (a layer's q, k and v) are computed together
        on the first call and sliced on the others."""
        cuts = self.cuts if self.fanned else self.cuts[:1]  # [copies, n_src, n_dst]
        if not bool(cuts[:, :n_up, slots].any()):
            return None
        key = (n_up, self.fanned)
        if key not in self._deltas:
            group = self._groups[n_up]
            a = cuts[:, :n_up, group]  # [copies, n_up, len(group)]
            used = a.any(2).any(0).nonzero().flatten().tolist()
            cur = torch.stack([self._node(n) for n in used], dim=2)  # [rows, pos, used, d_model]
            cur = cur.reshape(a.shape[0], -1, *cur.shape[1:])
            diff = self.patch[None, :, :, used].to(cur) - cur  # [copies, batch, pos, used, d_model]
            delta = torch.einsum("cbsnd,cnj->cbsjd", diff, a[:, used].to(cur)).flatten(0, 1)
            self._deltas[key] = (delta, {j: i for i, j in enumerate(group)})  # [rows, pos, len(group), d_model]
        delta, where = self._deltas[key]
        idx = [where[j] for j in slots]
        return delta[:, :, idx[0] : idx[-1] + 1] if idx == list(range(idx[0], idx[-1] + 1)) else delta[:, :, idx]

    def _resid_pre(self, layer: int) -> Callable:
        inner = super()._resid_pre(layer)
        if layer != self.split and not self.record:
            return inner

        def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:
            if self.starts is None:
                act = inner(act, hook)
            if self.record:
                self._snapshot(layer, act)
                return act
            act = self._split_here(layer, act)
            self.resid[layer] = act
            if layer == 0:
                self.cur[0] = act
            return act

        return fn

    def _add_delta(self, j: int, n_up: int) -> Callable:
        inner = super()._add_delta(j, n_up)
        if j != len(self.g.dst) - 1:
            return inner

        def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:  # the logits' input
            if self.record:
                self._snapshot(self.g.n_layers, act)
            elif self.split == self.g.n_layers:
                act = self._split_here(self.g.n_layers, act)
            out = inner(act, hook)
            return out if self.ro.cols is None else out[:, self.ro.cols.to(out.device)]

        return fn


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
    _mode: str = field(default="", init=False, repr=False)  # how trials share a pass (TrialRun); "" = not chosen
    _starts: dict = field(default_factory=dict, init=False, repr=False)  # the uncut run's state per layer

    @classmethod
    def prepare(cls, model: Any, graph: EdgeGraph, task: Task, metric: str = "logit_diff",
                ablation: str = "corrupt") -> "CircuitEval":
        clean_logits, corrupt_logits = forward(model, task.clean).logits, forward(model, task.corrupt).logits
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
        return self.per_input_many(keep[None], metric)[0]

    def per_input_many(self, keeps: torch.Tensor, metric: str | None = None) -> torch.Tensor:
        """The raw metric per input of ``k`` circuits (``keeps`` [k, n_src, n_dst] bool): [k, batch].

        One forward pass for all of them (see the module docstring); each row equals
        :meth:`per_input` of that mask alone.
        """
        for keep in keeps:
            self.graph.check(keep, "keep")
        ro = ReadOut.of(self.model, self.task)
        cuts = self.graph.valid[None] & ~keeps.bool()
        patch, tokens = self.patch[:, : ro.n_pos], ro.tokens(self.task.clean)
        with torch.no_grad():
            if not self._mode:
                self._mode = self._choose_mode(ro, patch, tokens)
            while True:
                run = TrialRun(self.model, self.graph, patch, cuts, ro, self._mode, self._starts)
                rows = {"start": tokens[:1], "fan": tokens, "repeat": tokens.repeat(len(keeps), 1)}[self._mode]
                try:
                    logits = run(rows)
                    break
                except RuntimeError:
                    if self._mode == "repeat":
                        raise
                    self._mode = {"start": "fan", "fan": "repeat"}[self._mode]  # the model keeps per-batch state
        return ro.values(metric or self.metric, logits, ro.logits(self.clean_logits), len(keeps))

    def _choose_mode(self, ro: ReadOut, patch: torch.Tensor, tokens: torch.Tensor) -> str:
        """``start`` if a one-row pass with the uncut run's state swapped in at the last block reproduces
        the uncut run (recording that state on the way), else ``fan``."""
        none = torch.zeros(1, *self.graph.valid.shape, dtype=torch.bool)
        rec = TrialRun(self.model, self.graph, patch, none, ro, record=True)
        want = rec(tokens)
        try:
            got = TrialRun(self.model, self.graph, patch, none, ro, "start", rec.snapshots,
                           split=self.graph.n_layers - 1)(tokens[:1])
        except RuntimeError:
            return "fan"
        if got.shape != want.shape or not torch.allclose(got, want, atol=1e-4, rtol=1e-4):
            return "fan"
        self._starts = rec.snapshots
        return "start"

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
    masks = torch.stack([top_k_mask(ev.graph, ranking, k) for k in ks])  # [len(ks), n_src, n_dst]
    recovered = recovered_many(ev, masks)
    fractions = [k / n for k in ks]
    return {"ablation": ev.ablation, "metric": ev.metric, "edges_kept": ks, "fraction_kept": fractions,
            "metric_recovered": recovered, "auc": auc(fractions, recovered)}


def trials_per_pass(ev: CircuitEval, layer: int = 0) -> int:
    """Automatic masks per pass: about ``TRIALS_PER_PASS`` rows through the whole model. Masks that
    differ only from ``layer`` on (``n_layers`` = the logits) share the layers before it, so more fit."""
    n = ev.graph.n_layers
    return max(1, TRIALS_PER_PASS * (n + 1) // (len(ev.task) * (n + 1 - layer)))


def recovered_many(ev: CircuitEval, keeps: torch.Tensor, per_pass: int = 0) -> list[float]:
    """:meth:`CircuitEval.recovered` of each mask in ``keeps`` [n, n_src, n_dst], a few masks per forward pass."""
    k = per_pass or trials_per_pass(ev)
    values = torch.cat([ev.per_input_many(keeps[i : i + k]).mean(1) for i in range(0, len(keeps), k)])
    return [float(normalise(v, ev.clean_value, ev.corrupt_value)) for v in values.tolist()]


def auc(x: Sequence[float], y: Sequence[float]) -> float:
    """Trapezoid area under y(x) (x ascending)."""
    return float(sum((x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2 for i in range(len(x) - 1)))
