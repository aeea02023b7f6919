"""Feature dashboards of transcoder latents, checked against brute force over the whole store.

Transcoders trained for a few steps on the toy LM's MLP pairs (toy_capture): for every latent the
top contexts must be the rows where a direct encode of the store is largest, the contexts'
centres those rows' tokens, and the logit effects the write direction (decoder ÷ output scale;
a CLT's summed over target layers) times W_U.
"""

from __future__ import annotations

import json

import pytest
import torch

from interp.cli import main
from interp.hooks.pipeline import open_store
from interp.runs import list_runs, load_run, start_run
from interp.sae.features import FeatureConfig
from interp.transcoders import (CrossLayerTranscoder, TranscoderConfig, TranscoderTrainConfig, load_transcoders,
                                train_transcoders)
from interp.transcoders.features import TranscoderLatents, transcoder_features

CFG = FeatureConfig(n_top=6, ctx_left=3, ctx_right=2, n_quantiles=3, n_per_quantile=2, n_bins=8, n_logit=5,
                    n_neighbours=3, batch_size=700)  # batches that straddle sequences and shards


@pytest.fixture(scope="module")
def store(toy_capture):
    return open_store(toy_capture.path)


@pytest.fixture(scope="module", params=[False, True], ids=["plt", "clt"])
def trained(request, store):
    cfg = TranscoderTrainConfig(transcoder=TranscoderConfig(d_in=0, d_out=0, d_sae=96, k=4), cross_layer=request.param,
                                total_tokens=40 * 256, batch_size=256, lr=3e-3, warmup_steps=5, seed=3, progress=False)
    return train_transcoders(cfg, store).transcoders


def brute_force(models, store, layer: int) -> torch.Tensor:
    """Every latent of ``layer`` on every store row [n_rows, d_sae], encoded in one go (not through the analysis)."""
    hook = f"blocks.{layer}.ln2.hook_normalized"
    x = store.rows(hook).float()
    with torch.no_grad():
        return models.encode(layer, x) if isinstance(models, CrossLayerTranscoder) else models[layer].encode(x)


def test_top_contexts_are_where_a_direct_encode_is_largest(trained, store):
    feats = transcoder_features(trained, store, cfg=CFG, progress=False)
    assert sorted(feats) == [0, 1]
    tokens = store.inputs().tokens
    seq, pos = store.seq_ids(), store.seq_positions()
    for layer, f in feats.items():
        t, z = f.tensors, brute_force(trained, store, layer)  # z [n_rows, d_sae]
        assert f.meta["hook"] == f"blocks.{layer}.ln2.hook_normalized" and f.meta["layer"] == layer
        assert f.meta["n_tokens"] == z.shape[0] == len(store)
        assert torch.allclose(t["density"], (z > 0).float().mean(0))
        assert torch.allclose(t["max_act"], z.max(0).values.clamp_min(0), atol=1e-5)
        best = z.topk(CFG.n_top, dim=0).values.T  # [d_sae, n_top] the largest values of each latent
        assert torch.allclose(t["top_value"], best.clamp_min(0), atol=1e-5)
        live = t["top_value"] > 0
        assert live.sum() > z.shape[1]  # most latents have several top contexts
        lat = torch.arange(z.shape[1])[:, None].expand_as(live)
        rows = t["top_rows"]
        assert torch.allclose(z[rows[live], lat[live]], t["top_value"][live], atol=1e-5)  # each row holds its value
        assert (rows[~live] == -1).all()
        centre = t["top_tokens"][:, :, CFG.ctx_left]
        assert torch.equal(centre[live], tokens[seq[rows[live]], pos[rows[live]]])  # the context is that row's
        assert torch.allclose(t["top_acts"][:, :, CFG.ctx_left][live], t["top_value"][live], atol=1e-5)
        left = t["top_acts"][:, :, CFG.ctx_left - 1]  # the token before: the latent's value on the previous row
        has_prev = live & (pos[rows.clamp_min(0)] > 0)
        prev = store.row_index(seq[rows[has_prev]], pos[rows[has_prev]] - 1)
        assert torch.allclose(left[has_prev], z[prev, lat[has_prev]], atol=1e-5)


def test_logit_effects_are_the_write_direction_times_the_unembedding(trained, store, toy_lm):
    feats = transcoder_features(trained, store, model=toy_lm, cfg=CFG, progress=False)
    W_U = toy_lm.W_U.detach().float()
    for layer, f in feats.items():
        if isinstance(trained, CrossLayerTranscoder):  # every later MLP output it writes reaches the logits
            scales = trained.cfg.output_scale
            write = sum(trained.W_dec_to(layer, t).detach() / scales[t] for t in range(layer, trained.n_layers))
            assert min(abs(s - 1) for s in scales) > 0.05  # so a missing scale would show
        else:
            tc = trained[layer]
            write = tc.W_dec.detach() / tc.cfg.output_scale
            assert abs(tc.cfg.output_scale - 1) > 0.05
        eff = write @ W_U  # [d_sae, d_vocab]
        v, i = eff.topk(CFG.n_logit, dim=1)
        t = f.tensors
        assert f.meta["has_logits"] and torch.equal(t["logit_pos_ids"], i)
        assert torch.allclose(t["logit_pos_vals"], v, rtol=1e-4, atol=1e-5)
        assert torch.allclose(t["logit_neg_vals"], eff.topk(CFG.n_logit, dim=1, largest=False).values, rtol=1e-4, atol=1e-5)
        unit = write / write.norm(dim=1, keepdim=True)
        cos = unit @ unit.T
        cos.fill_diagonal_(-2)
        assert torch.equal(t["neighbour_ids"][:, 0], cos.argmax(1))  # nearest latent by write direction
    assert feats[0].vocab is not None and len(feats[0].vocab) == toy_lm.cfg.d_vocab
    assert feats[1].vocab is None  # one vocab per run


def test_a_store_without_the_input_hook_or_a_layer_it_lacks_is_a_clear_error(trained, tmp_path, toy_lm):
    from interp.hooks.pipeline import CaptureConfig, capture_run

    other = capture_run(CaptureConfig(model="toy:toylm", hooks=["blocks.0.ln2.hook_normalized"], seq_len=16,
                                      max_seqs=4), root=tmp_path, model=toy_lm)
    one = open_store(other.path)
    with pytest.raises(ValueError, match=r"Layer 1's latents read 'blocks.1.ln2.hook_normalized'.*--store"):
        transcoder_features(trained, one, cfg=CFG, progress=False)
    assert sorted(transcoder_features(trained, one, cfg=CFG, layers=[0], progress=False)) == [0]
    with pytest.raises(ValueError, match=r"layers \[5\].*cover layers \[0, 1\]"):
        transcoder_features(trained, one, layers=[5])
    with pytest.raises(ValueError, match="layer 7"):
        TranscoderLatents(trained, 7)


@pytest.mark.parametrize("cross", [False, True])
def test_train_writes_per_layer_dashboards_and_the_cli_adds_them_later(toy_capture, toy_lm, tmp_path, capsys, cross):
    runs = tmp_path / "runs"
    base = ["transcoder", "train", "--store", str(toy_capture.path), "--d-sae", "64", "--k", "4", "--tokens",
            str(20 * 256), "--batch-size", "256", "--no-eval", "--n-top", "4", "--ctx", "2", "1", "--runs", str(runs)]
    assert main(base + (["--cross-layer"] if cross else [])) == 0
    (run,) = list_runs(runs, kind="transcoder")
    names = {f"{a}_L{l}" for a in ("features", "features_meta") for l in (0, 1)} | {"vocab"}
    assert names <= set(run.artifacts) and run.metrics["features_seconds"] >= 0
    assert run.artifacts["features_L1"] == "features/L1/features.safetensors"
    meta = run.read_json("features_meta_L1")
    assert (meta["layer"], meta["hook"], meta["n_top"], meta["ctx_left"], meta["transcoder"]) == (
        1, "blocks.1.ln2.hook_normalized", 4, 2, "clt" if cross else "plt")
    stored = run.read_tensors("features_L1")
    again = transcoder_features(load_transcoders(run.path), open_store(toy_capture.path), model=toy_lm,
                                cfg=FeatureConfig(n_top=4, ctx_left=2, ctx_right=1), progress=False)[1].tensors
    for key in ("top_value", "top_rows", "top_tokens", "density", "logit_pos_ids"):
        assert torch.equal(stored[key], again[key]), key  # what the run holds is what its transcoders give

    capsys.readouterr()
    assert main(base + ["--no-features", "--seed", "1"]) == 0
    bare = next(r for r in list_runs(runs, kind="transcoder") if r.path != run.path)
    assert not any(k.startswith("features") for k in bare.artifacts) and "vocab" not in bare.artifacts
    assert main(["transcoder", "features", "--run", str(bare.path), "--layers", "1", "--n-top", "3",
                 "--runs", str(runs)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-2])["layers"] == [1] and out[-1] == f"run: {bare.path}"
    bare = load_run(bare.path)
    assert bare.status == "complete" and "features_L1" in bare.artifacts and "features_L0" not in bare.artifacts
    assert bare.read_tensors("features_L1")["top_value"].shape[1] == 3
    assert len(bare.read_json("vocab")) == toy_lm.cfg.d_vocab
    assert bare.read_json("features_meta_L1")["store"] == str(open_store(toy_capture.path).path)


def test_the_features_command_says_what_is_wrong(tmp_path, capsys):
    runs = tmp_path / "runs"
    with start_run("sae", {}, root=runs) as sae:
        pass
    assert main(["transcoder", "features", "--run", str(sae.path)]) == 2
    assert "is a 'sae' run" in capsys.readouterr().err
    with start_run("transcoder", {"store": str(tmp_path / "gone")}, root=runs) as tc:
        pass
    assert main(["transcoder", "features", "--run", str(tc.path)]) == 2
    err = capsys.readouterr().err
    assert "is not there" in err and "--store" in err
