"""The probe fitting loop shared by :class:`LinearProbe` and :class:`LogisticProbe`.

A probe is an affine map ``x -> ((x - mean) / std) @ W + b`` read off activations
``x [rows, d]``. It is fitted in torch with Adam on mini-batches, so a store larger
than memory streams through chunk by chunk (see :mod:`interp.probes.data`), with

* L2 (``l2 * sum W**2``) and L1 (``l1 * sum |W|``) penalties on the weights,
* a seeded train / validation / test split, early stopping on the validation loss
  (``patience`` epochs without improvement) and the best weights restored,
* features standardised with the training rows' mean and std, which makes one
  learning rate work for residual streams whose channels differ by orders of
  magnitude (MiniLM's massive activations). The probe's direction in the raw
  activation space is ``W / std`` (:meth:`Probe.directions`), what steering and
  ablation hooks use.

Subclasses say what the outputs are (``_prepare_labels``), the loss (``_loss``), how
outputs become predictions and how predictions are scored. ``fit`` leaves
``scores_`` (``{"train", "val", "test"}``), ``split_`` and ``history_`` behind, the
sklearn way. ``save``/``load`` write safetensors + json, never pickles.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from interp.io import write_atomic, write_json_atomic
from interp.probes.data import SPLIT_NAMES, TEST, TRAIN, VAL, ProbeDataError, Rows, check_split, feature_stats, make_split

PROBE_FORMAT = "interp-probe"


@dataclass
class ProbeConfig:
    """Every knob of a probe fit; ``LogisticProbe(l2=1e-3)`` sets any of them."""

    l2: float = 1e-4
    l1: float = 0.0
    lr: float = 1e-2
    batch_size: int = 1024
    max_epochs: int = 50
    patience: int = 4
    val_frac: float = 0.15
    test_frac: float = 0.15
    seed: int = 0
    standardize: bool = True
    chunk_rows: int = 65536  # rows read from a store at once
    progress: bool = False
    # Probe math is small matmuls, where intra-op threads cost more than they give (and on a
    # shared CPU oversubscription makes them ~40x slower); None leaves torch's setting.
    num_threads: int | None = 1

    def __post_init__(self) -> None:
        if self.l1 < 0 or self.l2 < 0:
            raise ValueError(f"l1={self.l1} and l2={self.l2} must be >= 0.")
        if self.lr <= 0 or self.batch_size <= 0 or self.max_epochs <= 0 or self.patience <= 0:
            raise ValueError("lr, batch_size, max_epochs and patience must be positive.")


class Probe(torch.nn.Module):
    """Shared fit / predict / score / save; see the module docstring."""

    kind = "probe"
    metric = "score"

    def __init__(self, config: ProbeConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        known = {f.name for f in fields(ProbeConfig)}
        if unknown := sorted(set(overrides) - known):
            raise TypeError(f"Unknown probe options {unknown}; known: {sorted(known)}.")
        base = config or ProbeConfig()
        self.config = ProbeConfig(**{**asdict(base), **overrides})
        self.W: torch.nn.Parameter | None = None  # [d, n_out]
        self.b: torch.nn.Parameter | None = None  # [n_out]
        self.register_buffer("mean", torch.zeros(0))
        self.register_buffer("std", torch.ones(0))
        self.register_buffer("pattern", torch.zeros(0))  # [n_out, d]: Cov(x, output) on the training rows
        self.scores_: dict[str, float] = {}
        self.history_: list[dict[str, float]] = []
        self.split_: torch.Tensor | None = None
        self.hook: str | None = None

    # -- subclass interface ------------------------------------------------------------------
    def _prepare_labels(self, y: Any, n: int, refit: bool = True) -> torch.Tensor:
        """Check ``y`` against ``n`` rows and turn it into the loss's targets (``refit``: learn classes/scales)."""
        raise NotImplementedError

    def _n_out(self) -> int:
        raise NotImplementedError

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _predict_from_out(self, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _score_predictions(self, pred: torch.Tensor, y: torch.Tensor) -> float:
        raise NotImplementedError

    def _extra_state(self) -> dict[str, torch.Tensor]:
        return {}

    def _load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        pass

    # -- fitting -------------------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self.W is not None

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError(f"This {type(self).__name__} is not fitted yet; call .fit(acts, labels) first.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw outputs (logits or standardised regression values) for x [rows, d] -> [rows, n_out]."""
        self._check_fitted()
        if x.dim() != 2 or x.shape[1] != self.W.shape[0]:
            raise ProbeDataError(f"Expected activations [rows, {self.W.shape[0]}], got shape {tuple(x.shape)}.")
        return ((x.float() - self.mean) / self.std) @ self.W + self.b

    def fit(self, x: Any, y: Any, hook: str | None = None, split: Any = None, groups: Any = None) -> "Probe":
        """Fit on activations ``x`` ([rows, d] tensor, ActivationStore or CaptureResult + ``hook``) and labels ``y``.

        ``split`` (a 0/1/2 code per row) fixes the train/val/test rows; otherwise a
        seeded random split is drawn (whole ``groups`` together when given).
        """
        threads = torch.get_num_threads()
        if self.config.num_threads:
            torch.set_num_threads(self.config.num_threads)
        try:
            return self._fit(x, y, hook, split, groups)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, x: Any, y: Any, hook: str | None, split: Any, groups: Any) -> "Probe":
        cfg = self.config
        rows = Rows(x, hook, cfg.chunk_rows)
        self.hook = rows.hook
        y = self._prepare_labels(y, rows.n)
        if split is None:
            split = make_split(rows.n, cfg.val_frac, cfg.test_frac, cfg.seed, groups)
        split = check_split(split, rows.n)
        self.split_ = split
        train = split == TRAIN
        if cfg.standardize:
            mean, std = feature_stats(rows, train)
        else:
            mean, std = torch.zeros(rows.d), torch.ones(rows.d)
        self.mean, self.std = mean, std
        gen = torch.Generator().manual_seed(cfg.seed)
        n_out = self._n_out()
        self.W = torch.nn.Parameter(torch.zeros(rows.d, n_out))
        self.b = torch.nn.Parameter(torch.zeros(n_out))
        self._init_bias(y[train])
        opt = torch.optim.Adam([self.W, self.b], lr=cfg.lr)
        has_val = bool((split == VAL).any())
        best, best_state, bad = float("inf"), None, 0
        self.history_ = []
        bar = tqdm(range(cfg.max_epochs), desc=f"fit {self.kind}", disable=not cfg.progress, leave=False)
        for epoch in bar:
            train_loss, seen = 0.0, 0
            for start, xc in rows.chunks(shuffle=True, generator=gen):
                idx = train[start : start + xc.shape[0]].nonzero()[:, 0]
                idx = idx[torch.randperm(idx.numel(), generator=gen)]
                for mb in idx.split(cfg.batch_size):
                    loss = self._loss(self(xc[mb]), y[start + mb])
                    total = loss + self._penalty()
                    opt.zero_grad(set_to_none=True)
                    total.backward()
                    opt.step()
                    train_loss += float(loss.detach()) * mb.numel()
                    seen += mb.numel()
            record = {"epoch": epoch, "train_loss": train_loss / max(seen, 1)}
            if has_val:
                record["val_loss"] = self._mean_loss(rows, y, split == VAL)
                if record["val_loss"] < best - 1e-6:
                    best, bad = record["val_loss"], 0
                    best_state = (self.W.detach().clone(), self.b.detach().clone())
                else:
                    bad += 1
            self.history_.append(record)
            bar.set_postfix(record)
            if has_val and bad >= cfg.patience:
                break
        if best_state is not None:
            with torch.no_grad():
                self.W.copy_(best_state[0])
                self.b.copy_(best_state[1])
        self.pattern = self._pattern(rows, train)
        pred = self.predict(rows)
        self.scores_ = {
            name: self._score_predictions(pred[split == code], y[split == code])
            for code, name in zip((TRAIN, VAL, TEST), SPLIT_NAMES)
            if bool((split == code).any())
        }
        return self

    def _init_bias(self, y_train: torch.Tensor) -> None:
        pass

    def _penalty(self) -> torch.Tensor:
        cfg = self.config
        pen = self.W.new_zeros(())
        if cfg.l2:
            pen = pen + cfg.l2 * (self.W * self.W).sum()
        if cfg.l1:
            pen = pen + cfg.l1 * self.W.abs().sum()
        return pen

    @torch.no_grad()
    def _mean_loss(self, rows: Rows, y: torch.Tensor, mask: torch.Tensor) -> float:
        total, count = 0.0, 0
        for start, xc in rows.chunks():
            idx = mask[start : start + xc.shape[0]].nonzero()[:, 0]
            if idx.numel():
                total += float(self._loss(self(xc[idx]), y[start + idx])) * idx.numel()
                count += idx.numel()
        return total / max(count, 1)

    # -- inference -----------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, x: Any, hook: str | None = None) -> torch.Tensor:
        """Predictions for every row of ``x`` (tensor, store or capture), streamed chunk by chunk."""
        self._check_fitted()
        rows = x if isinstance(x, Rows) else Rows(x, hook or self.hook, self.config.chunk_rows)
        if rows.d != self.W.shape[0]:
            raise ProbeDataError(f"The probe was fitted on width {self.W.shape[0]}, these activations have {rows.d}.")
        return torch.cat([self._predict_from_out(self(xc)) for _, xc in rows.chunks()])

    def score(self, x: Any, y: Any, hook: str | None = None) -> float:
        """Accuracy (LogisticProbe) or R² (LinearProbe) on ``x`` against ``y``."""
        self._check_fitted()
        pred = self.predict(x, hook)
        return self._score_predictions(pred, self._prepare_labels(y, pred.shape[0], refit=False))

    @torch.no_grad()
    def _pattern(self, rows: Rows, mask: torch.Tensor) -> torch.Tensor:
        """Cov(x, output) over the rows in ``mask``: [n_out, d] (Haufe et al. 2014's activation pattern)."""
        n_out = self.W.shape[1]
        sx, so = torch.zeros(rows.d, dtype=torch.float64), torch.zeros(n_out, dtype=torch.float64)
        sxo, count = torch.zeros(rows.d, n_out, dtype=torch.float64), 0
        for start, xc in rows.chunks():
            x = xc[mask[start : start + xc.shape[0]]]
            out = self(x).double()
            x = x.double()
            sx += x.sum(0)
            so += out.sum(0)
            sxo += x.T @ out
            count += x.shape[0]
        count = max(count, 1)
        return (sxo / count - torch.outer(sx / count, so / count)).T.float().contiguous()

    def directions(self, kind: str = "weights") -> torch.Tensor:
        """The probe's directions in the raw activation space: [n_out, d].

        ``"weights"``: ``(W / std).T``, what the probe *reads*; removing them blinds this
        probe. ``"pattern"``: ``Cov(x, output)``, along which the activations *vary* with
        the probe's output (Haufe et al. 2014); removing them zeroes that covariance, so
        no linear readout of the probe's output is left (the information itself is gone,
        as in concept erasure), not just this probe's view of it.
        """
        self._check_fitted()
        if kind == "weights":
            return (self.W.detach() / self.std[:, None]).T.contiguous()
        if kind == "pattern":
            if not self.pattern.numel():
                raise RuntimeError("This probe has no activation pattern (saved by an older version); refit it.")
            return self.pattern
        raise ValueError(f"directions kind must be 'weights' or 'pattern', got {kind!r}.")

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``probe.safetensors`` and ``probe.json`` into the folder ``path``."""
        from safetensors.torch import save_file

        self._check_fitted()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {"W": self.W.detach(), "b": self.b.detach(), "mean": self.mean, "std": self.std, "pattern": self.pattern,
                   **self._extra_state()}
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
        write_atomic(out / "probe.safetensors", lambda p: save_file(tensors, str(p), metadata={"format": PROBE_FORMAT}))
        write_json_atomic(out / "probe.json", {"format": PROBE_FORMAT, "kind": self.kind, "hook": self.hook,
                                               "config": asdict(self.config), "scores": self.scores_}, indent=2)
        return out

    @classmethod
    def load(cls, path: str | Path) -> "Probe":
        return load_probe(path)


def load_probe(path: str | Path) -> Probe:
    """Rebuild a saved probe (either kind) from its folder."""
    from safetensors.torch import load_file

    from interp.io import read_json
    from interp.probes.linear import LinearProbe
    from interp.probes.logistic import LogisticProbe

    path = Path(path)
    meta = read_json(path / "probe.json", ProbeDataError, f"{path} is not a saved probe (no probe.json).",
                     "the probe file is corrupt; save the probe again.")
    kinds = {"linear": LinearProbe, "logistic": LogisticProbe}
    if meta.get("format") != PROBE_FORMAT or meta.get("kind") not in kinds:
        raise ProbeDataError(f"{path / 'probe.json'} is not an interp probe (format={meta.get('format')!r}).")
    try:
        state = load_file(str(path / "probe.safetensors"))
    except Exception as exc:  # safetensors has its own error types
        raise ProbeDataError(f"Cannot read {path / 'probe.safetensors'}: {exc}. Save the probe again.") from exc
    probe = kinds[meta["kind"]](ProbeConfig(**meta["config"]))
    probe.W = torch.nn.Parameter(state["W"])
    probe.b = torch.nn.Parameter(state["b"])
    probe.mean, probe.std = state["mean"], state["std"]
    probe.pattern = state.get("pattern", torch.zeros(0))
    probe._load_extra_state(state)
    probe.hook = meta.get("hook")
    probe.scores_ = dict(meta.get("scores") or {})
    return probe
