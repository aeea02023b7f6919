"""Head scores: how much each attention head behaves like a previous-token or induction head.

Induction heads (Olsson et al. 2022, "In-context learning and induction heads",
https://transformer-circuits.pub/2022/in-context-learning-and-induction-heads/) are
the two-head circuit behind in-context copying: a *previous-token head* in an early
layer writes "the token before me was A" into each position, and an *induction
head* in a later layer uses it (K-composition) so that, at a second occurrence of
A, it attends to the token that followed the first A and copies it.

Both are read straight off the attention patterns (``blocks.{l}.attn.hook_pattern``,
shape ``[batch, head, query_pos, key_pos]``) on sequences whose answer is known:

* previous-token score: mean attention from each query ``i >= 1`` to key ``i - 1``
  (ARENA's ``attention_pattern.diagonal(-1).mean()``);
* induction score, on a random segment of length ``n`` followed by its exact repeat:
  mean attention from each query in the repeat to key ``query - n + 1``, the token
  after the query token's first occurrence (ARENA's ``diagonal(-n + 1)``, restricted
  to the repeat's queries, the only ones with a defined target).

TransformerLens's ``head_detector`` ("mul" measure) uses the same target positions
but divides by *all* rows, so on a repeated sequence its induction score is about
half of ours; ours reads 1.0 for a perfect induction head.

The pure functions :func:`previous_token_score_from_pattern` and
:func:`induction_score_from_pattern` (in :mod:`interp.datasets.synthetic`, with the
task data, so toy training can use them too) take a pattern tensor, so they can be checked on
hand-built patterns and reused on a cache you already have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from interp.datasets.synthetic import (  # noqa: F401  (the pure scores live with the task data)
    induction_score_from_pattern,
    previous_token_score_from_pattern,
)
from interp.hooks.hooked import forward


def attention_patterns(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """Every layer's attention pattern in one forward pass.

    tokens: [batch, pos]. Caches only ``hook_pattern`` (names filter) so nothing else
    is kept in memory. Returns: [n_layers, batch, head, query_pos, key_pos].
    """
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    cache = forward(model, tokens, names_filter=names, stop_after=True).cache  # no unembedding
    return torch.stack([cache[n] for n in names])


def previous_token_score(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """Previous-token score of every head of ``model`` on ``tokens`` (Olsson et al. 2022).

    tokens: [batch, pos], any text; random tokens avoid crediting heads that attend
    by content. Returns: [n_layers, n_heads] in [0, 1]; see
    :func:`previous_token_score_from_pattern`.
    """
    patterns = attention_patterns(model, tokens)  # [layer, batch, head, q, k]
    return torch.stack([previous_token_score_from_pattern(p) for p in patterns]).cpu()


def induction_score(model: Any, tokens: torch.Tensor, segment_len: int) -> torch.Tensor:
    """Induction score of every head of ``model`` on repeated sequences (Olsson et al. 2022).

    tokens: [batch, pos] ending in a random segment of length ``segment_len`` and its
    exact repeat, e.g. from :func:`interp.datasets.synthetic.induction_batch`.
    Returns: [n_layers, n_heads] in [0, 1]; see :func:`induction_score_from_pattern`.
    """
    patterns = attention_patterns(model, tokens)  # [layer, batch, head, q, k]
    return torch.stack([induction_score_from_pattern(p, segment_len) for p in patterns]).cpu()


@dataclass
class HeadScores:
    """Every head's previous-token and induction score on repeated random tokens, and the two halves' losses."""

    previous_token: torch.Tensor  # [n_layers, n_heads]
    induction: torch.Tensor  # [n_layers, n_heads]
    first_half_loss: float  # loss on the random first copy (chance for a copying model)
    repeat_loss: float  # loss on the repeat (low once induction heads copy)
    segment_len: int
    n_seq: int


def induction_head_scores(model: Any, segment_len: int, n_seq: int = 64, seed: int = 1234,
                          token_pool: torch.Tensor | None = None) -> HeadScores:
    """Score every head on ``n_seq`` seeded sequences ``[BOS] r r`` with ``|r| = segment_len``.

    ``r`` is uniform over the vocabulary (BOS aside), or over ``token_pool`` (LongTensor
    [n]) when given: a language model should be scored on tokens it has trained on
    (``toy:induction-lm`` keeps its pool in ``config.json``, ``extra["repeat_pool"]``).
    """
    from interp.datasets.synthetic import half_losses, induction_eval_batch, pool_tokens

    if token_pool is not None and len(token_pool) < 2:
        raise ValueError(f"token_pool has {len(token_pool)} token(s); a repeated random segment needs at least 2 "
                         f"(pass the LM's trained tokens, e.g. toy_config.extra['repeat_pool']).")
    vocab = model.cfg.d_vocab if token_pool is None else len(token_pool) + 1
    tokens, first, second = induction_eval_batch(n_seq, segment_len, vocab, torch.Generator().manual_seed(seed))
    if token_pool is not None:
        tokens = pool_tokens(tokens, token_pool)
    prev = previous_token_score(model, tokens)  # [layer, head]
    ind = induction_score(model, tokens, segment_len)
    first_loss, repeat_loss = half_losses(forward(model, tokens).logits, tokens, first, second)
    return HeadScores(prev, ind, first_loss, repeat_loss, segment_len, n_seq)
