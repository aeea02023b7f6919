"""Circuit recovery: how well EAP, EAP-IG and ACDC find the known circuit of a compiled model.

On a compiled model (:mod:`interp.models.compiled`) the circuit is known edge by edge,
so circuit discovery can be scored as a classifier of edges (Conmy et al. 2023, §4.2):

* **edge ROC-AUC**: for attribution methods, sweep a threshold over ``|score|`` (every
  distinct value; ties move TPR and FPR together, the trapezoid through them), with
  scores below ``rel_tol`` x the largest counted as 0 (see :class:`RecoveryConfig`);
  for ACDC, run it at a sweep of thresholds ``tau`` and take the ROC curve through the
  (FPR, TPR) of each circuit plus (0, 0) and (1, 1) (ACDC's protocol);
* **precision / recall at the chosen threshold**: ACDC at ``acdc_threshold``; EAP and
  EAP-IG at the fewest top edges recovering 90 % of the metric (the rule of
  :mod:`interp.circuits.induction_circuit`);
* a **random ranking** baseline (AUC over ``n_random`` seeded random scorings: mean
  and standard deviation; its expected value is 0.5).

Zero ablation sees every edge of the program. Resample ablation cannot see an edge
that carries the same value on clean and corrupt inputs (position-only queries and
keys of a previous-token head, BOS's value in the histogram head): such an edge has
no effect to find, and the scores say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from interp.circuits.attribution import task_attribution
from interp.circuits.compiled_task import compiled_task, program_of, truth_mask
from interp.circuits.discovery import acdc
from interp.circuits.faithfulness import CircuitEval, faithfulness_curve, top_k_mask
from interp.circuits.graph import EdgeGraph

ACDC_SWEEP = (0.0, 1e-6, 1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1e3)


def roc_curve(scores: torch.Tensor, truth: torch.Tensor) -> tuple[list[float], list[float]]:
    """(FPR, TPR) points from (0, 0) to (1, 1) as the threshold on ``scores`` [n] sweeps down over ``truth`` [n] bool.

    Tied scores enter together (one point per distinct score), so the area is the
    Mann-Whitney probability with ties counted one half.
    """
    truth = truth.bool().flatten()
    scores = scores.float().flatten()
    n_pos, n_neg = int(truth.sum()), int((~truth).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"ROC needs both true and false edges (got {n_pos} true, {n_neg} false).")
    fpr, tpr = [0.0], [0.0]
    for value in torch.unique(scores).flip(0).tolist():
        kept = scores >= value
        tpr.append(int((kept & truth).sum()) / n_pos)
        fpr.append(int((kept & ~truth).sum()) / n_neg)
    return fpr, tpr


def curve_auc(fpr: list[float], tpr: list[float]) -> float:
    """Trapezoid area under a ROC curve given as points (sorted by FPR, then TPR; (0,0) and (1,1) added)."""
    pts = sorted({(0.0, 0.0), (1.0, 1.0), *zip(fpr, tpr)})
    return float(sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(pts, pts[1:])))


def roc_auc(scores: torch.Tensor, truth: torch.Tensor) -> float:
    """Area under :func:`roc_curve`: 1 = every true edge scored above every false one, 0.5 = chance."""
    return curve_auc(*roc_curve(scores, truth))


def precision_recall(keep: torch.Tensor, truth: torch.Tensor) -> tuple[float, float]:
    """(precision, recall) of the kept edges ``keep`` against ``truth`` (both bool, same shape)."""
    keep, truth = keep.bool(), truth.bool()
    tp = int((keep & truth).sum())
    return (tp / int(keep.sum()) if keep.any() else 1.0), tp / max(1, int(truth.sum()))


@dataclass
class RecoveryConfig:
    models: tuple[str, ...] = ("toy:compiled-induction", "toy:compiled-histogram", "toy:compiled-sum_prev")
    n_prompts: int = 32
    seed: int = 0
    metric: str = "logit_diff"  # EAP / EAP-IG metric; ACDC uses KL(clean || circuit)
    ablations: tuple[str, ...] = ("zero", "corrupt")
    methods: tuple[str, ...] = ("eap", "eap-ig", "acdc")
    ig_steps: int = 10
    acdc_threshold: float = 0.1  # the "chosen" tau of the precision / recall columns
    acdc_sweep: tuple[float, ...] = ACDC_SWEEP
    n_random: int = 200  # random rankings averaged for the baseline
    # Attribution scores below rel_tol x the largest |score| count as 0 (tied with the edges that carry nothing).
    # Off-circuit edges score exactly 0 here by construction, so without it a true edge scored 1e-13 (float noise
    # through a saturated softmax) would rank above them and look found. ``auc_raw`` reports the AUC without it.
    rel_tol: float = 1e-6


@dataclass
class RecoveryResult:
    """One row per (model, ablation, method) plus per-model ground truth and edge scores."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    truth: dict[str, dict[str, Any]] = field(default_factory=dict)  # spec -> {"edges", "n_edges", "recovered", ...}
    graphs: dict[str, dict[str, Any]] = field(default_factory=dict)  # "spec|ablation|method" -> graph.json-like dict


def _graph_dict(graph: EdgeGraph, scores: torch.Tensor, keep: torch.Tensor, truth: torch.Tensor) -> dict[str, Any]:
    edges = graph.edge_dicts(scores, keep)
    for e, (i, j) in zip(edges, graph.edges()):
        e["true"] = bool(truth[i, j])
    return {"nodes": graph.node_dicts(), "edges": edges}


def random_baseline(truth: torch.Tensor, valid: torch.Tensor, n: int, seed: int) -> dict[str, float]:
    """ROC-AUC of ``n`` random edge scorings: mean, std (and precision at |truth| edges, mean)."""
    gen = torch.Generator().manual_seed(seed)
    t = truth[valid]
    aucs, precs = [], []
    for _ in range(n):
        s = torch.rand(t.shape, generator=gen)
        aucs.append(roc_auc(s, t))
        precs.append(float(t[s.topk(int(t.sum())).indices].float().mean()))
    a = torch.tensor(aucs)
    return {"auc": float(a.mean()), "auc_std": float(a.std()), "precision": float(torch.tensor(precs).mean())}


def model_recovery(model: Any, spec: str, cfg: RecoveryConfig, progress: bool = True) -> RecoveryResult:
    """Every method x ablation of ``cfg`` on one compiled model, scored against its ground truth."""
    prog = program_of(model)
    graph = EdgeGraph.from_model(model)
    truth = truth_mask(graph, prog.edges)
    valid = graph.valid
    task = compiled_task(model, cfg.n_prompts, cfg.seed)
    res = RecoveryResult()
    rand = random_baseline(truth, valid, cfg.n_random, cfg.seed)
    res.truth[spec] = {"program": prog.name, "description": prog.description, "edges": list(prog.edges),
                       "n_true": int(truth.sum()), "n_edges": graph.n_edges, "random": rand}
    all_ks = list(range(graph.n_edges + 1))
    for ablation in cfg.ablations:
        ev = CircuitEval.prepare(model, graph, task, cfg.metric, ablation)
        res.truth[spec][f"truth_recovered_{ablation}"] = ev.recovered(truth)
        for method in cfg.methods:
            row: dict[str, Any] = {"model": spec, "ablation": ablation, "method": method}
            if method == "acdc":
                points = []
                for tau in tqdm(cfg.acdc_sweep, desc=f"{prog.name} ACDC sweep ({ablation})", disable=not progress):
                    c = acdc(ev, tau, "kl", progress=False)
                    points.append((tau, *precision_recall(c.keep[valid], truth[valid]), c.keep & valid))
                fpr = [int((k & ~truth).sum()) / int((valid & ~truth).sum()) for *_, k in points]
                tpr = [int((k & truth).sum()) / int(truth.sum()) for *_, k in points]
                row["auc"] = curve_auc(fpr, tpr)
                chosen = acdc(ev, cfg.acdc_threshold, "kl", progress=False)
                keep, scores = chosen.keep & valid, chosen.scores
                row["threshold"] = f"tau={cfg.acdc_threshold:g}"
                row["sweep"] = [{"tau": tau, "fpr": f, "tpr": t} for (tau, *_), f, t in zip(points, fpr, tpr)]
            else:
                scores = task_attribution(model, graph, task, cfg.metric, method, steps=cfg.ig_steps,
                                          ablation=ablation, progress=False)
                mag = scores.abs()[valid]
                row["auc_raw"] = roc_auc(mag, truth[valid])
                row["auc"] = roc_auc(torch.where(mag > cfg.rel_tol * mag.max(), mag, 0.0), truth[valid])
                curve = faithfulness_curve(ev, scores.abs(), all_ks)
                n90 = next((k for k, r in zip(curve["edges_kept"], curve["metric_recovered"]) if r >= 0.9),
                           graph.n_edges)
                keep = top_k_mask(graph, scores.abs(), n90)
                row["threshold"] = f"top {n90} (90% metric)"
            row["precision"], row["recall"] = precision_recall(keep[valid], truth[valid])
            row["edges_kept"] = int(keep.sum())
            row["random_auc"] = rand["auc"]
            res.rows.append(row)
            res.graphs[f"{spec}|{ablation}|{method}"] = _graph_dict(graph, scores, keep, truth)
    return res


def circuit_recovery(cfg: RecoveryConfig, models: dict[str, Any] | None = None, progress: bool = True
                     ) -> RecoveryResult:
    """:func:`model_recovery` for every model of ``cfg`` (loaded by spec unless given in ``models``)."""
    from interp.models import load_model

    out = RecoveryResult()
    for spec in cfg.models:
        model = (models or {}).get(spec) or load_model(spec, device="cpu")
        one = model_recovery(model, spec, cfg, progress)
        out.rows += one.rows
        out.truth.update(one.truth)
        out.graphs.update(one.graphs)
    return out


def recovery_table(res: RecoveryResult) -> str:
    """The rows as a fixed-width text table (what the experiment prints)."""
    head = (f"{'model':26s} {'ablation':8s} {'method':7s} {'ROC-AUC':>7s} {'raw':>5s} {'random':>13s} {'prec':>5s} "
            f"{'recall':>6s}  threshold")
    lines = [head, "-" * len(head)]
    for r in res.rows:
        rand = res.truth[r["model"]]["random"]
        lines.append(f"{r['model']:26s} {r['ablation']:8s} {r['method']:7s} {r['auc']:7.3f} {r.get('auc_raw', r['auc']):5.3f} "
                     f"{rand['auc']:6.3f}±{rand['auc_std']:.3f} {r['precision']:5.2f} {r['recall']:6.2f}  "
                     f"{r['threshold']}")
    return "\n".join(lines)
