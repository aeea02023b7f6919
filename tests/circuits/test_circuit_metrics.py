"""Task metrics on hand-built logits, and the induction task's structure."""

from __future__ import annotations

import math

import pytest
import torch

from interp.circuits.metrics import Task, induction_task, metric_per_input, normalise, replace_tokens


def _task(batch=2, pos=4, vocab=5):
    clean = torch.zeros(batch, pos, dtype=torch.long)
    positions = torch.zeros(batch, pos, dtype=torch.bool)
    positions[:, 1] = True
    answer = torch.full((batch, pos), 2)
    wrong = torch.full((batch, pos), 3)
    return Task(clean, clean.clone(), positions, answer, wrong)


def test_metrics_read_the_answer_at_the_metric_positions():
    task = _task()
    logits = torch.zeros(2, 4, 5)
    logits[:, 1, 2] = 3.0  # answer
    logits[:, 1, 3] = 1.0  # wrong
    logits[:, 0, 2] = 100.0  # not a metric position: ignored
    torch.testing.assert_close(metric_per_input("logit_diff", logits, task), torch.tensor([2.0, 2.0]))
    lse = math.log(math.exp(3) + math.exp(1) + 3)
    torch.testing.assert_close(metric_per_input("logprob", logits, task), torch.full((2,), 3 - lse))
    torch.testing.assert_close(metric_per_input("loss", logits, task), torch.full((2,), lse - 3))
    torch.testing.assert_close(metric_per_input("kl", logits, task, clean_logits=logits), torch.zeros(2))
    assert (metric_per_input("kl", torch.zeros(2, 4, 5), task, clean_logits=logits) > 0).all()


def test_metric_errors_name_the_fix():
    task = _task()
    with pytest.raises(ValueError, match="clean_logits"):
        metric_per_input("kl", torch.zeros(2, 4, 5), task)
    with pytest.raises(ValueError, match="Unknown metric"):
        metric_per_input("accuracy", torch.zeros(2, 4, 5), task)
    with pytest.raises(ValueError, match="coincide"):
        normalise(1.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="same shape"):
        Task(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 5, dtype=torch.long),
             torch.ones(2, 4, dtype=torch.bool), torch.zeros(2, 4, dtype=torch.long))
    assert normalise(1.5, 2.0, 1.0) == 0.5


def test_induction_task_structure():
    n, vocab = 6, 30
    task = induction_task(8, n, vocab, seed=3)
    assert task.clean.shape == (8, 1 + 2 * n)
    differs = task.clean != task.corrupt
    assert differs[:, 1 : 1 + n].all() and not differs[:, 0].any() and not differs[:, 1 + n :].any()
    assert not (task.corrupt == 0)[:, 1:].any()  # the BOS id is never drawn
    q = task.positions[0].nonzero().squeeze(-1)
    assert q.tolist() == list(range(1 + n, 2 * n))  # the repeat, but its last token (nothing to predict)
    for t in q.tolist():
        torch.testing.assert_close(task.answer[:, t], task.clean[:, t + 1])  # r_{j+1}
        torch.testing.assert_close(task.answer[:, t], task.clean[:, t + 1 - n])  # = the token after r_j's first copy
        torch.testing.assert_close(task.wrong[:, t], task.corrupt[:, t + 1 - n])  # c_{j+1}
    assert (task.answer != task.wrong)[task.positions].all()
    again = induction_task(8, n, vocab, seed=3)
    assert torch.equal(again.corrupt, task.corrupt)


def test_replace_tokens_changes_exactly_the_chosen_positions():
    tokens = torch.randint(0, 7, (50, 9), generator=torch.Generator().manual_seed(0))
    where = torch.zeros(50, 9, dtype=torch.bool)
    where[:, 2:5] = True
    new = replace_tokens(tokens, where, 7, torch.Generator().manual_seed(1))
    assert ((new != tokens) == where).all()
