"""The ``circuit-recovery`` run: circuit discovery scored against compiled models' known circuits.

:func:`~interp.circuits.recovery.circuit_recovery` computes the scores;
:func:`write_circuit_recovery_run` writes them (``recovery.json``: the table rows and
each model's ground truth; ``graphs.json``: every method's edge scores and kept edges
with a ``true`` flag per edge, for the Circuits page); :func:`run_circuit_recovery` is
what ``experiments/ground_truth_circuits.py`` calls. docs/runs.md describes the run.
"""

from __future__ import annotations

import re
from typing import Any

from interp.circuits.recovery import RecoveryConfig, RecoveryResult, circuit_recovery, recovery_table
from interp.runs import Run, config_dict, start_run


def _key(*parts: str) -> str:
    return "_".join(re.sub(r"\W+", "_", p.replace("toy:compiled-", "")).strip("_") for p in parts)


def write_circuit_recovery_run(result: RecoveryResult, *, spec: str, config: Any, root: Any = None,
                               slug: str | None = None) -> Run:
    """A ``circuit-recovery`` run: artifacts ``recovery`` (rows + truth) and ``graphs``; AUCs as metrics."""
    cfg = {"models": sorted(result.truth), **config_dict(config)}
    with start_run("circuit-recovery", cfg, model=spec, slug=slug or "ground-truth-circuits", root=root) as run:
        run.write_json("recovery", {"rows": result.rows, "truth": result.truth}, file="recovery.json")
        run.write_json("graphs", result.graphs, file="graphs.json")
        for r in result.rows:
            run.metrics[_key(r["model"], r["ablation"], r["method"], "auc")] = round(r["auc"], 4)
        for method in sorted({r["method"] for r in result.rows}):
            zero = [r["auc"] for r in result.rows if r["method"] == method and r["ablation"] == "zero"]
            if zero:
                run.metrics[_key("min_auc_zero", method)] = round(min(zero), 4)
        rand = [t["random"]["auc"] for t in result.truth.values()]
        run.metrics["random_auc_mean"] = round(sum(rand) / len(rand), 4)
    return run


def run_circuit_recovery(cfg: RecoveryConfig, *, root: Any = None, models: dict[str, Any] | None = None,
                         progress: bool = True) -> tuple[RecoveryResult, Run]:
    """Score every method on every compiled model of ``cfg`` and write the run."""
    result = circuit_recovery(cfg, models=models, progress=progress)
    return result, write_circuit_recovery_run(result, spec=",".join(cfg.models), config=cfg, root=root)


def report(result: RecoveryResult, run: Run) -> str:
    """The table, the ground truth's own faithfulness, and where the run went."""
    lines = [recovery_table(result), ""]
    for spec, t in result.truth.items():
        rec = ", ".join(f"{k.removeprefix('truth_recovered_')} {v:.3f}" for k, v in t.items()
                        if k.startswith("truth_recovered_"))
        lines.append(f"{spec}: {t['n_true']}/{t['n_edges']} true edges ({t['description']}); "
                     f"ground-truth circuit recovers: {rec}")
    lines.append(f"run: {run.path}")
    return "\n".join(lines)
