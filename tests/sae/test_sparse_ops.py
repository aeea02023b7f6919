"""The fast TopK path must give the dense reference's outputs and gradients."""

import torch

from interp.sae import SAEConfig, make_sae


def _grads(sae, x, fast):
    sae.fast = fast
    sae.zero_grad()
    out = sae.loss(x)
    out.loss.backward()
    return out, {n: p.grad.clone() for n, p in sae.named_parameters()}


def test_fast_topk_matches_dense_reference():
    torch.manual_seed(0)
    sae = make_sae(SAEConfig(arch="topk", d_in=24, d_sae=96, k=6))
    with torch.no_grad():
        sae.b_enc.normal_(0, 0.3)  # some rows with fewer than k positive latents: ReLU'd zeros in the top k
        sae.b_dec.normal_(0, 0.5)
    x = torch.randn(200, 24)
    fast, g_fast = _grads(sae, x, True)
    dense, g_dense = _grads(sae, x, False)
    assert torch.allclose(fast.x_hat, dense.x_hat, atol=1e-5)
    assert torch.equal(fast.fired, dense.fired)
    for name in g_dense:
        assert torch.allclose(g_fast[name], g_dense[name], atol=1e-5, rtol=1e-4), name
    assert (g_dense["W_enc"] != 0).any() and (g_dense["b_dec"] != 0).any()
