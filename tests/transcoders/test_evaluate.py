"""Evaluation: per-layer FVU as defined, and the replacement model run from each layer's live input."""

from __future__ import annotations

import pytest
import torch

from interp.hooks.hooked import forward
from interp.hooks.pipeline import open_store
from interp.transcoders import (CrossLayerTranscoder, TranscoderConfig, TranscoderTrainConfig, evaluate_transcoders,
                                replacement_hooks, replacement_metrics)
from interp.transcoders.data import layer_hooks, open_pairs
from interp.transcoders.evaluate import layer_metrics
from interp.transcoders.train import build_models


def fresh(store, cross: bool, skip: bool = True):
    """Untrained (seeded) transcoders of the toy capture: the wiring, not the quality, is under test."""
    cfg = TranscoderTrainConfig(transcoder=TranscoderConfig(d_in=0, d_out=0, d_sae=256, k=8, skip=skip), cross_layer=cross)
    models = build_models(cfg, layer_hooks(store.hooks), store.d, open_pairs(store, store.hooks).sample(2048), store.model)
    with torch.no_grad():  # a non-zero skip, so that it is exercised too
        for w in ([models.W_skip[l] for l in range(2)] if cross else [m.W_skip for m in models]) if skip else []:
            w.copy_(torch.randn(w.shape, generator=torch.Generator().manual_seed(1)) * 0.02)
    return models


def held_tokens(store, n: int = 4):
    held = store.split_sequences(0.1)[1]
    inputs = held.inputs(torch.unique(held.seq_ids())[:n])
    return inputs.tokens, inputs.attention_mask, inputs.n_prefix


def patch(where: torch.Tensor, value: torch.Tensor):
    def hook(act, hook=None):
        out = act.clone()
        out[where] = value[where]
        return out

    return hook


@pytest.mark.parametrize("cross", [False, True])
def test_the_replacement_model_reads_each_layers_live_input(toy_capture, toy_lm, cross):
    """One pass with replacement_hooks == replacing layer by layer, each layer's input re-read after the ones below."""
    store = open_store(toy_capture.path)
    models = fresh(store, cross)
    tok, mask, n_prefix = held_tokens(store)
    where = mask.bool().clone()
    where[:, :n_prefix] = False
    got = forward(toy_lm, tok, mask, replacement_hooks(models, where)).logits

    h_in = [f"blocks.{l}.ln2.hook_normalized" for l in (0, 1)]
    h_out = [f"blocks.{l}.hook_mlp_out" for l in (0, 1)]
    x0 = forward(toy_lm, tok, mask, names_filter=[h_in[0]]).cache[h_in[0]]
    if cross:
        a0 = models.encode(0, x0)
        y0 = models.decode(0, {0: a0}, x0)
    else:
        y0 = models[0](x0)
    x1 = forward(toy_lm, tok, mask, [(h_out[0], patch(where, y0))], names_filter=[h_in[1]]).cache[h_in[1]]
    clean_x1 = forward(toy_lm, tok, mask, names_filter=[h_in[1]]).cache[h_in[1]]
    assert not torch.allclose(x1, clean_x1)  # the replaced layer 0 changed what layer 1 reads
    y1 = models.decode(1, {0: a0, 1: models.encode(1, x1)}, x1) if cross else models[1](x1)
    want = forward(toy_lm, tok, mask, [(h_out[0], patch(where, y0)), (h_out[1], patch(where, y1))]).logits
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    clean = forward(toy_lm, tok, mask).logits
    torch.testing.assert_close(got[:, 0], clean[:, 0])  # BOS keeps its real MLP outputs (and sees nothing else)
    assert not torch.allclose(got[:, 1:], clean[:, 1:])
    valid = (mask[:, 1:] * mask[:, :-1]).bool()
    ce = -want[:, :-1].float().log_softmax(-1).gather(-1, tok[:, 1:, None].long())[..., 0][valid].mean()
    assert replacement_metrics(models, toy_lm, tok, mask, n_prefix)["ce_loss_replaced"] == pytest.approx(float(ce), rel=1e-4)


def test_transcoders_that_output_nothing_score_zero(toy_capture, toy_lm):
    """Zero decoders and biases, no skip: the replacement model *is* the zero-ablated one."""
    store = open_store(toy_capture.path)
    models = fresh(store, cross=False, skip=False)
    with torch.no_grad():
        for m in models:
            m.W_dec.zero_()
            m.b_dec.zero_()
    tok, mask, n_prefix = held_tokens(store)
    m = replacement_metrics(models, toy_lm, tok, mask, n_prefix)
    assert m["ce_loss_replaced"] == pytest.approx(m["ce_loss_zero"], abs=1e-6)
    assert m["ce_loss_score"] == pytest.approx(0.0, abs=1e-6)
    assert m["ce_loss_zero"] > m["ce_loss_clean"] + 1.0 and m["kl"] > 0.5
    assert m["splice_tokens"] == int((mask[:, 1:] * mask[:, :-1]).sum())


@pytest.mark.parametrize("cross", [False, True])
def test_layer_metrics_are_the_fvu_of_the_mlp_output(toy_capture, cross):
    store = open_store(toy_capture.path)
    held = store.split_sequences(0.1)[1]
    models = fresh(store, cross)
    per, density = layer_metrics(models, held, batch_size=100)  # several chunks
    xs = {l: held.rows(f"blocks.{l}.ln2.hook_normalized") for l in (0, 1)}
    with torch.no_grad():
        ys_hat = models(list(xs.values())) if cross else [models[l](xs[l]) for l in (0, 1)]
        acts = {l: (models.encode(l, xs[l]) if cross else models[l].encode(xs[l])) for l in (0, 1)}
    for l in (0, 1):
        y = held.rows(f"blocks.{l}.hook_mlp_out").double()
        fvu = float((y - ys_hat[l].double()).pow(2).sum() / (y - y.mean(0)).pow(2).sum())
        assert per[l]["fvu"] == pytest.approx(fvu, rel=1e-5)
        assert per[l]["n_tokens"] == len(held)
        assert per[l]["l0"] == pytest.approx(float((acts[l] > 0).sum(-1).double().mean()), rel=1e-6)
        torch.testing.assert_close(density[l], (acts[l] > 0).float().mean(0))
        assert per[l]["dead_frac"] == pytest.approx(float((density[l] == 0).float().mean()))


def test_evaluate_on_tensors_has_no_splice_metrics(toy_capture, toy_lm):
    store = open_store(toy_capture.path)
    models = fresh(store, cross=True)
    held = store.split_sequences(0.1)[1]
    data = {h: held.rows(h) for h in store.hooks}
    ev = evaluate_transcoders(models, data, toy_lm)
    assert isinstance(models, CrossLayerTranscoder) and set(ev.layers) == {0, 1}
    assert "ce_loss_score" not in ev.metrics
    assert ev.metrics["fvu"] == pytest.approx((ev.layers[0]["fvu"] + ev.layers[1]["fvu"]) / 2)
