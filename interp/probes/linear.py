"""``LinearProbe``: least-squares regression of a continuous property from activations.

Used for quantities such as ``cos(w (a + b))`` in the modular-addition model, or a
token's position. Targets ``y`` are ``[rows]`` or ``[rows, k]``; they are
standardised with the training rows' mean and std while fitting (one learning rate
for any scale) and mapped back in :meth:`predict`. :meth:`score` is the coefficient
of determination R² (1 perfect, 0 no better than the mean; averaged over targets).
"""

from __future__ import annotations

from typing import Any

import torch

from interp.probes.base import Probe
from interp.probes.data import ProbeDataError, as_labels


def r2_score(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Mean over targets of ``1 - SS_res / SS_tot``; pred and y: [rows] or [rows, k]."""
    pred, y = pred.reshape(y.shape[0], -1).double(), y.reshape(y.shape[0], -1).double()
    ss_res = ((y - pred) ** 2).sum(0)
    ss_tot = ((y - y.mean(0)) ** 2).sum(0).clamp_min(1e-12)
    return float((1 - ss_res / ss_tot).mean())


class LinearProbe(Probe):
    """Linear regression probe (sklearn-like ``fit / predict / score``; score is R²)."""

    kind = "linear"
    metric = "r2"

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.register_buffer("y_mean", torch.zeros(0))
        self.register_buffer("y_std", torch.ones(0))
        self._squeeze = False

    def _prepare_labels(self, y: Any, n: int, refit: bool = True) -> torch.Tensor:
        y = as_labels(y, n)
        if y.dtype == torch.bool:
            y = y.float()
        if y.dim() > 2:
            raise ProbeDataError(f"Regression targets must be [rows] or [rows, k], got shape {tuple(y.shape)}.")
        y = y.float()
        if refit:
            self._squeeze = y.dim() == 1
        y = y.reshape(n, -1)
        if not refit and self.fitted and y.shape[1] != self.W.shape[1]:
            raise ProbeDataError(f"The probe predicts {self.W.shape[1]} targets, got labels with {y.shape[1]}.")
        return y

    def _n_out(self) -> int:
        return self._k

    def fit(self, x: Any, y: Any, hook: str | None = None, split: Any = None, groups: Any = None) -> "LinearProbe":
        from interp.probes.data import Rows, check_split, make_split

        # Target scale from the training rows only, known before the loop starts.
        n = Rows(x, hook, self.config.chunk_rows).n
        yy = self._prepare_labels(y, n)
        if split is None:
            split = make_split(n, self.config.val_frac, self.config.test_frac, self.config.seed, groups)
        split = check_split(split, n)
        train = yy[split == 0]
        self._k = yy.shape[1]
        self.y_mean = train.mean(0)
        self.y_std = train.std(0, unbiased=False).clamp_min(1e-8)
        return super().fit(x, y, hook=hook, split=split)

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.mean((out - (y - self.y_mean) / self.y_std) ** 2)

    def _predict_from_out(self, out: torch.Tensor) -> torch.Tensor:
        pred = out * self.y_std + self.y_mean
        return pred[:, 0] if self._squeeze else pred

    def _score_predictions(self, pred: torch.Tensor, y: torch.Tensor) -> float:
        return r2_score(pred, y)

    def _extra_state(self) -> dict[str, torch.Tensor]:
        return {"y_mean": self.y_mean, "y_std": self.y_std, "squeeze": torch.tensor(int(self._squeeze))}

    def _load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        self.y_mean, self.y_std = state["y_mean"], state["y_std"]
        self._squeeze = bool(state["squeeze"])
        self._k = int(self.y_mean.numel())
