"""The local replacement model of one prompt: frozen attention and norms, MLPs replaced by transcoders.

An attribution graph is only meaningful where the model is *linear* in the nodes. On
one prompt we make it so, with hooks on the real model rather than a re-implementation
of it (so whatever the architecture does between the hooks is kept exactly):

* every attention pattern (``blocks.L.attn.hook_pattern``) and every norm's scale
  (``*.hook_scale``) is replaced by its value on the prompt, detached: attention is
  then linear in its values and each norm an affine map;
* each MLP's output (``blocks.L.hook_mlp_out``) is replaced by what the transcoders
  write there from their *source activations* ``a`` (a vector we own), plus the
  transcoder's bias, its skip term (computed live from the MLP input, so linear), and
  an **error node** holding exactly what the transcoder misses on the prompt;
* the embedding (``blocks.0.hook_resid_pre``) is one source per position.

The replacement's outputs are then an affine function of ``a``: feature
pre-activations (read live at each layer's transcoder input) and logits. At the
prompt's own ``a`` it reproduces the model's logits exactly (the error nodes absorb
every difference), and a feature's activation is its pre-activation wherever it is
active (TopK/ReLU/JumpReLU are the identity on the active set), so the graph's edges
are the exact coefficients of that affine map times the source activations.
``run`` evaluates it for a batch of ``a`` vectors at once: one batched forward and
backward gives the edges into a whole block of targets (see ``interp.graphs.attribute``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from interp.hooks.hooked import forward


class GraphError(ValueError):
    """A model, transcoder set or prompt the attribution graph cannot be built for (the message says why)."""


@dataclass
class TranscoderSet:
    """Per-layer transcoders or one cross-layer transcoder, seen through what a graph needs.

    ``hooks_in[L]`` is the hook each layer's transcoder reads (``blocks.L.ln2.hook_normalized``),
    ``hooks_out[L]`` the MLP output it replaces (``blocks.L.hook_mlp_out``).
    """

    module: Any
    cross_layer: bool
    layers: list[int]
    hooks_in: dict[int, str]
    hooks_out: dict[int, str]

    @classmethod
    def of(cls, transcoders: Any) -> "TranscoderSet":
        """From a list of per-layer transcoders (each with ``cfg.layer``/``hook_in``/``hook_out``) or a CLT."""
        if hasattr(transcoders, "W_dec_to"):  # a cross-layer transcoder
            cfg = transcoders.cfg
            layers = list(range(transcoders.n_layers))
            return cls(transcoders, True, layers, dict(zip(layers, cfg.hooks_in)), dict(zip(layers, cfg.hooks_out)))
        tcs = list(transcoders)
        if not tcs:
            raise GraphError("No transcoders given: pass one per MLP layer (or a cross-layer transcoder).")
        by_layer = {}
        for tc in tcs:
            c = tc.cfg
            if c.layer is None or not c.hook_in or not c.hook_out:
                raise GraphError(f"A transcoder must record its layer, hook_in and hook_out (got {c.layer}, "
                                 f"{c.hook_in!r}, {c.hook_out!r}); train it with `interp transcoder train`.")
            if c.layer in by_layer:
                raise GraphError(f"Two transcoders for layer {c.layer}; pass one per layer.")
            by_layer[c.layer] = tc
        layers = sorted(by_layer)
        return cls(by_layer, False, layers, {L: by_layer[L].cfg.hook_in for L in layers},
                   {L: by_layer[L].cfg.hook_out for L in layers})

    def widths(self, layer: int) -> tuple[int, int]:
        """``(d_in, d_out)`` of ``layer``'s transcoder."""
        m = self.module if self.cross_layer else self.module[layer]
        return int(m.cfg.d_in), int(m.cfg.d_out)

    def pre_acts(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """Encoder pre-activations [..., d_sae] of ``layer`` from its input ``x`` (affine in x)."""
        return self.module.pre_acts(layer, x) if self.cross_layer else self.module[layer].pre_acts(x)

    def encode(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        return self.module.encode(layer, x) if self.cross_layer else self.module[layer].encode(x)

    def decoders_into(self, tgt: int) -> list[tuple[int, torch.Tensor]]:
        """``[(src_layer, W [d_sae, d_out])]``: every decoder writing into layer ``tgt``'s MLP output, in model units."""
        if self.cross_layer:
            scale = self.module.cfg.output_scale[tgt]
            return [(src, self.module.W_dec_to(src, tgt) / scale) for src in self.layers if src <= tgt]
        tc = self.module[tgt]
        return [(tgt, tc.W_dec / tc.cfg.output_scale)]

    def bias_out(self, tgt: int) -> torch.Tensor:
        """The constant part of layer ``tgt``'s output [d_out], in model units."""
        if self.cross_layer:
            return self.module.b_dec[tgt] / self.module.cfg.output_scale[tgt]
        tc = self.module[tgt]
        return tc.b_dec / tc.cfg.output_scale

    def skip(self, tgt: int, x: torch.Tensor) -> torch.Tensor | None:
        """The skip term ``x @ W_skip`` of layer ``tgt`` (None when there is none)."""
        if self.cross_layer:
            ws = getattr(self.module, "W_skip", None)
            return None if ws is None else x @ ws[tgt]
        w = getattr(self.module[tgt], "W_skip", None)
        return None if w is None else x @ w

    def decode_into(self, tgt: int, acts_by_layer: dict[int, torch.Tensor]) -> torch.Tensor:
        """Layer ``tgt``'s MLP-output estimate from full latent activations ``{src: [..., d_sae]}`` (no skip, no error)."""
        out = self.bias_out(tgt)
        for src, W in self.decoders_into(tgt):
            out = out + acts_by_layer[src].to(W.dtype) @ W
        return out

    def output(self, layer: int, x_by_layer: dict[int, torch.Tensor]) -> torch.Tensor:
        """What the transcoders write into ``layer``'s MLP output from the live inputs (no error term)."""
        if self.cross_layer:
            acts = {src: self.module.encode(src, x_by_layer[src]) for src in self.layers if src <= layer}
            return self.module.decode(layer, acts, x_by_layer[layer])
        return self.module[layer](x_by_layer[layer])


@dataclass
class Sources:
    """The graph's source nodes and their activations on the prompt (the ``a`` the replacement is linear in).

    Order: active features (layer-major, then position, then feature index), then one
    error node per (layer, position), then one embedding node per position.
    """

    feat_layer: torch.Tensor  # [n_feat] long
    feat_pos: torch.Tensor  # [n_feat] long
    feat_idx: torch.Tensor  # [n_feat] long: latent index within its layer's transcoder
    feat_act: torch.Tensor  # [n_feat] activation on the prompt (= pre-activation: the active set is frozen)
    errors: dict[int, torch.Tensor]  # layer -> [pos, d_model]: what the transcoder misses
    embed: torch.Tensor  # [pos, d_model]: the residual stream entering block 0
    layers: list[int]
    n_pos: int

    @property
    def n_feat(self) -> int:
        return int(self.feat_idx.numel())

    @property
    def n_err(self) -> int:
        return len(self.layers) * self.n_pos

    def __len__(self) -> int:
        return self.n_feat + self.n_err + self.n_pos

    def err_index(self, layer: int, pos: int) -> int:
        return self.n_feat + self.layers.index(layer) * self.n_pos + pos

    def emb_index(self, pos: int) -> int:
        return self.n_feat + self.n_err + pos

    def activations(self) -> torch.Tensor:
        """The prompt's ``a`` [n_src]: feature activations, then 1 for every error and embedding node."""
        ones = torch.ones(self.n_err + self.n_pos, dtype=self.feat_act.dtype, device=self.feat_act.device)
        return torch.cat([self.feat_act, ones])


class LocalReplacement:
    """The frozen, linear replacement of ``model`` on ``tokens`` [1, pos] (see the module docstring)."""

    def __init__(self, model: Any, transcoders: Any, tokens: torch.Tensor) -> None:
        if tokens.dim() == 1:
            tokens = tokens[None]
        if tokens.shape[0] != 1:
            raise GraphError(f"An attribution graph is for one prompt: tokens [1, pos], got {tuple(tokens.shape)}.")
        self.model, self.tokens = model, tokens
        self.tc = TranscoderSet.of(transcoders)
        hd = model.hook_dict
        n_layers = model.cfg.n_layers
        missing = sorted(set(self.tc.layers) ^ set(range(n_layers)))
        if missing:
            raise GraphError(f"The transcoders cover layers {self.tc.layers}, the model has {n_layers}: every MLP "
                             f"must be replaced (missing or extra: {missing}).")
        self.pattern_hooks = [f"blocks.{L}.attn.hook_pattern" for L in range(n_layers)]
        self.scale_hooks = [h for h in hd if h.endswith("hook_scale")]
        need = self.pattern_hooks + ["blocks.0.hook_resid_pre"] + list(self.tc.hooks_in.values()) + \
            list(self.tc.hooks_out.values())
        absent = [h for h in need if h not in hd]
        if absent:
            raise GraphError(f"{type(model).__name__} has no hooks {absent[:4]}: attribution graphs need attention "
                             "patterns, norm scales and the MLP input/output hooks of a TransformerLens model.")
        n_ctx = getattr(model.cfg, "n_ctx", None)
        if tokens.shape[1] == 0 or (n_ctx and tokens.shape[1] > n_ctx):
            raise GraphError(f"The prompt has {tokens.shape[1]} tokens; this model takes 1 to {n_ctx}. "
                             "Give a non-empty, shorter prompt.")
        bad = [n for n, p in self.tc.module.named_parameters() if not bool(p.detach().isfinite().all())] \
            if self.tc.cross_layer else [f"layer {L}: {n}" for L in self.tc.layers
                                         for n, p in self.tc.module[L].named_parameters()
                                         if not bool(p.detach().isfinite().all())]
        if bad:
            raise GraphError(f"The transcoders hold NaN/inf weights ({', '.join(bad[:4])}): a graph through them would "
                             "be NaN. Retrain them (or resume from an earlier checkpoint).")
        self._freeze()

    @torch.no_grad()
    def _freeze(self) -> None:
        """One pass of the real model: the constants the replacement keeps, and the source activations."""
        names = self.pattern_hooks + self.scale_hooks + ["blocks.0.hook_resid_pre"] + \
            list(self.tc.hooks_in.values()) + list(self.tc.hooks_out.values())
        res = forward(self.model, self.tokens, names_filter=names, clone=True)
        c = res.cache
        self.logits = res.logits[0].float()  # [pos, vocab] the model's own
        self.frozen = {h: c[h] for h in self.pattern_hooks + self.scale_hooks}
        x_in = {L: c[self.tc.hooks_in[L]][0] for L in self.tc.layers}  # [pos, d_in]
        for L in self.tc.layers:
            want = self.tc.widths(L)
            got_in, got_out = x_in[L].shape[-1], c[self.tc.hooks_out[L]].shape[-1]
            if (got_in, got_out) != want:
                raise GraphError(f"Layer {L}'s transcoder maps width {want[0]} -> {want[1]}, but this model's "
                                 f"{self.tc.hooks_in[L]} has width {got_in} and {self.tc.hooks_out[L]} {got_out}: "
                                 "these transcoders were trained on another model. Pass the model they were trained on.")
        self.x_in = x_in
        layer_l, pos_l, idx_l, act_l, errors = [], [], [], [], {}
        for L in self.tc.layers:
            acts = self.tc.encode(L, x_in[L])  # [pos, d_sae]
            p, f = acts.nonzero(as_tuple=True)
            layer_l.append(torch.full_like(p, L))
            pos_l.append(p)
            idx_l.append(f)
            act_l.append(acts[p, f])
            errors[L] = c[self.tc.hooks_out[L]][0] - self.tc.output(L, x_in)  # [pos, d_model]
        embed = c["blocks.0.hook_resid_pre"][0]
        self.sources = Sources(torch.cat(layer_l), torch.cat(pos_l), torch.cat(idx_l), torch.cat(act_l).float(),
                               errors, embed, list(self.tc.layers), int(self.tokens.shape[1]))

    def frozen_hooks(self, batch: int = 1) -> list[tuple[str, Any]]:
        """Hooks that pin every attention pattern and norm scale to its value on the prompt (for ``batch`` copies)."""
        def const(value: torch.Tensor) -> Any:
            return lambda act, hook: value.expand(batch, *value.shape[1:]).to(act.dtype)

        return [(h, const(v)) for h, v in self.frozen.items()]

    def hooks(self, a: torch.Tensor, pre: dict[int, torch.Tensor]) -> list[tuple[str, Any]]:
        """Hooks that make the model the replacement, for a batch of source vectors ``a`` [B, n_src].

        ``pre[L]`` is filled with layer L's pre-activations [B, pos, d_sae] as the pass reaches it.
        """
        s, B = self.sources, a.shape[0]
        hooks = self.frozen_hooks(B)
        a_emb = a[:, s.n_feat + s.n_err:]  # [B, pos]
        hooks.append(("blocks.0.hook_resid_pre", lambda act, hook: (a_emb[:, :, None] * s.embed).to(act.dtype)))
        x_live: dict[int, torch.Tensor] = {}
        for L in self.tc.layers:
            def read_in(act: torch.Tensor, hook: Any, L: int = L) -> torch.Tensor:
                x_live[L] = act
                pre[L] = self.tc.pre_acts(L, act)
                return act

            def write_out(act: torch.Tensor, hook: Any, L: int = L) -> torch.Tensor:
                return self._mlp_out(L, a, x_live).to(act.dtype)

            hooks += [(self.tc.hooks_in[L], read_in), (self.tc.hooks_out[L], write_out)]
        return hooks

    def _mlp_out(self, tgt: int, a: torch.Tensor, x_live: dict[int, torch.Tensor]) -> torch.Tensor:
        """Layer ``tgt``'s replaced MLP output [B, pos, d]: its constant part (:meth:`mlp_constant`) + skip."""
        out = self.mlp_constant(tgt, a)
        skip = self.tc.skip(tgt, x_live[tgt])
        return out if skip is None else out + skip

    def mlp_constant(self, tgt: int, a: torch.Tensor) -> torch.Tensor:
        """What layer ``tgt``'s MLP output holds besides the skip term, for sources ``a`` [B, n_src]: [B, pos, d].

        The transcoders' bias, every feature's write (its activation times its decoder row, at
        its own position) and the error node: everything that does not depend on the live input.
        """
        s, B = self.sources, a.shape[0]
        out = self.tc.bias_out(tgt).expand(B, s.n_pos, -1).clone()
        for src, W in self.tc.decoders_into(tgt):
            sel = (s.feat_layer == src).nonzero().squeeze(1)
            if sel.numel():
                # each feature writes a_f * its decoder row at its own position: [B, n_sel, d] added by position
                rows = a[:, sel, None].to(W.dtype) * W[s.feat_idx[sel]][None]
                out = out.index_add(1, s.feat_pos[sel], rows)
        a_err = a[:, s.n_feat + s.layers.index(tgt) * s.n_pos: s.n_feat + (s.layers.index(tgt) + 1) * s.n_pos]
        return out + a_err[:, :, None] * s.errors[tgt]

    def run(self, a: torch.Tensor, logit_pos: int = -1,
            grad: bool = False) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
        """``({layer: pre-activations [B, pos, d_sae]}, logits [B, vocab] at logit_pos)`` for sources ``a`` [B, n_src]."""
        pre: dict[int, torch.Tensor] = {}
        B = a.shape[0]
        tokens = self.tokens.expand(B, -1)
        pos = torch.tensor([logit_pos % self.sources.n_pos])
        res = forward(self.model, tokens, fwd_hooks=self.hooks(a, pre), logits_at=pos, grad=grad, check=False)
        return pre, res.logits[:, 0]

    def feature_pre(self, pre: dict[int, torch.Tensor], which: Sequence[int] | torch.Tensor,
                    keep_grad: bool = False) -> torch.Tensor:
        """Pre-activations [B, n] of the active features ``which`` (indices into the sources) from ``run``'s output.

        ``keep_grad``: build the result differentiably (a concatenation in ``which``'s order) for backward passes.
        """
        s = self.sources
        which = torch.as_tensor(which, dtype=torch.long)
        if keep_grad:
            parts, order = [], []
            for L in s.layers:
                m = (s.feat_layer[which] == L).nonzero().squeeze(1)
                if m.numel():
                    f = which[m]
                    parts.append(pre[L][:, s.feat_pos[f], s.feat_idx[f]].float())
                    order.append(m)
            cat = torch.cat(parts, 1)
            return cat[:, torch.cat(order).argsort()]
        out = torch.empty(next(iter(pre.values())).shape[0], which.numel(), device=s.feat_act.device)
        for L in s.layers:
            m = (s.feat_layer[which] == L).nonzero().squeeze(1)
            if m.numel():
                f = which[m]
                out[:, m] = pre[L][:, s.feat_pos[f], s.feat_idx[f]].float()
        return out
