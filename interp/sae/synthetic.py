"""Synthetic superposition data with known features, and how well an SAE recovers them.

Real activations have no answer key; this module makes data that does. ``n_features``
unit directions live in ``d < n_features`` dimensions (superposition); each sample
switches on a sparse random subset of them with a positive magnitude and sums the
directions::

    x = Σ_i  c_i · f_i (+ optional Gaussian noise),   c_i = fire_i · |m_i|,  m_i ~ N(1, magnitude_std)

Firing probabilities follow a Zipf-like law ``p_i ∝ (i + 1)^-zipf_exponent``, scaled so
the expected number of active features per sample is ``l0`` (as in real LMs, a few
features are common and most are rare). With ``correlation > 0`` features fire in
correlated groups of ``group_size`` (a Gaussian copula: each feature thresholds
``√ρ·u_group + √(1-ρ)·ε_i``, which keeps every marginal ``p_i`` exact).

Recovery metrics compare an SAE's decoder rows with the true directions:

* **MMCS** (mean max cosine similarity): for each true feature, its best decoder row;
* **MCC** (mean correlation coefficient after matching): a one-to-one Hungarian
  matching (``scipy.optimize.linear_sum_assignment``) of true features to decoder rows
  maximising total cosine; the mean matched cosine. MCC ≤ MMCS, and it cannot be
  inflated by many latents copying one feature.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def derive_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for one ``purpose`` (``"synthetic.features"``, ``"synthetic.samples"``) derived from ``seed``.

    A generator seeded with it never draws the stream of one seeded with a plain integer, such
    as the SAE trainer's initialisation (``TrainConfig.seed``): an SAE trained with the data's
    seed and the dictionary's shape cannot start at the answer.
    """
    return int.from_bytes(hashlib.sha256(f"{purpose}:{int(seed)}".encode()).digest()[:8], "little") >> 1


@dataclass
class SyntheticConfig:
    n_features: int = 512
    d: int = 128
    l0: float = 8.0  # expected active features per sample
    zipf_exponent: float = 0.5  # p_i ∝ (i + 1)^-a
    magnitude_std: float = 0.25  # magnitude noise around 1 (|N(1, std)|)
    correlation: float = 0.0  # ρ of the Gaussian copula within groups (0 = independent)
    group_size: int = 8
    noise_std: float = 0.0  # isotropic Gaussian noise added to x
    seed: int = 0


class SyntheticData:
    """Known features ``features [n_features, d]`` (unit rows) and firing ``probs [n_features]``."""

    def __init__(self, cfg: SyntheticConfig) -> None:
        if cfg.n_features <= 0 or cfg.d <= 0 or not 0 < cfg.l0 <= cfg.n_features:
            raise ValueError(f"Need n_features, d > 0 and 0 < l0 <= n_features; got {cfg}.")
        if not 0 <= cfg.correlation < 1:
            raise ValueError(f"correlation must be in [0, 1), got {cfg.correlation}.")
        self.cfg = cfg
        # The dictionary and the samples each draw from a generator seeded with derive_seed(cfg.seed,
        # purpose), never with cfg.seed itself: the trainer initialises an SAE from its plain seed,
        # so an SAE trained with this seed and shape cannot start *at* the answer.
        features_gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "synthetic.features"))
        f = torch.randn(cfg.n_features, cfg.d, generator=features_gen)
        self.features = f / f.norm(dim=-1, keepdim=True)  # [n_features, d]
        gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "synthetic.samples"))
        w = (torch.arange(cfg.n_features, dtype=torch.float64) + 1) ** -cfg.zipf_exponent
        p = cfg.l0 * w / w.sum()
        for _ in range(50):  # cap at 1 and give the excess to the others
            over = p > 1
            if not over.any():
                break
            excess = float((p[over] - 1).sum())
            p[over] = 1.0
            p[~over] += excess * p[~over] / p[~over].sum()
        self.probs = p.float()  # [n_features]
        self._gen = gen

    def coefficients(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Feature coefficients [n, n_features] (≥ 0, mostly 0)."""
        cfg, gen = self.cfg, generator or self._gen
        if cfg.correlation > 0:
            groups = torch.arange(cfg.n_features) // cfg.group_size
            u = torch.randn(n, int(groups.max()) + 1, generator=gen)[:, groups]
            z = cfg.correlation ** 0.5 * u + (1 - cfg.correlation) ** 0.5 * torch.randn(n, cfg.n_features, generator=gen)
            fire = z > torch.special.ndtri(1 - self.probs.clamp(1e-12, 1 - 1e-7))
        else:
            fire = torch.rand(n, cfg.n_features, generator=gen) < self.probs
        mags = (1 + cfg.magnitude_std * torch.randn(n, cfg.n_features, generator=gen)).abs()
        return fire * mags

    def sample(self, n: int, generator: torch.Generator | None = None, chunk: int = 16384) -> torch.Tensor:
        """Activations ``x`` [n, d] (float32), from ``generator`` or the data's own sampling stream."""
        gen = generator or self._gen
        out = torch.empty(n, self.cfg.d)
        for s in range(0, n, chunk):
            c = self.coefficients(min(chunk, n - s), gen)
            out[s : s + c.shape[0]] = c @ self.features
        if self.cfg.noise_std > 0:
            out += self.cfg.noise_std * torch.randn(n, self.cfg.d, generator=gen)
        return out


def _cos(decoder: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Cosine similarities [n_features, d_sae] of true features and decoder rows."""
    if decoder.shape[-1] != features.shape[-1]:
        raise ValueError(f"Decoder rows have width {decoder.shape[-1]}, the features {features.shape[-1]}: "
                         "pass W_dec [d_sae, d] of an SAE trained on this data.")
    d = decoder.detach().float().cpu()
    f = features.detach().float().cpu()
    return (f / f.norm(dim=-1, keepdim=True)) @ (d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12)).T


def mmcs(decoder: torch.Tensor, features: torch.Tensor) -> float:
    """Mean over true features of the best cosine with any decoder row."""
    return float(_cos(decoder, features).max(dim=1).values.mean())


def mcc(decoder: torch.Tensor, features: torch.Tensor) -> float:
    """Mean cosine after a one-to-one Hungarian matching of features to decoder rows.

    With fewer decoder rows than features, unmatched features count as 0.
    """
    cos = _cos(decoder, features).numpy().astype(np.float64)
    rows, cols = linear_sum_assignment(cos, maximize=True)
    return float(cos[rows, cols].sum() / cos.shape[0])
