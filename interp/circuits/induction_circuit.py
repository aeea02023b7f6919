"""The induction known answer, end to end: heads, ablations, patching, circuit discovery.

``toy:induction`` (2-layer attention-only) copies with the two-head induction
circuit (Olsson et al. 2022): a previous-token head in layer 0 writes "the token
before me" into each position, and induction heads in layer 1 find, through their
*keys* (K-composition), the position after an earlier copy of the current token and
copy its token through their *values*. This module checks every circuits method
against that answer and writes the runs:

1. head scores name the previous-token head (layer 0) and the induction heads (layer 1);
2. ablating the induction heads removes the in-context loss drop (repeat-half loss
   back to the first-half loss);
3. activation patching sweeps (denoising and noising);
4. EAP, EAP-IG and ACDC circuits with faithfulness curves and an adversarial
   evaluation, and whether each circuit contains the previous-token head ->
   induction head key edge.

:func:`induction_circuit` computes all of it; :func:`interp.circuits.pipeline.run_induction_circuit`
loads the model, writes the ``patching`` and ``circuit`` runs and is what the CLI
(``interp circuits induction``), ``experiments/circuit_induction.py`` (full size), the
demo and the tests (small) call.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from interp.circuits.ablation import Ablation, head_ablation_hooks
from interp.circuits.adversarial import adversarial_eval
from interp.circuits.attribution import edge_patching, task_attribution
from interp.circuits.discovery import Circuit, acdc, top_n_circuit
from interp.circuits.faithfulness import CircuitEval, faithfulness_curve
from interp.circuits.graph import EdgeGraph
from interp.circuits.head_scores import induction_score, previous_token_score
from interp.circuits.metrics import induction_task
from interp.circuits.patching import PatchingResult, patching_sweep
from interp.circuits.writers import CircuitResult
from interp.datasets.synthetic import half_losses, induction_eval_batch
from interp.hooks.hooked import cache_hooks, forward

CORRUPTION = "first copy resampled (symmetric token replacement)"  # what induction_task's corrupt prompts are


@dataclass
class InductionCircuitConfig:
    model: str = "toy:induction"
    n_prompts: int = 32  # discovery / attribution inputs
    n_adversarial: int = 128  # fresh inputs for the adversarial evaluation
    segment_len: int | None = None  # default: the checkpoint's eval_segment
    seed: int = 1
    metric: str = "logit_diff"
    ablation: str = "corrupt"  # what a cut edge carries: corrupt | mean | zero
    ig_steps: int = 10
    # ACDC threshold on KL(clean || circuit). On the shipped toy:induction 0.08 keeps the 10-edge
    # circuit (of 257) with ~0.97 of the logit diff, for every prompt seed tried.
    acdc_threshold: float = 0.08
    methods: tuple[str, ...] = ("eap", "eap-ig", "acdc")
    patching: tuple[str, ...] = ("denoising", "noising")  # directions of the patching sweeps written
    budget_fraction: float = 0.05  # "<= 5 % of edges" checkpoint reported on each curve
    compare_rankings: bool = True  # also rank by exact edge patching and EAP-IG's inputs path (AUCs only)


@dataclass
class InductionCircuitResult:
    """What :func:`induction_circuit` found: the numbers, and what the ``patching`` / ``circuit`` runs record."""

    summary: dict[str, Any]  # heads, losses, endpoint values, per-method circuit summaries, ranking AUCs
    task: str  # the discovery task, e.g. "induction_task(n=32, segment=20, seed=1)"
    patching: dict[str, PatchingResult] = field(default_factory=dict)  # direction -> sweeps
    circuits: dict[str, CircuitResult] = field(default_factory=dict)  # method -> circuit


def head_output_norms(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """Mean norm of each head's write to the residual stream, ``|z_h W_O[h]|``, ``[layer, head]``."""
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)]
    z = cache_hooks(model, tokens, names)  # name -> [batch, pos, head, d_head]
    W_O = model.W_O  # [layer, head, d_head, d_model]
    return torch.stack([torch.einsum("bphd,hdm->bphm", z[n].float(), W_O[i].float().to(z[n].device)).norm(dim=-1)
                        .mean((0, 1)).cpu() for i, n in enumerate(names)])


def find_heads(model: Any, tokens: torch.Tensor, segment_len: int, active: float = 0.1) -> dict[str, Any]:
    """Previous-token head (layer 0) and induction heads (last layer, score >= 0.5) from head scores.

    Attention patterns alone can mislead: a head may attend like an induction head yet
    write almost nothing (the shipped toy:induction was trained with a head-sparsity
    penalty, so most of its heads are silent). Heads whose mean output norm is below
    ``active`` x the largest in their layer are listed as ``silent_heads`` and are not
    counted as the previous-token / induction heads.
    """
    prev = previous_token_score(model, tokens)  # [layer, head]
    ind = induction_score(model, tokens, segment_len)
    norms = head_output_norms(model, tokens)  # [layer, head]
    live = norms >= active * norms.max(dim=1, keepdim=True).values
    last = model.cfg.n_layers - 1
    induction_heads = [(last, h) for h in range(model.cfg.n_heads) if ind[last, h] >= 0.5 and live[last, h]]
    silent = [(layer, h) for layer in range(model.cfg.n_layers) for h in range(model.cfg.n_heads) if not live[layer, h]]

    def best_live(scores: torch.Tensor, layer: int) -> int:
        return int(torch.where(live[layer], scores[layer], scores.new_tensor(-1.0)).argmax())

    return {"prev_token_head": (0, best_live(prev, 0)), "induction_head": (last, best_live(ind, last)),
            "induction_heads": induction_heads, "silent_heads": silent, "prev_scores": prev,
            "induction_scores": ind, "output_norms": norms}


def ablation_losses(model: Any, heads: list[tuple[int, int]], kind: str, segment_len: int, seed: int,
                    n: int = 64) -> tuple[float, float]:
    """(first-half loss, repeat-half loss) on repeated sequences with ``heads`` ablated (``kind``)."""
    vocab = model.cfg.d_vocab
    tokens, first, second = induction_eval_batch(n, segment_len, vocab, torch.Generator().manual_seed(seed))
    other, _, _ = induction_eval_batch(n, segment_len, vocab, torch.Generator().manual_seed(seed + 1000))
    ablation = Ablation(kind, reference=other if kind == "mean" else None,
                        corrupt=other if kind == "resample" else None)
    hooks = head_ablation_hooks(model, heads, ablation) if heads else []
    logits = forward(model, tokens, fwd_hooks=hooks).logits  # [n, pos, vocab]
    return half_losses(logits, tokens.to(logits.device), first, second)


def _edges_for(curve: dict[str, Any], target: float) -> int | None:
    """Fewest edges on the curve whose metric recovered reaches ``target``."""
    for k, r in zip(curve["edges_kept"], curve["metric_recovered"]):
        if r >= target:
            return k
    return None


def _value_at(curve: dict[str, Any], max_edges: int) -> float:
    """Best metric recovered with at most ``max_edges`` edges (curve points)."""
    return max(r for k, r in zip(curve["edges_kept"], curve["metric_recovered"]) if k <= max_edges)


def path_edges(
    graph: EdgeGraph, circuit: Circuit, prev: tuple[int, int], induction: list[tuple[int, int]]
) -> list[str]:
    """The previous-token head -> induction head *key* edges that the circuit kept."""
    i = graph.src.index(next(n for n in graph.src if n.type == "head" and (n.layer, n.head) == prev))
    kept = []
    for layer, h in induction:
        j = graph.attn_slots(layer, "k")[h]
        if circuit.keep[i, j]:
            kept.append(graph.edge_name(i, j))
    return kept


def induction_circuit(model: Any, cfg: InductionCircuitConfig, progress: bool = True) -> InductionCircuitResult:
    """Everything in the module docstring, on a loaded ``toy:induction``-like model; writes nothing."""
    seg = cfg.segment_len or int(model.toy_config.extra["eval_segment"])
    vocab = model.cfg.d_vocab
    task = induction_task(cfg.n_prompts, seg, vocab, seed=cfg.seed)
    heads = find_heads(model, task.clean, seg)
    prev, ih, ihs = heads["prev_token_head"], heads["induction_head"], heads["induction_heads"]
    out: dict[str, Any] = {"config": asdict(cfg),
                           "prev_token_head": f"L{prev[0]}H{prev[1]}", "induction_head": f"L{ih[0]}H{ih[1]}",
                           "induction_heads": [f"L{l}H{h}" for l, h in ihs],
                           "silent_heads": [f"L{l}H{h}" for l, h in heads["silent_heads"]]}
    result = InductionCircuitResult(out, f"induction_task(n={cfg.n_prompts}, segment={seg}, seed={cfg.seed})")
    # Ablations: the in-context loss drop with and without the induction heads.
    first, repeat = ablation_losses(model, [], "zero", seg, cfg.seed)
    out["losses"] = {"clean": {"first_half": first, "repeat": repeat}}
    for label, hs in (("top_induction_head", [ih]), ("induction_heads", ihs), ("prev_token_head", [prev])):
        for kind in ("zero", "mean", "resample"):
            f, r = ablation_losses(model, hs, kind, seg, cfg.seed)
            out["losses"][f"{label}/{kind}"] = {"first_half": f, "repeat": r}
    # Activation patching.
    for direction in cfg.patching:
        res = result.patching[direction] = patching_sweep(model, task, cfg.metric, direction, progress=progress)
        out[f"patching_{direction}_heads"] = res.sweeps["heads"].tolist()
    # Circuits.
    graph = EdgeGraph.from_model(model)
    ev = CircuitEval.prepare(model, graph, task, cfg.metric, cfg.ablation)
    adv_task = induction_task(cfg.n_adversarial, seg, vocab, seed=cfg.seed + 7)
    adv_ev = CircuitEval.prepare(model, graph, adv_task, cfg.metric, cfg.ablation)
    budget = max(1, int(cfg.budget_fraction * graph.n_edges))
    out.update({"edges_total": graph.n_edges, "budget_edges": budget, "clean_value": ev.clean_value,
                "corrupt_value": ev.corrupt_value, "circuits": {}})
    all_ks = list(range(graph.n_edges + 1))
    # How faithful is each edge ranking? Exact edge patching is the reference EAP approximates.
    rankings = {} if not cfg.compare_rankings else {
        "edge patching (exact)": edge_patching(ev, progress=progress),
        "eap-ig (inputs path)": task_attribution(model, graph, task, cfg.metric, "eap-ig", steps=cfg.ig_steps,
                                                 path="inputs", ablation=cfg.ablation, progress=progress)}
    out["ranking_auc"] = {name: faithfulness_curve(ev, s.abs(), all_ks)["auc"] for name, s in rankings.items()}
    for method in cfg.methods:
        if method == "acdc":
            circuit = acdc(ev, cfg.acdc_threshold, "kl", progress=progress)
        else:
            scores = task_attribution(model, graph, task, cfg.metric, method, steps=cfg.ig_steps,
                                      ablation=cfg.ablation, progress=progress)
            curve0 = faithfulness_curve(ev, scores.abs(), all_ks)
            out["ranking_auc"][method + (" (edges path)" if method == "eap-ig" else "")] = curve0["auc"]
            n90 = _edges_for(curve0, 0.9)
            circuit = top_n_circuit(graph, scores, n90 if n90 is not None else graph.n_edges, method)
        curve = faithfulness_curve(ev, circuit.ranking(), all_ks)
        recovered = ev.recovered(circuit.keep)
        adv = adversarial_eval(adv_ev, circuit.keep)
        path = path_edges(graph, circuit, prev, ihs)
        summary = {"edges_kept": circuit.edges_kept, "fraction_kept": circuit.edges_kept / graph.n_edges,
                   "metric_recovered": recovered, "faithfulness_auc": curve["auc"],
                   "edges_for_90pct": _edges_for(curve, 0.9), "recovered_at_budget": _value_at(curve, budget),
                   "prev_to_induction_key_edges": path, "adversarial_percentiles": adv["percentiles"],
                   "adversarial_recovered_mean": float(torch.tensor(adv["recovered"]).mean()),
                   "kept": circuit.kept_edges(), "nodes": circuit.nodes()}
        out["circuits"][method] = summary
        # The run's metrics: the known-answer checks, and the ranking AUCs measured so far.
        metrics = {"edges_for_90pct": summary["edges_for_90pct"],
                   "recovered_at_5pct_edges": summary["recovered_at_budget"],
                   "prev_to_induction_key_edges": len(path),
                   "prev_token_head": out["prev_token_head"], "induction_head": out["induction_head"],
                   **{"ranking_auc_" + re.sub(r"\W+", "_", name).strip("_"): auc
                      for name, auc in out["ranking_auc"].items()}}
        result.circuits[method] = CircuitResult(circuit, curve, cfg.metric, cfg.ablation, recovered, adv, metrics)
    return result
