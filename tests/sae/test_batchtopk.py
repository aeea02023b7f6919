import torch

from interp.sae import SAEConfig, make_sae

from .conftest import quick_train


def test_batch_topk_keeps_k_times_n_and_varies_per_row():
    torch.manual_seed(0)
    sae = make_sae(SAEConfig(arch="batchtopk", d_in=16, d_sae=64, k=4))
    x = torch.randn(50, 16) * torch.linspace(0.1, 3, 50)[:, None]  # rows of very different size
    z = sae.batch_topk(sae.pre_acts(x))
    per_row = (z > 0).sum(-1)
    assert per_row.sum().item() == 4 * 50
    assert per_row.min() < 4 < per_row.max()


def test_threshold_is_learned_and_used_at_inference(toy_data):
    _, x = toy_data
    r = quick_train(x, "batchtopk")
    sae = r.sae
    thr = sae.threshold
    assert thr.shape == (128,) and (thr > 0).all() and torch.all(thr == thr[0])
    xs = x[:2000] * sae.cfg.input_scale
    pre = sae.pre_acts(xs)
    z = sae.encode_scaled(xs)
    assert torch.equal(z > 0, pre > thr)  # inference is a JumpReLU at the saved threshold
    l0 = (z > 0).sum(-1).float().mean().item()
    assert 2 < l0 < 8  # the threshold reproduces roughly k = 4 active latents per token
    assert r.history[-1]["mse"] < 0.6 * r.history[0]["mse"]
