import pytest
import torch

from interp.sae import SAEConfig, make_sae
from interp.sae.base import sq_err

from .conftest import quick_train


def test_prefix_losses_and_validation():
    torch.manual_seed(0)
    sae = make_sae(SAEConfig(arch="matryoshka", d_in=8, d_sae=32, k=3, prefixes=[4, 16, 32]))
    x = torch.randn(40, 8)
    out = sae.loss(x)
    z = sae.batch_topk(sae.pre_acts(x))
    expect = sq_err(x, z[:, :4] @ sae.W_dec[:4] + sae.b_dec) + sq_err(x, z[:, :16] @ sae.W_dec[:16] + sae.b_dec)
    assert torch.allclose(out.parts["prefix_mse"], expect)
    assert torch.allclose(out.x_hat, z @ sae.W_dec + sae.b_dec, atol=1e-6)
    assert torch.allclose(out.loss, out.parts["mse"] + expect)
    with pytest.raises(ValueError, match="prefixes"):
        make_sae(SAEConfig(arch="matryoshka", d_in=8, d_sae=32, k=3, prefixes=[16, 4, 32]))
    with pytest.raises(ValueError, match="prefixes"):
        make_sae(SAEConfig(arch="matryoshka", d_in=8, d_sae=32, k=3, prefixes=[4, 16]))


def test_first_prefix_reconstructs_alone_better_than_plain_batchtopk(toy_data):
    _, x = toy_data
    kw = dict(prefixes=[16, 128])
    mat = quick_train(x, "matryoshka", **kw).sae
    plain = quick_train(x, "batchtopk").sae

    def prefix_fvu(sae):
        xs = x[:4000] * sae.cfg.input_scale
        z = sae.encode_scaled(xs)
        x_hat = z[:, :16] @ sae.W_dec[:16] + sae.b_dec
        return ((xs - x_hat).pow(2).sum() / (xs - xs.mean(0)).pow(2).sum()).item()

    assert prefix_fvu(mat) < 0.8 * prefix_fvu(plain)
