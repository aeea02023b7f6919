"""The edge graph and the edge-cutting forward pass: exact identities on the tiny model."""

from __future__ import annotations

import pytest
import torch

from interp.circuits.graph import EdgeGraph, EdgeRun, node_activations, patch_values
from interp.hooks.hooked import cache_hooks
from circuit_threads import one_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


def _pair(seed=0, batch=3, pos=10):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, 50, (batch, pos), generator=g), torch.randint(1, 50, (batch, pos), generator=g)


def test_edge_counts():
    # 3 layers x 4 heads + MLPs: heads of layer l read 1 + 5l nodes on each of q/k/v, MLP l reads 1 + 5l + 4,
    # the logits read all 16.
    g = EdgeGraph(3, 4, True)
    assert len(g.src) == 16 and len(g.dst) == 3 * 13 + 1
    assert g.n_edges == sum(12 * (1 + 5 * l) + (5 + 5 * l) for l in range(3)) + 16 == 262
    g2 = EdgeGraph(2, 4, False)  # toy:induction's shape
    assert g2.n_edges == 12 * 1 + 12 * 5 + 9 == 81
    assert g2.edge_name(2, g2.attn_slots(1, "k")[3]) == "L0H1->L1H3.k"
    assert not g2.valid[5, g2.attn_slots(1, "q")[0]]  # a layer-1 head cannot feed a layer-1 head


def test_no_cut_is_the_model_and_nodes_sum_to_the_residual(tiny_model):
    clean, corrupt = _pair()
    g = EdgeGraph.from_model(tiny_model)
    with torch.no_grad():
        base = tiny_model(clean)
    run = EdgeRun(tiny_model, g, node_activations(tiny_model, g, corrupt), torch.zeros_like(g.valid), probes=True)
    torch.testing.assert_close(run(clean).detach(), base, atol=1e-5, rtol=1e-5)  # per-head q/k/v rebuilt exactly
    resid = cache_hooks(tiny_model, clean, ["ln_final.hook_in"])["ln_final.hook_in"]
    total = run.node_acts().sum(2) + tiny_model.b_O.detach().sum(0)  # + the attention output biases
    torch.testing.assert_close(total, resid, atol=1e-5, rtol=1e-5)


def test_cutting_every_edge_or_the_logits_inputs_gives_the_corrupt_run(tiny_model):
    clean, corrupt = _pair(1)
    g = EdgeGraph.from_model(tiny_model)
    patch = patch_values(tiny_model, g, clean, "corrupt", corrupt=corrupt)
    with torch.no_grad():
        target = tiny_model(corrupt)
        torch.testing.assert_close(EdgeRun(tiny_model, g, patch, g.valid.clone())(clean), target, atol=1e-5, rtol=1e-5)
        only_out = torch.zeros_like(g.valid)
        only_out[:, -1] = True
        torch.testing.assert_close(EdgeRun(tiny_model, g, patch, only_out)(clean), target, atol=1e-5, rtol=1e-5)


def test_cutting_one_query_edge_equals_patching_that_heads_query(tiny_model):
    """input -> L0H2.q cut == head 2 of layer 0 computing its query from the corrupt input."""
    clean, corrupt = _pair(2)
    g = EdgeGraph.from_model(tiny_model)
    cut = torch.zeros_like(g.valid)
    cut[0, g.attn_slots(0, "q")[2]] = True
    q_corrupt = cache_hooks(tiny_model, corrupt, ["blocks.0.attn.hook_q"])["blocks.0.attn.hook_q"]

    def patch_q(act, hook):
        act = act.clone()
        act[:, :, 2] = q_corrupt[:, :, 2]
        return act

    with torch.no_grad(), tiny_model.hooks(fwd_hooks=[("blocks.0.attn.hook_q", patch_q)]):
        expected = tiny_model(clean)
    with torch.no_grad():
        got = EdgeRun(tiny_model, g, node_activations(tiny_model, g, corrupt), cut)(clean)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        base = tiny_model(clean)
    assert not torch.allclose(got, base, atol=1e-4)


def test_mean_and_zero_patch_values(tiny_model):
    clean, corrupt = _pair(3)
    g = EdgeGraph.from_model(tiny_model)
    mean = patch_values(tiny_model, g, clean, "mean", reference=corrupt)
    torch.testing.assert_close(mean[0], node_activations(tiny_model, g, corrupt).mean(0))
    assert (patch_values(tiny_model, g, clean, "zero") == 0).all()


def test_post_ln_encoders_are_refused(minilm):
    """MiniLM (BERT) normalises after the residual add: its stream is not a sum of node outputs."""
    g = EdgeGraph.from_model(minilm)
    with pytest.raises(ValueError, match="pre-norm"):
        node_activations(minilm, g, torch.randint(1000, 2000, (1, 6)))
