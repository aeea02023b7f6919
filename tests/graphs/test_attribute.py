"""Attribution graphs' exact identities, on the shipped toy LM with random and trained transcoders."""

from __future__ import annotations

import pytest
import torch

from interp.graphs.attribute import AttributionConfig, attribute, naive_edges
from interp.graphs.replacement import GraphError, LocalReplacement

from graph_helpers import random_transcoders, randomised

PROMPT = "The cat sat on the mat. The cat sat on the"


@pytest.fixture(scope="module")
def toylm():
    from interp.models import load_model

    return load_model("toy:toylm", device="cpu")


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "skip"])
def graph_and_rep(request, toylm):
    tcs = random_transcoders(toylm, skip=request.param, output_scale=2.0)
    g = attribute(toylm, tcs, PROMPT, AttributionConfig(batch_size=16))
    rep = LocalReplacement(toylm, tcs, toylm.to_tokens(PROMPT))
    return g, rep


def test_the_replacement_reproduces_the_models_logits(graph_and_rep, toylm):
    g, rep = graph_and_rep
    a0 = rep.sources.activations()
    with torch.no_grad():
        _, logits = rep.run(a0[None], -1)
        real = toylm(toylm.to_tokens(PROMPT))[0, -1]
    assert torch.allclose(logits[0], real, atol=1e-4), (logits[0] - real).abs().max()
    assert torch.allclose(g.values[-g.n_logit:], real[g.logit_ids], atol=1e-4)


def test_completeness_every_target_is_its_edges_plus_its_bias(graph_and_rep):
    g, rep = graph_and_rep
    assert g.n_feat > 20 and g.n_logit >= 1
    rows = torch.cat([torch.arange(g.n_feat), torch.arange(g.n_nodes - g.n_logit, g.n_nodes)])
    total = g.adjacency[rows].sum(1) + g.bias[rows]
    assert torch.allclose(total, g.values[rows], atol=1e-4), (total - g.values[rows]).abs().max()
    # feature values are the transcoders' own pre-activations: active features' activations
    assert torch.allclose(g.values[: g.n_feat], g.feat_act, atol=1e-4)


def test_direct_effects_are_exact_under_single_source_ablation(graph_and_rep):
    g, rep = graph_and_rep
    s = rep.sources
    a0 = s.activations()
    gen = torch.Generator().manual_seed(0)
    picks = torch.randperm(len(s), generator=gen)[:12].tolist() + [s.err_index(s.layers[0], 3), s.emb_index(2)]
    targets = torch.arange(g.n_feat)
    with torch.no_grad():
        pre0, logits0 = rep.run(a0[None])
        base = torch.cat([rep.feature_pre(pre0, targets)[0], logits0[0, g.logit_ids]])
        for src in picks:
            a = a0.clone()
            a[src] = 0
            pre, logits = rep.run(a[None])
            now = torch.cat([rep.feature_pre(pre, targets)[0], logits[0, g.logit_ids]])
            rows = torch.cat([targets, torch.arange(g.n_nodes - g.n_logit, g.n_nodes)])
            assert torch.allclose(base - now, g.adjacency[rows, src], atol=1e-4), (src, (base - now - g.adjacency[rows, src]).abs().max())


def test_no_edge_runs_backwards_in_layers_or_positions(graph_and_rep):
    g, _ = graph_and_rep
    A = g.adjacency[: g.n_feat, : g.n_feat]
    later_layer = g.feat_layer[None, :] >= g.feat_layer[:, None]  # source layer >= target layer
    later_pos = g.feat_pos[None, :] > g.feat_pos[:, None]  # source after the target
    assert A[later_layer | later_pos].abs().max() == 0
    assert A.abs().sum() > 0  # and some edges exist


def test_batched_edges_equal_one_pass_per_target(toylm):
    tcs = random_transcoders(toylm, d_sae=32, k=4)
    g = attribute(toylm, tcs, "a b c a b", AttributionConfig(batch_size=7, max_logits=2))
    rep = LocalReplacement(toylm, tcs, toylm.to_tokens("a b c a b"))
    ref = naive_edges(rep, g.logit_ids)
    n_src = g.n_nodes - g.n_logit
    got = torch.cat([g.adjacency[: g.n_feat, :n_src], g.adjacency[n_src:, :n_src]])
    assert torch.allclose(got, ref, atol=1e-5)


def test_transcoders_must_cover_every_layer(toylm):
    with pytest.raises(GraphError, match="every MLP"):
        attribute(toylm, random_transcoders(toylm)[:1], PROMPT)


def test_pruning_keeps_the_influential_part(graph_and_rep):
    from interp.graphs.prune import influence, prune

    g, _ = graph_and_rep
    inf = influence(g)
    assert torch.allclose(inf[-g.n_logit:], g.logit_probs / g.logit_probs.sum())
    assert (inf[: g.n_feat] >= 0).all() and inf[: g.n_feat].sum() > 0
    loose, tight = prune(g, 0.99, 0.99), prune(g, 0.5, 0.9)
    f_loose, f_tight = loose.node_mask[: g.n_feat], tight.node_mask[: g.n_feat]
    assert f_tight.sum() < f_loose.sum() <= g.n_feat and not (f_tight & ~f_loose).any()  # nested
    feat_inf = inf[: g.n_feat]
    assert feat_inf[f_tight].sum() >= 0.5 * feat_inf.sum() - 1e-6  # covers the asked fraction
    assert feat_inf[f_tight].min() >= feat_inf[~f_tight].max()  # the most influential ones
    kept_edges = tight.edge_mask
    assert not (kept_edges & ~tight.node_mask[:, None]).any() and not (kept_edges & ~tight.node_mask[None, :]).any()
    assert (g.adjacency[kept_edges] != 0).all()


def test_a_graph_run_round_trips(graph_and_rep, tmp_path):
    from interp.graphs.prune import prune
    from interp.graphs.run import read_graph, write_graph_run
    from interp.runs import load_run

    g, _ = graph_and_rep
    pr = prune(g)
    run = write_graph_run((g, pr), spec="toy:toylm", config={"prompt": PROMPT}, root=tmp_path)
    back, extra = read_graph(load_run(run.path))
    assert torch.equal(back.adjacency, g.adjacency) and torch.equal(back.values, g.values)
    assert back.token_strs == g.token_strs and torch.equal(extra["node_keep"], pr.node_mask)
    assert torch.equal(extra["edge_keep"], pr.edge_mask)
    assert run.metrics["kept_features"] == int(pr.node_mask[: g.n_feat].sum())


def test_interventions_agree_with_the_graph(toylm):
    """Single-feature ablations: the graph's linear prediction vs the live replacement vs the spliced model."""
    from interp.graphs.interventions import model_effects, predicted_effects, replacement_effects

    tcs = random_transcoders(toylm, d_sae=64, k=8)
    tokens = toylm.to_tokens(PROMPT)
    g = attribute(toylm, tcs, tokens[0], AttributionConfig(batch_size=32, max_logits=1))
    rep = LocalReplacement(toylm, tcs, tokens)
    layer0 = (g.feat_layer == 0).nonzero().squeeze(1)
    feats = layer0[torch.randperm(layer0.numel(), generator=torch.Generator().manual_seed(1))[:50]]
    pred = predicted_effects(g, feats)[:, 0]
    cases = [[int(f)] for f in feats]
    frozen = replacement_effects(rep, cases, logit_ids=g.logit_ids, freeze_active=True)[:, 0]
    assert torch.allclose(pred, frozen, atol=1e-4), (pred - frozen).abs().max()  # the linear model, exactly
    # clamped together, a downstream feature stays at its clamp whatever the upstream one does
    last1 = ((g.feat_layer == 1) & (g.feat_pos == g.n_pos - 1)).nonzero().squeeze(1)
    src0 = g.adjacency[last1][:, layer0].abs().sum(0).argmax()  # the layer-0 feature that feeds them most
    pair = [int(layer0[src0]), int(last1[0])]
    joint = predicted_effects(g, pair, one_at_a_time=False)[:, 0]
    assert torch.allclose(joint, replacement_effects(rep, [pair], logit_ids=g.logit_ids, freeze_active=True)[:, 0],
                          atol=1e-4)
    live = replacement_effects(rep, cases, logit_ids=g.logit_ids)[:, 0]
    r = torch.corrcoef(torch.stack([pred, live]))[0, 1]
    assert r > 0.3, r  # random TopK transcoders re-choose their top k often; trained ones: see bench_graphs
    # layer-1 features feed the logits directly: the linear prediction is exact there
    layer1 = (g.feat_layer == 1).nonzero().squeeze(1)[:10]
    assert torch.allclose(predicted_effects(g, layer1)[:, 0],
                          replacement_effects(rep, [[int(f)] for f in layer1], logit_ids=g.logit_ids)[:, 0], atol=1e-4)
    # the spliced real model with nothing clamped is the model; with a feature clamped it moves
    last = ((g.feat_layer == 1) & (g.feat_pos == g.n_pos - 1)).nonzero().squeeze(1)[:3]  # they reach the logit
    real = model_effects(toylm, tcs, tokens, [[], [(int(g.feat_layer[f]), int(g.feat_pos[f]), int(g.feat_idx[f]))
                                                   for f in last]], logit_ids=g.logit_ids)
    assert real[0].abs().max() < 1e-5 and real[1].abs().max() > 1e-4


@pytest.mark.parametrize("cross_layer", [False, True], ids=["plt", "clt"])
@pytest.mark.parametrize("activation", ["topk", "relu", "jumprelu"])
def test_identities_hold_for_our_transcoder_classes(toylm, cross_layer, activation):
    from interp.transcoders.base import Transcoder, TranscoderConfig
    from interp.transcoders.clt import CLTConfig, CrossLayerTranscoder

    d, n = toylm.cfg.d_model, toylm.cfg.n_layers
    ins = [f"blocks.{L}.ln2.hook_normalized" for L in range(n)]
    outs = [f"blocks.{L}.hook_mlp_out" for L in range(n)]
    k = 6 if activation == "topk" else None
    if cross_layer:
        tcs = randomised(CrossLayerTranscoder(CLTConfig(n_layers=n, d_in=d, d_out=d, d_sae=48, activation=activation,
                                                         k=k, skip=True, input_scale=[1.5] * n, output_scale=[2.0] * n,
                                                         hooks_in=ins, hooks_out=outs)), 3)
    else:
        tcs = [randomised(Transcoder(TranscoderConfig(d_in=d, d_out=d, d_sae=48, activation=activation, k=k, skip=True,
                                                       input_scale=1.5, output_scale=2.0, hook_in=ins[L],
                                                       hook_out=outs[L], layer=L)), 3 + L) for L in range(n)]
    g = attribute(toylm, tcs, "a b c a b", AttributionConfig(batch_size=16, max_logits=2))
    assert g.n_feat > 5
    rows = torch.cat([torch.arange(g.n_feat), torch.arange(g.n_nodes - g.n_logit, g.n_nodes)])
    assert torch.allclose(g.adjacency[rows].sum(1) + g.bias[rows], g.values[rows], atol=1e-4)
    assert torch.allclose(g.values[: g.n_feat], g.feat_act, atol=1e-4)  # active = pre-activation
    with torch.no_grad():
        real = toylm(toylm.to_tokens("a b c a b"))[0, -1, g.logit_ids]
    assert torch.allclose(g.values[-g.n_logit:], real, atol=1e-4)


def test_bad_input_is_a_named_error(toylm):
    from interp.transcoders.base import Transcoder, TranscoderConfig

    narrow = [Transcoder(TranscoderConfig(d_in=64, d_out=128, d_sae=32, k=4, hook_in=f"blocks.{L}.ln2.hook_normalized",
                                          hook_out=f"blocks.{L}.hook_mlp_out", layer=L)) for L in range(2)]
    with pytest.raises(GraphError, match="maps width 64 -> 128.*trained on another model"):
        attribute(toylm, narrow, "a b c")
    with pytest.raises(GraphError, match="500 tokens; this model takes 1 to 128"):
        attribute(toylm, random_transcoders(toylm), torch.randint(0, 50, (500,)))
    with pytest.raises(GraphError, match="0 tokens"):
        attribute(toylm, random_transcoders(toylm), torch.zeros(0, dtype=torch.long))
    broken = random_transcoders(toylm)
    with torch.no_grad():
        broken[1].W_dec[3, 0] = float("nan")
    with pytest.raises(GraphError, match="NaN/inf weights.*layer 1: W_dec"):
        attribute(toylm, broken, "a b c")
