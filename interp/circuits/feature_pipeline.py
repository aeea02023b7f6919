"""Sparse feature circuits end to end: SAEs at several hooks -> node scores -> faithfulness -> a run.

:func:`feature_circuit` is the analysis (a loaded model and ``{hook: SAE}`` in, a
:class:`FeatureCircuitResult` out) built on :mod:`interp.circuits.feature_circuits`:

1. the clean / corrupt task (``induction``: :func:`~interp.circuits.metrics.induction_task`);
2. exactness: the model with every SAE spliced in, error terms included, gives the
   clean metric (``splice_error``), and without the error terms it does not
   (``values["spliced_no_errors"]``);
3. node scores by integrated gradients (``ig``) and by attribution patching (``atp``),
   per position or summed over positions;
4. checks of both against ground truth: *completeness* per hook (a hook's scores should
   sum to the effect of patching the whole hook, measured) and *single nodes* (the top
   nodes of each hook, patched one at a time);
5. faithfulness curves (top-N by ``|score|`` against random N-node sets) for both rankings,
   and the "<= 5 % of nodes" budget point.

On ``toy:induction`` with TopK SAEs (512 latents, k = 4) on both layers' ``hook_attn_out``
(the default, trained here in seconds on fresh induction sequences), 32 prompts of
segment 20: the IG ranking's top 5 % of the 42,066 (hook, position, latent) nodes
recover 0.96 of the logit difference (attribution patching's 0.78), random 5 % sets
0.000, the error nodes alone 0.001. IG's hook sums match the whole-hook patches within
5 %, while attribution patching's layer-0 sum is a tenth of it (the induction heads'
keys read layer 0 through a saturated softmax). Single nodes split: IG is closer to
the patched effect of layer-0 latents, attribution patching to that of layer-1 latents
(whose path to the logits is nearly linear; IG along the whole hook's path shares out
the hook's joint effect, so it underestimates a node patched alone). Summed over
positions, nodes are token-specific latents that every prompt needs a different few
of: 5 % of the 1,026 nodes recover only 0.08 and 80 % takes 150 nodes.

:func:`write_feature_circuit_run` writes the ``feature-circuit`` run (docs/runs.md);
:func:`run_feature_circuit` is the pipeline (model spec + config -> run) that
``interp circuits features`` calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from interp.circuits.feature_circuits import (Faithfulness, NodeScores, check_saes, circuit_metric, default_ns,
                                              faithfulness, metric_mean, node_attribution, node_patching)
from interp.circuits.metrics import Task, induction_task
from interp.runs import Run, start_run

TASKS = ("induction",)
METHODS = ("ig", "atp")


@dataclass
class FeatureCircuitConfig:
    """What :func:`run_feature_circuit` does. ``saes`` empty: train TopK SAEs at ``hooks`` first."""

    model: str = "toy:induction"
    task: str = "induction"
    saes: tuple[str, ...] = ()  # ``sae`` run folders or SAE folders (each knows its hook)
    hooks: tuple[str, ...] | None = None  # for trained SAEs; default: every layer's hook_attn_out
    n_prompts: int = 32
    segment_len: int | None = None  # default: the toy's eval_segment, else 20
    seed: int = 1  # the task's prompts
    metric: str = "logit_diff"
    ablation: str = "corrupt"  # what a node outside the circuit takes: corrupt | mean
    method: str = "ig"  # the ranking reported as the circuit (both are scored and curved)
    ig_steps: int = 10
    per_position: bool = True  # nodes are (hook, position, latent); False: (hook, latent)
    budget_fraction: float = 0.05  # the "<= 5 % of nodes" point reported
    n_random: int = 5  # random node sets per curve point
    check_nodes: int = 10  # top nodes per hook (by each method) patched one at a time
    top_nodes: int = 200  # nodes listed in nodes.json
    batch_size: int = 32
    # SAEs trained when ``saes`` is empty (seeded apart from the task and from their data):
    sae_d_sae: int = 512
    sae_k: int = 4
    sae_seqs: int = 1024  # fresh induction sequences the SAEs are trained on
    sae_epochs: int = 4
    sae_batch: int = 256
    sae_lr: float = 6e-3
    sae_seed: int = 0
    sae_data_seed: int = 123


@dataclass
class FeatureCircuitResult:
    """What :func:`feature_circuit` found; everything the ``feature-circuit`` run records."""

    task: str  # description, e.g. "induction_task(n=32, segment=20, seed=1)"
    hooks: list[str]
    values: dict[str, float]  # clean, corrupt, spliced, spliced_no_errors
    scores: dict[str, NodeScores]  # method -> scores
    faithfulness: dict[str, Faithfulness]  # method -> curve
    hook_checks: list[dict[str, Any]]  # per hook: patched effect of the whole hook vs each method's sum
    node_checks: list[dict[str, Any]]  # per checked node: exact patched effect vs each method's score
    budget: int  # nodes in the budget_fraction circuit
    saes: dict[str, Any] = field(default_factory=dict)  # hook -> SAE
    sae_sources: dict[str, str] = field(default_factory=dict)  # hook -> folder, or "trained"


def _bos(model: Any) -> int | None:
    toy = getattr(model, "toy_config", None)
    if toy is not None:
        return toy.extra.get("bos", toy.extra.get("bos_id"))
    return getattr(getattr(model, "tokenizer", None), "bos_token_id", None)


def _segment(model: Any, cfg: FeatureCircuitConfig) -> int:
    toy = getattr(model, "toy_config", None)
    seg = cfg.segment_len or (toy.extra.get("eval_segment") if toy is not None else None) or 20
    bos = 0 if _bos(model) is None else 1
    if bos + 2 * int(seg) > model.cfg.n_ctx:
        raise ValueError(f"segment_len={seg} makes {bos + 2 * int(seg)} tokens, more than the model's context "
                         f"{model.cfg.n_ctx}; pass a shorter segment_len.")
    return int(seg)


def build_task(model: Any, cfg: FeatureCircuitConfig) -> tuple[Task, str]:
    """The clean/corrupt task ``cfg.task`` for ``model`` and its description."""
    if cfg.task != "induction":
        raise ValueError(f"Unknown feature-circuit task {cfg.task!r}; choose one of {TASKS}.")
    seg = _segment(model, cfg)
    task = induction_task(cfg.n_prompts, seg, model.cfg.d_vocab, seed=cfg.seed, bos=_bos(model))
    return task, f"induction_task(n={cfg.n_prompts}, segment={seg}, seed={cfg.seed})"


def default_hooks(model: Any) -> list[str]:
    return [f"blocks.{layer}.hook_attn_out" for layer in range(model.cfg.n_layers)]


def train_task_saes(model: Any, cfg: FeatureCircuitConfig, hooks: list[str], progress: bool = False) -> dict[str, Any]:
    """TopK SAEs (``sae_d_sae``, ``sae_k``) at ``hooks`` on fresh task sequences (``sae_data_seed``)."""
    from interp.datasets.synthetic import induction_batch
    from interp.hooks.hooked import cache_hooks
    from interp.models import model_device
    from interp.sae import SAEConfig, TrainConfig, train_sae

    seg, bos = _segment(model, cfg), _bos(model)
    tokens = induction_batch(cfg.sae_seqs, (bos is not None) + 2 * seg, model.cfg.d_vocab,
                             torch.Generator().manual_seed(cfg.sae_data_seed), bos)
    acts = cache_hooks(model, tokens, hooks)
    device = str(model_device(model))
    saes = {}
    for h in hooks:
        x = acts[h].reshape(-1, acts[h].shape[-1]).float()  # [tokens, d_in]
        sae_cfg = SAEConfig(arch="topk", d_in=0, d_sae=cfg.sae_d_sae, k=cfg.sae_k, hook=h, model=cfg.model)
        train = TrainConfig(sae=sae_cfg, total_tokens=x.shape[0] * cfg.sae_epochs, batch_size=cfg.sae_batch,
                            lr=cfg.sae_lr, seed=cfg.sae_seed, progress=progress, device=device)
        saes[h] = train_sae(train, x).sae.eval()
    return saes


def sae_folders(paths: tuple[str, ...] | list[str]) -> list[Path]:
    """The SAE folders of ``paths``: ``sae`` runs and SAE folders as they are, a ``feature-circuit`` run as the
    SAEs it trained (so a circuit can be re-run on the same SAEs)."""
    from interp.runs import load_run

    out: list[Path] = []
    for p in map(Path, paths):
        run = load_run(p) if (p / "run.json").is_file() else None
        if run is not None and run.kind == "feature-circuit":
            trained = [run.artifact(a) for a in run.artifacts if a.startswith("sae:")]
            if not trained:
                raise ValueError(f"{p} is a feature-circuit run on SAEs it did not train; pass those SAEs instead "
                                 f"(its config lists them: {run.config.get('sae_sources')}).")
            out += trained
        else:
            out.append(p)
    return out


def load_saes(model: Any, paths: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``{hook: SAE}`` from ``sae`` run folders, SAE folders or ``feature-circuit`` runs, on the model's device."""
    from interp.models import model_device
    from interp.sae.io import open_sae

    saes: dict[str, Any] = {}
    for p in sae_folders(paths):
        sae = open_sae(p)[0].to(model_device(model)).eval()
        hook = sae.cfg.hook
        if not hook:
            raise ValueError(f"The SAE in {p} does not record the hook it reads; a feature circuit splices each "
                             "SAE where it was trained, so save it with its hook (SAEConfig.hook).")
        if hook in saes:
            raise ValueError(f"Two SAEs read {hook!r} ({p} and an earlier one); pass one SAE per hook.")
        saes[hook] = sae
    return saes


def feature_circuit(model: Any, saes: dict[str, Any], cfg: FeatureCircuitConfig,
                    progress: bool = True) -> FeatureCircuitResult:
    """Everything in the module docstring on a loaded model and its SAEs; writes nothing."""
    if cfg.method not in METHODS:
        raise ValueError(f"Unknown method {cfg.method!r}; choose one of {METHODS}.")
    check_saes(model, saes)
    task, desc = build_task(model, cfg)
    kw = dict(metric=cfg.metric, ablation=cfg.ablation, batch_size=cfg.batch_size)
    clean = metric_mean(model, task, cfg.metric, cfg.batch_size)
    values = {"clean": clean, "corrupt": metric_mean(model, task, cfg.metric, cfg.batch_size, tokens="corrupt"),
              "spliced": circuit_metric(model, saes, task, [None], **kw)[0],
              "spliced_no_errors": circuit_metric(model, saes, task, [None], errors=False, **kw)[0]}
    scores = {m: node_attribution(model, saes, task, steps=cfg.ig_steps if m == "ig" else 1,
                                  per_position=cfg.per_position, progress=progress, **kw) for m in METHODS}
    ref = scores[cfg.method]
    hook_checks = []
    for h in saes:  # completeness: a hook's node scores against patching the whole hook
        keep = {g: torch.ones_like(s, dtype=torch.bool) for g, s in ref.scores.items()}
        keep[h] = torch.zeros_like(keep[h])
        effect = circuit_metric(model, saes, task, [keep], **kw)[0] - clean
        hook_checks.append({"hook": h, "patched_effect": effect,
                            **{f"{m}_sum": float(scores[m].scores[h].sum()) for m in METHODS}})
    node_checks = _node_checks(model, saes, task, scores, cfg)
    n = ref.n_nodes
    budget = max(1, int(cfg.budget_fraction * n))
    curves = {m: faithfulness(model, saes, task, scores[m], sorted(set(default_ns(n)) | {budget}),
                              n_random=cfg.n_random, seed=cfg.seed, progress=progress, **kw) for m in METHODS}
    return FeatureCircuitResult(desc, list(saes), values, scores, curves, hook_checks, node_checks, budget, dict(saes))


def _node_checks(model: Any, saes: dict[str, Any], task: Task, scores: dict[str, NodeScores],
                 cfg: FeatureCircuitConfig) -> list[dict[str, Any]]:
    """The top ``check_nodes`` nodes of each hook by each method, patched one at a time."""
    if cfg.check_nodes <= 0:
        return []
    ref = scores[cfg.method]
    nodes: list[int] = []
    at = 0
    for h, s in ref.scores.items():
        for m in METHODS:
            block = scores[m].scores[h].flatten().abs()
            nodes += (block.argsort(descending=True)[: cfg.check_nodes] + at).tolist()
        at += s.numel()
    nodes = sorted(set(nodes))
    exact = node_patching(model, saes, task, ref, nodes, metric=cfg.metric, ablation=cfg.ablation,
                          batch_size=cfg.batch_size)
    labels, flat = ref.labels(), {m: scores[m].flat() for m in METHODS}
    return [{"node": labels[i], "hook": labels[i].split(":")[0], "exact": float(e),
             **{m: float(flat[m][i]) for m in METHODS}} for i, e in zip(nodes, exact.tolist())]


def _first_at(curve: dict[str, Any], target: float) -> int | None:
    return next((k for k, r in zip(curve["nodes_kept"], curve["metric_recovered"]) if r >= target), None)


def summary(result: FeatureCircuitResult, cfg: FeatureCircuitConfig) -> dict[str, Any]:
    """The run's metrics: exactness, the budget point against random, completeness and single-node errors."""
    curve = result.faithfulness[cfg.method].to_json()
    at = curve["nodes_kept"].index(result.budget)
    out: dict[str, Any] = {
        "clean_value": result.values["clean"], "corrupt_value": result.values["corrupt"],
        "splice_error": abs(result.values["spliced"] - result.values["clean"]),
        "spliced_no_errors_value": result.values["spliced_no_errors"],
        "n_nodes": curve["n_nodes"], "budget_nodes": result.budget,
        "recovered_at_budget": curve["metric_recovered"][at], "random_at_budget": curve["random_recovered_mean"][at],
        "nodes_for_80pct": _first_at(curve, 0.8), "faithfulness_auc": curve["auc"], "random_auc": curve["random_auc"],
        "errors_only_recovered": curve["errors_only"]}
    for m in METHODS:
        c = result.faithfulness[m].to_json()
        out[f"{m}_auc"], out[f"{m}_recovered_at_budget"] = c["auc"], c["metric_recovered"][at]
        rel = [abs(hc[f"{m}_sum"] - hc["patched_effect"]) / max(abs(hc["patched_effect"]), 1e-9)
               for hc in result.hook_checks]
        out[f"{m}_completeness_error"] = max(rel)
        for h in result.hooks:
            errs = [abs(c[m] - c["exact"]) for c in result.node_checks if c["hook"] == h]
            if errs:
                out[f"{m}_node_error/{h}"] = sum(errs) / len(errs)
    return out


def write_feature_circuit_run(result: FeatureCircuitResult, *, spec: str, config: Any, root: Any = None,
                              slug: str | None = None) -> Run:
    """A ``feature-circuit`` run: ``nodes.json``, ``scores.safetensors``, ``faithfulness.json``, ``checks.json``
    and, for SAEs trained on the fly, their folders ``saes/<hook>`` (artifacts ``sae:<hook>``)."""
    from interp.runs import config_dict
    from interp.sae.io import save_sae

    cfg = config if isinstance(config, FeatureCircuitConfig) else FeatureCircuitConfig(**config_dict(config))
    run_cfg = {**config_dict(cfg), "task_prompts": result.task, "hooks": result.hooks,
               "sae_sources": result.sae_sources}
    ref = result.scores[cfg.method]
    with start_run("feature-circuit", run_cfg, model=spec, slug=slug or f"{cfg.task}-{cfg.method}", root=root) as run:
        labels, flat = ref.labels(), {m: s.flat() for m, s in result.scores.items()}
        order = flat[cfg.method].abs().argsort(descending=True)[: cfg.top_nodes].tolist()
        run.write_json("nodes", {"method": cfg.method, "per_position": cfg.per_position, "nodes": [
            {"node": labels[i], **_parse(labels[i]), "rank": r, **{m: float(flat[m][i]) for m in flat}}
            for r, i in enumerate(order)]})
        run.write_tensors("scores", {f"{m}/{h}": s for m, ns in result.scores.items() for h, s in ns.scores.items()})
        run.write_json("faithfulness", {m: f.to_json() for m, f in result.faithfulness.items()})
        run.write_json("checks", {"values": result.values, "hooks": result.hook_checks, "nodes": result.node_checks})
        for h, src in result.sae_sources.items():
            if src == "trained":
                save_sae(result.saes[h], run.add_artifact(f"sae:{h}", f"saes/{h}"))
        run.metrics.update(summary(result, cfg))
    return run


def _parse(label: str) -> dict[str, Any]:
    """``"blocks.0.hook_attn_out:17@5"`` -> hook, latent (None for the error), position (None if summed)."""
    hook, rest = label.split(":")
    node, _, pos = rest.partition("@")
    return {"hook": hook, "latent": None if node == "err" else int(node), "pos": int(pos) if pos else None}


def run_feature_circuit(cfg: FeatureCircuitConfig, *, root: Any = None, model: Any = None, device: str | None = None,
                        progress: bool = True) -> tuple[FeatureCircuitResult, Run]:
    """Load the model and the SAEs (or train them at ``cfg.hooks``), find the feature circuit, write the run."""
    from interp.models import load_model

    model = model if model is not None else load_model(cfg.model, device=device)
    if cfg.saes:
        saes = load_saes(model, cfg.saes)
        sources = {h: str(p) for h, p in zip(saes, sae_folders(cfg.saes))}
    else:
        hooks = list(cfg.hooks) if cfg.hooks else default_hooks(model)
        saes = train_task_saes(model, cfg, hooks, progress=progress)
        sources = {h: "trained" for h in saes}
    result = feature_circuit(model, saes, cfg, progress=progress)
    result.sae_sources = sources
    return result, write_feature_circuit_run(result, spec=cfg.model, config=cfg, root=root)


def report(result: FeatureCircuitResult, run: Run) -> str:
    """The numbers of :func:`run_feature_circuit` as text."""
    m = run.metrics
    lines = [f"task {result.task}; hooks {', '.join(result.hooks)}",
             f"metric clean {m['clean_value']:.3f}, corrupt {m['corrupt_value']:.3f}; spliced with error terms "
             f"off by {m['splice_error']:.2e}, without them {m['spliced_no_errors_value']:.3f}",
             f"nodes {m['n_nodes']}; top {m['budget_nodes']} ({m['budget_nodes'] / m['n_nodes']:.1%}) recover "
             f"{m['recovered_at_budget']:.3f} (random sets of that size {m['random_at_budget']:.3f}); 80 % with "
             f"{m['nodes_for_80pct']} nodes; error nodes alone {m['errors_only_recovered']:.3f}",
             "faithfulness AUC " + ", ".join(f"{k} {m[f'{k}_auc']:.3f}" for k in METHODS)
             + f", random {m['random_auc']:.3f}"
             + "; recovered at the budget " + ", ".join(f"{k} {m[f'{k}_recovered_at_budget']:.3f}" for k in METHODS)]
    for c in result.hook_checks:
        lines.append(f"  {c['hook']}: patched whole hook {c['patched_effect']:+.3f}; sums: "
                     + ", ".join(f"{k} {c[f'{k}_sum']:+.3f}" for k in METHODS))
    for h in result.hooks:
        errs = [f"{k} {m[f'{k}_node_error/{h}']:.3f}" for k in METHODS if f"{k}_node_error/{h}" in m]
        if errs:
            lines.append(f"  {h}: mean |score - patched effect| of its top nodes: {', '.join(errs)}")
    top = run.read_json("nodes")["nodes"][:8]
    lines.append("top nodes: " + ", ".join(f"{n['node']} ({n[run.config['method']]:+.3f})" for n in top))
    lines.append(f"-> {run.path}")
    return "\n".join(lines)
