"""Hand-setting the weights of a native bridge: named residual-stream blocks and per-head writers.

A compiled model keeps every variable of its program in its own block of
residual-stream dimensions (a one-hot token block, a one-hot position block, one
block per computed variable), and every component reads and writes only the
blocks its step of the program needs, with all other weights exactly zero. That
is what makes the ground-truth edge set exact: an edge ``u -> v`` whose source
writes no block that ``v`` reads carries nothing, and cutting it changes nothing
(bit for bit, not just approximately).

:class:`Weights` starts from an all-zero state dict with the native model's
parameter names (``layers.0.attn.q.weight`` ...; see
:func:`interp.models.toy.native_state_dict`) and offers one setter per kind of
weight, in residual-block terms. Attention scores are divided by ``sqrt(d_head)``
in the native model; :meth:`Weights.qk` compensates, so ``scale`` is the score
itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


@dataclass
class Layout:
    """Named blocks of residual dimensions, allocated in order: ``layout.add("tok", 10)``; ``layout["tok"]`` -> slice."""

    blocks: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (start, size)
    d_model: int = 0

    def add(self, name: str, size: int) -> "Layout":
        if name in self.blocks:
            raise ValueError(f"Residual block {name!r} is allocated twice.")
        self.blocks[name] = (self.d_model, size)
        self.d_model += size
        return self

    def idx(self, name: str, i: int = 0) -> int:
        """Residual dimension of entry ``i`` of block ``name``."""
        start, size = self.blocks[name]
        if not 0 <= i < size:
            raise IndexError(f"Block {name!r} has {size} dimensions; entry {i} does not exist.")
        return start + i


class Weights:
    """An all-zero state dict for ``bridge_config`` that the setters fill in (see the module docstring)."""

    def __init__(self, bridge_config: dict, layout: Layout) -> None:
        c = bridge_config
        self.layout, self.n_heads, self.d_head = layout, c["n_heads"], c["d_head"]
        d, hd, n_ctx = c["d_model"], c["n_heads"] * c["d_head"], c["n_ctx"]
        if d != layout.d_model:
            raise ValueError(f"bridge_config d_model={d} but the layout uses {layout.d_model} dimensions.")
        vocab_out = c.get("d_vocab_out", -1)
        vocab_out = c["d_vocab"] if vocab_out is None or vocab_out <= 0 else vocab_out
        z = torch.zeros
        self.state: dict[str, torch.Tensor] = {
            "tok_embed.weight": z(c["d_vocab"], d), "pos.weight": z(n_ctx, d), "head.weight": z(vocab_out, d)}
        for layer in range(c["n_layers"]):
            p = f"layers.{layer}."
            for name in ("q", "k", "v"):
                self.state[p + f"attn.{name}.weight"], self.state[p + f"attn.{name}.bias"] = z(hd, d), z(hd)
            self.state[p + "attn.o.weight"], self.state[p + "attn.o.bias"] = z(d, hd), z(d)
            if not c.get("attn_only", False):
                m = c["d_mlp"]
                self.state[p + "mlp.fc_in.weight"], self.state[p + "mlp.fc_in.bias"] = z(m, d), z(m)
                self.state[p + "mlp.fc_out.weight"], self.state[p + "mlp.fc_out.bias"] = z(d, m), z(d)

    # Embeddings and unembedding -------------------------------------------------------------
    def embed(self, token: int, block: str, i: int, value: float = 1.0) -> None:
        self.state["tok_embed.weight"][token, self.layout.idx(block, i)] = value

    def pos_embed(self, pos: int, block: str, i: int, value: float = 1.0) -> None:
        self.state["pos.weight"][pos, self.layout.idx(block, i)] = value

    def unembed(self, block: str, i: int, logit: int, value: float) -> None:
        self.state["head.weight"][logit, self.layout.idx(block, i)] = value

    # Attention --------------------------------------------------------------------------------
    def _row(self, head: int, dim: int) -> int:
        if not 0 <= dim < self.d_head:
            raise IndexError(f"Head dimension {dim} is outside d_head={self.d_head}.")
        return head * self.d_head + dim

    def read(self, layer: int, head: int, which: str, block: str, i: int, dim: int, value: float = 1.0) -> None:
        """Head input ``which`` (q, k or v) dimension ``dim`` += ``value`` x residual entry ``block[i]``."""
        if which == "q":
            value *= math.sqrt(self.d_head)  # the native attention divides scores by sqrt(d_head)
        self.state[f"layers.{layer}.attn.{which}.weight"][self._row(head, dim), self.layout.idx(block, i)] += value

    def bias(self, layer: int, head: int, which: str, dim: int, value: float) -> None:
        """A constant in head input ``which`` (a bias is no node of the edge graph, so no edge)."""
        if which == "q":
            value *= math.sqrt(self.d_head)
        self.state[f"layers.{layer}.attn.{which}.bias"][self._row(head, dim)] += value

    def write(self, layer: int, head: int, dim: int, block: str, i: int, value: float = 1.0) -> None:
        """Residual entry ``block[i]`` += ``value`` x the head's value-weighted dimension ``dim``."""
        self.state[f"layers.{layer}.attn.o.weight"][self.layout.idx(block, i), self._row(head, dim)] += value

    # MLPs -------------------------------------------------------------------------------------
    def mlp_in(self, layer: int, unit: int, block: str, i: int, value: float) -> None:
        self.state[f"layers.{layer}.mlp.fc_in.weight"][unit, self.layout.idx(block, i)] += value

    def mlp_bias(self, layer: int, unit: int, value: float) -> None:
        self.state[f"layers.{layer}.mlp.fc_in.bias"][unit] += value

    def mlp_out(self, layer: int, unit: int, block: str, i: int, value: float) -> None:
        self.state[f"layers.{layer}.mlp.fc_out.weight"][self.layout.idx(block, i), unit] += value
