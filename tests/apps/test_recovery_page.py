"""The Circuits page's ground-truth view on a real (small) ``circuit-recovery`` run."""

from __future__ import annotations

import json

from app_fixtures import app  # noqa: F401 (pytest fixture)
from interp.circuits.recovery import RecoveryConfig
from interp.circuits.recovery_pipeline import run_circuit_recovery
from interp.models.compiled import build_compiled
from interp.runs import runs_root


def test_ground_truth_beside_the_found_circuit(app):
    # Resample ablation cannot see the histogram head's value edge (it carries BOS, the same on clean and corrupt
    # inputs), so ACDC finds 4 of the 5 true edges: one missed edge, no spurious one.
    cfg = RecoveryConfig(models=("toy:compiled-histogram",), n_prompts=8, ablations=("corrupt",), methods=("acdc",),
                         acdc_sweep=(0.0, 0.1, 1e3), n_random=20)
    _, run = run_circuit_recovery(cfg, root=runs_root(), models={"toy:compiled-histogram": build_compiled("histogram")},
                                  progress=False)
    at = app("views/circuits.py", run=f"circuit-recovery/{run.name}")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    table = at.dataframe[0].value
    assert table["method"].tolist() == ["acdc"] and table["recall"].tolist() == [0.8]
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    legend = sorted(t["name"] for t in fig["data"] if t.get("mode") == "lines")
    assert legend == ["found (true positive): 4", "missed (false negative): 1", "spurious (false positive): 0"]
    missed = next(t for t in fig["data"] if t["name"] == "fn edges")
    assert len(missed["text"]) == 1 and missed["text"][0].startswith("input → L0H0.v")
