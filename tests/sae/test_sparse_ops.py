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


def test_cpu_kernels_match_the_portable_gpu_branch():
    from interp.sae.sparse_ops import _sampled_dot, scatter_rows

    torch.manual_seed(1)
    n, k, d, s = 50, 4, 12, 40
    idx = torch.stack([torch.randperm(s)[:k] for _ in range(n)])
    w, rows, W = torch.randn(n, k), torch.randn(n, d), torch.randn(s, d)
    sorted_lat, order = idx.reshape(-1).sort()
    coo = (torch.stack([sorted_lat, order // k]), order)
    dense = torch.zeros(n, s).scatter_(1, idx, w)  # the reference: dense [n, d_sae] weights
    assert torch.allclose(scatter_rows(idx, w, rows, s, coo), dense.T @ rows, atol=1e-5)
    assert torch.allclose(scatter_rows(idx, w, rows, s, None), dense.T @ rows, atol=1e-5)
    ref = (rows @ W.T).gather(1, idx)
    assert torch.allclose(_sampled_dot(rows, W, idx, True), ref, atol=1e-5)
    assert torch.allclose(_sampled_dot(rows, W, idx, False), ref, atol=1e-5)


def test_bf16_autocast_path_matches_fp32_and_trains(toy_data):
    """The GPU recipe (bf16 autocast) exercised on CPU: same gradients to bf16 precision, fp32 weights."""
    from .conftest import quick_train

    torch.manual_seed(0)
    sae = make_sae(SAEConfig(arch="topk", d_in=24, d_sae=96, k=6))
    x = torch.randn(200, 24)
    _, g32 = _grads(sae, x, True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, g16 = _grads(sae, x, True)
    assert out.x_hat.dtype == torch.bfloat16
    for name in g32:
        assert g16[name].dtype == torch.float32
        cos = torch.nn.functional.cosine_similarity(g16[name].flatten(), g32[name].flatten(), dim=0)
        assert cos > 0.99, (name, cos)
    r = quick_train(toy_data[1], "topk", autocast=True)
    assert r.sae.W_dec.dtype == torch.float32 and r.history[-1]["mse"] < 0.6 * r.history[0]["mse"]


def test_topk_encode_backward_equals_dense_autograd():
    """The transcoders' encoder: same values and the same gradients (x, W_enc, b_enc) as addmm -> topk -> relu."""
    from interp.sae.sparse_ops import TopKEncodeFunction, topk_latents

    torch.manual_seed(2)
    n, d_in, d_sae, k = 40, 12, 64, 5
    x, W, b = torch.randn(n, d_in), torch.randn(d_in, d_sae) / 10, torch.randn(d_sae) / 10 - 1.0  # some kept < 0
    upstream = torch.randn(n, k)
    grads = []
    for fast in (True, False):
        xs, Ws, bs = (t.clone().requires_grad_() for t in (x, W, b))
        vals, idx = TopKEncodeFunction.apply(xs, Ws, bs, k) if fast else topk_latents(torch.addmm(bs, xs, Ws), k)
        (vals * upstream).sum().backward()  # the same pre-activations, so the same order of the k
        grads.append((vals.detach(), idx, xs.grad, Ws.grad, bs.grad))
    (v1, i1, *g1), (v2, i2, *g2) = grads
    assert torch.equal(i1, i2) and torch.equal(v1, v2) and (v1 == 0).any()  # the ReLU gates some
    for a, r in zip(g1, g2):
        assert torch.allclose(a, r, atol=1e-5), (a - r).abs().max()
    assert (g2[1] != 0).any()
