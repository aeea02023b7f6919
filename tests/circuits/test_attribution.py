"""EAP is a first-order estimate of edge patching: it must match real patching for small perturbations."""

from __future__ import annotations

import pytest
import torch

from interp.circuits.attribution import edge_attribution, edge_patching, task_attribution
from interp.circuits.faithfulness import CircuitEval
from interp.circuits.graph import EdgeGraph, node_activations
from interp.circuits.metrics import Task, metric_fn, metric_per_input
from circuit_threads import one_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


def _setup(model, seed=0):
    g = EdgeGraph.from_model(model)
    tokens = torch.randint(1, 50, (2, 8), generator=torch.Generator().manual_seed(seed))
    metric = lambda logits: torch.log_softmax(logits[:, -1], -1)[:, 7].mean()  # noqa: E731
    return g, tokens, metric


def test_eap_matches_actual_edge_patching_for_small_perturbations(tiny_model):
    g, tokens, _ = _setup(tiny_model)
    positions = torch.zeros(tokens.shape, dtype=torch.bool)
    positions[:, -1] = True
    task = Task(tokens, tokens.clone(), positions, torch.full(tokens.shape, 7))
    with torch.no_grad():
        logits = tiny_model(tokens)
    clean = node_activations(tiny_model, g, tokens)
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    patch = clean + 1e-3 * noise * clean.std()  # a small perturbation of every node
    value = metric_per_input("logprob", logits, task).mean().item()
    ev = CircuitEval(tiny_model, g, task, "logprob", "perturbed", logits, patch, value, value - 1.0)
    actual = edge_patching(ev, progress=False)  # one real forward pass per edge
    est = edge_attribution(tiny_model, g, tokens, patch, metric_fn("logprob", task))
    a, e = actual[g.valid], est[g.valid]
    assert e.abs().max() > 0 and (actual[~g.valid] == 0).all()
    corr = torch.corrcoef(torch.stack([a, e]))[0, 1]
    assert corr > 0.98, (corr, a, e)
    assert (a - e).abs().max() < 0.1 * a.abs().max()


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
