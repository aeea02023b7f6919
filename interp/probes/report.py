"""``probe_report``: a probe together with its controls, for one hook or a sweep of hooks.

Hewitt & Liang (2019) showed that probe accuracy alone misleads, so the one entry
point for "how well does layer L encode property P" returns three numbers that are
always reported together (see :mod:`interp.probes.controls`):

* the task probe's train / val / test score (accuracy, or R² for regression),
* the control task's test score and the selectivity (task − control),
* the same probe fitted on a randomly initialised model's activations.

All three probes share one train/val/test split (drawn once from the seed, or
given), so the numbers differ only by what is being probed.
:func:`interp.probes.run.write_probe_run` saves the reports of a layer sweep as a
``probe`` run, which the dashboard and :func:`interp.viz.probes.probe_accuracy_figure` read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from interp.probes.base import Probe, ProbeConfig
from interp.probes.controls import control_labels, selectivity
from interp.probes.data import TEST, ProbeDataError, Rows, make_split
from interp.probes.linear import LinearProbe
from interp.probes.logistic import LogisticProbe

PROBE_KINDS = {"linear": LinearProbe, "logistic": LogisticProbe}


@dataclass
class ProbeReport:
    """One probe and its controls; ``row()`` is the ``results.json`` entry for it."""

    hook: str | None
    metric: str  # "accuracy" | "r2"
    train: float
    val: float
    test: float
    control: float
    selectivity: float
    random_model: float
    chance: float
    probe: Probe = field(repr=False)
    control_probe: Probe | None = field(repr=False)  # None when the control task has a single class
    random_probe: Probe = field(repr=False)

    def row(self, layer: int | None = None) -> dict[str, Any]:
        hook = self.hook or ""
        return {"hook": hook, "layer": hook_layer(hook) if layer is None else int(layer),
                "train": self.train, "val": self.val, "test": self.test, "control": self.control,
                "selectivity": self.selectivity, "random_model": self.random_model}


def hook_layer(hook: str) -> int:
    """Depth of a hook: ``blocks.l.*`` -> l, ``blocks.l.hook_resid_post`` -> l + 1 (= resid_pre of l + 1), else 0."""
    m = re.match(r"blocks\.(\d+)\.(.*)", hook)
    if not m:
        return 0
    return int(m.group(1)) + (1 if m.group(2) == "hook_resid_post" else 0)


def _new_probe(kind: str, config: ProbeConfig | None, overrides: dict[str, Any]) -> Probe:
    if kind not in PROBE_KINDS:
        raise ValueError(f"Unknown probe kind {kind!r}; use one of {sorted(PROBE_KINDS)}.")
    return PROBE_KINDS[kind](config, **overrides)


def chance_level(labels: torch.Tensor, kind: str, split: torch.Tensor | None = None) -> float:
    """Test score of a constant predictor: the training majority class's rate on the test rows, or 0 (R²)."""
    if kind == "linear":
        return 0.0
    labels = torch.as_tensor(labels).long()
    if split is None or not bool((split == TEST).any()):
        train, test = labels, labels
    else:
        train, test = labels[split == 0], labels[split == TEST]
    values, counts = torch.unique(train, return_counts=True)
    if not counts.numel():
        return float("nan")
    return float((test == values[counts.argmax()]).float().mean())


def probe_report(
    acts: Any,
    labels: Any,
    random_acts: Any,
    types: Any = None,
    *,
    kind: str = "logistic",
    hook: str | None = None,
    random_hook: str | None = None,
    config: ProbeConfig | None = None,
    split: Any = None,
    groups: Any = None,
    control_seed: int = 0,
    **overrides: Any,
) -> ProbeReport:
    """Fit the task probe, the control-task probe and the random-model probe on one split.

    acts / random_acts: [rows, d] tensors, ActivationStores or CaptureResults (+ ``hook``
    / ``random_hook``, default the same hook) of the trained and the random model on the
    same inputs, row for row. types: [rows] token id (or other integer key) per row for
    the control task; taken from the store's token ids when ``acts`` is a store.
    """
    from interp.hooks import ActivationStore

    probe = _new_probe(kind, config, overrides)
    cfg = probe.config
    n = Rows(acts, hook, cfg.chunk_rows).n
    n_random = Rows(random_acts, random_hook or hook, cfg.chunk_rows).n
    if n_random != n:
        raise ProbeDataError(f"random_acts has {n_random} rows, acts has {n}: capture both models on the same inputs.")
    if types is None:
        if not isinstance(acts, ActivationStore):
            raise ProbeDataError("Pass types=<token id per row> for the control task (or fit on an ActivationStore).")
        types = acts.meta()["token_id"]
    labels = torch.as_tensor(labels)
    if split is None:
        split = make_split(n, cfg.val_frac, cfg.test_frac, cfg.seed, groups)
    probe.fit(acts, labels, hook=hook, split=split)
    control = control_labels(types, labels, seed=control_seed)
    if kind == "logistic" and torch.unique(control).numel() < 2:
        # Few types and skewed labels can leave the control task one class: a constant predictor is exact.
        control_probe, control_score = None, 1.0
    else:
        control_probe = _new_probe(kind, cfg, {}).fit(acts, control, hook=hook, split=split)
        control_score = control_probe.scores_.get("test", float("nan"))
    random_probe = _new_probe(kind, cfg, {}).fit(random_acts, labels, hook=random_hook or hook, split=split)
    s = probe.scores_
    return ProbeReport(
        hook=probe.hook, metric=probe.metric, train=s.get("train", float("nan")), val=s.get("val", float("nan")),
        test=s.get("test", float("nan")), control=control_score,
        selectivity=selectivity(s.get("test", float("nan")), control_score),
        random_model=random_probe.scores_.get("test", float("nan")), chance=chance_level(labels, kind, probe.split_),
        probe=probe, control_probe=control_probe, random_probe=random_probe,
    )


def probe_hooks(
    acts: Any,
    random_acts: Any,
    hooks: Sequence[str],
    labels: Any,
    types: Any = None,
    *,
    kind: str = "logistic",
    desc: str = "probe",
    **kwargs: Any,
) -> list[ProbeReport]:
    """:func:`probe_report` for each hook of ``acts``/``random_acts`` (dicts, stores or captures), same split."""
    from tqdm.auto import tqdm

    reports = []
    for hook in tqdm(list(hooks), desc=desc, leave=False):
        x = acts[hook] if isinstance(acts, dict) else acts
        xr = random_acts[hook] if isinstance(random_acts, dict) else random_acts
        h = None if isinstance(acts, dict) else hook
        report = probe_report(x, labels, xr, types, kind=kind, hook=h, random_hook=h, **kwargs)
        report.hook = hook
        for fitted in (report.probe, report.control_probe, report.random_probe):
            if fitted is not None:
                fitted.hook = hook
        reports.append(report)
    return reports
