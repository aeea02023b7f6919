"""Attribution graphs: which features, embeddings and error terms drive which, down to the logits, on one prompt.

``attribute(model, transcoders, prompt)`` builds the prompt's :class:`LocalReplacement`
(frozen attention and norms, MLPs replaced by transcoders plus error nodes), picks the
target logits (the most probable next tokens up to a cumulative mass, plus any asked
for), and computes every **direct effect**: for target t (an active feature's
pre-activation, or a logit) and source s (an active feature, an error node, a token
embedding), ``A[t, s] = a_s · ∂t/∂a_s`` in the replacement, which is affine in the
source activations ``a``. So for every target, ``Σ_s A[t, s] + bias[t] = t`` exactly
(``bias[t]``: its value with every source at 0), and zeroing one source moves each
target by exactly its edge: the tests check both.

Edges come from one forward pass and batched backward passes: the forward computes every
target as a function of ``a``; each backward pass pushes ``batch_size`` one-hot
cotangents through that one graph at once (vectorised), giving that many rows of ``A``:
not one pass per edge, nor one forward and backward per target (``naive_edges``, the
benchmark's reference).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from interp.graphs.backward import edges
from interp.graphs.replacement import GraphError, LocalReplacement
from interp.models import model_device


@dataclass
class AttributionConfig:
    """What to attribute: which logits, and how many targets per backward pass."""

    max_logits: int = 10  # at most this many logit nodes ...
    logit_mass: float = 0.95  # ... the most probable next tokens up to this cumulative probability
    target: int | str | None = None  # a token (id or text) that is a logit node whatever its probability
    logit_pos: int = -1  # the position whose next-token logits are attributed
    batch_size: int = 64  # targets per vectorised backward pass
    progress: bool = False


@dataclass
class Graph:
    """A prompt's attribution graph. Node order: features, error nodes, token embeddings, logits.

    ``adjacency[t, s]`` is the direct effect of node s on node t (rows of error and
    embedding nodes are 0: nothing is attributed *to* them). ``values[t]`` is each
    target's pre-activation (features) or logit in the replacement, ``bias[t]`` its value
    with every source at 0, so ``adjacency.sum(1) + bias == values`` on feature and logit rows.
    """

    tokens: list[int]
    token_strs: list[str]
    layers: list[int]
    feat_layer: torch.Tensor  # [n_feat]
    feat_pos: torch.Tensor  # [n_feat]
    feat_idx: torch.Tensor  # [n_feat]
    feat_act: torch.Tensor  # [n_feat]
    logit_ids: torch.Tensor  # [n_logit] vocabulary ids
    logit_probs: torch.Tensor  # [n_logit] the model's probabilities
    adjacency: torch.Tensor  # [n_nodes, n_nodes]
    values: torch.Tensor  # [n_nodes] (0 on error/embedding rows)
    bias: torch.Tensor  # [n_nodes]
    logit_pos: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_feat(self) -> int:
        return int(self.feat_idx.numel())

    @property
    def n_pos(self) -> int:
        return len(self.tokens)

    @property
    def n_err(self) -> int:
        return len(self.layers) * self.n_pos

    @property
    def n_logit(self) -> int:
        return int(self.logit_ids.numel())

    @property
    def n_nodes(self) -> int:
        return self.n_feat + self.n_err + self.n_pos + self.n_logit

    def kind(self, i: int) -> str:
        """``"feature" | "error" | "embedding" | "logit"`` of node ``i``."""
        bounds = [("feature", self.n_feat), ("error", self.n_err), ("embedding", self.n_pos), ("logit", self.n_logit)]
        for name, n in bounds:
            if i < n:
                return name
            i -= n
        raise IndexError(f"node {i} out of range")

    def label(self, i: int) -> str:
        """A short readable name of node ``i`` (``L1 f123 @4``, ``err L0 @2``, ``emb 'the' @0``, ``logit ' cat'``)."""
        k, j = self.kind(i), i
        if k == "feature":
            return f"L{int(self.feat_layer[j])} f{int(self.feat_idx[j])} @{int(self.feat_pos[j])}"
        j -= self.n_feat
        if k == "error":
            return f"err L{self.layers[j // self.n_pos]} @{j % self.n_pos}"
        j -= self.n_err
        if k == "embedding":
            return f"emb {self.token_strs[j]!r} @{j}"
        j -= self.n_pos
        return f"logit {self.meta.get('logit_strs', [''] * self.n_logit)[j]!r}"


def estimate(model: Any, n_src: int, n_feat: int, n_logit: int, n_pos: int, batch_size: int) -> dict[str, float]:
    """Bytes and passes a graph will take: printed before a large one is computed.

    Peak memory is the adjacency matrix and the edge rows it is built from, plus one block
    of the vectorised backward pass: per target in the block, about a dozen d_model-wide
    gradients per layer and position and one attention row per head (fitted on the toy LM
    with ``experiments/bench_graphs.py``: within ~10 % at blocks of 64-256 targets).
    """
    cfg = model.cfg
    n_nodes, n_targets = n_src + n_logit, n_feat + n_logit  # features are sources and targets
    adjacency = 4.0 * n_nodes * n_nodes + 4.0 * n_targets * n_src
    per_target = 4.0 * n_pos * cfg.n_layers * (12 * cfg.d_model + cfg.n_heads * n_pos)
    passes = math.ceil(n_targets / max(1, batch_size))
    return {"nodes": n_nodes, "passes": passes, "adjacency_bytes": adjacency,
            "pass_bytes": per_target * batch_size, "peak_bytes": adjacency + per_target * batch_size}


def _tokens(model: Any, prompt: str | torch.Tensor) -> torch.Tensor:
    if isinstance(prompt, torch.Tensor):
        return prompt.reshape(1, -1).long()
    if getattr(model, "tokenizer", None) is None:
        raise GraphError("This model has no tokenizer: pass the prompt as a tensor of token ids.")
    return model.to_tokens(prompt).long()


def _logit_targets(rep: LocalReplacement, cfg: AttributionConfig, model: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The most probable next tokens up to ``logit_mass`` (at most ``max_logits``), plus ``cfg.target``."""
    probs = rep.logits[cfg.logit_pos].softmax(-1)
    order = probs.argsort(descending=True)
    keep = int((probs[order].cumsum(0) < cfg.logit_mass).sum()) + 1
    ids = order[: max(1, min(keep, cfg.max_logits))].tolist()
    if cfg.target is not None:
        t = cfg.target
        if isinstance(t, str):
            enc = model.tokenizer.encode(t, add_special_tokens=False)
            if len(enc) != 1:
                raise GraphError(f"The target {t!r} is {len(enc)} tokens; give one token (or its id).")
            t = enc[0]
        if t not in ids:
            ids.append(int(t))
    ids_t = torch.tensor(ids)
    return ids_t, probs[ids_t]


def attribute(model: Any, transcoders: Any, prompt: str | torch.Tensor,
              config: AttributionConfig | None = None) -> Graph:
    """The attribution graph of ``prompt`` (text or token ids [pos]) through ``transcoders`` (see the module docstring)."""
    cfg = config or AttributionConfig()
    tokens = _tokens(model, prompt).to(model_device(model))
    rep = LocalReplacement(model, transcoders, tokens)
    s = rep.sources
    logit_ids, logit_probs = _logit_targets(rep, cfg, model)
    n_src, n_feat, n_logit = len(s), s.n_feat, int(logit_ids.numel())
    a0 = s.activations()

    rows = edges(rep, logit_ids, cfg.logit_pos, cfg.batch_size, cfg.progress)
    with torch.no_grad():
        both = torch.stack([a0, torch.zeros_like(a0)])
        pre, logits = rep.run(both, cfg.logit_pos)
        all_t = torch.arange(n_feat)
        f_vals = rep.feature_pre(pre, all_t)  # [2, n_feat]
        l_vals = logits[:, logit_ids].float()  # [2, n_logit]
    n_nodes = n_src + n_logit
    adjacency = torch.zeros(n_nodes, n_nodes)
    adjacency[:n_feat, :n_src] = rows[:n_feat]
    adjacency[n_src:, :n_src] = rows[n_feat:]
    values, bias = torch.zeros(n_nodes), torch.zeros(n_nodes)
    values[:n_feat], bias[:n_feat] = f_vals[0].cpu(), f_vals[1].cpu()
    values[n_src:], bias[n_src:] = l_vals[0].cpu(), l_vals[1].cpu()
    tok = tokens[0].tolist()
    strs = [model.tokenizer.decode([t]) for t in tok] if getattr(model, "tokenizer", None) is not None else [str(t) for t in tok]
    logit_strs = ([model.tokenizer.decode([int(t)]) for t in logit_ids] if getattr(model, "tokenizer", None) is not None
                  else [str(int(t)) for t in logit_ids])
    return Graph(tok, strs, list(s.layers), s.feat_layer.cpu(), s.feat_pos.cpu(), s.feat_idx.cpu(), s.feat_act.cpu(),
                 logit_ids.cpu(), logit_probs.float().cpu(), adjacency, values, bias, cfg.logit_pos % len(tok),
                 {"logit_strs": logit_strs, "model_logits": rep.logits[cfg.logit_pos, logit_ids].cpu().tolist()})


def _block_targets(rep: LocalReplacement, a: torch.Tensor, lo: int, hi: int, n_feat: int,
                   logit_ids: torch.Tensor, logit_pos: int) -> torch.Tensor:
    """Targets ``lo:hi`` (features first, then logits), copy b of ``a`` giving target ``lo + b``: [hi - lo]."""
    pre, logits = rep.run(a, logit_pos, grad=True)
    s = rep.sources
    out = []
    for b, t in enumerate(range(lo, hi)):
        if t < n_feat:
            out.append(pre[int(s.feat_layer[t])][b, s.feat_pos[t], s.feat_idx[t]].float())
        else:
            out.append(logits[b, logit_ids[t - n_feat]].float())
    return torch.stack(out)


def naive_edges(rep: LocalReplacement, logit_ids: torch.Tensor, logit_pos: int = -1) -> torch.Tensor:
    """The reference the benchmark compares with: one forward and backward pass per target [targets, n_src]."""
    s = rep.sources
    a0 = s.activations()
    rows = []
    for t in range(s.n_feat + int(logit_ids.numel())):
        a = a0[None].clone().requires_grad_(True)
        vals = _block_targets(rep, a, t, t + 1, s.n_feat, logit_ids, logit_pos)
        (g,) = torch.autograd.grad(vals.sum(), a)
        rows.append((g[0] * a0).detach().cpu())
    return torch.stack(rows)
