"""Synthetic task data for the toy models: repeated random sequences and modular addition.

These are the training and evaluation sets of the known-answer toy models
(``data/toy/induction`` and ``data/toy/modadd``). Their structure is simple on
purpose, so the circuits a model learns on them are known in advance:

* :func:`induction_batch` makes ``[BOS] r_1 .. r_n r_1 .. r_n``: the first copy is
  uniform noise (best possible loss ``ln(#tokens)``), the second copy is perfectly
  predictable by copying, which is what induction heads do (Olsson et al. 2022).
* :func:`modadd_dataset` makes every ``[a, b, =]`` with label ``(a + b) mod p`` and
  splits it at random, the grokking setup of Nanda et al. 2023 ("Progress measures
  for grokking via mechanistic interpretability").

Everything is drawn from an explicit ``torch.Generator`` (or seed), so a batch or a
split can always be rebuilt exactly, e.g. by an analysis that needs the held-out
set of a shipped checkpoint.
"""

from __future__ import annotations

import torch

DEFAULT_BOS = 0


def induction_batch(
    batch: int,
    seq_len: int,
    vocab: int,
    generator: torch.Generator | None = None,
    bos: int | None = DEFAULT_BOS,
) -> torch.Tensor:
    """Random segments followed by their exact repeat: ``[BOS] r_1..r_n r_1..r_n``.

    ``seq_len`` is the total length, BOS included, so the result fits a model whose
    ``n_ctx`` is ``seq_len``; the segment length is ``n = (seq_len - 1) // 2`` with a
    BOS (``seq_len // 2`` without), and ``seq_len`` must leave no remainder. Tokens
    are uniform over the non-special ids (every id but ``bos``), so the first copy
    carries no information and its loss cannot go below ``ln(vocab - 1)``.

    Returns: LongTensor [batch, seq_len].
    """
    prefix = 0 if bos is None else 1
    n = (seq_len - prefix) // 2
    if n < 1 or prefix + 2 * n != seq_len:
        form = "1 + 2 * segment_len (the BOS takes one position)" if prefix else "2 * segment_len"
        raise ValueError(f"seq_len={seq_len} must be {form} with segment_len >= 1.")
    segment = _random_tokens(batch, n, vocab, generator, bos)  # [batch, n]
    parts = [segment, segment]
    if bos is not None:
        parts.insert(0, torch.full((batch, 1), bos, dtype=torch.long))
    return torch.cat(parts, dim=1)


def induction_eval_batch(
    batch: int,
    segment_len: int,
    vocab: int,
    generator: torch.Generator | None = None,
    bos: int | None = DEFAULT_BOS,
) -> tuple[torch.Tensor, slice, slice]:
    """A repeated batch plus where its two copies sit, for "first half vs repeat" metrics.

    Returns ``(tokens [batch, prefix + 2 * segment_len], first, second)`` where
    ``tokens[:, first]`` is the random copy and ``tokens[:, second]`` its repeat
    (``prefix`` is 1 with a BOS, else 0). The loss of predicting ``tokens[:, s]`` is
    read from ``logits[:, s.start - 1 : s.stop - 1]``; see :func:`half_losses`.
    """
    prefix = 0 if bos is None else 1
    tokens = induction_batch(batch, prefix + 2 * segment_len, vocab, generator, bos)
    first = slice(prefix, prefix + segment_len)
    second = slice(prefix + segment_len, prefix + 2 * segment_len)
    return tokens, first, second


def half_losses(logits: torch.Tensor, tokens: torch.Tensor, first: slice, second: slice) -> tuple[float, float]:
    """Mean next-token loss on the tokens of each copy (ARENA's "first half / second half").

    logits: [batch, pos, vocab], tokens: [batch, pos]. A token at position ``t`` is
    predicted from position ``t - 1``, so the first copy needs a BOS (``first.start``
    >= 1). The repeat's first token is included although it is unpredictable (it
    follows the random first copy), as in ARENA's induction-heads notebook; it adds
    about ``ln(vocab) / segment_len`` to the repeat's loss.
    """
    if first.start < 1:
        raise ValueError("The first copy's first token has no preceding position; use a BOS.")
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # [batch, pos-1, vocab]
    nll = -logp.gather(-1, tokens[:, 1:, None]).squeeze(-1)  # [batch, pos-1]: loss of tokens[:, 1:]
    first_loss = nll[:, first.start - 1 : first.stop - 1].mean()
    second_loss = nll[:, second.start - 1 : second.stop - 1].mean()
    return float(first_loss), float(second_loss)


# ---- induction scores read off attention patterns (the task's known answer; circuits.head_scores runs them)
def previous_token_score_from_pattern(pattern: torch.Tensor) -> torch.Tensor:
    """Mean attention from each query ``i >= 1`` to key ``i - 1``, per head.

    pattern: [batch, head, query_pos, key_pos] (rows sum to 1). Query 0 has no
    previous token and is left out. Returns: [head], 1.0 for a pure previous-token head.
    """
    _check_pattern(pattern)
    if pattern.shape[-1] < 2:
        raise ValueError("A previous-token score needs at least 2 positions.")
    sub_diagonal = pattern.diagonal(offset=-1, dim1=-2, dim2=-1)  # [batch, head, pos-1]: (i, i-1)
    return sub_diagonal.float().mean(dim=(0, -1))


def induction_score_from_pattern(pattern: torch.Tensor, segment_len: int) -> torch.Tensor:
    """Mean attention from each query in the repeat to the token after its first occurrence, per head.

    pattern: [batch, head, query_pos, key_pos] for sequences ending in
    ``r_1..r_n r_1..r_n`` (n = ``segment_len``; any prefix such as a BOS is allowed).
    The repeat is the last ``n`` positions; query ``q`` there holds ``r_j`` whose first
    occurrence is at ``q - n``, so the induction target is key ``q - n + 1``.
    Returns: [head], 1.0 for a perfect induction head.
    """
    _check_pattern(pattern)
    pos = pattern.shape[-1]
    if segment_len < 1 or 2 * segment_len > pos:
        raise ValueError(f"segment_len={segment_len} does not fit twice in {pos} positions.")
    # Offset -(n - 1) holds the pairs (k + n - 1, k); its last n entries are the repeat's queries.
    shifted = pattern.diagonal(offset=-(segment_len - 1), dim1=-2, dim2=-1)  # [batch, head, pos-n+1]
    return shifted[..., -segment_len:].float().mean(dim=(0, -1))


def _check_pattern(pattern: torch.Tensor) -> None:
    """Fail early with the expected layout instead of averaging the wrong axes."""
    if pattern.dim() != 4 or pattern.shape[-1] != pattern.shape[-2]:
        raise ValueError(
            f"Expected an attention pattern [batch, head, query_pos, key_pos] with query_pos == key_pos, "
            f"got shape {tuple(pattern.shape)}."
        )


def shifted_induction_batch(
    batch: int,
    seq_len: int,
    vocab: int,
    generator: torch.Generator | None = None,
    min_segment: int = 4,
    max_segment: int | None = None,
    bos: int | None = DEFAULT_BOS,
) -> torch.Tensor:
    """Random tokens with one repeated segment at a random place: ``[BOS] noise r_1..r_n r_1..r_n noise``.

    Each row draws its own segment length ``n`` in ``[min_segment, max_segment]`` and
    its own start, so neither where the repeat begins nor how far back the earlier copy
    lies can be read off the position: the only way to predict the repeat is by
    content, i.e. an induction circuit. (On :func:`induction_batch` alone, whose repeat
    always starts at ``n + 1`` and ends the sequence, small models find positional
    shortcuts instead.) Tokens are uniform over the non-special ids.

    Why noise around one repeat rather than a segment repeated to fill the row: on periodic
    rows a 2-layer LM learnt to predict "the token of the segment seen longest ago" (layer 0
    spread over the context avoiding the current token, layer 1 on the last one or two
    positions), which is exactly the next token there, with no previous-token or induction
    head at all (repeat loss 0.85 nats against 4.16 for uniform, after 500 steps; noted in
    the issue 13 experiments). Noise tokens break that shortcut.

    Returns: LongTensor [batch, seq_len].
    """
    prefix = 0 if bos is None else 1
    room = seq_len - prefix  # positions available for noise and the two copies
    max_segment = room // 2 if max_segment is None else max_segment
    if not 1 <= min_segment <= max_segment <= room // 2:
        raise ValueError(f"Need 1 <= min_segment <= max_segment <= {room // 2} for seq_len={seq_len}.")
    body = _random_tokens(batch, room, vocab, generator, bos)  # [batch, room]
    n = torch.randint(min_segment, max_segment + 1, (batch, 1), generator=generator)  # [batch, 1]
    start = (torch.rand(batch, 1, generator=generator) * (room - 2 * n + 1)).long()  # [batch, 1], start + 2n <= room
    pos = torch.arange(room)[None, :]  # [1, room]
    in_repeat = (pos >= start + n) & (pos < start + 2 * n)
    body = body.gather(1, torch.where(in_repeat, pos - n, pos).expand(batch, room))
    if bos is not None:
        body = torch.cat([torch.full((batch, 1), bos, dtype=torch.long), body], dim=1)
    return body


def modadd_dataset(
    p: int = 113, frac_train: float = 0.3, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """All ``p**2`` problems ``[a, b, =] -> (a + b) mod p``, split at random by ``seed``.

    The ``=`` token has id ``p`` (so the model's vocab is ``p + 1``). The split is a
    seeded permutation of all pairs, the first ``int(frac_train * p**2)`` of which are
    the training set (Nanda et al. 2023 use 30 %): the same ``(p, frac_train, seed)``
    always rebuilds the same split, which is what the shipped ``toy:modadd`` records.

    Returns: train_tokens [n_train, 3], train_labels [n_train], test_tokens
    [p**2 - n_train, 3], test_labels [p**2 - n_train] (all LongTensor).
    """
    if not 0.0 < frac_train < 1.0:
        raise ValueError(f"frac_train={frac_train} must be strictly between 0 and 1.")
    a = torch.arange(p).repeat_interleave(p)  # [p*p]: 0 0 .. 0 1 1 ..
    b = torch.arange(p).repeat(p)  # [p*p]: 0 1 .. p-1 0 1 ..
    eq = torch.full_like(a, p)
    tokens = torch.stack([a, b, eq], dim=1)  # [p*p, 3]
    labels = (a + b) % p  # [p*p]
    perm = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n_train = int(frac_train * p * p)
    train, test = perm[:n_train], perm[n_train:]
    return tokens[train], labels[train], tokens[test], labels[test]


def pool_tokens(tokens: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:
    """Map a synthetic batch drawn over ``vocab = len(pool) + 1`` onto a language model's tokens.

    Ids ``1..len(pool)`` become ``pool[0..len(pool) - 1]`` and 0 stays the BOS (id 0), so
    any batch above (made with ``vocab=len(pool) + 1``) becomes the same task over chosen LM
    tokens. Why: an LM's induction must be measured on tokens it has trained on (an
    untrained embedding is noise to a previous-token head), not uniformly over its vocab.

    tokens: LongTensor [...] with ids in ``[0, len(pool)]``; pool: LongTensor [n_pool]. Returns [...].
    """
    if int(tokens.max()) > len(pool):
        raise ValueError(f"tokens hold ids up to {int(tokens.max())}, but the pool has {len(pool)}: "
                         f"draw the batch with vocab=len(pool) + 1.")
    return torch.cat([torch.zeros(1, dtype=torch.long), pool.long()])[tokens]


def _random_tokens(
    batch: int, n: int, vocab: int, generator: torch.Generator | None, bos: int | None
) -> torch.Tensor:
    """Uniform ids over ``range(vocab)`` minus ``bos``: LongTensor [batch, n]."""
    if bos is None:
        return torch.randint(0, vocab, (batch, n), generator=generator)
    if not 0 <= bos < vocab:
        raise ValueError(f"bos={bos} is not a token id of a vocab of {vocab}.")
    draws = torch.randint(0, vocab - 1, (batch, n), generator=generator)
    return draws + (draws >= bos).long()  # skip the BOS id, keep the rest uniform
