"""The circuits package's run writers: ``heads``, ``patching``, ``circuit`` and ``fourier`` runs (docs/runs.md).

All of them have the one shape of every analysis writer,
``write_<kind>_run(result, *, spec, config, root=None, slug=None) -> Run``: ``result``
is what the compute functions returned (everything the run's artifacts and metrics
hold), ``spec`` the model spec string, ``config`` the rest of the run's configuration
(a dict or a dataclass; the keys the result already fixes come first). Artifact names,
file names, config keys and metric keys are the ones older runs have, so the
dashboard reads old and new runs alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from interp.circuits.discovery import Circuit
from interp.circuits.fourier import FourierResult
from interp.circuits.head_scores import HeadScores
from interp.circuits.patching import PatchingResult
from interp.runs import Run, config_dict, start_run

GRANULARITY = "edges into q/k/v inputs of each head, MLP inputs and logits"


@dataclass
class CircuitResult:
    """A discovered circuit with how it was judged: what a ``circuit`` run records.

    faithfulness: the :func:`~interp.circuits.faithfulness.faithfulness_curve` dict;
    adversarial: the :func:`~interp.circuits.adversarial.adversarial_eval` dict (or None);
    metrics: further run metrics (e.g. the known-answer checks of the induction circuit).
    """

    circuit: Circuit
    faithfulness: dict[str, Any]
    metric: str
    ablation: str
    metric_recovered: float
    adversarial: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def write_patching_run(result: PatchingResult, *, spec: str, config: Any, root: Any = None,
                       slug: str | None = None) -> Run:
    """A ``patching`` run: ``patching.safetensors`` (artifact ``results``) + ``patching.json`` (``meta``).

    config: what the result does not say, e.g. ``{"corruption": ..., "prompts": ...}``.
    """
    cfg = {"model": spec, "metric": result.metric, "direction": result.direction, **config_dict(config),
           "n_prompts": result.n_prompts, "sweeps": sorted(result.sweeps)}
    with start_run("patching", cfg, model=spec, slug=slug or "patching", root=root) as run:
        run.write_tensors("results", {k: v.float() for k, v in result.sweeps.items()}, file="patching.safetensors")
        run.write_json("meta", {"metric": result.metric, "direction": result.direction,
                                "pos_labels": result.pos_labels, "clean_value": result.clean_value,
                                "corrupt_value": result.corrupt_value}, file="patching.json")
        run.metrics.update({"clean_value": result.clean_value, "corrupt_value": result.corrupt_value})
        for name, t in result.sweeps.items():
            flat = int(t.argmin() if result.direction == "noising" else t.argmax())
            run.metrics[f"{name}_extreme"] = float(t.flatten()[flat])
    return run


def write_circuit_run(result: CircuitResult, *, spec: str, config: Any, root: Any = None,
                      slug: str | None = None) -> Run:
    """A ``circuit`` run: ``graph.json``, ``faithfulness.json`` (and ``adversarial.json``).

    config: keys after the circuit's own (method, threshold, top_n, ablation, metric,
    granularity), e.g. the task description.
    """
    c, g, adv = result.circuit, result.circuit.graph, result.adversarial
    cfg = {"model": spec, "method": c.method, "threshold": c.threshold, "top_n": c.top_n,
           "ablation": result.ablation, "metric": result.metric, "granularity": GRANULARITY, **config_dict(config)}
    with start_run("circuit", cfg, model=spec, slug=slug or c.method, root=root) as run:
        run.write_json("graph", {"method": c.method, "nodes": g.node_dicts(), "edges": g.edge_dicts(c.scores, c.keep)})
        run.write_json("faithfulness", result.faithfulness)
        if adv is not None:
            run.write_json("adversarial", adv)
        run.metrics.update({
            "edges_kept": c.edges_kept, "edges_total": g.n_edges, "fraction_kept": c.edges_kept / g.n_edges,
            "metric_recovered": result.metric_recovered, "faithfulness_auc": result.faithfulness.get("auc"),
            **({"adversarial_kl_p90": adv["percentiles"].get("90")} if adv else {}),
            **result.metrics,
        })
    return run


def write_fourier_run(result: FourierResult, *, spec: str, config: Any, root: Any = None,
                      slug: str | None = None) -> Run:
    """A ``fourier`` run: metrics, ``fourier.json`` (artifact ``results``) and ``fourier.safetensors`` (``norms``)."""
    cfg = {"model": spec, "p": result.p, **config_dict(config)}
    with start_run("fourier", cfg, model=spec, slug=slug or f"{spec}-fourier", root=root) as run:
        run.write_tensors("norms", {"embed_norms": result.embed_norms, "logit_norms": result.logit_norms},
                          file="fourier.safetensors")
        run.write_json("results", {
            "p": result.p, "key_freqs": result.key_freqs, "key_norm_fraction": result.key_norm_fraction,
            "clean_loss": result.clean_loss, "restricted_loss": result.restricted_loss,
            "excluded_loss": result.excluded_loss, "chance_loss": result.chance_loss,
            "clean_acc": result.clean_acc, "restricted_acc": result.restricted_acc, "excluded_acc": result.excluded_acc,
            "excluded_loss_per_freq": {str(k): v for k, v in result.excluded_loss_per_freq.items()},
            "train_losses": result.train_losses,
            "embed_norms": result.embed_norms.tolist(), "logit_norms": result.logit_norms.tolist(),
        }, file="fourier.json")
        run.metrics.update({
            "key_freqs": " ".join(map(str, result.key_freqs)), "n_key_freqs": len(result.key_freqs),
            "key_norm_fraction": round(result.key_norm_fraction, 4), "clean_loss": round(result.clean_loss, 5),
            "restricted_loss": round(result.restricted_loss, 5), "excluded_loss": round(result.excluded_loss, 4),
            "chance_loss": round(result.chance_loss, 4),
        })
    return run


def write_heads_run(result: HeadScores, *, spec: str, config: Any = None, root: Any = None,
                    slug: str | None = None) -> Run:
    """A ``heads`` run: ``scores.json`` (every head's scores) and the best layer-0 / last-layer heads as metrics."""
    cfg = {"model": spec, "segment_len": result.segment_len, "n_seq": result.n_seq, **config_dict(config)}
    prev, ind = result.previous_token, result.induction
    with start_run("heads", cfg, model=spec, slug=slug or "induction-heads", root=root) as run:
        run.write_json("scores", {"previous_token": prev.tolist(), "induction": ind.tolist()})
        l0, l1 = int(prev[0].argmax()), int(ind[-1].argmax())
        last = ind.shape[0] - 1
        run.metrics.update({"prev_token_head": f"L0H{l0}", "prev_token_score": round(float(prev[0, l0]), 3),
                            "induction_head": f"L{last}H{l1}", "induction_score": round(float(ind[last, l1]), 3),
                            "first_half_loss": round(result.first_half_loss, 3),
                            "repeat_loss": round(result.repeat_loss, 3)})
    return run
