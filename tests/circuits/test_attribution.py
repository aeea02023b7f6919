"""EAP is a first-order estimate of edge patching: it must match real patching for small perturbations."""

from __future__ import annotations

import pytest
import torch

from interp.circuits.attribution import edge_attribution, task_attribution
from interp.circuits.graph import EdgeGraph, EdgeRun, node_activations
from interp.circuits.metrics import Task
from circuit_threads import one_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


def _setup(model, seed=0):
    g = EdgeGraph.from_model(model)
    tokens = torch.randint(1, 50, (2, 8), generator=torch.Generator().manual_seed(seed))
    metric = lambda logits: torch.log_softmax(logits[:, -1], -1)[:, 7].mean()  # noqa: E731
    return g, tokens, metric


def test_eap_matches_actual_edge_patching_for_small_perturbations(tiny_model):
    g, tokens, metric = _setup(tiny_model)
    clean = node_activations(tiny_model, g, tokens)
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    patch = clean + 1e-3 * noise * clean.std()
    scores = edge_attribution(tiny_model, g, tokens, patch, metric)
    with torch.no_grad():
        base = metric(tiny_model(tokens)).item()
    edges = g.edges()[::7]  # a spread of edges of every kind (q/k/v, MLP, logits)
    actual, est = [], []
    for i, j in edges:
        cut = torch.zeros_like(g.valid)
        cut[i, j] = True
        with torch.no_grad():
            actual.append(metric(EdgeRun(tiny_model, g, patch, cut)(tokens)).double().item() - base)
        est.append(scores[i, j].item())
    actual, est = torch.tensor(actual), torch.tensor(est)
    assert est.abs().max() > 0
    corr = torch.corrcoef(torch.stack([actual, est]))[0, 1]
    assert corr > 0.98, (corr, actual, est)
    assert (actual - est).abs().max() < 0.1 * actual.abs().max()


def test_ig_with_one_step_is_eap_and_more_steps_differ(tiny_model):
    g, tokens, metric = _setup(tiny_model, 1)
    corrupt = torch.randint(1, 50, tokens.shape, generator=torch.Generator().manual_seed(5))
    patch = node_activations(tiny_model, g, corrupt)
    eap = edge_attribution(tiny_model, g, tokens, patch, metric)
    for path in ("edges", "inputs"):
        torch.testing.assert_close(edge_attribution(tiny_model, g, tokens, patch, metric, 1, path), eap)
        ig = edge_attribution(tiny_model, g, tokens, patch, metric, 4, path)
        assert ig.shape == eap.shape and not torch.allclose(ig, eap)
        assert (ig[~g.valid] == 0).all()
    with pytest.raises(ValueError, match="steps"):
        edge_attribution(tiny_model, g, tokens, patch, metric, 0)


def test_task_attribution_batches_average_and_kl_eap_is_refused(tiny_model):
    g = EdgeGraph.from_model(tiny_model)
    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(1, 50, (4, 8), generator=gen)
    corrupt = torch.randint(1, 50, (4, 8), generator=gen)
    pos = torch.zeros(4, 8, dtype=torch.bool)
    pos[:, -1] = True
    task = Task(clean, corrupt, pos, torch.full((4, 8), 3), torch.full((4, 8), 4))
    whole = task_attribution(tiny_model, g, task, "logit_diff", "eap", batch_size=4, progress=False)
    halves = task_attribution(tiny_model, g, task, "logit_diff", "eap", batch_size=2, progress=False)
    torch.testing.assert_close(whole, halves, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="KL"):
        task_attribution(tiny_model, g, task, "kl", "eap", progress=False)
