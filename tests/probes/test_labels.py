"""Token labels computed from the text: word starts, quotes and brackets (carried across chunks), parity."""

from __future__ import annotations

import pytest
import torch

from interp.datasets import tokenize_corpus
from interp.probes.labels import TASKS, labels_for_rows, token_labels


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from interp.models import minilm_path

    return AutoTokenizer.from_pretrained(str(minilm_path()))


def _labelled(tokenizer, texts, seq_len):
    corpus = tokenize_corpus(tokenizer, texts, seq_len)
    strings = [tokenizer.convert_ids_to_tokens(row) for row in corpus.tokens.tolist()]
    return corpus, strings, {t: token_labels(t, tokenizer, corpus) for t in TASKS}


def test_labels_on_a_sentence(tokenizer):
    corpus, strings, labels = _labelled(tokenizer, ['He said "hi (there) friend" and unbelievably left.'], 32)
    row = strings[0]
    def at(task, tok):
        return int(labels[task][0, row.index(tok)])
    assert row[0] == "[CLS]" and all(int(labels[t][0, 0]) == -1 for t in TASKS)  # specials are unlabelled
    assert at("word_start", "said") == 1 and at("word_start", next(t for t in row if t.startswith("##"))) == 0
    assert at("in_quotes", "hi") == 1 and at("in_quotes", "friend") == 1 and at("in_quotes", "said") == 0
    assert at("in_quotes", "and") == 0 and at("in_quotes", '"') == 0
    assert at("in_parens", "there") == 1 and at("in_parens", "friend") == 0
    content = labels["pos_parity"][0][labels["pos_parity"][0] >= 0]
    assert content.tolist()[:4] == [1, 0, 1, 0]
    pad = corpus.attention_mask[0] == 0
    assert bool((labels["word_start"][0][pad] == -1).all())


def test_quote_state_carries_into_the_next_chunk_of_a_document(tokenizer):
    text = 'Then "a b c d e f g h i j k l m n o p" she said. Other words here.'
    corpus, strings, labels = _labelled(tokenizer, [text, 'Fresh "x" doc'], 8)
    assert int(corpus.doc_ids[1]) == 0 and int(corpus.doc_offsets[1]) > 0  # row 1 continues document 0
    quoted = labels["in_quotes"]
    row1 = strings[1]
    assert '"' not in row1[1:-1] and int(quoted[1, 1]) == 1  # no quote mark in this chunk, still inside
    last = max(i for i in range(len(corpus)) if int(corpus.doc_ids[i]) == 0)
    assert int(quoted[last, 1]) == 0  # after the closing quote
    first_new = last + 1
    assert int(quoted[first_new, 1]) == 0  # a new document starts outside


def test_labels_for_rows_and_errors(tokenizer):
    corpus, _, labels = _labelled(tokenizer, ["a b c", "d e"], 8)
    got = labels_for_rows(labels["pos_parity"], torch.tensor([0, 1, 1]), torch.tensor([1, 2, 0]))
    assert got.tolist() == [1, 0, -1]
    with pytest.raises(ValueError, match="Unknown token-label task"):
        token_labels("sentiment", tokenizer, corpus)
