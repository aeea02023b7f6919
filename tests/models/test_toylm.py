"""The shipped ``toy:toylm`` text model: it loads, its tokenizer works, it has learnt
something beyond token frequencies, and its recipe is reproducible byte for byte."""

from __future__ import annotations

import json

import pytest
import torch

from interp.datasets.corpus import load_texts, tokenize_corpus
from interp.models import load_model
from interp.models.toy import TOY_DIR
from interp.models.training.toylm import (
    lm_loss,
    ngram_baselines,
    split_documents,
    train_tokenizer,
    train_toylm,
)

CKPT = TOY_DIR / "toylm"


@pytest.fixture(scope="module")
def toylm():
    return load_model("toy:toylm", device="cpu")


@pytest.fixture(scope="module")
def training():
    return json.loads((CKPT / "training.json").read_text())


@pytest.fixture(scope="module")
def split(training):
    """(texts, train doc ids, held-out doc ids), rebuilt from the recorded seeded split."""
    texts = load_texts()
    s = training["split"]
    assert s["n_docs"] == len(texts), "the default corpus changed since toylm was trained"
    train_ids, held_ids = split_documents(len(texts), s["heldout_frac"], s["seed"])
    assert held_ids == s["heldout_docs"] and not set(train_ids) & set(held_ids)
    return texts, train_ids, held_ids


def test_checkpoint_is_small_and_complete():
    files = {p.name: p.stat().st_size for p in CKPT.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "training.json"} <= set(files)
    assert sum(files.values()) < 15e6


def test_tokenizer_round_trips_and_prepends_bos(toylm):
    tok = toylm.tokenizer
    assert (tok.bos_token, tok.bos_token_id, tok.pad_token, tok.pad_token_id) == ("<|bos|>", 0, "<|pad|>", 1)
    assert len(tok) == toylm.cfg.d_vocab  # the bridge's tokenizer set-up added no token
    text = "Call me Ishmael.  It is a truth — universally acknowledged!\n\nCafé ☃ 1989"
    ids = tok(text)["input_ids"]
    assert ids[0] == 0 and 0 not in ids[1:]
    assert tok.decode(ids, skip_special_tokens=True) == text
    tokens = toylm.to_tokens("Hello world")  # [1 pos]
    assert tokens[0, 0].item() == 0
    assert toylm.to_tokens("Hello world", prepend_bos=False)[0].tolist() == tokens[0, 1:].tolist()
    assert toylm.to_string(tokens[0, 1:]) == "Hello world"
    logits, cache = toylm.run_with_cache(tokens, names_filter="blocks.1.hook_resid_post")
    assert logits.shape == (1, tokens.shape[1], toylm.cfg.d_vocab)
    assert cache["blocks.1.hook_resid_post"].shape == (1, tokens.shape[1], toylm.cfg.d_model)


def test_heldout_loss_beats_unigram_baseline(toylm, training, split):
    texts, train_ids, held_ids = split
    n_ctx = toylm.cfg.n_ctx
    held = tokenize_corpus(toylm.tokenizer, [texts[i] for i in held_ids], n_ctx)
    assert (held.tokens[:, 0] == 0).all()
    rows = torch.linspace(0, len(held) - 1, 24).round().long().unique()  # chunks across held-out docs
    h_tokens, h_mask = held.tokens[rows], held.attention_mask[rows]
    train = tokenize_corpus(toylm.tokenizer, [texts[i] for i in train_ids], n_ctx)
    base = ngram_baselines((train.tokens, train.attention_mask), (h_tokens, h_mask), toylm.cfg.d_vocab)
    with torch.no_grad():
        loss = float(lm_loss(toylm, h_tokens, h_mask))
    assert loss < base["unigram"] - 0.5, (loss, base)
    assert loss < base["bigram"], (loss, base)
    recorded = training["heldout_loss"]
    assert recorded < training["baselines"]["unigram"] - 0.5
    assert abs(loss - recorded) < 0.5  # the sample agrees with the full held-out number


def test_tokenizer_training_is_deterministic(split):
    texts, train_ids, _ = split
    docs = [texts[i] for i in train_ids]
    small = [train_tokenizer(docs[:6], vocab_size=600).to_str() for _ in range(2)]
    assert small[0] == small[1]
    from tokenizers import Tokenizer

    shipped = Tokenizer.from_file(str(CKPT / "tokenizer.json"))
    assert train_tokenizer(docs, vocab_size=4096).to_str() == shipped.to_str()


def test_recipe_is_reproducible(tmp_path):
    tiny = dict(steps=3, batch_size=4, max_docs=8, max_seqs=16, vocab_size=400, d_model=32,
                n_heads=2, d_mlp=64, n_ctx=32, eval_every=1, eval_seqs=4)
    a = train_toylm(tmp_path / "a", seed=3, **tiny)
    b = train_toylm(tmp_path / "b", seed=3, **tiny)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    run = json.loads((a / "training.json").read_text())
    assert len(run["curve"]) == 3 and run["tokens_trained"] > 0
    model = load_model(f"toy:{a}", device="cpu")
    assert model.cfg.n_ctx == 32 and model.to_tokens("Call me")[0, 0].item() == 0
