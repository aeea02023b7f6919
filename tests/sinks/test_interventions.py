"""Each intervention does what it says: checked on the patterns and values the model actually used."""

from __future__ import annotations

import pytest
import torch

from interp.datasets import load_texts, tokenize_corpus
from interp.sinks.interventions import (
    edit_tokens,
    learn_sink_vector,
    mask_key,
    mask_pattern,
    output_effect,
    run_interventions,
    sink_vector_hooks,
    value_ablation_hooks,
)
from sinks_helpers import random_corpus


def cached(model, tokens, hooks, names, **kwargs):
    store = {}
    grab = [(n, lambda t, hook, n=n: store.__setitem__(n, t.detach().clone())) for n in names]
    with torch.no_grad(), model.hooks(fwd_hooks=list(hooks) + grab):
        out = model(tokens, **kwargs)
    return out, store


def test_mask_pattern_renormalises_rows():
    tri = torch.ones(5, 5).tril()
    pat = (tri / tri.sum(-1, keepdim=True)).expand(1, 2, 5, 5).clone()
    out = mask_pattern(pat, 0, [1])
    torch.testing.assert_close(out[:, 0], pat[:, 0])  # head 0 untouched
    assert (out[0, 1, 1:, 0] == 0).all()
    torch.testing.assert_close(out[0, 1].sum(-1), torch.ones(5))
    assert out[0, 1, 0, 0] == 1.0  # query 0 sees only key 0: left as it was
    torch.testing.assert_close(out[0, 1, 4, 1:], torch.full((4,), 0.25))  # 1/5 each renormalised over 4 keys


def test_mask_key_on_native_model_changes_pattern_and_output(tiny_model):
    tokens = random_corpus(2, 9, tiny_model.cfg.d_vocab).tokens
    names = [f"blocks.{i}.attn.hook_pattern" for i in range(tiny_model.cfg.n_layers)]
    clean, _ = cached(tiny_model, tokens, [], names)
    with mask_key(tiny_model, pos=0, layers=[1]) as hooks:
        out, pats = cached(tiny_model, tokens, hooks, names)
    assert (pats["blocks.1.attn.hook_pattern"][:, :, 1:, 0] == 0).all()
    torch.testing.assert_close(pats["blocks.1.attn.hook_pattern"].sum(-1), torch.ones(2, 4, 9))
    assert (pats["blocks.0.attn.hook_pattern"][:, :, 1:, 0] > 0).all()  # other layers untouched
    assert not torch.allclose(out, clean)


def test_mask_key_on_minilm_goes_through_the_hf_mask(minilm):
    corpus = tokenize_corpus(minilm.tokenizer, load_texts(max_docs=1), 16, max_seqs=2)
    tokens, mask = corpus.tokens, corpus.attention_mask
    names = ["blocks.2.attn.hook_pattern", "blocks.5.hook_resid_post"]
    _, clean = cached(minilm, tokens, [], names)
    with mask_key(minilm, pos=0, layers=[2], heads=[0, 3]) as hooks:
        assert hooks == []  # installed as pre-hooks on the HF attention
        _, masked = cached(minilm, tokens, hooks, names)
    pat = masked["blocks.2.attn.hook_pattern"]
    assert pat[:, [0, 3], :, 0].abs().max() < 1e-6
    assert (pat[:, [1, 2], :, 0] > 0).all()
    torch.testing.assert_close(pat.sum(-1), torch.ones_like(pat.sum(-1)))
    # rows renormalised: masked head = clean head without key 0, rescaled
    ref = clean["blocks.2.attn.hook_pattern"][:, 0, :, 1:]
    torch.testing.assert_close(pat[:, 0, :, 1:], ref / ref.sum(-1, keepdim=True), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(masked["blocks.5.hook_resid_post"], clean["blocks.5.hook_resid_post"])
    _, after = cached(minilm, tokens, [], names)  # hooks removed on exit
    torch.testing.assert_close(after["blocks.5.hook_resid_post"], clean["blocks.5.hook_resid_post"])


def test_value_ablation_zeroes_what_query_0_reads(tiny_model):
    tokens = random_corpus(2, 7, tiny_model.cfg.d_vocab).tokens
    hooks = value_ablation_hooks(tiny_model, pos=0, layers=[0])
    _, acts = cached(tiny_model, tokens, hooks, ["blocks.0.attn.hook_v", "blocks.0.attn.hook_z"])
    assert (acts["blocks.0.attn.hook_v"][:, 0] == 0).all()
    assert (acts["blocks.0.attn.hook_z"][:, 0] == 0).all()  # causal query 0 attends only to key 0
    assert (acts["blocks.0.attn.hook_z"][:, 1:].abs().sum() > 0)
    mean = value_ablation_hooks(tiny_model, pos=0, layers=[0], mode="mean")
    _, m = cached(tiny_model, tokens, mean, ["blocks.0.attn.hook_v"])
    _, c = cached(tiny_model, tokens, [], ["blocks.0.attn.hook_v"])
    torch.testing.assert_close(m["blocks.0.attn.hook_v"][:, 0], c["blocks.0.attn.hook_v"][:, 1:].mean(1))
    with pytest.raises(ValueError, match="layer"):
        value_ablation_hooks(tiny_model, layers=[7])


def test_token_edits_and_output_effect(tiny_model):
    corpus = random_corpus(3, 8, tiny_model.cfg.d_vocab, pad_last=2)
    dropped, s = edit_tokens(corpus, "drop_first")
    assert s == -1 and torch.equal(dropped.tokens, corpus.tokens[:, 1:])
    pre, s = edit_tokens(corpus, "prepend_token", token_id=5)
    assert s == 1 and pre.tokens.shape == (3, 9) and (pre.tokens[:, 0] == 5).all()
    assert torch.equal(pre.tokens[:, 1:], corpus.tokens) and pre.attention_mask[:, 0].all()
    same, s = edit_tokens(corpus, "replace_first", token_id=int(corpus.tokens[0, 0]))
    # replacing row 0's first token by itself leaves row 0 unchanged; the effect on it is exactly 0
    eff = output_effect(tiny_model, corpus[:1], same[:1], s)
    assert eff["delta_loss"] == 0.0 and eff["n_targets"] == 6
    eff = output_effect(tiny_model, corpus, dropped, -1)
    assert eff["delta_loss"] != 0.0 and eff["n_targets"] == 3 * 6 - 2
    with pytest.raises(ValueError, match="token_id"):
        edit_tokens(corpus, "prepend_token")


def test_run_interventions_reports_each(tiny_model):
    corpus = random_corpus(3, 10, tiny_model.cfg.d_vocab)
    res = {r.name: r for r in run_interventions(tiny_model, corpus)}
    assert set(res) == {"clean", "mask_sink", "ablate_sink_values", "drop_first", "replace_first", "prepend_token"}
    assert res["clean"].effect["delta_loss"] == 0.0
    assert res["mask_sink"].sink_rate == 0.0
    # only query 0 (which can see nothing else) still attends to position 0: mass = 1 / T
    assert res["mask_sink"].first_mass == pytest.approx(1 / 10, abs=1e-6)
    assert res["mask_sink"].effect["delta_loss"] != 0.0
    with pytest.raises(ValueError, match="Unknown interventions"):
        run_interventions(tiny_model, corpus, ["nope"])


def test_learned_sink_starts_as_the_prepended_token_and_lowers_the_loss(tiny_model):
    corpus = random_corpus(8, 12, tiny_model.cfg.d_vocab)
    bos = int(corpus.tokens[0, 0])
    variant, shift = edit_tokens(corpus, "prepend_token", bos)
    before = [p.detach().clone() for p in tiny_model.parameters()]
    vec0, _ = learn_sink_vector(tiny_model, corpus, bos, steps=1, lr=0.0)
    # lr 0: the vector is the prepended token's own input, so the hook is a no-op
    plain = output_effect(tiny_model, corpus, variant, shift)
    hooked = output_effect(tiny_model, corpus, variant, shift, lambda: _yield(sink_vector_hooks(vec0)))
    assert hooked["loss"] == pytest.approx(plain["loss"], abs=1e-5)

    vec, curve = learn_sink_vector(tiny_model, corpus, bos, steps=40, lr=0.1, batch_size=8)
    trained = output_effect(tiny_model, corpus, variant, shift, lambda: _yield(sink_vector_hooks(vec)))
    assert trained["loss"] < plain["loss"] - 1e-3  # a trained first token helps (full batch: a real descent)
    assert not torch.equal(vec, vec0) and len(curve) == 40
    # the model itself is frozen and left trainable afterwards
    assert all(torch.equal(a, b) for a, b in zip(before, tiny_model.parameters()))
    assert all(p.requires_grad for p in tiny_model.parameters())
    res = {r.name: r for r in run_interventions(tiny_model, corpus, ["prepend_token", "learned_sink"])}
    assert res["learned_sink"].effect["token_id"] == bos
    assert res["learned_sink"].effect["loss"] < res["prepend_token"].effect["loss"]


def _yield(hooks):
    from contextlib import contextmanager

    @contextmanager
    def cm():
        yield hooks

    return cm()
