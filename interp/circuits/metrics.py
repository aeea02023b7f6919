"""Task metrics for patching and circuits: what "the model still does the task" means, as a number.

Every causal method here (activation patching, attribution patching, ACDC,
faithfulness curves) compares a model run on a *clean* prompt with one on a
*corrupted* prompt that differs minimally and removes the behaviour. Following
Heimersheim & Nanda ("How to use and interpret activation patching", 2024) and
Zhang & Nanda ("Towards best practices of activation patching", 2024), the
metrics are continuous (logit difference, log-probability, loss, KL) rather than
accuracy, and results are reported *normalised*::

    normalised(m) = (m - m_corrupt) / (m_clean - m_corrupt)   # 1 = clean, 0 = corrupt

A :class:`Task` bundles the clean/corrupt token pairs with where the metric is
read (``positions``), the correct next token there (``answer``) and the
contrasting token for the logit difference (``wrong``). Metric functions return a
value *per input* (``[batch]``) so the adversarial evaluation can rank inputs; the
callers average them.

:func:`induction_task` builds the known-answer task of the ``toy:induction`` model:
clean = ``[BOS] r_1..r_n r_1..r_n``, corrupt = ``[BOS] c_1..c_n r_1..r_n`` (the first
copy replaced by fresh random tokens: symmetric token replacement, same length and
structure). On the repeat, the position holding ``r_j`` must predict ``r_{j+1}``
(answer) rather than ``c_{j+1}`` (wrong: what induction would predict on the
corrupt prompt's first copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from interp.datasets.synthetic import DEFAULT_BOS, _random_tokens, induction_batch

METRICS = ("logit_diff", "logprob", "loss", "kl")


@dataclass
class Task:
    """Clean/corrupt prompts and where and what the metric reads."""

    clean: torch.Tensor  # [batch, pos] long
    corrupt: torch.Tensor  # [batch, pos] long, same shape
    positions: torch.Tensor  # [batch, pos] bool: read the prediction made at these positions
    answer: torch.Tensor  # [batch, pos] long: correct next token (used where positions)
    wrong: torch.Tensor | None = None  # [batch, pos] long: contrasting token for logit_diff
    pos_labels: list[str] | None = None  # one display label per position

    def __post_init__(self) -> None:
        if self.clean.shape != self.corrupt.shape:
            raise ValueError(
                f"clean {tuple(self.clean.shape)} and corrupt {tuple(self.corrupt.shape)} prompts must have the "
                "same shape: patching pairs them position by position (use symmetric token replacement)."
            )
        for name in ("positions", "answer", "wrong"):
            t = getattr(self, name)
            if t is not None and t.shape != self.clean.shape:
                raise ValueError(f"Task.{name} has shape {tuple(t.shape)}, expected {tuple(self.clean.shape)}.")
        if not self.positions.any(dim=1).all():
            raise ValueError("Every input needs at least one metric position (Task.positions is empty for a row).")

    def __len__(self) -> int:
        return self.clean.shape[0]

    def subset(self, idx: torch.Tensor | slice) -> "Task":
        pick = lambda t: None if t is None else t[idx]  # noqa: E731
        return Task(self.clean[idx], self.corrupt[idx], self.positions[idx], self.answer[idx],
                    pick(self.wrong), self.pos_labels)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of values [batch, pos] over mask per row -> [batch]."""
    mask = mask.to(values.dtype)
    return (values * mask).sum(-1) / mask.sum(-1)


def metric_per_input(
    name: str, logits: torch.Tensor, task: Task, clean_logits: torch.Tensor | None = None
) -> torch.Tensor:
    """The metric ``name`` of ``logits`` [batch, pos, vocab] on ``task``, one value per input: [batch].

    ``logit_diff``: logit(answer) - logit(wrong); ``logprob``: log p(answer);
    ``loss``: -log p(answer); ``kl``: KL(clean || this run), which needs ``clean_logits``.
    All are averaged over the task's positions of each input.
    """
    logits = logits.float()
    mask = task.positions.to(logits.device)
    answer = task.answer.to(logits.device)[..., None]
    if name == "logit_diff":
        if task.wrong is None:
            raise ValueError("The logit_diff metric needs Task.wrong (the contrasting token); use logprob otherwise.")
        diff = logits.gather(-1, answer) - logits.gather(-1, task.wrong.to(logits.device)[..., None])
        return _masked_mean(diff.squeeze(-1), mask)
    if name in ("logprob", "loss"):
        lp = torch.log_softmax(logits, dim=-1).gather(-1, answer).squeeze(-1)
        return _masked_mean(lp if name == "logprob" else -lp, mask)
    if name == "kl":
        if clean_logits is None:
            raise ValueError("The kl metric compares against the clean run: pass clean_logits.")
        p_log = torch.log_softmax(clean_logits.float().to(logits.device), dim=-1)
        q_log = torch.log_softmax(logits, dim=-1)
        kl = (p_log.exp() * (p_log - q_log)).sum(-1)  # [batch, pos]
        return _masked_mean(kl, mask)
    raise ValueError(f"Unknown metric {name!r}; choose one of {METRICS}.")


def metric_fn(
    name: str, task: Task, clean_logits: torch.Tensor | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``logits -> scalar`` (mean over inputs), differentiable: what attribution patching needs."""
    if name not in METRICS:
        raise ValueError(f"Unknown metric {name!r}; choose one of {METRICS}.")
    return lambda logits: metric_per_input(name, logits, task, clean_logits).mean()


def normalise(value: float | torch.Tensor, clean: float, corrupt: float):
    """``(value - corrupt) / (clean - corrupt)``: 1 = clean behaviour, 0 = corrupt."""
    denom = clean - corrupt
    if abs(denom) < 1e-12:
        raise ValueError(
            f"The clean ({clean:.4g}) and corrupt ({corrupt:.4g}) metric values coincide, so nothing can be "
            "normalised: the corruption does not change the behaviour. Use a stronger corruption or another metric."
        )
    return (value - corrupt) / denom


def replace_tokens(
    tokens: torch.Tensor, positions: torch.Tensor, vocab: int, generator: torch.Generator | None = None,
    bos: int | None = None,
) -> torch.Tensor:
    """Symmetric token replacement: ``tokens`` with the ``positions`` [batch, pos] (bool) redrawn at random.

    Replacements are uniform over the vocabulary minus ``bos`` and never equal the original token.
    """
    new = _random_tokens(*tokens.shape, vocab, generator, bos)
    same = new == tokens
    new = torch.where(same, (new + 1) % vocab, new)  # never the original token
    if bos is not None:
        new = torch.where(new == bos, (new + 1) % vocab, new)
    return torch.where(positions, new, tokens)


def induction_task(
    batch: int, segment_len: int, vocab: int, seed: int = 0, bos: int | None = DEFAULT_BOS
) -> Task:
    """The induction known-answer task (see the module docstring); ``seed`` rebuilds it exactly."""
    gen = torch.Generator().manual_seed(seed)
    prefix = 0 if bos is None else 1
    clean = induction_batch(batch, prefix + 2 * segment_len, vocab, gen, bos)  # [batch, pos]
    pos = clean.shape[1]
    first = torch.zeros(batch, pos, dtype=torch.bool)
    first[:, prefix : prefix + segment_len] = True
    corrupt = replace_tokens(clean, first, vocab, gen, bos)
    # Query t (holding r_j, in the repeat but not its last token) predicts r_{j+1} = clean[t + 1].
    positions = torch.zeros(batch, pos, dtype=torch.bool)
    positions[:, prefix + segment_len : pos - 1] = True
    answer = torch.roll(clean, -1, dims=1)
    # Induction on the corrupt prompt would predict the token after c_j: corrupt[t + 1 - n].
    wrong = torch.roll(corrupt, segment_len - 1, dims=1)
    labels = (["BOS"] if prefix else []) + [f"A{i}" for i in range(1, segment_len + 1)] + [
        f"B{i}" for i in range(1, segment_len + 1)
    ]
    return Task(clean, corrupt, positions, answer, wrong, labels)
