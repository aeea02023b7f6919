"""Datasets: the default real-text corpus and its tokenization (see ``corpus``)."""

from interp._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, globals(), {
    "interp.datasets.corpus": ["DEFAULT_CORPUS", "SUPPORTED_SUFFIXES", "TokenizedCorpus", "iter_batches", "load_texts", "tokenize_corpus"],
})

__all__ = [
    "DEFAULT_CORPUS",
    "SUPPORTED_SUFFIXES",
    "TokenizedCorpus",
    "iter_batches",
    "load_texts",
    "tokenize_corpus",
]
