"""The README's main job: `interp demo` leaves complete, readable runs (run here on a small slice)."""

from __future__ import annotations

from interp.demo import run_demo
from interp.hooks import ActivationStore
from interp.runs import list_runs
from interp.sae import load_sae


def test_demo_writes_readable_runs(tmp_path):
    runs = run_demo(max_seqs=8, runs_root=tmp_path)
    assert [r.kind for r in runs] == ["capture", "capture", "heads", "sae", "probe", "patching", "circuit", "circuit", "sinks"]
    assert {r.path for r in list_runs(tmp_path)} == {r.path for r in runs}
    assert all(r.status == "complete" for r in runs)
    by_kind = {r.kind: r for r in runs}
    for run in runs[:2]:
        store = ActivationStore(run.artifact("store"), verify="sha256")
        assert len(store) == run.metrics["tokens"] > 0 and store.manifest["complete"]
        assert store.model == run.model
    heads = by_kind["heads"].metrics
    assert heads["prev_token_score"] >= 0.8 and heads["induction_score"] >= 0.8

    sae = by_kind["sae"]  # a TopK SAE on the toy LM capture, scored on held-out sequences, with its features
    assert load_sae(sae.artifact("sae")).cfg.hook == "blocks.1.hook_resid_post"
    assert sae.metrics["l0"] <= 16 and sae.metrics["fvu"] < 1.0 and 0 < sae.metrics["ce_loss_score"] <= 1.0
    feats = sae.read_tensors("features")
    assert feats["top_tokens"].shape[:2] == (1024, sae.read_json("features_meta")["n_top"])
    assert len(sae.read_json("vocab")) == 4096

    probe = by_kind["probe"].read_json("results")["rows"][0]
    assert probe["hook"] == "blocks.3.hook_resid_post" and 0.0 <= probe["test"] <= 1.0

    circuits = {r.config["method"]: r.metrics for r in runs if r.kind == "circuit"}
    assert set(circuits) == {"eap-ig", "acdc"}
    assert all(m["prev_to_induction_key_edges"] >= 1 and m["metric_recovered"] > 0.8 for m in circuits.values())

    sinks = by_kind["sinks"]
    assert sinks.model == "minilm" and sinks.read_tensors("sinks")["mass"].shape == (6, 12, 4)
    assert sinks.metrics["first_token_mass"] > 0.1 and "interventions" in sinks.artifacts
