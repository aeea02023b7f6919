"""Massive activations (Sun et al. 2024): a few residual-stream entries thousands of times larger than the rest.

Sun, Chen, Kolter and Liu ("Massive activations in large language models", COLM
2024) find that LLMs keep a handful of scalar activations in the residual stream
with magnitudes around 10^3-10^4, at fixed feature channels, on the first token and
on weak delimiter tokens ("." "\\n"), and that these act as implicit bias terms that
make those tokens attention sinks. They call an activation *massive* when its
magnitude exceeds 100 **and** is about 1000x the median magnitude of its hidden state.

:class:`MassiveActivations` streams over batches of ``blocks.{l}.hook_resid_post``
and keeps, per (layer, position, channel), the largest such entry; the hidden state
whose median is the reference is one sequence's residual stream at that layer (all
its real tokens). Both thresholds are configurable because small models live at a
different scale: a 2-layer toy never gets near 100, so the per-layer maximum and
median magnitudes (and their ratio) are recorded too, showing how far a model is
from the regime the paper describes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class MassiveActivations:
    """Accumulates massive residual entries over a corpus; one instance per analysis."""

    n_layers: int
    abs_threshold: float = 100.0
    ratio_threshold: float = 1000.0
    max_entries: int = 200
    found: dict[tuple[int, int, int], dict] = field(default_factory=dict)  # (layer, pos, channel) -> entry
    count: int = 0
    layer_max: list[float] = field(default_factory=list)
    layer_median: list[list[float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.layer_max = [0.0] * self.n_layers
        self.layer_median = [[] for _ in range(self.n_layers)]

    def update(self, layer: int, resid: torch.Tensor, real: torch.Tensor, tokens: torch.Tensor) -> None:
        """resid: [batch, pos, d_model]; real: [batch, pos] bool; tokens: [batch, pos] ids."""
        mag = resid.detach().float().abs()  # [batch, pos, d_model]
        for b in range(mag.shape[0]):
            rows = mag[b][real[b]]  # [n_real, d_model]
            if rows.numel() == 0:
                continue
            median = float(rows.median())
            self.layer_median[layer].append(median)
            self.layer_max[layer] = max(self.layer_max[layer], float(rows.max()))
            hit = (mag[b] > self.abs_threshold) & (mag[b] > self.ratio_threshold * median) & real[b][:, None]
            for pos, ch in hit.nonzero().tolist():
                self.count += 1
                value = float(resid[b, pos, ch])
                key = (layer, pos, ch)
                old = self.found.get(key)
                if old is None or abs(value) > abs(old["value"]):
                    self.found[key] = {"layer": layer, "pos": pos, "channel": ch, "value": value,
                                       "ratio": abs(value) / max(median, 1e-12), "token_id": int(tokens[b, pos]),
                                       "count": (old or {}).get("count", 0)}
                self.found[key]["count"] += 1

    def entries(self) -> list[dict]:
        """The strongest entry per (layer, pos, channel), largest magnitude first, at most ``max_entries``."""
        out = sorted(self.found.values(), key=lambda e: -abs(e["value"]))
        return out[: self.max_entries]

    def summary(self) -> dict[str, list[float]]:
        """Per layer: max |activation|, median of the per-sequence median |activation|, and their ratio."""
        med = [float(torch.tensor(m).median()) if m else 0.0 for m in self.layer_median]
        return {"resid_max": self.layer_max, "resid_median": med,
                "resid_ratio": [mx / max(md, 1e-12) for mx, md in zip(self.layer_max, med)]}
