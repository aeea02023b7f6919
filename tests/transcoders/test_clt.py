"""The cross-layer transcoder's fixed interface: the (src, tgt) decoder order, decode's sum over src <= tgt, forward."""

from __future__ import annotations

import pytest
import torch

from interp.transcoders import CLTConfig, CrossLayerTranscoder
from interp.transcoders.clt import pair_index


def make(n_layers: int = 3, activation: str = "topk", skip: bool = False, seed: int = 0) -> CrossLayerTranscoder:
    clt = CrossLayerTranscoder(CLTConfig(n_layers=n_layers, d_in=8, d_out=6, d_sae=16, activation=activation,
                                         k=3 if activation == "topk" else None, skip=skip,
                                         input_scale=[1.5, 0.5, 2.0][:n_layers], output_scale=[0.7, 1.3, 0.4][:n_layers],
                                         hooks_in=[f"blocks.{l}.ln2.hook_normalized" for l in range(n_layers)],
                                         hooks_out=[f"blocks.{l}.hook_mlp_out" for l in range(n_layers)]))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in clt.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return clt.eval()


def test_decoders_are_stored_src_major():
    n = 4
    order = [(s, t) for s in range(n) for t in range(s, n)]
    assert [pair_index(s, t, n) for s, t in order] == list(range(len(order))) == list(range(n * (n + 1) // 2))
    clt = make()
    assert clt.pairs == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)] and len(clt.W_dec) == 6
    assert clt.W_dec_to(1, 2) is clt.W_dec[4]
    with pytest.raises(IndexError, match="itself or a later one"):
        clt.W_dec_to(2, 1)


def test_parameter_names_and_shapes():
    clt = make(skip=True)
    shapes = {k: tuple(v.shape) for k, v in clt.state_dict().items()}
    assert shapes == {**{f"W_enc.{l}": (8, 16) for l in range(3)}, **{f"b_enc.{l}": (16,) for l in range(3)},
                      **{f"W_dec.{i}": (16, 6) for i in range(6)}, **{f"b_dec.{l}": (6,) for l in range(3)},
                      **{f"W_skip.{l}": (8, 6) for l in range(3)}}
    assert clt.n_layers == 3 and clt.W_dec_to(0, 2).shape == (16, 6)


def test_decode_sums_every_layer_at_or_below_the_target():
    clt = make()
    acts = {l: torch.rand(5, 16) for l in range(3)}
    for t in range(3):
        want = (sum(acts[s] @ clt.W_dec_to(s, t) for s in range(t + 1)) + clt.b_dec[t]) / clt.cfg.output_scale[t]
        torch.testing.assert_close(clt.decode(t, acts), want)
    # later layers' latents never write backwards; a missing source layer counts as zeros
    torch.testing.assert_close(clt.decode(0, acts), clt.decode(0, {0: acts[0]}))
    torch.testing.assert_close(clt.decode(2, {0: acts[0], 2: acts[2]}),
                               clt.decode(2, {0: acts[0], 1: torch.zeros(5, 16), 2: acts[2]}))


@pytest.mark.parametrize("activation", ["topk", "relu", "jumprelu"])
@pytest.mark.parametrize("skip", [False, True])
def test_forward_encodes_each_layer_and_decodes_each_target(activation, skip):
    clt = make(activation=activation, skip=skip)
    xs = [torch.randn(2, 4, 8) for _ in range(3)]
    out = clt(xs)
    assert [o.shape for o in out] == [(2, 4, 6)] * 3
    acts = {l: clt.encode(l, xs[l]) for l in range(3)}
    for t in range(3):
        torch.testing.assert_close(out[t], clt.decode(t, acts, xs[t]))
        torch.testing.assert_close(acts[t], clt.activation(t, clt.pre_acts(t, xs[t])))
    torch.testing.assert_close(clt.pre_acts(1, xs[1]), xs[1] * 0.5 @ clt.W_enc[1] + clt.b_enc[1])
    if skip:
        torch.testing.assert_close(clt.decode(2, acts, xs[2]) - clt.decode(2, acts), xs[2] @ clt.W_skip[2])
    if activation == "topk":
        assert ((acts[0] > 0).sum(-1) <= 3).all()
    with pytest.raises(ValueError, match="needs 3 inputs"):
        clt(xs[:2])


def test_unit_norm_is_kept_over_each_latents_concatenated_decoders():
    clt = make()
    clt.after_optimizer_step()
    for src in range(3):
        norms = torch.cat(clt.decoders_from(src), dim=1).norm(dim=1)
        torch.testing.assert_close(norms, torch.ones(16))
    fresh = CrossLayerTranscoder(CLTConfig(n_layers=2, d_in=4, d_out=4, d_sae=8, k=2))
    torch.testing.assert_close(torch.cat(fresh.decoders_from(0), 1).norm(dim=1), torch.ones(8))


def test_config_checks_and_json():
    with pytest.raises(ValueError, match="input_scale has 2 entries for 3 layers"):
        CLTConfig(n_layers=3, d_in=4, d_out=4, d_sae=8, input_scale=[1.0, 1.0])
    cfg = CLTConfig(n_layers=2, d_in=4, d_out=4, d_sae=8, activation="jumprelu", k=None, l0_coeff=0.5)
    assert cfg.input_scale == [1.0, 1.0] and CLTConfig.from_json(cfg.to_json()) == cfg


def test_the_training_loss_sums_every_target_and_weights_l1_by_concatenated_decoder_norms():
    xs, ys = [torch.randn(32, 8) for _ in range(3)], [torch.randn(32, 6) for _ in range(3)]
    for activation in ("topk", "relu"):
        clt = make(activation=activation, skip=True).train()
        acts = {l: clt.activation(l, xs[l] @ clt.W_enc[l] + clt.b_enc[l]) for l in range(3)}
        mse = 0
        for t in range(3):
            y_hat = sum(acts[s] @ clt.W_dec_to(s, t) for s in range(t + 1)) + clt.b_dec[t] + \
                xs[t] @ clt.W_skip[t] * clt.cfg.output_scale[t] / clt.cfg.input_scale[t]
            mse = mse + (ys[t] - y_hat).pow(2).sum(-1).mean()
        out = clt.loss(xs, ys)
        torch.testing.assert_close(out.parts["mse"], mse)
        assert out.fired.shape == (3, 16) and out.l0.shape == (3,) and out.sse.shape == (3,)
        if activation == "relu":
            l1 = sum((acts[l] * torch.cat(clt.decoders_from(l), 1).norm(dim=1)).sum(-1).mean() for l in range(3))
            torch.testing.assert_close(out.parts["l1"], l1)
