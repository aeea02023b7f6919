"""What a sinks analysis produces, and the runs that record it (``sinks``, ``sink-emergence``; docs/runs.md).

A result bundles everything one run holds, so each writer has the one shape of
``docs/architecture.md``: ``write_<kind>_run(result, *, spec, config, root=None, slug=None)``.

* :class:`SinksResult`: the corpus averages (:class:`~interp.sinks.measure.SinkReport`),
  the threshold that names sink heads, and the interventions run on a slice of the
  corpus; :func:`write_sinks_run` saves ``sinks.safetensors`` (artifact ``sinks``),
  ``sinks.json`` (``meta``) and ``interventions.json`` (``interventions``, when any ran).
* :class:`EmergenceResult`: one curve entry per training run of the emergence study;
  :func:`write_emergence_run` saves them as ``curves.json`` (artifact ``curves``).

:func:`summary_lines` is the human-readable headline of a :class:`SinkReport`, shared
by the CLI and the experiments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interp.runs import Run, start_run
from interp.sinks.interventions import InterventionResult
from interp.sinks.measure import SinkReport

EMERGENCE_SPEC = "toy:sink-emergence"  # the models of the emergence study are trained from scratch, not loaded


@dataclass
class SinksResult:
    """One ``sinks`` run's content: the report, how sink heads were named, and the interventions."""

    report: SinkReport
    head_threshold: float = 0.5  # a head is a sink head if >= this mass goes to one special token category
    interventions: list[InterventionResult] = field(default_factory=list)
    intervention_seqs: int = 0  # sequences the interventions ran on
    seconds: float | None = None  # wall time of the analysis (recorded as a metric when known)

    def sink_heads(self) -> list[dict[str, Any]]:
        return self.report.sink_heads(self.head_threshold)


def sinks_meta(report: SinkReport, head_threshold: float = 0.5) -> dict[str, Any]:
    """The ``sinks.json`` artifact of a ``sinks`` run (docs/runs.md)."""
    return {"epsilon": report.epsilon, "extra_epsilons": report.extra_epsilons,
            "categories": report.categories, "causal": report.causal,
            "n_samples": report.n_samples, "head_threshold": head_threshold,
            "sink_heads": report.sink_heads(head_threshold), "massive": report.massive,
            "n_massive": report.n_massive, "example_tokens": report.example_tokens}


def write_sinks_run(result: SinksResult, *, spec: str, config: dict[str, Any], root: str | Path | None = None,
                    slug: str | None = None) -> Run:
    """Save ``result`` as a ``sinks`` run of the model ``spec``; ``config`` is what re-runs it."""
    report = result.report
    with start_run("sinks", config, model=spec, slug=slug or f"sinks-{spec}", root=root) as run:
        run.write_tensors("sinks", report.tensors())
        run.write_json("meta", sinks_meta(report, result.head_threshold), file="sinks.json")
        if result.interventions:
            run.write_json("interventions", {"n_seqs": result.intervention_seqs,
                                             "results": [r.to_json() for r in result.interventions]})
        run.metrics.update({"sink_rate": round(report.overall_sink_rate, 4), "n_sink_heads": len(result.sink_heads()),
                            "n_massive": report.n_massive, "n_samples": report.n_samples,
                            "first_token_mass": round(float(report.mass[..., 0].mean()), 4)})
        if result.seconds is not None:
            run.metrics["seconds"] = result.seconds
    return run


@dataclass
class EmergenceResult:
    """The emergence study: one curve entry per training run (:func:`~interp.sinks.emergence.train_with_sinks`)."""

    entries: list[dict[str, Any]]
    epsilon: float = 0.3  # the sink-rate threshold the curves were measured at


def write_emergence_run(result: EmergenceResult, *, spec: str = EMERGENCE_SPEC, config: dict[str, Any],
                        root: str | Path | None = None, slug: str | None = None) -> Run:
    """Save the curves as a ``sink-emergence`` run (``curves.json``, docs/runs.md)."""
    with start_run("sink-emergence", config, model=spec, slug=slug or "toy-emergence", root=root) as run:
        run.write_json("curves", {"epsilon": result.epsilon, "runs": result.entries})
        for e in result.entries:
            run.metrics[f"final_sink_rate[{e['label']}]"] = e["sink_rate"][-1]
        run.metrics["n_runs"] = len(result.entries)
    return run


def summary_lines(report: SinkReport, head_threshold: float = 0.5) -> list[str]:
    """Human-readable headline numbers: mass per category by layer, sink rates, sink heads, massive activations."""
    cats = report.categories
    lines = [f"{report.n_samples} sequences, {'causal' if report.causal else 'bidirectional'}, "
             f"epsilon {report.epsilon}: first-token sink rate {report.overall_sink_rate:.3f}",
             "layer  " + "  ".join(f"{c:>7}" for c in cats) + "  sink_rate"]
    by_layer = report.mass.mean(1)  # [layer, cat]
    for layer in range(by_layer.shape[0]):
        lines.append(f"{layer:>5}  " + "  ".join(f"{float(v):7.3f}" for v in by_layer[layer])
                     + f"  {float(report.sink_rate[layer].mean()):9.3f}")
    heads = report.sink_heads(head_threshold)
    lines.append(f"sink heads (>= {head_threshold} mass on one special token): "
                 + (", ".join(f"L{h['layer']}H{h['head']} {h['token']} {h['mass']:.2f}" for h in heads) or "none"))
    s = report.massive_summary
    if s:
        lines.append(f"massive activations: {report.n_massive} entries; per-layer max |a| / median |a| = "
                     + ", ".join(f"{r:.0f}" for r in s["resid_ratio"]))
    return lines
