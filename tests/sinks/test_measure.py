"""measure_sinks streams a corpus through a model; its averages must equal the direct computation."""

from __future__ import annotations

import pytest
import torch

from interp.datasets import load_texts, tokenize_corpus
from interp.sinks import MassiveActivations, SinkConfig, SinksResult, measure_sinks, sink_scores, write_sinks_run
from interp.runs import load_run
from sinks_helpers import random_corpus

QUIET = dict(progress=False)


def force_first(t, hook):
    """Replace every pattern by a head that attends only to position 0."""
    out = torch.zeros_like(t)
    out[..., 0] = 1.0
    return out


def test_forced_first_token_heads_give_alpha_one_and_full_rate(tiny_model):
    corpus = random_corpus(5, 12, tiny_model.cfg.d_vocab, pad_last=4)
    hooks = [(f"blocks.{i}.attn.hook_pattern", force_first) for i in range(tiny_model.cfg.n_layers)]
    rep = measure_sinks(tiny_model, corpus, SinkConfig(batch_size=2, **QUIET), fwd_hooks=hooks)
    L, H = tiny_model.cfg.n_layers, tiny_model.cfg.n_heads
    assert rep.alpha.shape == (L, H, 12) and rep.mass.shape == (L, H, 3)
    assert torch.equal(rep.alpha[..., 0], torch.ones(L, H))
    assert torch.equal(rep.sink_rate, torch.ones(L, H)) and rep.overall_sink_rate == 1.0
    assert torch.allclose(rep.mass[..., 0], torch.ones(L, H))
    assert rep.n_samples == 5
    assert len(rep.sink_heads(0.5)) == L * H
    assert rep.causal and rep.categories[0] == "first"


def test_streaming_matches_direct_computation_and_batch_size(tiny_model):
    corpus = random_corpus(6, 10, tiny_model.cfg.d_vocab, pad_last=3, seed=1)
    a = measure_sinks(tiny_model, corpus, SinkConfig(batch_size=1, **QUIET))
    b = measure_sinks(tiny_model, corpus, SinkConfig(batch_size=4, **QUIET))
    torch.testing.assert_close(a.alpha, b.alpha)
    torch.testing.assert_close(a.mass, b.mass)
    # direct: run_with_cache on all rows, sink_scores, average over samples with the key real
    with torch.no_grad():
        _, cache = tiny_model.run_with_cache(corpus.tokens, attention_mask=corpus.attention_mask)
    for layer in range(tiny_model.cfg.n_layers):
        alpha = sink_scores(cache[f"blocks.{layer}.attn.hook_pattern"], corpus.attention_mask, causal=True)
        direct = torch.nanmean(alpha, dim=0)  # [head, key]
        torch.testing.assert_close(a.alpha[layer], direct, atol=1e-5, rtol=1e-5)
        rate = (alpha[..., 0] > 0.3).float().mean(0)
        torch.testing.assert_close(a.sink_rate[layer], rate)


def test_minilm_encoder_alpha_sums_to_one_and_categories(minilm):
    corpus = tokenize_corpus(minilm.tokenizer, load_texts(max_docs=2), 32, max_seqs=6)
    corpus.attention_mask[-1, 20:] = 0  # make one row padded
    corpus.tokens[-1, 20:] = 0
    rep = measure_sinks(minilm, corpus, SinkConfig(batch_size=4, example_len=12, **QUIET))
    assert not rep.causal and rep.categories == ["[CLS]", "[SEP]", "punct", "other"]
    torch.testing.assert_close(rep.mass.sum(-1), torch.ones(6, 12), atol=1e-4, rtol=0)
    # bidirectional: every query's row sums to 1 over the real keys, so alpha sums to 1 per sample
    with torch.no_grad():
        _, cache = minilm.run_with_cache(corpus.tokens, attention_mask=corpus.attention_mask,
                                         names_filter="blocks.2.attn.hook_pattern")
    alpha = sink_scores(cache["blocks.2.attn.hook_pattern"], corpus.attention_mask, causal=False)
    torch.testing.assert_close(torch.nansum(alpha, -1), torch.ones(6, 12), atol=1e-4, rtol=0)
    torch.testing.assert_close(rep.alpha[2], torch.nanmean(alpha, 0), atol=1e-5, rtol=1e-5)
    assert rep.example_tokens[0] == "[CLS]" and rep.example_tokens[-1] == "[SEP]"
    assert rep.example_pattern.shape == (6, 12, 12, 12)
    # [CLS] value vectors are small in the layers where it is a sink (Kobayashi et al. 2020)
    sink_layers = rep.mass[..., 0].mean(1) > 0.2
    assert sink_layers.any()
    assert (rep.v_norm[sink_layers, :, 0].mean() < 0.5 * rep.v_norm[sink_layers, :, 3].mean()).item()


def test_massive_activation_finder_thresholds():
    finder = MassiveActivations(n_layers=2, abs_threshold=100.0, ratio_threshold=1000.0)
    resid = torch.full((2, 4, 8), 0.05)  # median |a| = 0.05
    resid[0, 0, 3] = -250.0  # massive: > 100 and > 1000 * 0.05 = 50
    resid[1, 2, 5] = 90.0  # > 1000 x median but not > 100: not massive
    real = torch.ones(2, 4, dtype=torch.bool)
    tokens = torch.arange(8).view(2, 4)
    finder.update(1, resid, real, tokens)
    found = finder.entries()
    assert [(e["layer"], e["pos"], e["channel"], e["value"], e["token_id"]) for e in found] == [(1, 0, 3, -250.0, 0)]
    assert finder.count == 1 and finder.summary()["resid_max"] == [0.0, 250.0]
    # padding never counts
    real[0, 0] = False
    finder2 = MassiveActivations(n_layers=2)
    finder2.update(0, resid, real, tokens)
    assert finder2.entries() == []


def test_sinks_run_follows_the_contract(tiny_model, tmp_path):
    corpus = random_corpus(3, 8, tiny_model.cfg.d_vocab)
    rep = measure_sinks(tiny_model, corpus, SinkConfig(example_len=6, **QUIET))
    run = write_sinks_run(SinksResult(rep), spec="tiny", root=tmp_path,
                          config={"model": "tiny", "corpus": None, "seq_len": 8, "max_seqs": 3, "epsilon": 0.3})
    run = load_run(run.path)
    assert run.status == "complete" and run.kind == "sinks"
    t = run.read_tensors("sinks")
    L, H = tiny_model.cfg.n_layers, tiny_model.cfg.n_heads
    assert t["alpha"].shape == (L, H, 8) and t["sink_rate"].shape == (L, H) and t["mass"].shape == (L, H, 3)
    meta = run.read_json("meta")
    assert meta["epsilon"] == 0.3 and meta["categories"] == ["first", "punct", "other"]
    assert isinstance(meta["sink_heads"], list) and isinstance(meta["massive"], list)
    assert {"sink_rate", "n_sink_heads", "n_massive"} <= set(run.metrics)


def test_bad_config_is_a_clear_error(tiny_model):
    corpus = random_corpus(2, 6, tiny_model.cfg.d_vocab)
    with pytest.raises(ValueError, match="epsilon"):
        measure_sinks(tiny_model, corpus, SinkConfig(epsilon=1.5, **QUIET))
