"""A layer sweep of probes as a result, and the ``probe`` run that records it (docs/runs.md).

:class:`ProbeResult` bundles one task's :class:`~interp.probes.report.ProbeReport` per
hook with any extra numbers of the analysis (row counts, ablation effects), so the
writer has the one shape of ``docs/architecture.md``. :func:`write_probe_run` saves

* ``results.json`` (artifact ``results``): ``task``, ``metric``, ``chance``, one row per
  hook (:meth:`ProbeReport.row`) and the extra entries;
* ``probes/<hook>/`` (artifact ``probes``): each task probe, read back with
  :func:`interp.probes.load_probe`;

and the metrics ``best_hook``, ``best_accuracy`` (the best test score, R² for linear
probes), ``best_selectivity``, ``metric`` and ``chance`` that the dashboard shows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from interp.probes.report import ProbeReport
from interp.runs import Run, start_run


@dataclass
class ProbeResult:
    """One task probed at one or more hooks (all on the same split), plus extra ``results.json`` entries."""

    task: str
    reports: list[ProbeReport]
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. n_rows, positive_rate, ablation

    def __post_init__(self) -> None:
        if not self.reports:
            raise ValueError("No probe reports to write.")

    @property
    def metric(self) -> str:
        return self.reports[0].metric

    @property
    def chance(self) -> float:
        return self.reports[0].chance

    @property
    def best(self) -> ProbeReport:
        """The report with the highest test score."""
        return max(self.reports, key=lambda r: r.test)

    def results(self) -> dict[str, Any]:
        """The ``results.json`` artifact."""
        return {"task": self.task, "metric": self.metric, "chance": self.chance,
                "rows": [r.row() for r in self.reports], **self.extra}


def write_probe_run(result: ProbeResult, *, spec: str, config: dict[str, Any], root: str | Path | None = None,
                    slug: str | None = None) -> Run:
    """Write ``result`` as a ``probe`` run of the model ``spec``; ``config`` adds to the probes' own settings."""
    reports = result.reports
    first = reports[0].probe
    cfg = {"model": spec, "task": result.task, "hooks": [r.hook for r in reports], "probe": first.kind,
           **asdict(first.config), **config}
    best = result.best
    with start_run("probe", cfg, model=spec, slug=slug or f"{spec}-{result.task}", root=root) as run:
        run.write_json("results", result.results())
        for r in reports:
            r.probe.save(run.path / "probes" / (r.hook or "probe"))
        run.add_artifact("probes", "probes")
        run.metrics.update({"best_hook": best.hook, "best_accuracy": round(best.test, 4),
                            "best_selectivity": round(best.selectivity, 4), "metric": result.metric,
                            "chance": round(result.chance, 4)})
    return run
