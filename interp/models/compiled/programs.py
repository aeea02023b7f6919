"""The compiled programs: residual layout, hand-set weights, reference function and ground-truth edges of each.

Every program reads ``[BOS] x_1 .. x_n`` (BOS = token 0 at position 0, ``x_t`` in
``1 .. vocab - 1``) and defines an output at some positions (``-1`` elsewhere).
The weights follow tracr's ideas (Lindner et al. 2023) without JAX: hard attention
from large query-key scores, categorical variables as one-hot residual blocks,
*selector width* (attend to BOS and the selected positions, read BOS's share
``1 / (count + 1)``) and MLPs that are lookup tables or piecewise-linear
discretisers. Each layer also has a *distractor* head (``H1``): it computes a
running mean of the token values into a ``junk`` block that nothing of the
program reads (and in two-layer models the next distractor reads it), so the
graph has live components whose edges are not in the circuit.

* ``induction`` (2 layers, attention only; K-composition): ``L0H0`` is a previous-token
  head writing ``x_{t-1}`` into a ``prev`` block; ``L1H0`` attends, through its *keys*,
  to the position ``j`` with ``x_{j-1} = x_t`` and copies ``x_j``. Defined where exactly
  one such ``j <= t`` exists.
* ``histogram`` (1 layer + MLP; selector width): ``L0H0`` attends to BOS and to every
  earlier position holding the same token, so BOS's share is ``1 / (c + 1)`` with ``c``
  the running count of ``x_t``; ``MLP0`` turns that number into a one-hot count
  (ramps between consecutive values of ``1 / (c + 1)``, flat at the values themselves).
  Output: ``c`` (``1 .. n_ctx - 1``) at every position but BOS.
* ``sum_prev`` (1 layer + MLP; a categorical lookup MLP): ``L0H0`` copies ``x_{t-1}``;
  ``MLP0`` has one unit per pair ``(a, b)`` firing when ``x_t = a`` and ``x_{t-1} = b``
  and writes ``(a + b) mod p`` (token ``a`` has value ``a - 1``). Defined from position 2.

Ground truth: the edges each program's computation flows through, in the edge
vocabulary of :mod:`interp.circuits.graph` (``input->L0H0.q``, ``L0H0->MLP0``,
``MLP0->logits``). The tests check that cutting each of them (zero ablation) breaks
the program and that cutting any other edge changes no logit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from interp.models.compiled.weights import Layout, Weights

BOS = 0
HARD = 20.0  # attention score of a selected key: the rest get e^-20 of its weight
LOGIT = 10.0  # logit of the program's output (all others are ~0)


@dataclass
class ProgramDef:
    """What a program compiles to (see :class:`interp.models.compiled.CompiledProgram` for the fields)."""

    bridge_config: dict
    weights: Weights
    edges: tuple[str, ...]
    reference: Callable[[torch.Tensor], torch.Tensor]  # tokens [batch, pos] -> outputs [batch, pos], -1 = undefined
    description: str


def _config(layout: Layout, n_layers: int, n_ctx: int, vocab: int, vocab_out: int, d_head: int,
            d_mlp: int | None) -> dict:
    cfg = dict(d_model=layout.d_model, n_layers=n_layers, n_heads=2, d_head=d_head, d_vocab=vocab,
               d_vocab_out=vocab_out, n_ctx=n_ctx, attn_only=d_mlp is None, normalization_type=None,
               positional_embedding_type="standard", act_fn="relu")
    if d_mlp is not None:
        cfg["d_mlp"] = d_mlp
    return cfg


def _one_hot_inputs(w: Weights, vocab: int, n_ctx: int) -> None:
    for t in range(vocab):
        w.embed(t, "tok", t)
    for p in range(n_ctx):
        w.pos_embed(p, "pos", p)


def _prev_token_head(w: Weights, layer: int, head: int, vocab: int, n_ctx: int) -> None:
    """Query position ``t`` selects key position ``t - 1`` and copies its one-hot token into ``prev``."""
    for p in range(n_ctx):
        w.read(layer, head, "q", "pos", p, p, HARD)
        if p + 1 < n_ctx:
            w.read(layer, head, "k", "pos", p, p + 1)
    for t in range(vocab):
        w.read(layer, head, "v", "tok", t, t)
        w.write(layer, head, t, "prev", t)


def _distractors(w: Weights, n_layers: int, vocab: int) -> None:
    """Head ``H1`` of layer 0 averages the token values into ``junk[0]``; later ones average ``junk[l-1]`` into
    ``junk[l]``. Nothing of the program reads ``junk``: live components off the circuit."""
    for t in range(vocab):
        w.read(0, 1, "v", "tok", t, 0, t / vocab)
    w.write(0, 1, 0, "junk", 0)
    for layer in range(1, n_layers):
        w.read(layer, 1, "v", "junk", layer - 1, 0)
        w.write(layer, 1, 0, "junk", layer)


def _prev(tokens: torch.Tensor) -> torch.Tensor:
    """x_{t-1} per position ([batch, pos]; -1 at position 0)."""
    return torch.cat([torch.full_like(tokens[:, :1], -1), tokens[:, :-1]], dim=1)


# induction ------------------------------------------------------------------------------------

def induction(vocab: int = 10, n_ctx: int = 16) -> ProgramDef:
    layout = Layout().add("tok", vocab).add("pos", n_ctx).add("prev", vocab).add("out", vocab).add("junk", 2)
    cfg = _config(layout, 2, n_ctx, vocab, vocab, max(vocab, n_ctx), None)
    w = Weights(cfg, layout)
    _one_hot_inputs(w, vocab, n_ctx)
    _prev_token_head(w, 0, 0, vocab, n_ctx)
    for t in range(1, vocab):  # L1H0: query x_t matches keys whose prev is x_t; copies the key's token
        w.read(1, 0, "q", "tok", t, t, HARD)
        w.read(1, 0, "k", "prev", t, t)
        w.read(1, 0, "v", "tok", t, t)
        w.write(1, 0, t, "out", t)
        w.unembed("out", t, t, LOGIT)
    _distractors(w, 2, vocab)
    edges = ("input->L0H0.q", "input->L0H0.k", "input->L0H0.v", "L0H0->L1H0.k",
             "input->L1H0.q", "input->L1H0.v", "L1H0->logits")
    return ProgramDef(cfg, w, edges, induction_reference,
                      "x_j after the one earlier j with x_{j-1} = x_t (previous-token head -> induction head)")


def induction_reference(tokens: torch.Tensor) -> torch.Tensor:
    prev = _prev(tokens)
    match = (prev[:, None, :] == tokens[:, :, None]) & (prev[:, None, :] != BOS)  # [batch, query, key]
    match &= torch.ones(tokens.shape[1], tokens.shape[1], dtype=torch.bool).tril()
    out = torch.full_like(tokens, -1)
    one = match.sum(-1) == 1
    src = match.float().argmax(-1)  # the matching key where there is one
    out[one] = tokens.gather(1, src)[one]
    out[:, 0] = -1
    return out


# histogram ------------------------------------------------------------------------------------

def histogram(vocab: int = 6, n_ctx: int = 16) -> ProgramDef:
    n_max = n_ctx - 1  # the largest running count
    layout = Layout().add("tok", vocab).add("pos", n_ctx).add("share", 1).add("count", n_ctx).add("junk", 1)
    cfg = _config(layout, 1, n_ctx, vocab, n_ctx, vocab, 2 * n_max)
    w = Weights(cfg, layout)
    _one_hot_inputs(w, vocab, n_ctx)
    w.bias(0, 0, "q", BOS, HARD)  # every query also selects BOS ...
    for t in range(vocab):
        if t != BOS:
            w.read(0, 0, "q", "tok", t, t, HARD)  # ... and the keys with its own token
        w.read(0, 0, "k", "tok", t, t)
    w.read(0, 0, "v", "tok", BOS, 0)  # BOS's share of the attention: 1 / (count + 1)
    w.write(0, 0, 0, "share", 0)
    # MLP0: s_m = [count >= m] = clamp((hi - share) / (hi - lo), 0, 1), a ramp inside (1/(m+1), 1/m), as
    # ReLU(a (hi - share)) - ReLU(a (hi - share) - 1); count_m = s_m - s_{m+1}.
    for m in range(1, n_max + 1):
        lo, hi = 1 / (m + 1), 1 / m
        lo, hi = lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo)
        a = 1 / (hi - lo)
        for unit, shift in ((2 * (m - 1), 0.0), (2 * (m - 1) + 1, -1.0)):
            w.mlp_in(0, unit, "share", 0, -a)
            w.mlp_bias(0, unit, a * hi + shift)
            sign = 1.0 if shift == 0.0 else -1.0
            w.mlp_out(0, unit, "count", m, sign)
            if m > 1:
                w.mlp_out(0, unit, "count", m - 1, -sign)
        w.unembed("count", m, m, LOGIT)
    _distractors(w, 1, vocab)
    edges = ("input->L0H0.q", "input->L0H0.k", "input->L0H0.v", "L0H0->MLP0", "MLP0->logits")
    return ProgramDef(cfg, w, edges, histogram_reference,
                      "running count of x_t in x_1..x_t (selector width: BOS share -> MLP discretiser)")


def histogram_reference(tokens: torch.Tensor) -> torch.Tensor:
    same = tokens[:, None, :] == tokens[:, :, None]  # [batch, query, key]
    out = (same & torch.ones(tokens.shape[1], tokens.shape[1], dtype=torch.bool).tril()).sum(-1)
    out[:, 0] = -1
    return out


# sum_prev -------------------------------------------------------------------------------------

def sum_prev(vocab: int = 6, n_ctx: int = 16) -> ProgramDef:
    p = vocab - 1  # token a (1..p) has value a - 1
    layout = Layout().add("tok", vocab).add("pos", n_ctx).add("prev", vocab).add("out", p).add("junk", 1)
    cfg = _config(layout, 1, n_ctx, vocab, p, n_ctx, p * p)
    w = Weights(cfg, layout)
    _one_hot_inputs(w, vocab, n_ctx)
    _prev_token_head(w, 0, 0, vocab, n_ctx)
    for a in range(p):  # unit (a, b) = ReLU(tok[a+1] + prev[b+1] - 1.5): 0.5 iff x_t = a+1 and x_{t-1} = b+1
        for b in range(p):
            unit = a * p + b
            w.mlp_in(0, unit, "tok", a + 1, 1.0)
            w.mlp_in(0, unit, "prev", b + 1, 1.0)
            w.mlp_bias(0, unit, -1.5)
            w.mlp_out(0, unit, "out", (a + b) % p, 2.0)
    for k in range(p):
        w.unembed("out", k, k, LOGIT)
    _distractors(w, 1, vocab)
    edges = ("input->L0H0.q", "input->L0H0.k", "input->L0H0.v", "input->MLP0", "L0H0->MLP0", "MLP0->logits")
    return ProgramDef(cfg, w, edges, lambda t: sum_prev_reference(t, p),
                      "(x_t + x_{t-1}) mod p (previous-token head -> lookup-table MLP)")


def sum_prev_reference(tokens: torch.Tensor, p: int) -> torch.Tensor:
    out = ((tokens - 1) + (_prev(tokens) - 1)) % p
    out[:, :2] = -1
    return out


PROGRAMS: dict[str, Callable[..., ProgramDef]] = {"induction": induction, "histogram": histogram,
                                                  "sum_prev": sum_prev}
