"""forward(): the one hooked pass: same values as run_with_cache, stops early, trims logits, masks padding."""

from __future__ import annotations

import pytest
import torch

from interp.hooks import HookNameError
from interp.hooks.hooked import HookDidNotFire, cache_hooks, forward, last_block_hook, mask_kwargs

NAMES = ["blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern", "blocks.0.mlp.hook_post"]


def _tokens(batch: int = 3, pos: int = 12) -> torch.Tensor:
    return torch.randint(0, 50, (batch, pos), generator=torch.Generator().manual_seed(0))


def test_cache_and_logits_equal_run_with_cache(tiny_model):
    tokens = _tokens()
    logits_ref, cache_ref = tiny_model.run_with_cache(tokens, names_filter=lambda n: n in NAMES)
    out = forward(tiny_model, tokens, names_filter=NAMES)
    assert torch.equal(out.logits, logits_ref)
    for n in NAMES:
        assert torch.equal(out[n], cache_ref[n]), n
    pred = forward(tiny_model, tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    assert sorted(pred.cache) == [f"blocks.{i}.attn.hook_pattern" for i in range(3)]


def test_stop_after_ends_the_pass_at_that_hook(tiny_model):
    fired: list[int] = []
    spy = [(f"blocks.{i}.hook_resid_post", lambda act, hook, i=i: fired.append(i)) for i in range(3)]
    out = forward(tiny_model, _tokens(), fwd_hooks=spy, names_filter=["blocks.0.hook_resid_post"], stop_after=True)
    assert out.logits is None and fired == [0]
    fired.clear()
    out = forward(tiny_model, _tokens(), fwd_hooks=spy, stop_after="blocks.1.hook_resid_post")
    assert out.logits is None and fired == [0, 1]
    assert last_block_hook(tiny_model) == "blocks.2.hook_resid_post"


def test_fwd_hooks_run_before_the_cache_records(tiny_model):
    tokens = _tokens()
    zero = [("blocks.0.hook_resid_post", lambda act, hook: torch.zeros_like(act))]
    out = forward(tiny_model, tokens, fwd_hooks=zero, names_filter=["blocks.0.hook_resid_post"])
    assert float(out["blocks.0.hook_resid_post"].abs().sum()) == 0.0
    assert not torch.equal(out.logits, forward(tiny_model, tokens).logits)


def test_logits_at_keeps_only_the_read_positions(tiny_model):
    tokens = _tokens()
    full = forward(tiny_model, tokens).logits
    cols = torch.tensor([2, 7, 11])
    trimmed = forward(tiny_model, tokens, logits_at=cols).logits
    assert trimmed.shape == (3, 3, full.shape[-1])
    torch.testing.assert_close(trimmed, full[:, cols])


def test_padding_mask_is_passed_only_when_some_position_is_padding(tiny_model):
    tokens = _tokens()
    assert mask_kwargs(torch.ones_like(tokens)) == {} and mask_kwargs(None) == {}
    mask = torch.ones_like(tokens)
    mask[0, 8:] = 0
    assert set(mask_kwargs(mask)) == {"attention_mask"}
    padded = forward(tiny_model, tokens, mask).logits
    ref = tiny_model(tokens, attention_mask=mask)
    torch.testing.assert_close(padded, ref)
    # causal model: real positions of the padded row match the unpadded row cut at the padding
    torch.testing.assert_close(padded[0, :8], forward(tiny_model, tokens[:1, :8]).logits[0], atol=1e-5, rtol=1e-5)


def test_grad_flows_only_when_asked(tiny_model):
    tokens = _tokens()
    out = forward(tiny_model, tokens, names_filter=["blocks.0.hook_resid_post"])
    assert not out.logits.requires_grad and not out["blocks.0.hook_resid_post"].requires_grad
    out = forward(tiny_model, tokens, names_filter=["blocks.0.hook_resid_post"], grad=True)
    out.logits.sum().backward()
    assert out["blocks.0.hook_resid_post"].requires_grad
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in tiny_model.parameters())


def test_bad_names_are_clear_errors(tiny_model):
    with pytest.raises(HookNameError, match="Nearest valid names.*blocks.0.hook_resid_post"):
        forward(tiny_model, _tokens(), names_filter=["blocks.0.hook_resid_pots"])
    with pytest.raises(HookNameError, match="hook_resid_pots"):
        forward(tiny_model, _tokens(), stop_after="blocks.0.hook_resid_pots")


def test_a_hook_that_never_fires_is_named(tiny_model):
    # the pass stops at layer 0, so the layer-2 hook cannot fire
    with pytest.raises(HookDidNotFire, match="blocks.2.hook_resid_post"):
        forward(tiny_model, _tokens(), names_filter=["blocks.2.hook_resid_post"], stop_after="blocks.0.hook_resid_post")


def test_clone_gives_storage_of_its_own(tiny_model):
    """cache_hooks clones: a later in-place edit of the model's activation cannot reach the cached copy."""
    tokens = _tokens()
    name = "blocks.1.hook_resid_pre"
    seen: list[torch.Tensor] = []
    spy = [(name, lambda act, hook: seen.append(act))]
    plain = forward(tiny_model, tokens, fwd_hooks=spy, names_filter=[name])
    assert plain[name].data_ptr() == seen[-1].data_ptr()  # no copy unless asked
    cloned = forward(tiny_model, tokens, fwd_hooks=spy, names_filter=[name], clone=True)
    assert cloned[name].data_ptr() != seen[-1].data_ptr() and torch.equal(cloned[name], seen[-1])
    got = cache_hooks(tiny_model, tokens, [name], fwd_hooks=spy)
    assert got[name].data_ptr() != seen[-1].data_ptr() and torch.equal(got[name], plain[name])
