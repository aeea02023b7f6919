"""The shared shape of every sparse autoencoder, and the registry that names them.

An SAE maps an activation ``x [n, d_in]`` to latents ``z = encode(x) [n, d_sae]``
(sparse: most entries 0) and back to ``x_hat = decode(z) = z @ W_dec + b_dec``.
Architectures differ only in the encoder's nonlinearity and the training loss
(ReLU + L1, TopK, BatchTopK, JumpReLU, ...), so each lives in its own module as a
subclass of :class:`SAE` registered under its ``arch`` name; the trainer,
evaluation, feature analysis and the SAELens-format io only use what is here.

Parameters are named and shaped as SAELens names them, so saving in its format is
a rename-free copy::

    W_enc [d_in, d_sae]   b_enc [d_sae]   W_dec [d_sae, d_in]   b_dec [d_in]

``cfg.input_scale`` is the factor the trainer multiplies inputs by (so that
E‖x‖ = √d_in, the April-2024 recipe); ``encode``/``forward`` take *unscaled*
activations and apply it themselves, so callers never need to know it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch
from torch import nn


@dataclass
class SAEConfig:
    """Everything that defines an SAE's shape and loss (not how it is trained)."""

    arch: str  # registry key: "relu_l1", "topk", "batchtopk", "jumprelu", ...
    d_in: int
    d_sae: int
    k: int | None = None  # active latents per token (topk, batchtopk)
    l1_coeff: float = 5.0  # relu_l1 sparsity coefficient (on |z| * ||W_dec row||)
    l0_coeff: float = 1.0  # jumprelu L0 penalty coefficient
    k_aux: int | None = None  # AuxK: dead latents used to model the residual (default d_in // 2)
    aux_coeff: float = 1 / 32  # AuxK loss coefficient
    jumprelu_threshold: float = 0.001  # initial threshold
    jumprelu_bandwidth: float = 0.001  # straight-through estimator kernel width
    input_scale: float = 1.0  # inputs are multiplied by this before encoding (E||x|| = sqrt(d_in))
    hook: str | None = None  # the TransformerLens hook the SAE reads
    model: str | None = None  # the model spec it was trained on
    extra: dict[str, Any] = field(default_factory=dict)  # architecture-specific additions

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "SAEConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(obj) - known
        if unknown:
            raise ValueError(f"Unknown SAE config keys {sorted(unknown)}; known keys are {sorted(known)}.")
        return cls(**obj)


class SAE(nn.Module):
    """Base class: parameters, decode, and the interface every architecture implements."""

    arch: ClassVar[str] = ""

    def __init__(self, cfg: SAEConfig) -> None:
        super().__init__()
        if cfg.d_in <= 0 or cfg.d_sae <= 0:
            raise ValueError(f"SAE sizes must be positive, got d_in={cfg.d_in}, d_sae={cfg.d_sae}.")
        self.cfg = cfg
        self.W_enc = nn.Parameter(torch.empty(cfg.d_in, cfg.d_sae))  # [d_in, d_sae]
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_sae))  # [d_sae]
        self.W_dec = nn.Parameter(torch.empty(cfg.d_sae, cfg.d_in))  # [d_sae, d_in]
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in))  # [d_in]

    @property
    def d_in(self) -> int:
        return self.cfg.d_in

    @property
    def d_sae(self) -> int:
        return self.cfg.d_sae

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder pre-activations for *scaled* inputs: ``(x - b_dec) @ W_enc + b_enc`` [n, d_sae]."""
        return (x - self.b_dec) @ self.W_enc + self.b_enc

    def encode_scaled(self, x: torch.Tensor) -> torch.Tensor:
        """Latents [n, d_sae] for inputs already multiplied by ``cfg.input_scale``."""
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents [n, d_sae] for raw activations [n, d_in]."""
        return self.encode_scaled(x * self.cfg.input_scale)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction [n, d_in] in raw activation units."""
        return (z @ self.W_dec + self.b_dec) / self.cfg.input_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct raw activations ``x`` [..., d_in] (any leading shape)."""
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        return self.decode(self.encode(flat)).reshape(shape)


_REGISTRY: dict[str, type[SAE]] = {}


def register(arch: str) -> Callable[[type[SAE]], type[SAE]]:
    """Class decorator: make an architecture available to :func:`make_sae` under ``arch``."""

    def deco(cls: type[SAE]) -> type[SAE]:
        cls.arch = arch
        _REGISTRY[arch] = cls
        return cls

    return deco


def architectures() -> list[str]:
    return sorted(_REGISTRY)


def make_sae(cfg: SAEConfig) -> SAE:
    """A freshly initialised SAE of ``cfg.arch``; an unknown arch lists the known ones."""
    if cfg.arch not in _REGISTRY:
        raise ValueError(f"Unknown SAE architecture {cfg.arch!r}; choose one of {architectures()}.")
    return _REGISTRY[cfg.arch](cfg)
