"""The per-layer transcoder's fixed interface: names, shapes, the affine encoder, the activations, skip and scales."""

from __future__ import annotations

import pytest
import torch

from interp.transcoders import Transcoder, TranscoderConfig


def make(activation: str = "topk", skip: bool = False, d_in: int = 12, d_out: int = 10, d_sae: int = 32, k: int | None = 4,
         seed: int = 0, **kw) -> Transcoder:
    """A transcoder with random (seeded) weights, biases, skip and scales that are not 1."""
    tc = Transcoder(TranscoderConfig(d_in=d_in, d_out=d_out, d_sae=d_sae, activation=activation, k=k, skip=skip,
                                     input_scale=1.7, output_scale=0.6, **kw))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in tc.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        if tc.threshold is not None:
            tc.threshold.copy_(torch.rand(d_sae, generator=g) * 0.3)
    return tc.eval()


def test_parameter_names_and_shapes():
    tc = make(skip=True)
    shapes = {k: tuple(v.shape) for k, v in tc.state_dict().items()}
    assert shapes == {"W_enc": (12, 32), "b_enc": (32,), "W_dec": (32, 10), "b_dec": (10,), "W_skip": (12, 10)}
    assert make(skip=False).W_skip is None and "W_skip" not in make().state_dict()
    assert tuple(make("jumprelu", k=None).state_dict()["threshold"].shape) == (32,)
    assert (tc.d_in, tc.d_out, tc.d_sae) == (12, 10, 32)


@pytest.mark.parametrize("activation", ["topk", "relu", "jumprelu"])
@pytest.mark.parametrize("skip", [False, True])
def test_forward_is_decode_of_encode_for_any_leading_shape(activation, skip):
    tc = make(activation, skip, k=4 if activation == "topk" else None)
    x = torch.randn(3, 5, 12)
    acts = tc.encode(x)
    assert acts.shape == (3, 5, 32) and tc(x).shape == (3, 5, 10)
    torch.testing.assert_close(tc(x), tc.decode(acts, x))
    torch.testing.assert_close(acts, tc.activation(tc.pre_acts(x)))
    torch.testing.assert_close(tc(x)[1, 2], tc(x[1, 2][None])[0])  # rows are independent


def test_pre_acts_are_affine_in_x_with_the_input_scale_and_no_b_dec():
    tc = make()
    x = torch.randn(6, 12)
    torch.testing.assert_close(tc.pre_acts(x), 1.7 * x @ tc.W_enc + tc.b_enc)
    a, b = torch.randn(12), torch.randn(12)
    torch.testing.assert_close(tc.pre_acts(0.3 * a + 0.7 * b), 0.3 * tc.pre_acts(a) + 0.7 * tc.pre_acts(b))


def test_decode_divides_by_the_output_scale_and_adds_the_skip_in_raw_units():
    tc = make(skip=True)
    x, acts = torch.randn(6, 12), torch.rand(6, 32)
    torch.testing.assert_close(tc.decode(acts), (acts @ tc.W_dec + tc.b_dec) / 0.6)
    torch.testing.assert_close(tc.decode(acts, x) - tc.decode(acts), x @ tc.W_skip)
    no_skip = make(skip=False)
    torch.testing.assert_close(no_skip.decode(acts, x), no_skip.decode(acts))


def test_topk_keeps_exactly_k_of_the_largest():
    tc = make(k=5)
    with torch.no_grad():
        tc.b_enc.fill_(10.0)  # every pre-activation positive: exactly k survive
    x = torch.randn(50, 12)
    pre, acts = tc.pre_acts(x), tc.encode(x)
    assert ((acts > 0).sum(-1) == 5).all()
    top = pre.topk(5, dim=-1)
    torch.testing.assert_close(acts.gather(-1, top.indices), top.values)
    with torch.no_grad():
        tc.b_enc.fill_(-10.0)  # none positive: ReLU first, so nothing fires
    assert (tc.encode(x) == 0).all()


def test_relu_and_jumprelu():
    pre = torch.tensor([[-1.0, 0.0005, 0.2, 2.0]])
    relu = make("relu", k=None, d_sae=4)
    torch.testing.assert_close(relu.activation(pre), pre.relu())
    jump = make("jumprelu", k=None, d_sae=4)
    with torch.no_grad():
        jump.threshold.copy_(torch.tensor([0.001, 0.001, 0.5, 0.001]))
    torch.testing.assert_close(jump.activation(pre), torch.tensor([[0.0, 0.0, 0.0, 2.0]]))
    assert Transcoder(TranscoderConfig(4, 4, 8, activation="jumprelu", k=None)).threshold.eq(0.001).all()


@pytest.mark.parametrize("kw, says", [
    (dict(activation="gelu"), "Unknown transcoder activation"),
    (dict(activation="topk", k=None), "needs 0 < k <= d_sae"),
    (dict(activation="topk", k=99), "needs 0 < k <= d_sae"),
    (dict(d_sae=0), "sizes must be positive"),
])
def test_bad_configs_are_named(kw, says):
    base = dict(d_in=4, d_out=4, d_sae=8, k=2)
    with pytest.raises(ValueError, match=says):
        Transcoder(TranscoderConfig(**{**base, **kw}))


def test_config_round_trips_through_json():
    cfg = TranscoderConfig(3, 5, 7, activation="relu", k=None, skip=True, input_scale=2.0, hook_in="a", hook_out="b",
                           layer=1, model="toy:toylm", l1_coeff=2.5)
    assert TranscoderConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="Unknown TranscoderConfig keys"):
        TranscoderConfig.from_json({**cfg.to_json(), "bogus": 1})


def test_the_training_loss_on_scaled_units():
    """MSE of the scaled target (skip term scaled by output_scale / input_scale), plus each activation's own term."""
    xs, ys = torch.randn(64, 12), torch.randn(64, 10)
    gain = 0.6 / 1.7
    for activation in ("topk", "relu", "jumprelu"):
        tc = make(activation, skip=True, k=4 if activation == "topk" else None).train()
        pre = xs @ tc.W_enc + tc.b_enc
        acts = tc.activation(pre)
        y_hat = acts @ tc.W_dec + tc.b_dec + xs @ tc.W_skip * gain
        mse = (ys - y_hat).pow(2).sum(-1).mean()
        out = tc.loss(xs, ys, sparsity_scale=0.5)
        torch.testing.assert_close(out.parts["mse"], mse)
        torch.testing.assert_close(out.sse, ((ys - y_hat).pow(2).sum() * torch.ones(1)).detach())
        if activation == "relu":
            l1 = (acts * tc.W_dec.norm(dim=-1)).sum(-1).mean()
            torch.testing.assert_close(out.parts["l1"], l1)
            torch.testing.assert_close(out.loss, mse + 0.5 * tc.cfg.l1_coeff * l1)
        if activation == "jumprelu":
            torch.testing.assert_close(out.parts["l0"], (pre > tc.threshold).float().sum(-1).mean())
        if activation == "topk":
            assert out.parts["aux"] == 0  # nothing is dead
            torch.testing.assert_close(out.loss, mse)


def test_auxk_lets_the_dead_latents_model_the_residual():
    tc = make("topk", skip=False, k=4, k_aux=3).train()
    xs, ys = torch.randn(64, 12), torch.randn(64, 10)
    dead = torch.zeros(32, dtype=torch.bool)
    dead[::2] = True
    out = tc.loss(xs, ys, dead=dead)
    pre = (xs @ tc.W_enc + tc.b_enc)[:, dead]
    vals, idx = pre.topk(3, dim=-1)
    e_hat = torch.zeros(64, 16).scatter(1, idx, vals.relu()) @ tc.W_dec[dead]
    residual = ys - (tc.encode(xs / 1.7) @ tc.W_dec + tc.b_dec)
    aux = (residual - e_hat).pow(2).sum(-1).mean()
    torch.testing.assert_close(out.parts["aux"], aux)
    torch.testing.assert_close(out.loss, out.parts["mse"] + tc.cfg.aux_coeff * aux)
    out.parts["aux"].backward()
    assert tc.W_enc.grad[:, ~dead].abs().sum() == 0 < tc.W_enc.grad[:, dead].abs().sum()  # only the dead learn from it
