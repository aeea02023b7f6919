"""The shared shape of every sparse autoencoder, and the registry that names them.

An SAE maps an activation ``x [n, d_in]`` to latents ``z = encode(x) [n, d_sae]``
(sparse: most entries 0) and back to ``x_hat = decode(z) = z @ W_dec + b_dec``.
Architectures differ only in the encoder's nonlinearity and the training loss
(ReLU + L1, TopK, BatchTopK, JumpReLU, ...), so each lives in its own module of
:mod:`interp.sae.archs` as a subclass of :class:`SAE` registered under its ``arch``
name, with its own config class and the class attributes below (``needs_k``,
``saelens_arch``, ...); the trainer, evaluation, feature analysis, the
SAELens-format io and the CLI only use what is here, so adding an architecture is
adding one module there.

Parameters are named and shaped as SAELens names them, so saving in its format is
a rename-free copy::

    W_enc [d_in, d_sae]   b_enc [d_sae]   W_dec [d_sae, d_in]   b_dec [d_in]

Training goes through :meth:`SAE.loss` (on *scaled* inputs), which returns an
:class:`SAEOutput` with the total loss, its parts and what the trainer tracks
(per-latent firing counts, L0, the reconstruction); :meth:`SAE.init_from_data`,
:meth:`SAE.before_optimizer_step` and :meth:`SAE.after_optimizer_step` are the
architecture's say in initialisation and decoder-norm handling.

``cfg.input_scale`` is the factor the trainer multiplies inputs by (so that
E‖x‖ = √d_in, the April-2024 recipe); ``encode``/``forward`` take *unscaled*
activations and apply it themselves, so callers never need to know it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn


# Keys of the flat SAEConfig every architecture shared before each got its own config class: a
# cfg.json / checkpoint written then carries all of them; loading keeps those its architecture has.
_OLD_FLAT_KEYS = {"l1_coeff", "l0_coeff", "k_aux", "aux_coeff", "jumprelu_threshold", "jumprelu_bandwidth"}


@dataclass
class SAEConfig:
    """Everything that defines an SAE's shape and loss (not how it is trained).

    Each architecture declares its own hyper-parameters as a subclass (``TopKConfig``
    adds ``k_aux`` and ``aux_coeff``, ...) named by its SAE class's ``Config``.
    ``SAEConfig(arch="topk", ...)`` builds that subclass, so callers only ever name
    ``SAEConfig`` and the architecture's options are ordinary fields.
    """

    arch: str  # registry key: see architectures()
    d_in: int
    d_sae: int
    k: int | None = None  # active latents per token, for architectures that fix it (SAE.needs_k)
    input_scale: float = 1.0  # inputs are multiplied by this before encoding (E||x|| = sqrt(d_in))
    hook: str | None = None  # the TransformerLens hook the SAE reads
    model: str | None = None  # the model spec it was trained on

    def __new__(cls, *args: Any, **kwargs: Any) -> "SAEConfig":
        arch = kwargs.get("arch", args[0] if args else None)
        if cls is SAEConfig and arch in _registry():  # the architecture's own config class
            cls = _registry()[arch].Config
        return super().__new__(cls)

    def __post_init__(self) -> None:
        want = _registry()[self.arch].Config if self.arch in _registry() else SAEConfig
        if not isinstance(self, want):
            raise ValueError(f"arch {self.arch!r} is configured by {want.__name__}, not {type(self).__name__}.")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "SAEConfig":
        """The config a ``to_json`` dict describes, including flat ones written before per-architecture configs."""
        obj = dict(obj)
        target = _registry()[obj["arch"]].Config if obj.get("arch") in _registry() else cls
        known = {f.name for f in dataclasses.fields(target)}
        obj.update(obj.pop("extra", None) or {})  # architecture-specific additions, now fields of their own
        for key in _OLD_FLAT_KEYS - known:
            obj.pop(key, None)
        unknown = set(obj) - known
        if unknown:
            raise ValueError(f"Unknown SAE config keys {sorted(unknown)}; known keys are {sorted(known)}.")
        return target(**obj)


@dataclass
class SAEOutput:
    """What one training forward pass returns (inputs and ``x_hat`` in scaled units)."""

    loss: torch.Tensor  # [] total loss to back-propagate
    parts: dict[str, torch.Tensor]  # [] each: "mse" and the sparsity / auxiliary terms (unweighted)
    x_hat: torch.Tensor  # [n, d_in] reconstruction
    fired: torch.Tensor  # [d_sae] > 0 where the latent was active on some token (a count or a 0/1 flag)
    l0: torch.Tensor  # [] mean number of active latents per token (dense paths: over the first L0_ROWS rows)


L0_ROWS = 512  # dense paths estimate the logged L0 on this many rows: a full count costs as much as a matmul


def sq_err(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Mean over rows of the squared L2 reconstruction error (a per-row mean, so DDP averages it exactly)."""
    return (x_hat.float() - x.float()).pow(2).sum(-1).mean()


class SAE(nn.Module):
    """Base class: parameters, decode, and the interface every architecture implements.

    An architecture is one module: a subclass registered with :func:`register`, which
    says here what the rest of the package needs to know about it.
    """

    arch: ClassVar[str] = ""  # set by @register
    Config: ClassVar[type[SAEConfig]] = SAEConfig  # its config class (its hyper-parameters as fields)
    needs_k: ClassVar[bool] = False  # cfg.k must be set (the CLI passes --k only to these)
    saelens_arch: ClassVar[str | None] = None  # SAELens's "architecture" for the saved folder (None: not savable)
    loads_saelens: ClassVar[bool] = False  # SAELens's own saelens_arch folders load as this architecture

    def __init__(self, cfg: SAEConfig) -> None:
        super().__init__()
        if cfg.d_in <= 0 or cfg.d_sae <= 0:
            raise ValueError(f"SAE sizes must be positive, got d_in={cfg.d_in}, d_sae={cfg.d_sae}.")
        self.cfg = cfg
        self.W_enc = nn.Parameter(torch.empty(cfg.d_in, cfg.d_sae))  # [d_in, d_sae]
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_sae))  # [d_sae]
        self.W_dec = nn.Parameter(torch.empty(cfg.d_sae, cfg.d_in))  # [d_sae, d_in]
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in))  # [d_in]
        self.reset_parameters()

    # ---- initialisation and decoder-norm handling (architectures override) ----
    unit_norm_decoder: ClassVar[bool] = True  # keep W_dec rows at unit norm during training

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Random unit-norm decoder rows, ``W_enc = W_decᵀ``, zero biases."""
        with torch.no_grad():
            w = torch.randn(self.cfg.d_sae, self.cfg.d_in, generator=generator)
            w /= w.norm(dim=-1, keepdim=True)
            self.W_dec.copy_(w)
            self.W_enc.copy_(w.T)
            self.b_enc.zero_()
            self.b_dec.zero_()

    def init_from_data(self, x: torch.Tensor) -> None:
        """Set ``b_dec`` to the mean of a sample of *scaled* inputs [n, d_in]."""
        with torch.no_grad():
            self.b_dec.copy_(x.float().mean(0).to(self.b_dec.dtype))

    @torch.no_grad()
    def before_optimizer_step(self) -> None:
        """With unit-norm decoder rows, drop the gradient component that would change their norm."""
        if self.unit_norm_decoder and self.W_dec.grad is not None:
            w = self.W_dec
            g = self.W_dec.grad
            g -= (g * w).sum(-1, keepdim=True) * w

    @torch.no_grad()
    def after_optimizer_step(self) -> None:
        if self.unit_norm_decoder:
            self.W_dec /= self.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8)

    @staticmethod
    def finish(x: torch.Tensor, x_hat: torch.Tensor, z: torch.Tensor | None,
               terms: dict[str, tuple[float, torch.Tensor]], fired: torch.Tensor | None = None,
               l0: torch.Tensor | None = None) -> SAEOutput:
        """The :class:`SAEOutput` for a reconstruction and weighted extra terms ``{name: (coeff, value)}``.

        Dense latents ``z`` [n, d_sae] (≥ 0) give ``fired`` (a column max: bool reductions over
        [n, d_sae] are as slow as a matmul on CPU) and ``l0``; sparse paths pass those directly.
        """
        mse = sq_err(x, x_hat)
        loss = mse
        for coeff, value in terms.values():
            loss = loss + coeff * value
        if z is not None:
            z = z.detach()
            fired = z.amax(0) > 0
            if l0 is None:
                l0 = torch.count_nonzero(z[:L0_ROWS]).float() / min(z.shape[0], L0_ROWS)
        return SAEOutput(loss=loss, parts={"mse": mse, **{k: v for k, (_, v) in terms.items()}},
                         x_hat=x_hat, fired=fired, l0=l0)

    def loss(self, x: torch.Tensor, sparsity_scale: float = 1.0, dead: torch.Tensor | None = None) -> SAEOutput:
        """Training loss on *scaled* inputs ``x`` [n, d_in].

        ``sparsity_scale`` in [0, 1] warms the sparsity coefficient up; ``dead`` [d_sae]
        bool marks latents that have not fired for the trainer's window (AuxK uses it).
        """
        raise NotImplementedError

    @property
    def d_in(self) -> int:
        return self.cfg.d_in

    @property
    def d_sae(self) -> int:
        return self.cfg.d_sae

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder pre-activations for *scaled* inputs: ``(x - b_dec) @ W_enc + b_enc`` [n, d_sae].

        Written as ``x @ W_enc + (b_enc - b_dec @ W_enc)`` so the backward pass never
        forms the [n, d_in] gradient of ``x - b_dec``: ``b_dec``'s gradient is one
        vector-matrix product instead of a full matmul.
        """
        return torch.addmm(self.b_enc - self.b_dec @ self.W_enc, x, self.W_enc)

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


def _registry() -> dict[str, type[SAE]]:
    """The registered architectures, the built-in ones imported on first use (``interp.sae.archs``)."""
    import interp.sae.archs  # noqa: F401  (each module registers itself)

    return _REGISTRY


def register(arch: str) -> Callable[[type[SAE]], type[SAE]]:
    """Class decorator: make an architecture available to :func:`make_sae` under ``arch``."""

    def deco(cls: type[SAE]) -> type[SAE]:
        cls.arch = arch
        _REGISTRY[arch] = cls
        return cls

    return deco


def architectures() -> list[str]:
    return sorted(_registry())


def arch_class(arch: str) -> type[SAE]:
    """The registered class of ``arch``; an unknown arch lists the known ones."""
    if arch not in _registry():
        raise ValueError(f"Unknown SAE architecture {arch!r}; choose one of {architectures()}.")
    return _REGISTRY[arch]


def arch_options(arch: str) -> dict[str, Any]:
    """The architecture's own hyper-parameters and their defaults (its config fields beyond SAEConfig's)."""
    base = {f.name for f in dataclasses.fields(SAEConfig)}
    return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            for f in dataclasses.fields(arch_class(arch).Config) if f.name not in base}


def parse_options(arch: str, items: list[str]) -> dict[str, Any]:
    """``["l1_coeff=3", "prefixes=[64, 512]"]`` -> typed keyword arguments for ``arch``'s config (JSON values)."""
    known = arch_options(arch)
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in known:
            raise ValueError(f"{item!r}: give NAME=VALUE with NAME one of {sorted(known) or 'nothing'} for arch {arch!r}.")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(f"{item!r}: the value must be JSON (a number, a list, null...).") from None
        out[name] = float(value) if isinstance(known[name], float) and isinstance(value, int) else value
    return out


def make_sae(cfg: SAEConfig) -> SAE:
    """A freshly initialised SAE of ``cfg.arch``; an unknown arch lists the known ones."""
    return arch_class(cfg.arch)(cfg)
