"""The README's main job: `interp demo` leaves complete, readable runs (run here on a small slice)."""

from __future__ import annotations

from interp.demo import run_demo
from interp.hooks import ActivationStore
from interp.runs import list_runs


def test_demo_writes_readable_runs(tmp_path):
    runs = run_demo(max_seqs=8, runs_root=tmp_path)
    assert [r.kind for r in runs] == ["capture", "capture", "heads", "sinks"]
    assert {r.path for r in list_runs(tmp_path)} == {r.path for r in runs}
    for run in runs[:2]:
        store = ActivationStore(run.artifact("store"), verify="sha256")
        assert len(store) == run.metrics["tokens"] > 0 and store.manifest["complete"]
        assert store.model == run.model
    heads = runs[2].metrics
    assert heads["prev_token_score"] >= 0.8 and heads["induction_score"] >= 0.8
    sinks = runs[3]
    assert sinks.model == "minilm" and sinks.read_tensors("sinks")["mass"].shape == (6, 12, 4)
    assert sinks.metrics["first_token_mass"] > 0.1 and "interventions" in sinks.artifacts
