"""A per-layer transcoder (PLT): a sparse, wide replacement for one MLP.

It reads the MLP's input ``x`` (``blocks.L.ln2.hook_normalized``, or ``blocks.L.hook_mlp_in``
where there is no LayerNorm) and predicts the MLP's *output* ``y`` (``blocks.L.hook_mlp_out``)::

    pre  = (x · input_scale) @ W_enc + b_enc                        [..., d_sae]   affine in x
    acts = activation(pre)                                          [..., d_sae]   sparse, ≥ 0
    ŷ    = (acts @ W_dec + b_dec) / output_scale  (+ x @ W_skip)    [..., d_out]   model units

    W_enc [d_in, d_sae]   b_enc [d_sae]   W_dec [d_sae, d_out]   b_dec [d_out]
    W_skip [d_in, d_out] (cfg.skip)   threshold [d_sae] (jumprelu only)

Unlike an SAE the encoder subtracts no ``b_dec``: the target lives in another space, so the
pre-activations are a plain affine function of ``x`` (what attribution graphs differentiate).
``input_scale`` / ``output_scale`` make E‖x‖ = √d_in and E‖y‖ = √d_out during training (the
SAE recipe, for both sides); the model applies them itself, so callers pass raw activations.
The optional skip connection is a dense linear map in raw units that takes the part of the MLP
a linear map can explain, leaving the latents the nonlinear rest.

Training (:mod:`interp.transcoders.train`) calls :meth:`Transcoder.loss` on *scaled* inputs and
targets; everything else takes raw activations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from interp.io import check_config_keys
from interp.transcoders.common import TrainOut, TranscoderBase, activate, check_activation, finish


@dataclass(kw_only=True)
class SparsityOptions:
    """The activations' training hyper-parameters, shared by :class:`TranscoderConfig` and ``CLTConfig``."""

    jumprelu_threshold: float = 0.001  # jumprelu: initial per-latent threshold (pre-activation units)
    jumprelu_bandwidth: float = 0.05  # jumprelu: straight-through estimator kernel width
    l0_coeff: float = 1.0  # jumprelu: L0 penalty coefficient
    l1_coeff: float = 5.0  # relu: L1 penalty coefficient (on acts · decoder norm)
    k_aux: int | None = None  # topk AuxK: dead latents used to model the residual (default d_out // 2)
    aux_coeff: float = 1 / 32  # topk AuxK loss coefficient

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Any:
        check_config_keys(cls, obj)
        return cls(**obj)


@dataclass
class TranscoderConfig(SparsityOptions):
    """A per-layer transcoder's shape, scales and provenance (the activation's options are keyword-only)."""

    d_in: int
    d_out: int
    d_sae: int
    activation: str = "topk"  # "topk" | "relu" | "jumprelu"
    k: int | None = 32  # for topk
    skip: bool = False  # affine skip connection x @ W_skip
    input_scale: float = 1.0  # inputs are multiplied by this before encoding
    output_scale: float = 1.0  # targets are multiplied by this for training; outputs are divided by it
    hook_in: str | None = None  # e.g. "blocks.0.ln2.hook_normalized" (or "blocks.0.hook_mlp_in" without LN)
    hook_out: str | None = None  # e.g. "blocks.0.hook_mlp_out"
    layer: int | None = None
    model: str | None = None


def unit_columns(rows: int, cols: int, generator: torch.Generator | None, dim: int) -> torch.Tensor:
    """Gaussian [rows, cols] normalised to unit norm along ``dim`` (the SAE init's random directions)."""
    w = torch.randn(rows, cols, generator=generator)
    return w / w.norm(dim=dim, keepdim=True)


class Transcoder(TranscoderBase):
    """One MLP's sparse replacement; see the module docstring for the maths and shapes."""

    def __init__(self, cfg: TranscoderConfig) -> None:
        super().__init__()
        if min(cfg.d_in, cfg.d_out, cfg.d_sae) <= 0:
            raise ValueError(f"Transcoder sizes must be positive, got d_in={cfg.d_in}, d_out={cfg.d_out}, d_sae={cfg.d_sae}.")
        check_activation(cfg.activation, cfg.k, cfg.d_sae)
        self.cfg = cfg
        self.W_enc = nn.Parameter(torch.empty(cfg.d_in, cfg.d_sae))  # [d_in, d_sae]
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_sae))  # [d_sae]
        self.W_dec = nn.Parameter(torch.empty(cfg.d_sae, cfg.d_out))  # [d_sae, d_out]
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_out))  # [d_out]
        self.W_skip = nn.Parameter(torch.zeros(cfg.d_in, cfg.d_out)) if cfg.skip else None  # [d_in, d_out]
        self.threshold = (nn.Parameter(torch.full((cfg.d_sae,), float(cfg.jumprelu_threshold)))
                          if cfg.activation == "jumprelu" else None)  # [d_sae]
        self.reset_parameters()

    def latent_decoders(self) -> list[list[torch.Tensor]]:
        return [[self.W_dec]]

    def encoders(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(self.W_enc, self.b_enc)]

    def thresholds(self) -> list[torch.Tensor]:
        return [] if self.threshold is None else [self.threshold]

    # ---- inference (raw activations) ----
    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        """``(x · input_scale) @ W_enc + b_enc`` [..., d_sae] for raw inputs [..., d_in]."""
        return (x * self.cfg.input_scale) @ self.W_enc + self.b_enc

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        """The nonlinearity [..., d_sae]: TopK of ReLU, ReLU, or JumpReLU ``pre · (pre > threshold)``."""
        return activate(pre, self.cfg.activation, self.cfg.k, self.threshold)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents [..., d_sae] of raw inputs [..., d_in]."""
        return self.activation(self.pre_acts(x))

    def decode(self, acts: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """The MLP-output estimate [..., d_out] in model units; the skip term needs the input ``x`` [..., d_in]."""
        out = (acts @ self.W_dec + self.b_dec) / self.cfg.output_scale
        if self.W_skip is not None and x is not None:
            out = out + x @ self.W_skip
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``decode(encode(x), x)`` [..., d_out] for raw inputs [..., d_in] (any leading shape)."""
        return self.decode(self.encode(x), x)

    # ---- training (scaled units) ----
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Random unit-norm encoder columns and decoder rows (relu: rows of norm 0.1), zero biases and skip."""
        c = self.cfg
        with torch.no_grad():
            self.W_enc.copy_(unit_columns(c.d_in, c.d_sae, generator, dim=0))
            w = unit_columns(c.d_sae, c.d_out, generator, dim=1)
            self.W_dec.copy_(w if self.unit_norm_decoder else w * self.init_decoder_norm_relu)
            self.b_enc.zero_()
            self.b_dec.zero_()
            if self.W_skip is not None:
                self.W_skip.zero_()
            if self.threshold is not None:
                self.threshold.fill_(float(c.jumprelu_threshold))

    @torch.no_grad()
    def init_from_data(self, xs: torch.Tensor, ys: torch.Tensor) -> None:
        """From samples of *scaled* inputs [n, d_in] and targets [n, d_out]: the encoder starts centred on the
        mean input (``b_enc = −mean(x) @ W_enc``, so no latent starts dense) and ``b_dec`` at the mean target."""
        self.b_enc.copy_(-(xs.float().mean(0) @ self.W_enc.float()).to(self.b_enc.dtype))
        self.b_dec.copy_(ys.float().mean(0).to(self.b_dec.dtype))

    def skip_gain(self) -> float:
        """``output_scale / input_scale``: the skip term in scaled units is ``x_scaled @ W_skip · skip_gain``."""
        return self.cfg.output_scale / self.cfg.input_scale

    def loss(self, xs: torch.Tensor, ys: torch.Tensor, sparsity_scale: float = 1.0,
             dead: torch.Tensor | None = None) -> TrainOut:
        """Training loss on scaled inputs ``xs`` [n, d_in] and targets ``ys`` [n, d_out]; ``dead`` [d_sae] bool feeds AuxK."""
        (code,) = self.train_codes([xs])
        y_hat = code.decode(self.W_dec) + self.b_dec  # [n, d_out]
        if self.W_skip is not None:
            y_hat = y_hat + (xs @ self.W_skip) * self.skip_gain()
        terms = self.sparsity_terms([xs], [code], [dead], [ys - y_hat], sparsity_scale)
        return finish([ys], [y_hat], [code], terms)
