"""Shared builders for the sinks tests (pytest puts this folder on sys.path: rootdir-relative imports)."""

from __future__ import annotations

import torch

from interp.datasets import TokenizedCorpus


def random_corpus(n: int, pos: int, vocab: int, pad_last: int = 0, seed: int = 0) -> TokenizedCorpus:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(3, vocab, (n, pos), generator=g)
    mask = torch.ones(n, pos, dtype=torch.long)
    if pad_last:
        mask[-1, -pad_last:] = 0
        tokens[-1, -pad_last:] = 0
    return TokenizedCorpus(tokens, mask, torch.arange(n), torch.zeros(n, dtype=torch.long), n_prefix=0)
