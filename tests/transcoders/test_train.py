"""Training: known answers on synthetic data and on the toy LM's MLPs, checkpoints and resume, divergence."""

from __future__ import annotations

import math

import pytest
import torch

from interp.hooks.pipeline import open_store
from interp.sae import CheckpointError, TrainingDiverged
from interp.sae.checkpoint import load_checkpoint
from interp.sae.synthetic import derive_seed
from interp.transcoders import (CrossLayerTranscoder, TranscoderConfig, TranscoderTrainConfig, evaluate_transcoders,
                                train_transcoders)
from interp.transcoders.data import layer_hooks, open_pairs
from interp.transcoders.train import build_models
from tests.transcoders.conftest import IN, OUT, sparse_pairs

N_TRAIN = 12288  # of the 16384 synthetic rows; the rest are held out


def split(data: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    return {h: data[h][:N_TRAIN] for h in (IN, OUT)}, {h: data[h][N_TRAIN:] for h in (IN, OUT)}


def quick(activation: str = "topk", steps: int = 1000, **kw) -> TranscoderTrainConfig:
    opts = {"l1_coeff": 1.0} if activation == "relu" else {}  # the SAE default (5) over-shrinks 24-d targets
    tc = TranscoderConfig(d_in=0, d_out=0, d_sae=kw.pop("d_sae", 96), activation=activation,
                          k=kw.pop("k", 3) if activation == "topk" else None, skip=kw.pop("skip", False), **opts)
    return TranscoderTrainConfig(transcoder=tc, total_tokens=steps * 256, batch_size=256, lr=kw.pop("lr", 1e-2),
                                 warmup_steps=10, dead_tokens=kw.pop("dead_tokens", 256 * 20), progress=False, **kw)


@pytest.mark.parametrize("activation", ["topk", "relu", "jumprelu"])
def test_a_plt_recovers_the_sparse_map_and_its_features(pairs, activation):
    """y = s @ B with s sparse and x = s @ A (48 features in 40 dims): the decoder rows find B's rows."""
    train, held = split(pairs)
    res = train_transcoders(quick(activation), train)
    (tc,) = res.transcoders
    assert (tc.cfg.layer, tc.cfg.hook_in, tc.cfg.hook_out, tc.d_in, tc.d_out) == (0, IN, OUT, 40, 24)
    fvu = evaluate_transcoders(res.transcoders, held).layers[0]["fvu"]
    untrained = evaluate_transcoders(build_models(quick(activation), layer_hooks([IN, OUT]), {IN: 40, OUT: 24},
                                                  open_pairs(train, [IN, OUT]).sample(4096), None), held).layers[0]["fvu"]
    W = tc.W_dec.detach() / tc.W_dec.detach().norm(dim=-1, keepdim=True)
    best = (pairs["B"] @ W.T).max(dim=1).values  # [48] best cosine of each true feature's output direction
    print(f"{activation}: held-out FVU {fvu:.4f} (untrained {untrained:.2f}), features with cos > 0.9: "
          f"{(best > 0.9).float().mean():.2f}")
    assert fvu < 0.1 and untrained > 0.5
    assert (best > 0.9).float().mean() >= 0.9


def test_the_skip_connection_learns_the_dense_linear_part(pairs):
    """x = [s @ A, z], y = s @ B + z @ E with z dense: only a skip connection can carry z @ E; it recovers E.

    The inputs are 100x smaller than usual, so the raw-unit skip matrix must grow 100x larger: it
    only trains at the right speed with its own learning rate (lr · input_scale / output_scale).
    """
    g = torch.Generator().manual_seed(derive_seed(0, "tests.transcoders.dense"))
    z = torch.randn(len(pairs[IN]), 8, generator=g)
    E = torch.randn(8, 24, generator=g) * 0.1
    data = {IN: torch.cat([pairs[IN], z], 1) / 100, OUT: pairs[OUT] + z @ E}
    E = E * 100  # the map from the raw (1/100) inputs
    train, held = split(data)
    fvu = {}
    for skip in (False, True):
        res = train_transcoders(quick(skip=skip), train)
        fvu[skip] = evaluate_transcoders(res.transcoders, held).layers[0]["fvu"]
    W_skip = res.transcoders[0].W_skip.detach()
    print(f"FVU without skip {fvu[False]:.3f}, with {fvu[True]:.4f}; |W_skip[z] - E|/|E| "
          f"{(W_skip[40:] - E).norm() / E.norm():.4f}")
    assert fvu[True] < 0.05 < 0.15 < fvu[False]
    assert (W_skip[40:] - E).norm() / E.norm() < 0.05


def test_plt_and_clt_learn_the_toy_lm_mlps(toy_capture, toy_lm):
    """Per-layer and cross-layer transcoders of toy:toylm's 2 MLPs, a few hundred CPU steps each, held-out scores.

    Measured (seeds 0-3, 300 steps of 256 rows, d_sae 512, k 16): PLT FVU 0.184-0.187 / 0.121-0.125,
    CLT 0.176-0.178 / 0.129-0.131, untrained 1.4-2.0; CE-loss score 0.875-0.895 (untrained ~0); KL 0.27-0.29.
    """
    store = open_store(toy_capture.path)
    rest, held = store.split_sequences(0.1)
    scores = {}
    for cross in (False, True):
        cfg = TranscoderTrainConfig(transcoder=TranscoderConfig(d_in=0, d_out=0, d_sae=512, k=16), cross_layer=cross,
                                    total_tokens=300 * 256, batch_size=256, lr=3e-3, warmup_steps=20,
                                    dead_tokens=256 * 50, progress=False)
        res = train_transcoders(cfg, rest)
        assert isinstance(res.transcoders, CrossLayerTranscoder) == cross and res.layers == [0, 1]
        assert res.steps == 300 and res.history and all(math.isfinite(h["loss"]) for hs in res.history.values() for h in hs)
        ev = evaluate_transcoders(res.transcoders, held, toy_lm, max_seqs=16)
        fresh = build_models(cfg, layer_hooks(store.hooks), store.d, open_pairs(rest, store.hooks).sample(4096), store.model)
        ev0 = evaluate_transcoders(fresh, held, toy_lm, max_seqs=16)
        name = "CLT" if cross else "PLT"
        scores[name] = ev.metrics["ce_loss_score"]
        print(f"{name}: FVU {[round(m['fvu'], 3) for m in ev.layers.values()]} (untrained "
              f"{[round(m['fvu'], 3) for m in ev0.layers.values()]}), L0 {ev.metrics['l0']:.1f}, CE-loss score "
              f"{ev.metrics['ce_loss_score']:.3f} (untrained {ev0.metrics['ce_loss_score']:.3f}), KL {ev.metrics['kl']:.3f}")
        for layer in (0, 1):
            assert ev.layers[layer]["fvu"] < 0.25, (name, layer)
            assert ev0.layers[layer]["fvu"] > 1.0 and ev.layers[layer]["fvu"] < 0.2 * ev0.layers[layer]["fvu"]
            assert ev.layers[layer]["l0"] <= 16.0
        assert ev.metrics["ce_loss_score"] > 0.8 and ev0.metrics["ce_loss_score"] < 0.2
        assert ev.metrics["kl"] < 0.4
        assert ev.metrics["ce_loss_zero"] > ev.metrics["ce_loss_replaced"] > ev.metrics["ce_loss_clean"]


def two_layers() -> dict[str, torch.Tensor]:
    a, b = sparse_pairs(4096, d_in=16, d_out=16, seed=1), sparse_pairs(4096, d_in=16, d_out=16, seed=2)
    return {IN: a[IN], OUT: a[OUT], "blocks.1.hook_mlp_in": b[IN], "blocks.1.hook_mlp_out": b[OUT]}


def resumable(ckpt, cross: bool, resume: bool = False, **kw) -> TranscoderTrainConfig:
    # 24 steps over 16 batches an epoch (crosses an epoch), checkpoints every 5; many latents for k = 2 and a dead
    # window of 2 batches, so latents die and AuxK (driven by the restored dead-latent counters) shapes the weights
    return quick(steps=24, d_sae=256, k=2, skip=True, cross_layer=cross, checkpoint_dir=None if ckpt is None else str(ckpt),
                 checkpoint_every=5, resume=resume, dead_tokens=512, lr=3e-3, **kw)


class Killed(Exception):
    pass


def kill_at(step: int):
    def cb(s, metrics):
        if s == step:
            raise Killed

    return cb


@pytest.mark.parametrize("cross", [False, True])
def test_an_interrupted_run_resumes_to_identical_weights(tmp_path, cross):
    data = two_layers()
    ckpt = tmp_path / "ckpt"
    with pytest.raises(Killed):
        train_transcoders(resumable(ckpt, cross), data, callback=kill_at(12))
    folders = [ckpt] if cross else [ckpt / "L0", ckpt / "L1"]
    for f in folders:
        meta, _ = load_checkpoint(f)
        assert meta["step"] == 10 and meta["data"] == [[0, 10]]  # steps 11-12 were lost
        assert TranscoderTrainConfig.from_json(meta["train"]) == resumable(ckpt, cross)
    ran = []
    resumed = train_transcoders(resumable(ckpt, cross, resume=True), data, callback=lambda s, m: ran.append(s))
    assert ran == list(range(11, 25))
    straight = train_transcoders(resumable(None, cross), data)
    mods = lambda r: [r.transcoders] if cross else r.transcoders  # noqa: E731
    for a, b in zip(mods(resumed), mods(straight)):
        for name, p in b.state_dict().items():
            assert torch.allclose(a.state_dict()[name], p, atol=1e-6, rtol=0), name
    assert resumed.history.keys() == straight.history.keys()
    for key in straight.history:
        assert [h["step"] for h in resumed.history[key]] == [h["step"] for h in straight.history[key]]
        assert resumed.history[key][-1]["loss"] == pytest.approx(straight.history[key][-1]["loss"], rel=1e-5)


def test_resume_refuses_other_settings_and_a_fresh_run_refuses_a_used_folder(tmp_path):
    data = two_layers()
    train_transcoders(resumable(tmp_path, False), data)
    with pytest.raises(CheckpointError, match="already holds a checkpoint"):
        train_transcoders(resumable(tmp_path, False), data)
    other = resumable(tmp_path, False, resume=True)
    other.lr = 1e-3
    with pytest.raises(CheckpointError, match="different settings \\(lr\\)"):
        train_transcoders(other, data)


def test_a_non_finite_loss_stops_training_naming_the_layer(pairs):
    bad = {IN: pairs[IN][:2048].clone(), OUT: pairs[OUT][:2048].clone()}
    bad[OUT][100:] = float("inf")  # the scale is measured on a sample that includes finite rows only at its start
    cfg = quick(steps=8)
    cfg.normalize = False
    with pytest.raises(TrainingDiverged, match="Transcoder training for 'L0' stopped at step"):
        train_transcoders(cfg, bad)


def test_layers_and_hooks_are_checked():
    data = two_layers()
    assert layer_hooks(list(data)) == [(0, IN, OUT), (1, "blocks.1.hook_mlp_in", "blocks.1.hook_mlp_out")]
    assert layer_hooks(["blocks.3.ln2.hook_normalized", "blocks.3.hook_mlp_in", "blocks.3.hook_mlp_out"]) == [
        (3, "blocks.3.ln2.hook_normalized", "blocks.3.hook_mlp_out")]  # the LayerNorm output is preferred
    with pytest.raises(ValueError, match="Layer 2 needs"):
        train_transcoders(quick(layers=[2]), data)
    with pytest.raises(ValueError, match="layers 0..n-1"):
        train_transcoders(quick(layers=[1], cross_layer=True), data)
    res = train_transcoders(quick(steps=3, layers=[1]), data)
    assert [tc.cfg.layer for tc in res.transcoders] == [1] and list(res.history) == ["L1"]
