"""Hewitt & Liang controls: control task, selectivity, random-model baseline, and probe_report / the probe run."""

from __future__ import annotations

import pytest
import torch

from interp.probes import (
    ProbeDataError,
    ProbeResult,
    chance_level,
    control_labels,
    hook_layer,
    load_probe,
    probe_report,
    random_model,
    write_probe_run,
)
from interp.runs import load_run


def test_control_labels_are_per_type_and_keep_the_distribution():
    g = torch.Generator().manual_seed(0)
    types = torch.randint(0, 500, (20000,), generator=g)
    labels = (torch.rand(20000, generator=g) < 0.3).long()
    control = control_labels(types, labels, seed=1)
    for t in torch.unique(types)[:50]:
        assert len(set(control[types == t].tolist())) == 1  # one label per type
    per_type = control[torch.unique(types, return_inverse=True)[1].unique()]
    assert abs(float(control.float().mean()) - 0.3) < 0.06  # drawn from the task's label distribution
    assert torch.equal(control, control_labels(types, labels, seed=1))
    assert not torch.equal(control, control_labels(types, labels, seed=2))
    vec = control_labels(types[:10], torch.randn(10, 3), seed=0)  # regression targets: rows are drawn whole
    assert vec.shape == (10, 3)
    assert per_type.numel() > 0
    with pytest.raises(ProbeDataError, match="one entry per label row"):
        control_labels(types[:5], labels)
    with pytest.raises(ProbeDataError, match="integer keys"):
        control_labels(torch.rand(10), labels[:10])


def test_random_model_of_a_toy_has_the_same_architecture_and_new_weights(tiny_model):
    from interp.models.toy import native_state_dict

    assert not hasattr(tiny_model, "toy_config")  # booted, not loaded: the generic re-init path
    fresh = random_model(tiny_model, seed=3)
    a, b = native_state_dict(tiny_model), native_state_dict(fresh)
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    assert all(not torch.equal(a[k], b[k]) for k in a if a[k].dim() == 2)
    tokens = torch.randint(0, 50, (2, 10))
    assert fresh(tokens).shape == tiny_model(tokens).shape


def test_random_model_of_a_shipped_toy_is_reseeded():
    from interp.models import load_model
    from interp.models.toy import native_state_dict

    model = load_model("toy:modadd", device="cpu")
    fresh = random_model(model, seed=5)
    assert fresh.toy_config.seed == 5 and fresh.interp_spec == "random:toy:modadd"
    a, b = native_state_dict(model), native_state_dict(fresh)
    assert a.keys() == b.keys() and not torch.equal(a["tok_embed.weight"], b["tok_embed.weight"])
    again = native_state_dict(random_model(model, seed=5))
    assert torch.equal(b["tok_embed.weight"], again["tok_embed.weight"])  # seeded


def test_random_minilm_is_reinitialised(minilm):
    fresh = random_model(minilm, seed=1)
    p_old = dict(minilm.original_model.named_parameters())
    p_new = dict(fresh.original_model.named_parameters())
    assert p_old.keys() == p_new.keys()
    changed = [k for k in p_old if not torch.equal(p_old[k], p_new[k])]
    assert len(changed) > 0.6 * len(p_old)  # every weight matrix (LayerNorm gains/biases may already be 1/0)
    assert not torch.equal(minilm.W_E, fresh.W_E)
    assert float(fresh.W_E.detach().std()) == pytest.approx(minilm.original_model.config.initializer_range, rel=0.05)
    assert fresh.hook_dict.keys() == minilm.hook_dict.keys()


def _type_world(n=6000, n_types=300, d=48, seed=0):
    """Activations = a random vector per token type + noise; a property readable from a 'feature' direction."""
    g = torch.Generator().manual_seed(seed)
    types = torch.randint(0, n_types, (n,), generator=g)
    emb = torch.randn(n_types, d, generator=g)
    feature = torch.randn(n, generator=g)
    acts = emb[types] + 0.3 * torch.randn(n, d, generator=g)
    acts[:, 0] += 8 * feature  # the property lives on channel 0, independent of the type
    labels = (feature > 0).long()
    random_acts = torch.randn(n, d, generator=g)
    return acts, labels, types, random_acts


def test_probe_report_gives_the_probe_with_its_controls():
    acts, labels, types, random_acts = _type_world()
    report = probe_report(acts, labels, random_acts, types, hook=None, max_epochs=30)
    assert report.test > 0.9  # the property is linearly readable
    assert report.control < report.test - 0.2  # a random per-type label is not (as well)
    assert report.selectivity == pytest.approx(report.test - report.control)
    assert abs(report.random_model - 0.5) < 0.07  # nothing in the random activations
    assert report.chance == pytest.approx(0.5, abs=0.05)
    assert report.probe.split_ is report.control_probe.split_ or torch.equal(report.probe.split_, report.control_probe.split_)
    row = report.row(layer=2)
    assert set(row) == {"hook", "layer", "train", "val", "test", "control", "selectivity", "random_model"}
    with pytest.raises(ProbeDataError, match="same inputs"):
        probe_report(acts, labels, random_acts[:10], types)
    with pytest.raises(ProbeDataError, match="types="):
        probe_report(acts, labels, random_acts)


def test_chance_and_hook_layer():
    labels = torch.tensor([0, 0, 0, 1] * 25)
    assert chance_level(labels, "logistic") == pytest.approx(0.75)
    assert chance_level(labels, "linear") == 0.0
    assert [hook_layer(h) for h in ("blocks.0.hook_resid_pre", "blocks.2.hook_resid_mid", "blocks.2.hook_resid_post",
                                    "hook_embed")] == [0, 2, 3, 0]


def test_write_probe_run_follows_the_contract(tmp_path):
    acts, labels, types, random_acts = _type_world(n=2000)
    reports = []
    for hook in ("blocks.0.hook_resid_pre", "blocks.0.hook_resid_post"):
        r = probe_report(acts, labels, random_acts, types, max_epochs=10)
        r.hook = r.probe.hook = hook
        reports.append(r)
    run = write_probe_run(ProbeResult("feature", reports), spec="synthetic", config={"note": "synthetic"}, root=tmp_path)
    loaded = load_run(run.path)
    assert loaded.kind == "probe" and loaded.status == "complete"
    assert {"model", "task", "hooks", "probe", "l2", "l1", "val_frac", "test_frac"} <= set(loaded.config)
    res = loaded.read_json("results")
    assert res["task"] == "feature" and res["metric"] == "accuracy" and isinstance(res["chance"], float)
    assert [r["layer"] for r in res["rows"]] == [0, 1]
    for row in res["rows"]:
        assert set(row) == {"hook", "layer", "train", "val", "test", "control", "selectivity", "random_model"}
        assert all(isinstance(row[k], float) for k in ("train", "val", "test", "control", "selectivity", "random_model"))
    assert {"best_hook", "best_accuracy", "best_selectivity"} <= set(loaded.metrics)
    probe = load_probe(loaded.artifact("probes") / "blocks.0.hook_resid_post")
    assert probe.hook == "blocks.0.hook_resid_post"
    assert probe.score(acts, labels) == pytest.approx(reports[1].probe.score(acts, labels))
