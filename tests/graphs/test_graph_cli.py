"""`interp graph` on transcoders trained here, and what the graph predicts vs what ablations do."""

from __future__ import annotations

import json

import pytest
import torch

from interp.cli import main
from interp.runs import list_runs

HOOKS = [h for l in range(2) for h in (f"blocks.{l}.ln2.hook_normalized", f"blocks.{l}.hook_mlp_out")]
PROMPT = "It was the best of times, it was the worst of"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A transcoder run on toy:toylm (both layers, TopK k=16, 300 steps: ~5 s on 2 cores)."""
    from interp.hooks.pipeline import CaptureConfig, capture_run

    root = tmp_path_factory.mktemp("graph_runs")
    cap = capture_run(CaptureConfig(model="toy:toylm", hooks=HOOKS, seq_len=64, max_seqs=64, shuffle_seed=0,
                                    batch_size=32), root=root)
    assert main(["transcoder", "train", "--store", str(cap.path), "--d-sae", "512", "--k", "16",
                 "--tokens", str(300 * 256), "--batch-size", "256", "--lr", "0.003", "--eval-seqs", "4",
                 "--runs", str(root)]) == 0
    (run,) = list_runs(root, kind="transcoder")
    return root, run


def test_interp_graph_writes_a_graph_run(trained, capsys):
    from interp.graphs.run import read_graph

    root, tc_run = trained
    capsys.readouterr()
    assert main(["graph", "--transcoder", str(tc_run.path), "--prompt", PROMPT, "--runs", str(root)]) == 0
    out = capsys.readouterr().out
    assert "batched passes, about" in out  # the estimate is printed before the work
    (run,) = list_runs(root, kind="graph")
    assert run.model == "toy:toylm" and run.config["prompt"] == PROMPT
    assert json.loads(out.strip().splitlines()[-2])["features"] == run.metrics["features"] > 0
    graph, extra = read_graph(run)
    rows = torch.cat([torch.arange(graph.n_feat), torch.arange(graph.n_nodes - graph.n_logit, graph.n_nodes)])
    assert torch.allclose(graph.adjacency[rows].sum(1) + graph.bias[rows], graph.values[rows], atol=1e-4)
    assert torch.allclose(graph.values[-graph.n_logit:], torch.tensor(extra["model_logits"]), atol=1e-4)
    assert 0 < run.metrics["kept_features"] < run.metrics["features"]


def test_single_feature_ablations_follow_the_graph(trained):
    """Issue 13's intervention check: >= 50 single-feature ablations, graph prediction vs the live replacement."""
    from interp.graphs.attribute import AttributionConfig, attribute
    from interp.graphs.interventions import predicted_effects, replacement_effects
    from interp.graphs.replacement import LocalReplacement
    from interp.models import load_model
    from interp.transcoders import load_transcoders

    _, tc_run = trained
    model = load_model("toy:toylm", device="cpu")
    tcs = load_transcoders(tc_run.path)
    tokens = model.to_tokens(PROMPT)
    g = attribute(model, tcs, tokens[0], AttributionConfig(max_logits=1))
    rep = LocalReplacement(model, tcs, tokens)
    # the features that reach the top logit at all (a direct edge, or one into a feature that has one)
    reach = g.adjacency[-1, : g.n_feat].abs() > 0
    reach |= (g.adjacency[: g.n_feat, : g.n_feat].abs() * reach[:, None]).sum(0) > 0
    feats = reach.nonzero().squeeze(1)
    feats = feats[torch.randperm(feats.numel(), generator=torch.Generator().manual_seed(0))[:60]]
    assert feats.numel() >= 50
    pred = predicted_effects(g, feats)[:, 0]
    live = replacement_effects(rep, [[int(f)] for f in feats], logit_ids=g.logit_ids)[:, 0]
    r = float(torch.corrcoef(torch.stack([pred, live]))[0, 1])
    direct = -g.adjacency[-1, feats]  # what the feature's own edge to the logit alone predicts
    err, err_direct = (pred - live).abs().mean(), (direct - live).abs().mean()
    print(f"Pearson r over {feats.numel()} single-feature ablations: {r:.4f}; mean |error| {err:.2e} "
          f"(direct edges only: {err_direct:.2e})")
    assert r >= 0.9, r
    assert err < 0.5 * err_direct  # the paths through other features are part of the prediction
