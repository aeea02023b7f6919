"""Known answers of toy models of superposition (Elhage et al. 2022), and the ``superposition`` run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from interp.sae.superposition import (
    ToyModelConfig,
    feature_norms,
    phase_diagram,
    polygon_gaps,
    represented,
    train_toy_models,
)
from interp.sae.superposition_run import SuperpositionConfig, matched_angles, sae_recovery
from tests.sae.test_synthetic import _step0_W_dec

FAST = dict(steps=600, lr=1e-2, n_instances=6, seed=0)


@pytest.fixture(scope="module")
def pentagon() -> torch.Tensor:
    """The lowest-loss of 6 models of 5 equally important features (each present 5 % of the time) in 2 dims."""
    r = train_toy_models(ToyModelConfig(n_features=5, d_hidden=2, feature_probability=0.05, importance=1.0, **FAST))
    return r.model.W.detach()[int(r.loss.argmin())]  # [2, 5]


def test_sparse_features_form_a_regular_pentagon(pentagon):
    gaps = polygon_gaps(pentagon)
    assert len(gaps) == 5, gaps  # all five kept, in 2 dimensions
    assert max(abs(g - 72) for g in gaps) < 3, gaps  # measured within 0.5 deg
    assert feature_norms(pentagon[None]).min() > 0.9


def test_dense_features_keep_only_the_most_important_and_orthogonal():
    r = train_toy_models(ToyModelConfig(n_features=5, d_hidden=2, feature_probability=1.0, importance=0.7, **FAST))
    W = r.model.W.detach()
    assert represented(W)[:, :2].all() and not represented(W)[:, 2:].any()  # every instance: the top 2, no others
    norms = feature_norms(W)
    assert (norms[:, :2] > 0.9).all() and (norms[:, 2:] < 0.3).all(), norms
    cos = torch.nn.functional.cosine_similarity(W[:, :, 0], W[:, :, 1], dim=-1)
    assert cos.abs().max() < 0.1  # two dimensions, two features: no superposition needed
    assert len(polygon_gaps(W[0])) == 2  # no pentagon when features are dense


def test_an_sae_finds_the_pentagon_directions(pentagon, monkeypatch):
    """MCC ≥ 0.95 (the issue's bar) and every direction within 2°; the trainer's step-0 decoder is not."""
    step0 = _step0_W_dec(monkeypatch)
    res = sae_recovery(pentagon, SuperpositionConfig(progress=False))
    assert res["mcc"] >= 0.95 and max(res["angles_deg"]) < 2, res["angles_deg"]  # measured MCC 1.0000, 0.3 deg
    # 20 random directions in 2 dims already score a high MCC; the per-direction angle is what they miss
    assert max(matched_angles(step0[0], pentagon.T)) > 2


def test_the_phase_diagram_has_the_papers_three_phases():
    """Dense: the more important of 2 features gets the dimension. Sparse: they share it.

    A cell can settle in a local minimum even as the best of 5 replicas (seeds 0-3: 1 cell of 16 sparse
    ones did), so the sparse row asks for a majority; the dense row has no such minima and is exact.
    """
    pd = phase_diagram([0.03, 1.0], [0.3, 0.8, 1.25, 3.0], steps=600, replicas=5)
    assert pd.phase[1].tolist() == [0, 0, 1, 1], pd.phase  # density 1: not represented below 1, dedicated above
    assert (pd.phase[0] == 2).sum() >= 3, pd.phase  # density 0.03: superposition (measured 4 of 4)
    assert np.all(pd.norms[1, :2, 0] > 0.9)  # where the 2nd is dropped, the 1st keeps the dimension


def test_per_instance_settings_are_checked():
    with pytest.raises(ValueError, match="feature_probability"):
        ToyModelConfig(n_instances=2, feature_probability=[0.1]).probabilities()
    with pytest.raises(ValueError, match="importance"):
        ToyModelConfig(n_instances=2, n_features=3, importance=[[1.0, 1.0]]).importances()


def test_the_experiment_writes_a_superposition_run(tmp_path, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    from interp.runs import list_runs

    script = Path(__file__).resolve().parents[2] / "experiments" / "superposition.py"
    monkeypatch.setattr(sys, "argv", ["superposition.py", "--steps", "300", "--phase-steps", "100",
                                      "--phase-replicas", "1", "--runs", str(tmp_path)])
    runpy.run_path(str(script), run_name="__main__")
    (run,) = list_runs(root=tmp_path, kind="superposition")
    res = json.loads((run.path / "results.json").read_text())
    assert np.array(res["pentagon_W"]).shape == (2, 5) and len(res["dense_norms"]) == 5
    assert np.array(res["phase"]["phase"]).shape == (8, 8)
    assert run.metrics["sae_mcc"] == res["sae"]["mcc"]
    assert "pentagon:" in capsys.readouterr().out
