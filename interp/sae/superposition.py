"""Toy models of superposition (Elhage et al. 2022): a known answer for feature geometry.

``n`` sparse features, each 0 with probability ``1 - p`` and uniform on [0, 1] otherwise,
are squeezed through ``m < n`` hidden dimensions and read back with a ReLU::

    h = W x            # [m]      W: [m, n]
    x' = ReLU(Wᵀ h + b)  # [n]
    loss = Σ_i I_i (x_i - x'_i)²   (importance I_i)

What the model learns is known: with dense features (p = 1) it keeps the ``m`` most
important ones in orthogonal directions and drops the rest; with sparse features it packs
more than ``m`` of them into superposition, and 5 equally important features in 2
dimensions settle as a regular pentagon (adjacent directions 72° apart). The hidden
layer ``h`` is then data with a known dictionary (the columns of ``W``), on which an SAE
should recover those directions.

Many independent models (*instances*) train side by side in one batched model, each
with its own feature probability and importances: that is how a phase diagram
(sparsity × relative importance) is one training run, and how a bad local minimum of
one instance is told apart from what the setting learns (take the best of a few).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from interp.sae.synthetic import derive_seed


@dataclass
class ToyModelConfig:
    """Shapes and training of a batch of toy models; per-instance settings are lists of length ``n_instances``.

    ``feature_probability``: one float (every instance) or one per instance.
    ``importance``: one decay ``r`` (feature i has importance ``r**i``), or a full list of
    ``n_features`` importances per instance.
    """

    n_features: int = 5
    d_hidden: int = 2
    n_instances: int = 8
    feature_probability: float | list[float] = 0.05
    importance: float | list[list[float]] = 1.0
    steps: int = 4000
    batch_size: int = 1024
    lr: float = 1e-3
    seed: int = 0
    progress: bool = False

    def probabilities(self) -> torch.Tensor:  # [inst]
        p = self.feature_probability
        t = torch.full((self.n_instances,), float(p)) if isinstance(p, (int, float)) else torch.tensor(p, dtype=torch.float32)
        if t.shape != (self.n_instances,) or not bool(((t > 0) & (t <= 1)).all()):
            raise ValueError(f"feature_probability must be in (0, 1], one value or {self.n_instances}; got {p!r}.")
        return t

    def importances(self) -> torch.Tensor:  # [inst, n_features]
        imp = self.importance
        if isinstance(imp, (int, float)):
            t = (float(imp) ** torch.arange(self.n_features, dtype=torch.float32)).expand(self.n_instances, -1)
        else:
            t = torch.tensor(imp, dtype=torch.float32)
        if t.shape != (self.n_instances, self.n_features) or not bool((t > 0).all()):
            raise ValueError(f"importance must be a decay r > 0 or positive [{self.n_instances}, {self.n_features}] "
                             f"values; got shape {tuple(t.shape)}.")
        return t.contiguous()


class ToyModel(torch.nn.Module):
    """``n_instances`` independent ReLU-output toy models, trained together."""

    def __init__(self, cfg: ToyModelConfig) -> None:
        super().__init__()
        if not 0 < cfg.d_hidden <= cfg.n_features or cfg.n_instances <= 0:
            raise ValueError(f"Need 0 < d_hidden <= n_features and n_instances > 0; got {cfg}.")
        self.cfg = cfg
        g = torch.Generator().manual_seed(derive_seed(cfg.seed, "superposition.model"))
        bound = math.sqrt(6 / (cfg.d_hidden + cfg.n_features))  # Xavier-uniform, as in the paper's code
        self.W = torch.nn.Parameter((torch.rand(cfg.n_instances, cfg.d_hidden, cfg.n_features, generator=g) * 2 - 1) * bound)
        self.b = torch.nn.Parameter(torch.zeros(cfg.n_instances, cfg.n_features))  # [inst, n]

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, inst, n] -> [batch, inst, m]."""
        return torch.einsum("imn,bin->bim", self.W, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, inst, n] -> [batch, inst, n]."""
        return torch.relu(torch.einsum("imn,bim->bin", self.W, self.hidden(x)) + self.b)


def sample_features(n: int, probability: torch.Tensor, n_features: int, generator: torch.Generator) -> torch.Tensor:
    """[n, inst, n_features]: each feature uniform on [0, 1] with its instance's probability, else 0."""
    inst = probability.shape[0]
    on = torch.rand(n, inst, n_features, generator=generator) < probability[None, :, None]
    return torch.rand(n, inst, n_features, generator=generator) * on


@dataclass
class ToyModelResult:
    model: ToyModel
    loss: torch.Tensor  # [inst]: the final importance-weighted loss of each instance (mean over the last steps)
    history: list[float] = field(default_factory=list)  # mean loss over instances every 100 steps


def train_toy_models(cfg: ToyModelConfig) -> ToyModelResult:
    """Train every instance on fresh samples each step (Adam, constant lr); data seeded apart from the weights."""
    model = ToyModel(cfg)
    p, imp = cfg.probabilities(), cfg.importances()
    g = torch.Generator().manual_seed(derive_seed(cfg.seed, "superposition.data"))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history, tail = [], []
    for step in tqdm(range(cfg.steps), desc="toy models", disable=not cfg.progress, dynamic_ncols=True):
        x = sample_features(cfg.batch_size, p, cfg.n_features, g)
        per_inst = (imp * (x - model(x)) ** 2).sum(-1).mean(0)  # [inst]
        opt.zero_grad(set_to_none=True)
        per_inst.sum().backward()
        opt.step()
        if step % 100 == 0:
            history.append(float(per_inst.detach().mean()))
        if step >= cfg.steps - 100:
            tail.append(per_inst.detach())
    return ToyModelResult(model.eval(), torch.stack(tail).mean(0), history)


# ---- what was learned -----------------------------------------------------------------------------

def feature_norms(W: torch.Tensor) -> torch.Tensor:
    """||W_i|| of each feature's direction: [inst, m, n] -> [inst, n] (≈1 represented, ≈0 dropped)."""
    return W.norm(dim=-2)


def represented(W: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """[inst, n] bool: features the instance keeps (direction norm above ``threshold``)."""
    return feature_norms(W) > threshold


def polygon_gaps(W2: torch.Tensor, threshold: float = 0.5) -> list[float]:
    """Angles (degrees) between angularly adjacent represented directions of one 2-D instance ``W2`` [2, n]."""
    keep = W2.norm(dim=0) > threshold
    ang = torch.atan2(W2[1, keep], W2[0, keep]).sort().values.tolist()
    if len(ang) < 2:
        return []
    gaps = [b - a for a, b in zip(ang, ang[1:])] + [ang[0] + 2 * math.pi - ang[-1]]
    return [math.degrees(x) for x in gaps]


def superposition_share(W: torch.Tensor) -> torch.Tensor:
    """[inst, n]: Σ_{j≠i} (Ŵ_i · W_j)² — how much other features interfere with feature i (0: its own dimension)."""
    unit = W / W.norm(dim=-2, keepdim=True).clamp_min(1e-8)
    dots = torch.einsum("imn,imk->ink", unit, W) ** 2  # [inst, n, n]
    return dots.sum(-1) - torch.diagonal(dots, dim1=-2, dim2=-1)


PHASES = ("not represented", "dedicated dimension", "superposition")


def phase_of_extra_feature(W: torch.Tensor, threshold: float = 0.5) -> np.ndarray:
    """For 2 features in 1 dimension, the phase of feature 1 (the one whose importance varies) per instance.

    0 ``not represented`` (||W_1|| < threshold), 1 ``dedicated dimension`` (kept, feature 0 dropped),
    2 ``superposition`` (both kept, sharing the dimension: antipodal in the paper's diagram).
    """
    norms = feature_norms(W)  # [inst, 2]
    keep = norms > threshold
    out = np.zeros(W.shape[0], dtype=np.int64)
    out[(keep[:, 1] & ~keep[:, 0]).numpy()] = 1
    out[(keep[:, 1] & keep[:, 0]).numpy()] = 2
    return out


@dataclass
class PhaseDiagram:
    """Phase of a 2nd feature sharing 1 dimension with a 1st (importance 1), over density × its importance."""

    densities: list[float]  # feature probability (1 - sparsity), rows
    importances: list[float]  # the 2nd feature's importance relative to the 1st, columns
    phase: np.ndarray  # [n_densities, n_importances] index into PHASES
    norms: np.ndarray  # [n_densities, n_importances, 2] ||W_0||, ||W_1|| of the kept replica
    loss: np.ndarray  # [n_densities, n_importances]

    def to_json(self) -> dict:
        return {"densities": self.densities, "importances": self.importances, "phases": list(PHASES),
                "phase": self.phase.tolist(), "norms": self.norms.tolist(), "loss": self.loss.tolist()}


def phase_diagram(densities: list[float], importances: list[float], steps: int = 600, replicas: int = 3,
                  lr: float = 1e-2, seed: int = 0, progress: bool = False) -> PhaseDiagram:
    """Train 2-features-in-1-dimension models on a grid, ``replicas`` per cell; keep each cell's lowest loss.

    A single run can settle in a local minimum (the paper's diagrams show the best of several);
    the replicas differ only in their initial weights and data stream.
    """
    cells = [(float(d), float(r)) for d in densities for r in importances]
    probs = [d for d, _ in cells for _ in range(replicas)]
    imps = [[1.0, r] for _, r in cells for _ in range(replicas)]
    res = train_toy_models(ToyModelConfig(n_features=2, d_hidden=1, n_instances=len(probs), feature_probability=probs,
                                          importance=imps, steps=steps, lr=lr, seed=seed, progress=progress))
    loss = res.loss.view(len(cells), replicas)
    best = loss.argmin(1)
    W = res.model.W.detach().view(len(cells), replicas, 1, 2)[torch.arange(len(cells)), best]  # [cells, 1, 2]
    shape = (len(densities), len(importances))
    return PhaseDiagram([float(d) for d in densities], [float(r) for r in importances],
                        phase_of_extra_feature(W).reshape(shape), feature_norms(W).numpy().reshape(*shape, 2),
                        loss.min(1).values.numpy().reshape(shape))
