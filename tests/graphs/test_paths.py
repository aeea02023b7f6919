"""Paths into one node, on a hand-built graph whose influences and strongest path are worked out by hand."""

from __future__ import annotations

import pytest
import torch

from interp.graphs.attribute import Graph
from interp.graphs.interventions import feature_triples, predicted_effects, top_features
from interp.graphs.paths import best_path_strengths, influence_on, logit_node, strongest_path
from interp.graphs.prune import influence


def hand_graph() -> Graph:
    """Two positions, layers 0 and 1, one feature in each, one logit (token 7).

    Nodes: 0 ``L0 f3 @0``, 1 ``L1 f5 @1``, 2-5 error nodes (L0 @0, L0 @1, L1 @0, L1 @1),
    6 ``emb @0``, 7 ``emb @1``, 8 the logit. Edges (normalised row fractions):
    f0 <- emb0 .75, emb1 .25; f1 <- f0 .5, emb1 .25, err(L1 @1) .25; logit <- f0 .2, f1 .6, emb0 .2.
    """
    A = torch.zeros(9, 9)
    A[0, 6], A[0, 7] = 3.0, -1.0  # signs do not matter: fractions of |A|
    A[1, 0], A[1, 7], A[1, 5] = 2.0, 1.0, 1.0
    A[8, 0], A[8, 1], A[8, 6] = 1.0, 3.0, -1.0
    return Graph(tokens=[10, 11], token_strs=["a", "b"], layers=[0, 1], feat_layer=torch.tensor([0, 1]),
                 feat_pos=torch.tensor([0, 1]), feat_idx=torch.tensor([3, 5]), feat_act=torch.tensor([1.0, 2.0]),
                 logit_ids=torch.tensor([7]), logit_probs=torch.tensor([0.9]), adjacency=A, values=torch.zeros(9),
                 bias=torch.zeros(9), logit_pos=1)


def test_influence_on_sums_every_path():
    g = hand_graph()
    inf = influence_on(g, logit_node(g, 7))
    # f1 .6; f0 .2 + .5*.6; emb0 .2 + .75*f0; emb1 .25*f0 + .25*f1; err(L1 @1) .25*f1; the other errors 0
    want = torch.tensor([0.5, 0.6, 0, 0, 0, 0.15, 0.575, 0.275, 1.0])
    assert torch.allclose(inf, want, atol=1e-6), inf
    # one logit: the same as pruning's influence (which weights logits by their probability, here all of it)
    assert torch.allclose(influence(g), want, atol=1e-6)
    # into a feature: only its own ancestors
    assert torch.allclose(influence_on(g, 1), torch.tensor([0.5, 1.0, 0, 0, 0, 0.25, 0.375, 0.375, 0]), atol=1e-6)


def test_strongest_path_is_the_best_product_of_fractions():
    g = hand_graph()
    t = logit_node(g, 7)
    best, nxt = best_path_strengths(g, t)
    # emb0: direct .2, or via f0 -> f1: .75 * .5 * .6 = .225 (better than via f0 directly: .75 * .2 = .15)
    assert torch.allclose(best[[0, 1, 5, 6, 7]], torch.tensor([0.3, 0.6, 0.15, 0.225, 0.15]), atol=1e-6), best
    assert nxt.tolist()[:2] == [1, t] and int(nxt[6]) == 0 and int(nxt[t]) == -1
    path = strongest_path(g, t)
    assert path.nodes == [6, 0, 1, t] and path.labels[0] == "emb 'a' @0", path
    assert path.fractions == pytest.approx([0.75, 0.5, 0.6]) and path.strength == pytest.approx(0.225)
    from_b = strongest_path(g, t, start=7)  # emb1: via f1 (.25 * .6) beats via f0 (.25 * .5 * .6)
    assert from_b.nodes == [7, 1, t] and from_b.strength == pytest.approx(0.15)
    with pytest.raises(ValueError, match="No path"):
        strongest_path(g, t, start=2)  # err(L0 @0) reaches nothing


def test_paths_name_the_problem():
    g = hand_graph()
    with pytest.raises(ValueError, match=r"AttributionConfig\(target=5\)"):
        logit_node(g, 5)
    with pytest.raises(ValueError, match="is an input"):
        influence_on(g, 6)
    with pytest.raises(IndexError):
        strongest_path(g, 99)


def test_feature_helpers():
    g = hand_graph()
    assert feature_triples(g, [1, 0]) == [(1, 1, 5), (0, 0, 3)]
    with pytest.raises(ValueError, match="not feature nodes"):
        feature_triples(g, [6])
    # zeroing f1 (act 2, 3 / 2 per unit into the logit) removes 3; zeroing f0 (act 1) removes its direct 1 and, as
    # f1 falls by 2 per unit of f0, 2 * 3 / 2 = 3 more: -4, so f0 first although its direct edge is the smaller
    assert top_features(g, 7, 2).tolist() == [0, 1]
    assert top_features(g, 7, 1).tolist() == [0] and top_features(g, 7, 9).tolist() == [0, 1]
    assert predicted_effects(g, [0, 1])[:, 0].tolist() == pytest.approx([-4.0, -3.0])  # each zeroed alone


def test_top_features_rank_by_predicted_effects_on_a_real_graph(tiny_model):
    from interp.graphs.attribute import AttributionConfig, attribute

    from graph_helpers import random_transcoders

    tokens = torch.randint(0, 50, (10,), generator=torch.Generator().manual_seed(0))
    g = attribute(tiny_model, random_transcoders(tiny_model, d_sae=32, k=4), tokens, AttributionConfig())  # 3 layers
    assert g.n_feat > 50 and bool((g.adjacency[: g.n_feat, : g.n_feat] != 0).any())  # feature-to-feature paths exist
    token = int(g.logit_ids[0])
    change = predicted_effects(g, torch.arange(g.n_feat))[:, 0]  # [n_feat]: one at a time, every path
    top = top_features(g, token, 10)
    assert torch.allclose(change[top], change.sort().values[:10], atol=1e-5), (change[top], change.sort().values[:10])
