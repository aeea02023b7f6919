"""``LogisticProbe``: is a (binary or multiclass) property linearly readable from activations?

Binary labels (two distinct values) get one logit and a sigmoid, so the probe has a
single direction; more classes get one logit per class and a softmax. Labels may be
any integers or booleans: ``classes_`` holds the sorted distinct values seen in
``fit``, and :meth:`predict` returns values from it. :meth:`score` is accuracy.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from interp.probes.base import Probe
from interp.probes.data import ProbeDataError, as_labels


class LogisticProbe(Probe):
    """Logistic-regression probe (sklearn-like ``fit / predict / predict_proba / score``; score is accuracy)."""

    kind = "logistic"
    metric = "accuracy"

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.register_buffer("classes_", torch.zeros(0, dtype=torch.long))

    @property
    def binary(self) -> bool:
        return self.classes_.numel() == 2

    def _prepare_labels(self, y: Any, n: int, refit: bool = True) -> torch.Tensor:
        y = as_labels(y, n)
        if y.dim() != 1:
            raise ProbeDataError(f"Class labels must be [rows], got shape {tuple(y.shape)}; use LinearProbe for vector targets.")
        if y.is_floating_point():
            if not bool((y == y.round()).all()):
                raise ProbeDataError("LogisticProbe needs integer class labels; for continuous targets use LinearProbe.")
        y = y.long()
        if refit:
            classes = torch.unique(y)
            if classes.numel() < 2:
                raise ProbeDataError(f"All labels are {int(classes[0])}: a classifier needs at least two classes.")
            self.classes_ = classes
        idx = torch.searchsorted(self.classes_, y).clamp_max(self.classes_.numel() - 1)
        if not bool((self.classes_[idx] == y).all()):
            unseen = sorted(set(torch.unique(y).tolist()) - set(self.classes_.tolist()))[:5]
            raise ProbeDataError(f"Labels {unseen} were not seen in fit (classes {self.classes_.tolist()[:10]}...).")
        return idx

    def _n_out(self) -> int:
        return 1 if self.binary else int(self.classes_.numel())

    def _init_bias(self, y_train: torch.Tensor) -> None:
        """Start from the log prior, so an uninformative feature set still predicts the majority class."""
        counts = torch.bincount(y_train, minlength=self.classes_.numel()).float() + 1.0
        logp = (counts / counts.sum()).log()
        with torch.no_grad():
            self.b.copy_(logp[1:] - logp[:1] if self.binary else logp)

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.binary:
            return F.binary_cross_entropy_with_logits(out[:, 0], y.float())
        return F.cross_entropy(out, y)

    def _predict_from_out(self, out: torch.Tensor) -> torch.Tensor:
        idx = (out[:, 0] > 0).long() if self.binary else out.argmax(-1)
        return self.classes_[idx]

    def _score_predictions(self, pred: torch.Tensor, y: torch.Tensor) -> float:
        return float((pred == self.classes_[y]).float().mean()) if y.numel() else float("nan")

    @torch.no_grad()
    def predict_proba(self, x: Any, hook: str | None = None) -> torch.Tensor:
        """Class probabilities [rows, n_classes], columns in ``classes_`` order."""
        from interp.probes.data import Rows

        self._check_fitted()
        rows = Rows(x, hook or self.hook, self.config.chunk_rows)
        outs = []
        for _, xc in rows.chunks():
            out = self(xc)
            if self.binary:
                p1 = torch.sigmoid(out[:, 0])
                outs.append(torch.stack([1 - p1, p1], dim=1))
            else:
                outs.append(torch.softmax(out, dim=-1))
        return torch.cat(outs)

    def _extra_state(self) -> dict[str, torch.Tensor]:
        return {"classes": self.classes_}

    def _load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        self.classes_ = state["classes"].long()
