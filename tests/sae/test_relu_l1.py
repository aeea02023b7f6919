import torch

from interp.sae import SAEConfig, make_sae

from .conftest import quick_train


def test_init_and_loss_parts():
    sae = make_sae(SAEConfig(arch="relu_l1", d_in=16, d_sae=48))
    assert torch.equal(sae.W_enc, sae.W_dec.T)  # April-2024: W_enc = W_decᵀ
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.full((48,), 0.1))
    x = torch.randn(20, 16)
    out = sae.loss(x, sparsity_scale=0.5)
    z = sae.encode_scaled(x)
    l1 = (z * sae.W_dec.norm(dim=-1)).sum(-1).mean()
    assert torch.allclose(out.parts["l1"], l1)
    assert torch.allclose(out.loss, out.parts["mse"] + 0.5 * sae.cfg.l1_coeff * l1)


def test_l1_is_weighted_by_decoder_norm():
    sae = make_sae(SAEConfig(arch="relu_l1", d_in=8, d_sae=16))
    x = torch.randn(30, 8)
    before = sae.loss(x).parts["l1"]
    with torch.no_grad():
        sae.W_dec.mul_(2)
    assert torch.allclose(sae.loss(x).parts["l1"], 2 * before)


def test_training_scales_inputs_and_reduces_loss(toy_data):
    _, x = toy_data
    r = quick_train(x, "relu_l1", l1_coeff=0.5)
    scaled = x * r.sae.cfg.input_scale
    assert abs(scaled.norm(dim=-1).mean().item() - 32 ** 0.5) < 0.05 * 32 ** 0.5
    assert r.history[-1]["mse"] < 0.6 * r.history[0]["mse"]
    assert r.history[-1]["l0"] < 128
