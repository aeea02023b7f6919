"""A cross-layer transcoder (CLT): one set of latents per layer, each writing to its own and every later MLP output.

Layer ``l``'s latents read that layer's MLP input; the estimate of layer ``t``'s MLP output sums
the decoders of every layer at or below it (Anthropic's "circuit tracing" CLT)::

    acts_l = activation_l((x_l · input_scale[l]) @ W_enc[l] + b_enc[l])                  [..., d_sae]
    ŷ_t    = (Σ_{s ≤ t} acts_s @ W_dec_to(s, t) + b_dec[t]) / output_scale[t] (+ x_t @ W_skip[t])

A feature computed once can so account for an MLP output spread over several layers, which
per-layer transcoders must each re-learn; that is what makes CLT attribution graphs smaller.

Parameters (``ParameterList``s; state_dict names ``W_enc.0``, ``W_dec.3``, ...)::

    W_enc[l] [d_in, d_sae]   b_enc[l] [d_sae]   b_dec[t] [d_out]   (threshold[l] [d_sae]: jumprelu)
    W_dec[i] [d_sae, d_out]  for the i-th (src, tgt) pair in src-major order:
             (0,0) (0,1) … (0,n−1) (1,1) (1,2) … (n−1,n−1)   i = pair_index(src, tgt)
    W_skip[t] [d_in, d_out]  (cfg.skip)

Layer indices are model layers: a CLT reads layers ``0 .. n_layers − 1`` of its model (all of them,
or a prefix). TopK / JumpReLU keep each latent's decoder rows, concatenated over its targets, at
unit norm (:mod:`interp.transcoders.common`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from interp.transcoders.base import SparsityOptions, unit_columns
from interp.transcoders.common import TrainOut, TranscoderBase, activate, check_activation, finish, normalise_rows


@dataclass
class CLTConfig(SparsityOptions):
    """A cross-layer transcoder's shape, per-layer scales and hooks (activation options are keyword-only)."""

    n_layers: int
    d_in: int
    d_out: int
    d_sae: int  # latents per layer
    activation: str = "topk"  # "topk" | "relu" | "jumprelu"
    k: int | None = 32  # topk: per layer
    skip: bool = False  # per-layer affine skip x_t @ W_skip[t]
    input_scale: list[float] = field(default_factory=list)  # per layer (empty: all 1)
    output_scale: list[float] = field(default_factory=list)  # per layer (empty: all 1)
    hooks_in: list[str] = field(default_factory=list)  # per layer, e.g. "blocks.0.ln2.hook_normalized"
    hooks_out: list[str] = field(default_factory=list)  # per layer, e.g. "blocks.0.hook_mlp_out"
    model: str | None = None

    def __post_init__(self) -> None:
        self.input_scale = list(self.input_scale) or [1.0] * self.n_layers
        self.output_scale = list(self.output_scale) or [1.0] * self.n_layers
        for name in ("input_scale", "output_scale", "hooks_in", "hooks_out"):
            value = getattr(self, name)
            if value and len(value) != self.n_layers:
                raise ValueError(f"CLTConfig.{name} has {len(value)} entries for {self.n_layers} layers.")


def pair_index(src: int, tgt: int, n_layers: int) -> int:
    """Position of the (src, tgt) decoder in ``W_dec``: pairs in src-major order, tgt from src to n_layers − 1."""
    if not 0 <= src <= tgt < n_layers:
        raise IndexError(f"A CLT decoder goes from a layer to itself or a later one; got src={src}, tgt={tgt} "
                         f"(n_layers={n_layers}).")
    return src * n_layers - src * (src - 1) // 2 + (tgt - src)


class CrossLayerTranscoder(TranscoderBase):
    """Every MLP's sparse replacement at once, with cross-layer decoders; see the module docstring."""

    def __init__(self, cfg: CLTConfig) -> None:
        super().__init__()
        if min(cfg.n_layers, cfg.d_in, cfg.d_out, cfg.d_sae) <= 0:
            raise ValueError(f"CLT sizes must be positive, got n_layers={cfg.n_layers}, d_in={cfg.d_in}, "
                             f"d_out={cfg.d_out}, d_sae={cfg.d_sae}.")
        check_activation(cfg.activation, cfg.k, cfg.d_sae)
        self.cfg = cfg
        self.n_layers = n = cfg.n_layers
        self.pairs = [(s, t) for s in range(n) for t in range(s, n)]  # W_dec order
        self.W_enc = nn.ParameterList([nn.Parameter(torch.empty(cfg.d_in, cfg.d_sae)) for _ in range(n)])
        self.b_enc = nn.ParameterList([nn.Parameter(torch.zeros(cfg.d_sae)) for _ in range(n)])
        self.W_dec = nn.ParameterList([nn.Parameter(torch.empty(cfg.d_sae, cfg.d_out)) for _ in self.pairs])
        self.b_dec = nn.ParameterList([nn.Parameter(torch.zeros(cfg.d_out)) for _ in range(n)])
        self.W_skip = (nn.ParameterList([nn.Parameter(torch.zeros(cfg.d_in, cfg.d_out)) for _ in range(n)])
                       if cfg.skip else None)
        self.threshold = (nn.ParameterList([nn.Parameter(torch.full((cfg.d_sae,), float(cfg.jumprelu_threshold)))
                                            for _ in range(n)]) if cfg.activation == "jumprelu" else None)
        self.reset_parameters()

    def latent_decoders(self) -> list[list[torch.Tensor]]:
        return [self.decoders_from(src) for src in range(self.n_layers)]

    def encoders(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return list(zip(self.W_enc, self.b_enc))

    def thresholds(self) -> list[torch.Tensor]:
        return [] if self.threshold is None else list(self.threshold)

    def W_dec_to(self, src: int, tgt: int) -> torch.Tensor:
        """The decoder [d_sae, d_out] from layer ``src``'s latents to layer ``tgt``'s output (tgt ≥ src)."""
        return self.W_dec[pair_index(src, tgt, self.n_layers)]

    def decoders_from(self, src: int) -> list[torch.Tensor]:
        """Layer ``src``'s decoders to layers src .. n_layers − 1, in target order."""
        return [self.W_dec_to(src, t) for t in range(src, self.n_layers)]

    # ---- inference (raw activations) ----
    def pre_acts(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """``(x · input_scale[layer]) @ W_enc[layer] + b_enc[layer]`` [..., d_sae] for raw inputs [..., d_in]."""
        return (x * self.cfg.input_scale[layer]) @ self.W_enc[layer] + self.b_enc[layer]

    def activation(self, layer: int, pre: torch.Tensor) -> torch.Tensor:
        """Layer ``layer``'s nonlinearity [..., d_sae] (its own JumpReLU thresholds)."""
        thr = self.threshold[layer] if self.threshold is not None else None
        return activate(pre, self.cfg.activation, self.cfg.k, thr)

    def encode(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """Layer ``layer``'s latents [..., d_sae] of its raw MLP input [..., d_in]."""
        return self.activation(layer, self.pre_acts(layer, x))

    def decode(self, layer_tgt: int, acts_by_layer: dict[int, torch.Tensor], x: torch.Tensor | None = None) -> torch.Tensor:
        """Layer ``layer_tgt``'s MLP-output estimate [..., d_out] in model units.

        Sums ``acts[src] @ W_dec_to(src, layer_tgt)`` over the source layers ``src ≤ layer_tgt``
        present in ``acts_by_layer`` (a missing layer counts as all-zero latents); the skip
        term needs that layer's raw input ``x`` [..., d_in].
        """
        out = self.b_dec[layer_tgt]
        for src, acts in acts_by_layer.items():
            if src <= layer_tgt:
                out = out + acts @ self.W_dec_to(src, layer_tgt)
        out = out / self.cfg.output_scale[layer_tgt]
        if self.W_skip is not None and x is not None:
            out = out + x @ self.W_skip[layer_tgt]
        return out

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Every layer's MLP-output estimate [..., d_out] from every layer's raw MLP input [..., d_in]."""
        if len(xs) != self.n_layers:
            raise ValueError(f"A CLT over {self.n_layers} layers needs {self.n_layers} inputs, got {len(xs)}.")
        acts = {l: self.encode(l, x) for l, x in enumerate(xs)}
        return [self.decode(t, acts, xs[t]) for t in range(self.n_layers)]

    # ---- training (scaled units) ----
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Random unit-norm encoder columns; each latent's concatenated decoder rows at unit norm (relu: 0.1)."""
        c = self.cfg
        with torch.no_grad():
            for l in range(self.n_layers):
                self.W_enc[l].copy_(unit_columns(c.d_in, c.d_sae, generator, dim=0))
                self.b_enc[l].zero_()
                self.b_dec[l].zero_()
                if self.W_skip is not None:
                    self.W_skip[l].zero_()
                if self.threshold is not None:
                    self.threshold[l].fill_(float(c.jumprelu_threshold))
            for src in range(self.n_layers):
                decs = self.decoders_from(src)
                for w in decs:
                    w.copy_(unit_columns(c.d_sae, c.d_out, generator, dim=1))
                normalise_rows(decs)
                if not self.unit_norm_decoder:
                    for w in decs:
                        w.mul_(self.init_decoder_norm_relu)

    @torch.no_grad()
    def init_from_data(self, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> None:
        """Per layer, from scaled samples: encoders centred on the mean input, ``b_dec`` at the mean target."""
        for l in range(self.n_layers):
            self.b_enc[l].copy_(-(xs[l].float().mean(0) @ self.W_enc[l].float()).to(self.b_enc[l].dtype))
            self.b_dec[l].copy_(ys[l].float().mean(0).to(self.b_dec[l].dtype))

    def skip_gain(self, layer: int) -> float:
        return self.cfg.output_scale[layer] / self.cfg.input_scale[layer]

    def loss(self, xs: list[torch.Tensor], ys: list[torch.Tensor], sparsity_scale: float = 1.0,
             dead: torch.Tensor | None = None) -> TrainOut:
        """Training loss on every layer's scaled inputs [n, d_in] and targets [n, d_out]: Σ_t MSE_t + sparsity.

        ``dead`` [n_layers, d_sae] bool feeds AuxK, where each layer's dead latents model the
        residual of their own layer's output through W_dec_to(l, l).
        """
        n = self.n_layers
        codes = self.train_codes(xs)  # one per layer
        y_hats = []
        for t in range(n):
            y = self.b_dec[t] + sum(codes[s].decode(self.W_dec_to(s, t)) for s in range(t + 1))
            if self.W_skip is not None:
                y = y + (xs[t] @ self.W_skip[t]) * self.skip_gain(t)
            y_hats.append(y)
        dead_by_layer = [None if dead is None else dead[l] for l in range(n)]
        terms = self.sparsity_terms(xs, codes, dead_by_layer, [ys[t] - y_hats[t] for t in range(n)], sparsity_scale)
        return finish(ys, y_hats, codes, terms)
