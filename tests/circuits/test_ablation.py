"""Ablation hooks on the tiny model: zero / mean / resample values land exactly where asked, nowhere else."""

from __future__ import annotations

import pytest
import torch

from interp.circuits.ablation import (
    Ablation,
    head_ablation_hooks,
    mlp_ablation_hooks,
    neuron_ablation_hooks,
    sae_latent_ablation_hooks,
)
from interp.hooks.hooked import cache_hooks
from circuit_threads import one_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


def _tokens(seed, batch=3, pos=10):
    return torch.randint(1, 50, (batch, pos), generator=torch.Generator().manual_seed(seed))


def _seen(model, tokens, hooks, name):
    """The activation at ``name`` as the model uses it with ``hooks`` applied (recorded after them)."""
    store = {}

    def rec(act, hook):
        store["a"] = act.detach().clone()
        return act

    with torch.no_grad(), model.hooks(fwd_hooks=list(hooks) + [(name, rec)]):
        logits = model(tokens)
    return store["a"], logits


def test_head_zero_ablation_only_touches_the_chosen_heads_and_positions(tiny_model):
    tokens = _tokens(0)
    clean = cache_hooks(tiny_model, tokens, ["blocks.1.attn.hook_z"])["blocks.1.attn.hook_z"]
    hooks = head_ablation_hooks(tiny_model, [(1, 2), (1, 0)], Ablation("zero", positions=[3, 4]))
    z, logits = _seen(tiny_model, tokens, hooks, "blocks.1.attn.hook_z")
    assert z.shape == (3, 10, 4, 8)  # hook_z is [batch, pos, head, d_head] on the bridge
    assert (z[:, [3, 4]][:, :, [0, 2]] == 0).all()
    mask = torch.ones_like(z, dtype=torch.bool)
    mask[:, 3:5, 0] = False
    mask[:, 3:5, 2] = False
    torch.testing.assert_close(z[mask], clean[mask])
    with torch.no_grad():
        base = tiny_model(tokens)
    torch.testing.assert_close(logits[:, :3], base[:, :3])  # causal: earlier positions untouched
    assert not torch.allclose(logits[:, 3:], base[:, 3:])


def test_mean_and_resample_values(tiny_model):
    tokens, ref, corrupt = _tokens(0), _tokens(1, batch=5), _tokens(2)
    name = "blocks.0.hook_mlp_out"
    ref_act = cache_hooks(tiny_model, ref, [name])[name]
    got, _ = _seen(tiny_model, tokens, mlp_ablation_hooks(tiny_model, [0], Ablation("mean", reference=ref)), name)
    torch.testing.assert_close(got, ref_act.mean(0).expand_as(got))
    got, _ = _seen(tiny_model, tokens, mlp_ablation_hooks(
        tiny_model, [0], Ablation("mean", reference=ref, per_position=False)), name)
    torch.testing.assert_close(got, ref_act.mean((0, 1)).expand_as(got))
    cor_act = cache_hooks(tiny_model, corrupt, [name])[name]
    got, _ = _seen(tiny_model, tokens, mlp_ablation_hooks(
        tiny_model, [0], Ablation("resample", corrupt=corrupt, positions=[0, 7])), name)
    torch.testing.assert_close(got[:, [0, 7]], cor_act[:, [0, 7]])
    clean_act = cache_hooks(tiny_model, tokens, [name])[name]
    torch.testing.assert_close(got[:, 1:7], clean_act[:, 1:7])


def test_neuron_ablation(tiny_model):
    tokens = _tokens(0)
    name = "blocks.2.mlp.hook_post"
    clean = cache_hooks(tiny_model, tokens, [name])[name]
    got, _ = _seen(tiny_model, tokens, neuron_ablation_hooks(tiny_model, [(2, 5), (2, 60)], Ablation("zero")), name)
    assert got.shape[-1] == 64 and (got[..., [5, 60]] == 0).all()
    keep = [i for i in range(64) if i not in (5, 60)]
    torch.testing.assert_close(got[..., keep], clean[..., keep])


class _ToySAE:
    """encode/decode only (the interface the splice needs): a random ReLU dictionary."""

    def __init__(self, d_in=32, d_sae=48):
        g = torch.Generator().manual_seed(0)
        self.W_enc = torch.randn(d_in, d_sae, generator=g) / d_in**0.5
        self.W_dec = torch.randn(d_sae, d_in, generator=g) / d_sae**0.5
        self.b_dec = torch.randn(d_in, generator=g)

    def encode(self, x):
        return torch.relu((x - self.b_dec) @ self.W_enc)

    def decode(self, z):
        return z @ self.W_dec + self.b_dec


def test_sae_splice_keeps_the_error_and_ablates_only_the_latents(tiny_model):
    tokens, sae, name = _tokens(0), _ToySAE(), "blocks.1.hook_resid_pre"
    clean = cache_hooks(tiny_model, tokens, [name])[name]
    got, _ = _seen(tiny_model, tokens, sae_latent_ablation_hooks(tiny_model, sae, name, [], Ablation("zero")), name)
    torch.testing.assert_close(got, clean)  # nothing ablated: the splice is exact thanks to the error term
    z = sae.encode(clean)
    latents = [0, 3, 7]
    hooks = sae_latent_ablation_hooks(tiny_model, sae, name, latents, Ablation("zero"))
    got, _ = _seen(tiny_model, tokens, hooks, name)
    expected = clean - z[..., latents] @ sae.W_dec[latents]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(TypeError, match="encode"):
        sae_latent_ablation_hooks(tiny_model, object(), name, [0], Ablation("zero"))


def test_bad_ablations_say_what_to_do(tiny_model):
    with pytest.raises(ValueError, match="reference"):
        Ablation("mean")
    with pytest.raises(ValueError, match="corrupted inputs"):
        Ablation("resample")
    with pytest.raises(ValueError, match="Unknown ablation kind"):
        Ablation("gaussian")
    with pytest.raises(ValueError, match="head 4 is out of range"):
        head_ablation_hooks(tiny_model, [(0, 4)], Ablation())
    hooks = head_ablation_hooks(tiny_model, [(0, 0)], Ablation("resample", corrupt=_tokens(1, batch=2)))
    with pytest.raises(ValueError, match="same shape"), tiny_model.hooks(fwd_hooks=hooks):
        tiny_model(_tokens(0))


def test_attention_only_model_has_no_mlps():
    from interp.models import ToyConfig, boot_toy

    bc = dict(d_model=32, d_head=8, n_heads=4, n_layers=2, n_ctx=24, d_vocab=50, attn_only=True)
    model = boot_toy(ToyConfig(name="tiny-attn", bridge_config=bc, task="test", seed=3))
    with pytest.raises(ValueError, match="attention-only"):
        mlp_ablation_hooks(model, [0], Ablation())
    tokens = _tokens(0)
    z, _ = _seen(model, tokens, head_ablation_hooks(model, [(1, 3)], Ablation("zero")), "blocks.1.attn.hook_z")
    assert (z[:, :, 3] == 0).all() and (z[:, :, :3] != 0).any()


def test_sae_splice_accepts_the_project_sae_base_class(tiny_model):
    """interp.sae.SAE (the SAE base interface) splices in as is, with its input scaling."""
    from interp.sae.base import SAE, SAEConfig

    class _ReLU(SAE):
        def encode_scaled(self, x):
            return torch.relu(self.pre_acts(x))

    sae = _ReLU(SAEConfig(arch="test-relu", d_in=32, d_sae=40, input_scale=0.5))
    with torch.no_grad():
        for p in (sae.W_enc, sae.W_dec):
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.2)
    tokens, name = _tokens(4), "blocks.2.hook_resid_pre"
    clean = cache_hooks(tiny_model, tokens, [name])[name]
    z = sae.encode(clean.reshape(-1, 32)).reshape(3, 10, 40).detach()
    latents = [int(z.sum((0, 1)).argmax())]  # the most active latent, so the ablation does something
    with torch.no_grad():
        got, _ = _seen(tiny_model, tokens, sae_latent_ablation_hooks(tiny_model, sae, name, latents, Ablation("zero")),
                       name)
    expected = clean - (z[..., latents] @ sae.W_dec[latents].detach()) / 0.5  # decode divides by input_scale
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got, clean)
