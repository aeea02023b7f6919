import pytest
import torch

from interp.sae import SAEConfig, make_sae

from .conftest import quick_train


def test_shapes_and_exactly_k_active():
    sae = make_sae(SAEConfig(arch="topk", d_in=16, d_sae=64, k=5))
    x = torch.randn(10, 3, 16)
    z = sae.encode(x.reshape(-1, 16))
    assert z.shape == (30, 64)
    assert ((z > 0).sum(-1) == 5).all()  # random init: far more than 5 positive pre-activations
    assert sae(x).shape == x.shape
    out = sae.loss(x.reshape(-1, 16))
    assert set(out.parts) == {"mse", "aux"} and out.l0.item() == 5
    assert out.fired.sum().item() == 150


def test_k_is_required():
    with pytest.raises(ValueError, match="k"):
        make_sae(SAEConfig(arch="topk", d_in=4, d_sae=8))


def test_decoder_rows_stay_unit_norm_and_loss_decreases(toy_data):
    _, x = toy_data
    r = quick_train(x, "topk")
    assert torch.allclose(r.sae.W_dec.norm(dim=-1), torch.ones(128), atol=1e-5)
    assert r.history[-1]["mse"] < 0.6 * r.history[0]["mse"]
    assert r.history[-1]["l0"] == 4


def test_auxk_gives_dead_latents_gradient():
    torch.manual_seed(0)
    sae = make_sae(SAEConfig(arch="topk", d_in=8, d_sae=32, k=2, k_aux=4))
    x = torch.randn(64, 8)
    dead = torch.zeros(32, dtype=torch.bool)
    dead[:10] = True
    out = sae.loss(x, dead=dead)
    assert out.parts["aux"].item() > 0
    sae.cfg.aux_coeff = 1.0
    (out.parts["aux"]).backward()
    g = sae.W_enc.grad.abs().sum(0)
    assert (g[:10] > 0).any() and (g[10:] == 0).all()  # only dead latents learn from AuxK
    assert sae.loss(x, dead=torch.zeros(32, dtype=torch.bool)).parts["aux"].item() == 0
