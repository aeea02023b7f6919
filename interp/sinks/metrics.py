"""Attention-sink metrics computed from attention patterns: pure functions, exactly testable.

An *attention sink* is a key position that soaks up far more attention than its
content deserves: the first token of causal LMs (Xiao et al. 2023, "Efficient
streaming language models with attention sinks"), [CLS]/[SEP] and punctuation in
BERT (Clark et al. 2019, "What does BERT look at?"). Heads park attention there when
they have nothing better to do, which makes the sink a no-op "off switch".

This module holds the per-batch arithmetic, on a pattern ``[batch, head, query_pos,
key_pos]`` whose rows sum to 1 over the visible keys:

* :func:`sink_scores`: Gu et al. (ICLR 2025, "When attention sink emerges in language
  models") define ``alpha_k = mean over the queries that can see key k of A[q, k]``;
  for a causal model those are the ``T - k`` queries ``q >= k`` (0-indexed, ``T`` real
  tokens; the paper's ``T - k + 1`` with 1-indexing), for a bidirectional encoder all
  ``T`` real queries. Padding is excluded as query and as key.
* :func:`sink_rate`: ``Sink_k^eps`` = fraction of (sample, layer, head) with
  ``alpha_k > eps`` (Gu et al. use ``eps = 0.3``, Barbero et al. 2025 ``0.8``). We keep
  fractions in [0, 1]; multiply by 100 for the papers' percentages.
* :func:`category_mass`: mean attention mass each query puts on each token category
  (first token / BOS / [CLS], [SEP], punctuation, other); the categories partition
  the real keys, so the masses of a head sum to 1.

Why a per-query visibility count matters: under causal attention query 0 can only
see key 0, so even uniform attention gives ``alpha_0 = H_T / T`` (harmonic number),
0.34 at T = 8 but 0.07 at T = 64. Sink rates of short and long contexts are not
comparable without keeping this floor in mind (:func:`uniform_alpha0`).
"""

from __future__ import annotations

import unicodedata
from typing import Any

import torch


def _check(pattern: torch.Tensor) -> None:
    if pattern.dim() != 4 or pattern.shape[-1] != pattern.shape[-2]:
        raise ValueError(
            "Expected an attention pattern [batch, head, query_pos, key_pos] with query_pos == key_pos, "
            f"got shape {tuple(pattern.shape)}."
        )


def real_mask(pattern: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """[batch, pos] bool: real (non-padding) positions; all True when no mask is given."""
    batch, _, pos, _ = pattern.shape
    if attention_mask is None:
        return torch.ones(batch, pos, dtype=torch.bool, device=pattern.device)
    if tuple(attention_mask.shape) != (batch, pos):
        raise ValueError(f"attention_mask must be [batch, pos] = {(batch, pos)}, got {tuple(attention_mask.shape)}.")
    return attention_mask.to(pattern.device).bool()


def visible(real: torch.Tensor, causal: bool) -> torch.Tensor:
    """[batch, query_pos, key_pos] bool: query and key both real, and key <= query when causal."""
    vis = real[:, :, None] & real[:, None, :]
    if causal:
        pos = real.shape[1]
        vis = vis & torch.ones(pos, pos, dtype=torch.bool, device=real.device).tril()
    return vis


def sink_scores(pattern: torch.Tensor, attention_mask: torch.Tensor | None = None, causal: bool = True) -> torch.Tensor:
    """Gu et al.'s sink score ``alpha_k`` per sample, head and key.

    pattern: [batch, head, query_pos, key_pos]; attention_mask: [batch, pos] (1 = real).
    Returns: [batch, head, key_pos] float, NaN where key k is padding.
    """
    _check(pattern)
    vis = visible(real_mask(pattern, attention_mask), causal)  # [batch, q, k]
    num = (pattern.float() * vis[:, None]).sum(-2)  # [batch, head, k]
    count = vis.sum(-2)[:, None].float()  # [batch, 1, k]: visible queries per key
    return torch.where(count > 0, num / count.clamp(min=1), torch.full_like(num, float("nan")))


def sink_rate(alpha: torch.Tensor, epsilon: float = 0.3, key: int = 0) -> float:
    """``Sink_key^epsilon``: fraction of entries of ``alpha[..., key]`` above ``epsilon`` (NaNs excluded).

    alpha: [..., key_pos] (e.g. [batch, head, key] or [layer, batch, head, key]).
    """
    a = alpha[..., key]
    a = a[~torch.isnan(a)]
    if a.numel() == 0:
        raise ValueError(f"No sample has a real token at key position {key}.")
    return float((a > epsilon).float().mean())


def uniform_alpha0(seq_len: int) -> float:
    """``alpha_0`` of a causal head with uniform attention over ``seq_len`` tokens: H_T / T."""
    return sum(1.0 / (q + 1) for q in range(seq_len)) / seq_len


def category_mass(
    pattern: torch.Tensor, key_categories: torch.Tensor, n_categories: int, attention_mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed attention mass per head and token category, and the number of real queries.

    pattern: [batch, head, q, k]; key_categories: [batch, k] long in ``[0, n_categories)``
    (anything else, e.g. -1 for padding, is ignored). Returns ``(mass_sum [head, n_categories],
    n_queries)``: divide to get the mean mass per real query.
    """
    _check(pattern)
    real = real_mask(pattern, attention_mask)  # [batch, pos]
    cats = key_categories.to(pattern.device)
    onehot = torch.zeros(*cats.shape, n_categories, device=pattern.device)  # [batch, k, n_cat]
    ok = (cats >= 0) & (cats < n_categories) & real
    onehot[ok.nonzero(as_tuple=True) + (cats[ok],)] = 1.0
    per_query = torch.einsum("bhqk,bkc->bhqc", pattern.float(), onehot)  # [batch, head, q, n_cat]
    mass = (per_query * real[:, None, :, None]).sum((0, 2))  # [head, n_cat]
    return mass, int(real.sum())


def category_mean(values: torch.Tensor, key_categories: torch.Tensor, n_categories: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of ``values`` per head and category, and the count per category.

    values: [batch, pos, head] (e.g. value-vector norms); key_categories: [batch, pos].
    Returns ``(sums [head, n_categories], counts [n_categories])``.
    """
    cats = key_categories.to(values.device)
    ok = (cats >= 0) & (cats < n_categories)
    onehot = torch.zeros(*cats.shape, n_categories, device=values.device)
    onehot[ok.nonzero(as_tuple=True) + (cats[ok],)] = 1.0
    sums = torch.einsum("bph,bpc->hc", values.float(), onehot)
    return sums, onehot.sum((0, 1))


# --------------------------------------------------------------------------- token categories
def _is_punct(piece: str) -> bool:
    """A vocabulary piece made only of punctuation (after stripping BPE/WordPiece markers)."""
    s = piece.replace("Ġ", "").replace("Ċ", "").replace("▁", "").removeprefix("##").strip()
    return bool(s) and all(unicodedata.category(ch).startswith("P") for ch in s)


def punctuation_table(tokenizer: Any, d_vocab: int) -> torch.Tensor:
    """[d_vocab] bool: which token ids are pure punctuation."""
    pieces = tokenizer.convert_ids_to_tokens(list(range(min(d_vocab, len(tokenizer)))))
    table = torch.zeros(d_vocab, dtype=torch.bool)
    table[: len(pieces)] = torch.tensor([bool(p) and _is_punct(p) for p in pieces])
    return table


class TokenCategories:
    """Assign every key position one category; the categories partition the real tokens.

    Encoders with [CLS]/[SEP]: ``[CLS]`` (position 0), ``[SEP]``, ``punct``, ``other``.
    Causal models: ``first`` (or ``first_label``, e.g. ``BOS`` when every row starts with
    one), ``punct``, ``other``. Position 0 always gets category 0, so the first
    token's mass is comparable across models with and without a BOS.
    """

    def __init__(self, tokenizer: Any = None, d_vocab: int = 0, encoder: bool = False, first_label: str | None = None) -> None:
        self.encoder = bool(encoder and tokenizer is not None and getattr(tokenizer, "sep_token_id", None) is not None)
        self.sep_id = getattr(tokenizer, "sep_token_id", None) if self.encoder else None
        self.bos_id = getattr(tokenizer, "bos_token_id", None) if tokenizer is not None else None
        self.punct = punctuation_table(tokenizer, d_vocab) if tokenizer is not None else torch.zeros(max(d_vocab, 1), dtype=torch.bool)
        first = first_label or ("[CLS]" if self.encoder else "first")
        self.labels = [first, "[SEP]", "punct", "other"] if self.encoder else [first, "punct", "other"]

    def __len__(self) -> int:
        return len(self.labels)

    def __call__(self, tokens: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """tokens: [batch, pos] -> [batch, pos] long category ids, -1 on padding."""
        other = len(self.labels) - 1
        punct = self.punct.to(tokens.device)[tokens.clamp(0, len(self.punct) - 1)]
        cats = torch.where(punct, other - 1, other)
        if self.encoder:
            cats = torch.where(tokens == self.sep_id, 1, cats)
        cats[:, 0] = 0
        if attention_mask is not None:
            cats = cats.masked_fill(~attention_mask.to(tokens.device).bool(), -1)
        return cats
