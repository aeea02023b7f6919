"""How good are transcoders? Per-layer reconstruction of the MLP output, and the replacement model's loss.

* **Per layer** (:func:`layer_metrics`), streamed over held-out rows: the SAE package's
  definitions (:class:`interp.sae.evaluation.ReconstructionSums`) applied to the *target*:
  FVU = Σ‖y − ŷ‖² / Σ‖y − mean y‖² of the MLP output, MSE, cosine, L2 ratio, L0 (of the layer's
  own latents), dead (never fire) and dense (> 10 % of tokens) fractions. For a CLT, ŷ_t sums
  the decoders of every layer ≤ t, computed from each layer's *captured* input.
* **The replacement model** (:func:`replacement_metrics`): the real model runs with *every*
  MLP's output (``blocks.L.hook_mlp_out``) replaced by the transcoders' estimate, computed from
  the layer's *live* input in the same pass (a hook on the input stashes it, or a CLT's latents;
  the hook on the output returns the estimate), so errors compound through the layers as they
  would in an attribution graph. ``ce_loss_score = (CE_zero − CE_replaced) / (CE_zero − CE_clean)``
  with every MLP output zeroed as the baseline (1 = as good as the model, 0 = as bad as no MLPs),
  and KL(clean ‖ replaced) per token. Special prefix tokens (BOS) keep their real MLP outputs,
  as the SAE splice does: their activations are outliers the transcoders are not meant to model.
  Causal LMs only (an encoder has no next-token loss).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from interp.sae.evaluation import DENSE_THRESHOLD, ReconstructionSums, is_causal_lm
from interp.transcoders.base import Transcoder
from interp.transcoders.clt import CrossLayerTranscoder
from interp.transcoders.data import open_pairs

Models = list[Transcoder] | CrossLayerTranscoder


@dataclass
class TranscoderEval:
    """What :func:`evaluate_transcoders` returns."""

    layers: dict[int, dict[str, float]]  # layer -> n_tokens, l0, mse, fvu, explained_variance, cos_sim, l2_ratio, dead_frac, dense_frac
    metrics: dict[str, float]  # fvu / l0 / dead_frac (means over layers), ce_loss_* and kl (causal LMs), n_tokens, splice_seqs
    density: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> [d_sae] firing frequency


def hooks_of(models: Models) -> list[tuple[int, str, str]]:
    """``(layer, input hook, output hook)`` of each transcoder (of each CLT layer), in layer order."""
    if isinstance(models, CrossLayerTranscoder):
        c = models.cfg
        if len(c.hooks_in) != models.n_layers or len(c.hooks_out) != models.n_layers:
            raise ValueError("This CLT's config names no hooks (hooks_in / hooks_out); it cannot be run on a model.")
        return list(zip(range(models.n_layers), c.hooks_in, c.hooks_out))
    out = []
    for tc in models:
        if tc.cfg.hook_in is None or tc.cfg.hook_out is None or tc.cfg.layer is None:
            raise ValueError("A transcoder's config names no hooks (hook_in / hook_out / layer); pass ones trained here.")
        out.append((tc.cfg.layer, tc.cfg.hook_in, tc.cfg.hook_out))
    return sorted(out)


def _param(models: Models) -> torch.Tensor:
    return next((models if isinstance(models, CrossLayerTranscoder) else models[0]).parameters())


def estimate(models: Models, xs: dict[int, torch.Tensor]) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]:
    """``(ŷ, latents)`` per layer from raw inputs ``xs`` {layer: [..., d_in]}."""
    if isinstance(models, CrossLayerTranscoder):
        acts = {l: models.encode(l, x) for l, x in xs.items()}
        return {t: models.decode(t, acts, xs[t]) for t in xs}, acts
    by_layer = {tc.cfg.layer: tc for tc in models}
    acts = {l: by_layer[l].encode(x) for l, x in xs.items()}
    return {l: by_layer[l].decode(acts[l], xs[l]) for l in xs}, acts


@torch.no_grad()
def layer_metrics(models: Models, data: Any, batch_size: int = 4096, dense_threshold: float = DENSE_THRESHOLD
                  ) -> tuple[dict[int, dict[str, float]], dict[int, torch.Tensor]]:
    """Per-layer reconstruction metrics and firing densities over every row of ``data`` (store, view or tensors)."""
    layers = hooks_of(models)
    source = open_pairs(data, list(dict.fromkeys(h for _, hi, ho in layers for h in (hi, ho))))
    p = _param(models)
    widths = ({l: models.d_sae for l, _, _ in layers} if isinstance(models, CrossLayerTranscoder)
              else {tc.cfg.layer: tc.d_sae for tc in models})
    sums = {l: ReconstructionSums(widths[l]) for l, _, _ in layers}
    for start in range(0, len(source), batch_size):
        xs = {l: source.chunk(start, batch_size, hi).to(p.device, p.dtype) for l, hi, _ in layers}
        y_hat, acts = estimate(models, xs)
        for l, _, ho in layers:
            sums[l].add(source.chunk(start, batch_size, ho).to(p.device, p.dtype), y_hat[l], acts[l])
    out, density = {}, {}
    for l, s in sums.items():
        out[l], density[l] = s.result(dense_threshold)
    return out, density


def _replace(fn: Callable[[torch.Tensor], torch.Tensor], where: torch.Tensor) -> Callable[..., torch.Tensor]:
    """A hook returning the activation with positions ``where`` [batch, pos] replaced by ``fn(act)`` there."""

    def hook(act: torch.Tensor, hook: Any = None) -> torch.Tensor:
        out = act.clone()
        w = where.to(act.device)
        out[w] = fn(act)[w].to(act.dtype)
        return out

    return hook


def replacement_hooks(models: Models, where: torch.Tensor) -> list[tuple[str, Callable[..., Any]]]:
    """Forward hooks that make the model its replacement model: every MLP output is the transcoders' estimate.

    Each layer's input hook stashes its live value (for a CLT, that layer's latents); the
    layer's output hook returns the estimate at ``where`` [batch, pos] and the real output elsewhere.
    """
    p = _param(models)
    inputs: dict[int, torch.Tensor] = {}
    acts: dict[int, torch.Tensor] = {}
    hooks: list[tuple[str, Callable[..., Any]]] = []
    for layer, hook_in, hook_out in hooks_of(models):
        def stash(act: torch.Tensor, hook: Any = None, layer: int = layer) -> torch.Tensor:
            x = act.to(p.device, p.dtype)
            inputs[layer] = x
            if isinstance(models, CrossLayerTranscoder):
                acts[layer] = models.encode(layer, x)
            return act

        def estimate_out(_: torch.Tensor, layer: int = layer) -> torch.Tensor:
            if isinstance(models, CrossLayerTranscoder):
                return models.decode(layer, {s: a for s, a in acts.items() if s <= layer}, inputs[layer])
            return next(tc for tc in models if tc.cfg.layer == layer)(inputs[layer])

        hooks += [(hook_in, stash), (hook_out, _replace(estimate_out, where))]
    return hooks


def zero_hooks(models: Models, where: torch.Tensor) -> list[tuple[str, Callable[..., Any]]]:
    """Every MLP output zeroed at ``where``: the CE-loss score's baseline."""
    return [(hook_out, _replace(torch.zeros_like, where)) for _, _, hook_out in hooks_of(models)]


@torch.no_grad()
def replacement_metrics(models: Models, model: Any, tokens: torch.Tensor, attention_mask: torch.Tensor | None = None,
                        n_prefix: int = 0, batch_size: int = 8) -> dict[str, float]:
    """Clean, replaced and zero-ablated next-token CE, the CE-loss score and KL(clean ‖ replaced) per token."""
    from interp.hooks.hooked import forward
    from interp.models import model_device

    tokens = tokens.long()
    mask = torch.ones_like(tokens) if attention_mask is None else attention_mask.long()
    device = model_device(model)
    sums = {"clean": 0.0, "replaced": 0.0, "zero": 0.0, "kl": 0.0, "n": 0.0}
    for s in range(0, tokens.shape[0], batch_size):
        tok, m = tokens[s:s + batch_size].to(device), mask[s:s + batch_size].to(device)
        where = m.bool().clone()
        where[:, :n_prefix] = False
        logp = {name: forward(model, tok, m, hooks).logits.float()[:, :-1].log_softmax(-1) for name, hooks in (
            ("clean", []), ("replaced", replacement_hooks(models, where)), ("zero", zero_hooks(models, where)))}
        valid = (m[:, 1:] * m[:, :-1]).bool()  # positions with a real next token
        for name, lp in logp.items():
            sums[name] += float(-lp.gather(-1, tok[:, 1:, None])[..., 0][valid].sum())
        kl = (logp["clean"].exp() * (logp["clean"] - logp["replaced"])).sum(-1)
        sums["kl"] += float(kl[valid].sum())
        sums["n"] += float(valid.sum())
    n = max(sums["n"], 1.0)
    clean, replaced, zero = sums["clean"] / n, sums["replaced"] / n, sums["zero"] / n
    denom = zero - clean
    return {"ce_loss_clean": clean, "ce_loss_replaced": replaced, "ce_loss_zero": zero,
            "ce_loss_score": (zero - replaced) / denom if abs(denom) > 1e-12 else float("nan"),
            "kl": sums["kl"] / n, "splice_tokens": int(sums["n"])}


def evaluate_transcoders(models: Models, data: Any, model: Any = None, *, max_seqs: int | None = 64,
                         batch_size: int = 4096, splice_batch_size: int = 8,
                         dense_threshold: float = DENSE_THRESHOLD) -> TranscoderEval:
    """Score ``models`` on ``data`` (held-out rows: a store view such as ``store.split_sequences(0.1)[1]``, or tensors).

    With ``model`` (a causal LM) and a store, the sequences the rows come from (at most
    ``max_seqs``) also run through the replacement model.
    """
    layers, density = layer_metrics(models, data, batch_size, dense_threshold)
    per = list(layers.values())
    metrics: dict[str, float] = {"n_tokens": per[0]["n_tokens"]}
    for key in ("fvu", "l0", "dead_frac", "dense_frac", "explained_variance"):
        metrics[key] = sum(m[key] for m in per) / len(per)
    if model is not None and not isinstance(data, dict) and is_causal_lm(model):
        seqs = torch.unique(data.seq_ids())[:max_seqs]
        inputs = data.inputs(seqs)
        metrics.update(replacement_metrics(models, model, inputs.tokens, inputs.attention_mask, inputs.n_prefix,
                                           splice_batch_size))
        metrics["splice_seqs"] = len(seqs)
    return TranscoderEval(layers, metrics, density)
