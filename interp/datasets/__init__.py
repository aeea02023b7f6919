"""Datasets: the default real-text corpus and its tokenization (see ``corpus``)."""

from interp.datasets.corpus import (
    DEFAULT_CORPUS,
    SUPPORTED_SUFFIXES,
    TokenizedCorpus,
    iter_batches,
    load_texts,
    tokenize_corpus,
)

__all__ = [
    "DEFAULT_CORPUS",
    "SUPPORTED_SUFFIXES",
    "TokenizedCorpus",
    "iter_batches",
    "load_texts",
    "tokenize_corpus",
]
