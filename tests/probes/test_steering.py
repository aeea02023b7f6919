"""A probe's direction put back into the model: ablating it drops the probe to chance; steering moves predictions."""

from __future__ import annotations

import pytest
import torch

from interp.hooks import capture
from interp.probes import LogisticProbe, ablation_hooks, project_out, steering_hooks

HOOK = "blocks.0.hook_resid_pre"


@pytest.fixture
def fitted(tiny_model):
    tokens = torch.randint(0, 50, (96, 20), generator=torch.Generator().manual_seed(0))
    acts = capture(tiny_model, tokens, [HOOK], progress=False)
    labels = (acts.meta["token_id"] < 25).long()
    probe = LogisticProbe(max_epochs=60, lr=0.05).fit(acts, labels, hook=HOOK)
    return tiny_model, tokens, labels, probe


def test_project_out_removes_exactly_the_span():
    g = torch.Generator().manual_seed(0)
    x, dirs = torch.randn(50, 8, generator=g), torch.randn(2, 8, generator=g)
    out = project_out(x, dirs)
    assert (out @ dirs.T).abs().max() < 1e-4
    other = torch.linalg.svd(dirs, full_matrices=True).Vh[2:]  # orthogonal complement
    assert torch.allclose(out @ other.T, x @ other.T, atol=1e-5)
    center = torch.randn(8, generator=g)
    centred = project_out(x, dirs, center)
    assert torch.allclose(centred @ dirs.T, (center @ dirs.T).expand(50, 2), atol=1e-4)


def test_ablating_the_probe_direction_drops_accuracy_to_chance(fitted):
    model, tokens, labels, probe = fitted
    clean = capture(model, tokens, [HOOK], progress=False)
    assert probe.score(clean[HOOK], labels) > 0.7  # well above chance (0.5) before
    with model.hooks(fwd_hooks=ablation_hooks(probe)):
        patched = capture(model, tokens, [HOOK], progress=False)
    pred = probe.predict(patched[HOOK])
    assert len(set(pred.tolist())) == 1  # the probe now sees nothing: one constant prediction
    majority = max(float(labels.float().mean()), 1 - float(labels.float().mean()))
    assert probe.score(patched[HOOK], labels) == pytest.approx(majority, abs=1e-6)
    # only the probe's direction moved: the rest of the activation is untouched
    resid = patched[HOOK] - clean[HOOK]
    u = probe.directions()[0] / probe.directions()[0].norm()
    assert torch.allclose(resid, (resid @ u)[:, None] * u[None], atol=1e-4)


def test_pattern_ablation_erases_the_information_not_just_this_probe(fitted):
    model, tokens, labels, probe = fitted
    with model.hooks(fwd_hooks=ablation_hooks(probe)):
        blinded = capture(model, tokens, [HOOK], progress=False)[HOOK]
    with model.hooks(fwd_hooks=ablation_hooks(probe, directions="pattern")):
        erased = capture(model, tokens, [HOOK], progress=False)[HOOK]
    split = probe.split_
    refit_blinded = LogisticProbe(max_epochs=60, lr=0.05).fit(blinded, labels, split=split)
    refit_erased = LogisticProbe(max_epochs=60, lr=0.05).fit(erased, labels, split=split)
    majority = max(float(labels.float().mean()), 1 - float(labels.float().mean()))
    assert refit_erased.scores_["test"] < majority + 0.05  # a new probe finds nothing after pattern removal
    assert refit_blinded.scores_["test"] > refit_erased.scores_["test"] + 0.05  # ...but still finds some after weights
    train = split == 0  # the pattern is the covariance on the training rows
    clean = capture(model, tokens, [HOOK], progress=False)[HOOK][train]
    with torch.no_grad():
        out = probe(clean)  # the probe's output on the clean activations, [rows, 1]
    x = erased[train]
    cov = (x - x.mean(0)).T @ (out - out.mean(0)) / x.shape[0]  # Cov(x', probe output): [d, 1]
    assert float(cov.abs().max()) < 1e-3 * float(probe.pattern.abs().max())  # zeroed


def test_steering_pushes_predictions_towards_a_class_and_respects_positions(fitted):
    model, tokens, labels, probe = fitted
    with model.hooks(fwd_hooks=steering_hooks(probe, alpha=50.0)):
        pushed = capture(model, tokens, [HOOK], progress=False)
    assert float((probe.predict(pushed[HOOK]) == 1).float().mean()) > 0.99
    with model.hooks(fwd_hooks=steering_hooks(probe, alpha=-50.0, positions=[3])):
        some = capture(model, tokens, [HOOK], progress=False)
    pred = probe.predict(some[HOOK]).reshape(96, 20)
    assert bool((pred[:, 3] == 0).all())
    clean_pred = probe.predict(capture(model, tokens, [HOOK], progress=False)[HOOK]).reshape(96, 20)
    assert torch.equal(torch.cat([pred[:, :3], pred[:, 4:]], 1), torch.cat([clean_pred[:, :3], clean_pred[:, 4:]], 1))


def test_steering_a_multiclass_probe_needs_a_class():
    x = torch.randn(600, 6)
    probe = LogisticProbe(max_epochs=5).fit(x, x[:, :3].argmax(1))
    with pytest.raises(ValueError, match="pass cls="):
        steering_hooks(probe, 1.0, hook="blocks.0.hook_resid_pre")
    with pytest.raises(ValueError, match="hook="):
        ablation_hooks(probe)
    (name, fn), = steering_hooks(probe, 2.0, hook="blocks.0.hook_resid_pre", cls=2)
    t = torch.zeros(1, 4, 6)
    assert torch.allclose(fn(t).norm(dim=-1), torch.full((1, 4), 2.0))
