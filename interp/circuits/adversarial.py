"""Adversarial evaluation of a circuit: where does it fail worst?

Averages hide failures: a circuit can reproduce the model "on average" and still
be wrong on a sizeable fraction of inputs. uit de Bos & Garriga-Alonso (2024,
"Adversarial circuit evaluation") therefore score a circuit per input with
``KL(full model || circuit)`` over the output distribution and look at the tail:
the worst inputs, and the percentiles of that KL (a circuit "holds at" a
percentile p when p % of inputs have a KL below the reported value).

The circuit runs with every non-circuit edge cut (:mod:`interp.circuits.faithfulness`).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from interp.circuits.faithfulness import CircuitEval

PERCENTILES = (50, 90, 99)


def adversarial_eval(
    ev: CircuitEval,
    keep: torch.Tensor,
    n_worst: int = 10,
    decode: Callable[[Sequence[int]], str] | None = None,
    percentiles: Sequence[float] = PERCENTILES,
) -> dict[str, Any]:
    """Per-input KL(full || circuit) on ``ev``'s inputs, the ``n_worst`` inputs and KL percentiles.

    decode: token ids -> display string (default: ids joined by spaces). Returns the
    ``adversarial.json`` dict of the ``circuit`` run, plus ``recovered`` (normalised
    task metric per input, same order as ``kl``) and ``mean_kl``.
    """
    kl = ev.per_input(keep, "kl").clamp_min(0.0)  # [batch]; tiny negatives are rounding
    metric = ev.per_input(keep)
    denom = ev.clean_value - ev.corrupt_value
    recovered = (metric - ev.corrupt_value) / denom if abs(denom) > 1e-12 else metric
    decode = decode or (lambda ids: " ".join(str(int(t)) for t in ids))
    order = kl.argsort(descending=True)[:n_worst].tolist()
    worst = [{"index": i, "input": decode(ev.task.clean[i].tolist()), "kl": float(kl[i]),
              "recovered": float(recovered[i])} for i in order]
    q = torch.quantile(kl.double(), torch.tensor([p / 100 for p in percentiles], dtype=torch.double))
    return {"kl": kl.tolist(), "recovered": recovered.tolist(), "worst": worst,
            "percentiles": {str(int(p) if float(p).is_integer() else p): float(v) for p, v in zip(percentiles, q)},
            "mean_kl": float(kl.mean())}
