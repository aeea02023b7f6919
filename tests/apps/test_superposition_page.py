"""The Superposition page on a real (small) ``superposition`` run."""

from __future__ import annotations

import json

import numpy as np

from app_fixtures import app  # noqa: F401 (pytest fixture)
from interp.runs import runs_root
from interp.sae.superposition_run import SuperpositionConfig, superposition_pipeline


def test_the_page_draws_the_pentagon_the_sae_rows_and_the_phase_diagram(app):
    cfg = SuperpositionConfig(steps=400, phase_steps=100, phase_replicas=1, phase_densities=[0.03, 1.0],
                              phase_importances=[0.5, 2.0], sae_epochs=3, progress=False)
    run = superposition_pipeline(cfg, runs_root())
    at = app("views/superposition.py", run=f"superposition/{run.name}")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    charts = [json.loads(e.proto.spec) for e in at.get("plotly_chart")]
    arrows = [t for t in charts[0]["data"] if t["name"].startswith("feature ")]
    res = run.read_json("results")
    assert len(arrows) == 5  # one arrow per feature, ending at its learned direction
    ends = np.array([[t["x"][1], t["y"][1]] for t in arrows]).T
    assert np.allclose(ends, np.array(res["pentagon_W"]), atol=1e-6)
    assert sum(t["name"] == "SAE decoder rows" for t in charts[0]["data"]) == cfg.sae_d_sae
    heat = charts[1]["data"][0]
    assert heat["type"] == "heatmap" and np.array(heat["z"]).shape == (2, 2)
    assert [round(g, 2) for g in res["pentagon_gaps_deg"]] == at.dataframe[0].value["gap (deg)"].tolist()
