"""Token properties that can be labelled from the text alone, for probing encoders such as MiniLM.

:func:`token_labels` returns a label grid ``[n_seq, seq_len]`` aligned with a
:class:`~interp.datasets.TokenizedCorpus`, with ``-1`` at padding and special tokens
([CLS], [SEP], BOS), so capture rows can be labelled with :func:`labels_for_rows` and
the ``-1`` rows dropped. Context labels (quotes, brackets) follow the *document*:
the state is carried from one chunk to the next chunk of the same document, so a
chunk that starts in the middle of a quotation is labelled inside it. No external
annotation is needed:

* ``word_start``: a WordPiece token that begins a word (it lacks the ``##``
  continuation prefix). A property of the token *type*: the control task is the
  real test of whether a probe reads it or memorises types.
* ``in_quotes``: the token lies between an opening and a closing double quote
  within the model's input window (straight quotes toggle; curly quotes open and
  close). Not a function of the type: it needs context.
* ``in_parens``: the token lies inside round brackets (depth > 0) within the window.
* ``pos_parity``: whether the content position is even; a control-like property
  that no language model needs, useful as a floor for "readable but meaningless".

The brackets and quote marks themselves are labelled 0 (outside).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from interp.probes.task_names import TASKS


def token_strings(tokenizer: Any, ids: torch.Tensor) -> list[str]:
    """Vocabulary strings for every id in ``ids`` (flattened), via a per-id cache."""
    vocab = {i: tokenizer.convert_ids_to_tokens(int(i)) for i in torch.unique(ids).tolist()}
    return [vocab[i] for i in ids.reshape(-1).tolist()]


def _content_mask(tokens: torch.Tensor, attention_mask: torch.Tensor, special_ids: set[int]) -> torch.Tensor:
    special = torch.zeros_like(tokens, dtype=torch.bool)
    for sid in special_ids:
        special |= tokens == sid
    return attention_mask.bool() & ~special


def _scan(strings: list[list[str]], step: Callable[[str, int], tuple[int, int]], continues: list[bool]) -> list[list[int]]:
    """Run a state machine over rows: ``step(token, state) -> (label, new_state)``; ``continues[r]``: keep row r-1's state."""
    out = []
    state = 0
    for r, row in enumerate(strings):
        state, labels = (state if continues[r] else 0), []
        for tok in row:
            label, state = step(tok, state)
            labels.append(label)
        out.append(labels)
    return out


def _quote_step(tok: str, inside: int) -> tuple[int, int]:
    if tok == '"':
        return 0, 1 - inside
    if tok in ("\u201c",):
        return 0, 1
    if tok in ("\u201d",):
        return 0, 0
    return inside, inside


def _paren_step(tok: str, depth: int) -> tuple[int, int]:
    if tok == "(":
        return 0, depth + 1
    if tok == ")":
        return 0, max(depth - 1, 0)
    return int(depth > 0), depth


def token_labels(task: str, tokenizer: Any, corpus: Any) -> torch.Tensor:
    """Label grid [n_seq, seq_len] of ``task`` (one of :data:`TASKS`) for a TokenizedCorpus; -1 at padding/specials."""
    if task not in TASKS:
        raise ValueError(f"Unknown token-label task {task!r}; choose one of {TASKS}.")
    tokens, attention_mask = corpus.tokens, corpus.attention_mask
    special_ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    content = _content_mask(tokens, attention_mask, special_ids)  # [n_seq, seq_len]
    n_seq, seq_len = tokens.shape
    out = torch.full((n_seq, seq_len), -1, dtype=torch.long)
    if task == "pos_parity":
        pos = content.long().cumsum(1) - 1  # index among content tokens
        out[content] = (pos[content] % 2 == 0).long()
        return out
    flat = token_strings(tokenizer, tokens)
    rows = [[flat[r * seq_len + j] for j in range(seq_len) if content[r, j]] for r in range(n_seq)]
    if task == "word_start":
        labels = [[int(not t.startswith("##")) for t in row] for row in rows]
    else:
        ids, offsets = corpus.doc_ids.tolist(), corpus.doc_offsets.tolist()
        continues = [r > 0 and ids[r] == ids[r - 1] and offsets[r] == offsets[r - 1] + len(rows[r - 1])
                     for r in range(n_seq)]
        labels = _scan(rows, _quote_step if task == "in_quotes" else _paren_step, continues)
    for r in range(n_seq):
        out[r, content[r]] = torch.tensor(labels[r], dtype=torch.long)
    return out


def labels_for_rows(grid: torch.Tensor, seq_id: torch.Tensor, seq_pos: torch.Tensor) -> torch.Tensor:
    """Labels of capture/store rows located by ``seq_id``/``seq_pos`` (their ``meta``): [rows]."""
    return grid[seq_id.long(), seq_pos.long()]
