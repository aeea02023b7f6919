"""The toy-models-of-superposition experiment as a ``superposition`` run: three known answers and a phase diagram.

1. **Pentagon**: 5 equally important sparse features in 2 dimensions settle as a regular
   pentagon (adjacent directions 72° apart).
2. **Dense**: with every feature present (density 1) and importance decaying, only the
   ``d_hidden`` most important features are kept, in orthogonal directions.
3. **SAE recovery**: an SAE trained on the pentagon model's hidden layer finds the 5
   directions (MCC, and each direction's angle to its matched decoder row).
4. **Phase diagram** (2 features in 1 dimension): not represented / dedicated dimension /
   superposition over feature density × the 2nd feature's relative importance.

``python experiments/superposition.py`` runs it; the Superposition page shows the run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from interp.runs import Run, start_run
from interp.sae.superposition import (
    ToyModelConfig,
    feature_norms,
    phase_diagram,
    polygon_gaps,
    sample_features,
    train_toy_models,
)
from interp.sae.synthetic import derive_seed, mcc


@dataclass
class SuperpositionConfig:
    seed: int = 0
    steps: int = 600  # Adam steps of each toy model (batch 1024, fresh samples every step)
    lr: float = 1e-2
    instances: int = 6  # pentagon/dense models trained side by side; the lowest-loss one is read
    sparse_probability: float = 0.05  # pentagon: each feature present 5 % of the time
    dense_importance: float = 0.7  # dense: feature i has importance 0.7**i
    sae_d_sae: int = 20  # SAE on the pentagon's hidden layer (TopK, k = 1)
    sae_k: int = 1
    sae_samples: int = 100_000  # toy-model inputs drawn for the SAE (rows with no feature dropped)
    sae_epochs: int = 10
    phase_densities: list[float] = field(default_factory=lambda: np.logspace(-2, 0, 8).round(4).tolist())
    phase_importances: list[float] = field(default_factory=lambda: np.logspace(-1, 1, 8).round(4).tolist())
    phase_replicas: int = 3
    phase_steps: int = 600
    progress: bool = True


def sae_recovery(W: torch.Tensor, cfg: SuperpositionConfig) -> dict[str, Any]:
    """Train a TopK SAE on ``h = W x`` (``W`` [m, n]) and compare its decoder rows with ``W``'s columns."""
    from interp.sae import SAEConfig, TrainConfig, train_sae

    g = torch.Generator().manual_seed(derive_seed(cfg.seed, "superposition.sae-data"))
    x = sample_features(cfg.sae_samples, torch.tensor([cfg.sparse_probability]), W.shape[1], g)[:, 0]  # [N, n]
    h = x @ W.T  # [N, m]
    h = h[h.norm(dim=1) > 0]  # a row with no feature present carries nothing to find
    tc = TrainConfig(sae=SAEConfig(arch="topk", d_in=0, d_sae=cfg.sae_d_sae, k=cfg.sae_k),
                     total_tokens=cfg.sae_epochs * len(h), batch_size=1024, lr=1e-2, warmup_steps=20,
                     dead_tokens=20_000, seed=cfg.seed, progress=cfg.progress)
    sae = train_sae(tc, h).sae
    return {"mcc": mcc(sae.W_dec, W.T), "angles_deg": matched_angles(sae.W_dec.detach(), W.T).tolist(),
            "rows": len(h), "d_sae": cfg.sae_d_sae, "k": cfg.sae_k, "W_dec": sae.W_dec.detach().tolist()}


def matched_angles(decoder: torch.Tensor, features: torch.Tensor) -> np.ndarray:
    """Each true feature's angle (degrees) to its closest decoder row: [n_features]."""
    d = torch.nn.functional.normalize(decoder.float(), dim=-1)
    f = torch.nn.functional.normalize(features.float(), dim=-1)
    return np.degrees(np.arccos((f @ d.T).max(dim=1).values.clamp(-1, 1).numpy()))


@dataclass
class SuperpositionResult:
    pentagon_W: list[list[float]]  # [2, 5] the kept sparse model's feature directions
    pentagon_gaps_deg: list[float]
    sparse_losses: list[float]
    dense_norms: list[float]  # [5] the kept dense model's ||W_i||
    sae: dict[str, Any]
    phase: dict[str, Any]

    @property
    def metrics(self) -> dict[str, Any]:
        gaps = self.pentagon_gaps_deg
        return {"pentagon_max_gap_error_deg": max(abs(g - 72) for g in gaps) if len(gaps) == 5 else None,
                "pentagon_features": len(gaps), "dense_features": int(sum(n > 0.5 for n in self.dense_norms)),
                "sae_mcc": self.sae["mcc"], "sae_max_angle_deg": max(self.sae["angles_deg"])}


def run_superposition(cfg: SuperpositionConfig) -> SuperpositionResult:
    """Compute every part of the experiment (see the module docstring)."""
    base = dict(n_features=5, d_hidden=2, n_instances=cfg.instances, steps=cfg.steps, lr=cfg.lr, seed=cfg.seed,
                progress=cfg.progress)
    sparse = train_toy_models(ToyModelConfig(feature_probability=cfg.sparse_probability, importance=1.0, **base))
    W = sparse.model.W.detach()[int(sparse.loss.argmin())]  # [2, 5]
    dense = train_toy_models(ToyModelConfig(feature_probability=1.0, importance=cfg.dense_importance, **base))
    Wd = dense.model.W.detach()[int(dense.loss.argmin())][None]
    phase = phase_diagram(cfg.phase_densities, cfg.phase_importances, cfg.phase_steps, cfg.phase_replicas, cfg.lr,
                          cfg.seed, cfg.progress)
    return SuperpositionResult(W.tolist(), polygon_gaps(W), sparse.loss.tolist(), feature_norms(Wd)[0].tolist(),
                               sae_recovery(W, cfg), phase.to_json())


def write_superposition_run(result: SuperpositionResult, cfg: SuperpositionConfig, root: str | Path | None = None) -> Run:
    """A ``superposition`` run: ``results`` (JSON: every figure above) and the metrics (docs/runs.md)."""
    with start_run("superposition", asdict(cfg), slug="toy-models", root=root) as run:
        run.write_json("results", asdict(result))
        run.metrics.update({k: v for k, v in result.metrics.items() if v is not None and not
                            (isinstance(v, float) and math.isnan(v))})
    return run


def superposition_pipeline(cfg: SuperpositionConfig | None = None, root: str | Path | None = None) -> Run:
    cfg = cfg or SuperpositionConfig()
    return write_superposition_run(run_superposition(cfg), cfg, root)
