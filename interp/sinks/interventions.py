"""Interventions on attention sinks, and what they do to the model's output and to the sink metrics.

Is the sink load-bearing? The papers answer by breaking it:

* **mask the sink** (:func:`mask_key_hooks`): no query may attend to key ``pos``; each
  row is renormalised over the remaining keys (exactly a softmax with that score set
  to -inf). On models whose attention runs the pattern through ``hook_pattern``
  inside the computation (our native toy models) this is a ``hook_pattern`` edit.
  On Hugging Face-backed bridges (MiniLM) ``hook_pattern`` only *reports* the
  weights, so the edit goes into the additive attention mask the HF attention adds to
  its scores before the softmax (a forward pre-hook on the wrapped module); the
  reported ``hook_pattern`` then shows the masked pattern.
* **ablate the sink's values** (:func:`value_ablation_hooks`): zero (or mean-replace)
  ``hook_v`` at ``pos``, so attention parked there reads nothing. Gu et al. and Xiao
  et al. argue sinks are useful precisely because their values are small: this tests it.
* **remove / replace the first token, or prepend an extra one** (:func:`edit_tokens`):
  token-level edits; positions shift, so outputs are compared on the same content tokens.
* **add a learnable sink token** (:func:`learn_sink_vector`): prepend a token whose input
  vector is trained (model frozen) to minimise the loss / output change; does the model
  hand its sink to it?

:func:`run_interventions` runs a list of them and reports, for each, the change in
next-token loss (causal models; targets at original positions >= 2, which every
variant can predict) or in final hidden states (encoders; cosine similarity and
relative L2 change on the content tokens), plus the first-token sink rate and mass
measured *under* the intervention.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F

from interp.datasets import TokenizedCorpus
from interp.hooks.hooked import forward, last_block_hook
from interp.models import model_device
from interp.sinks.intervention_names import ALL_INTERVENTIONS, INTERVENTIONS  # noqa: F401  (re-exported)
from interp.sinks.measure import SinkConfig, is_causal, measure_sinks


def _select(n: int, which: Sequence[int] | int | None, what: str) -> list[int]:
    if which is None:
        return list(range(n))
    items = [which] if isinstance(which, int) else list(which)
    bad = [i for i in items if not 0 <= i < n]
    if bad:
        raise ValueError(f"{what} {bad} out of range: the model has {n} {what}s (0..{n - 1}).")
    return items


def pattern_is_live(model: Any, layer: int = 0) -> bool:
    """Whether edits to ``blocks.{layer}.attn.hook_pattern`` change the model's output."""
    return bool(getattr(model.blocks[layer].attn.original_component, "accepts_pattern_fn", False))


def mask_pattern(pattern: torch.Tensor, pos: int, heads: list[int]) -> torch.Tensor:
    """Zero key ``pos`` for ``heads`` and renormalise each row; rows with nothing else visible stay as they were.

    pattern: [batch, head, q, k] -> same shape.
    """
    out = pattern.clone()
    sub = out[:, heads]
    sub[..., pos] = 0.0
    total = sub.sum(-1, keepdim=True)
    renorm = torch.where(total > 0, sub / total.clamp(min=1e-30), pattern[:, heads])
    out[:, heads] = renorm
    return out


def mask_key_hooks(model: Any, pos: int = 0, layers: Sequence[int] | int | None = None,
                   heads: Sequence[int] | int | None = None) -> list[tuple[str, Any]]:
    """``hook_pattern`` hooks that mask key ``pos`` (native-attention models; see :func:`mask_key`)."""
    layers_ = _select(int(model.cfg.n_layers), layers, "layer")
    heads_ = _select(int(model.cfg.n_heads), heads, "head")
    if not all(pattern_is_live(model, layer) for layer in layers_):
        raise ValueError("This model's hook_pattern is read-only (HF attention); use the mask_key context manager.")
    return [(f"blocks.{layer}.attn.hook_pattern", lambda t, hook: mask_pattern(t, pos, heads_)) for layer in layers_]


def _masked_additive(mask: torch.Tensor | None, like: torch.Tensor, n_heads: int, pos: int, heads: list[int],
                     causal: bool = False) -> torch.Tensor:
    """An additive [batch, head, q, k] mask that also forbids key ``pos`` for ``heads``.

    With no incoming mask a causal model relied on the attention's own causal flag, which
    HF drops once a mask is given, so the causal mask is built in.
    """
    batch, seq = like.shape[0], like.shape[1]
    neg = torch.finfo(like.dtype).min
    if mask is None:
        base = torch.zeros(batch, 1, seq, seq, dtype=like.dtype, device=like.device)
        if causal:
            base = base.masked_fill(torch.ones(seq, seq, dtype=torch.bool, device=like.device).triu(1), neg)
    elif mask.dtype == torch.bool:  # True = may attend
        base = torch.zeros(mask.shape, dtype=like.dtype, device=like.device).masked_fill(~mask, neg)
    else:
        base = mask.to(like.dtype)
    out = base.expand(batch, n_heads, seq, seq).clone()
    out[:, heads, :, pos] = neg
    return out


@contextmanager
def mask_key(model: Any, pos: int = 0, layers: Sequence[int] | int | None = None,
             heads: Sequence[int] | int | None = None) -> Iterator[list[tuple[str, Any]]]:
    """Mask attention to key ``pos`` in ``layers`` x ``heads`` (default all) while the block runs.

    Yields TransformerLens hooks to pass as ``fwd_hooks`` to :func:`~interp.hooks.hooked.forward`
    or :func:`measure_sinks` (native models), or ``[]`` after installing pre-hooks on the HF
    attention modules (MiniLM): an edit of the attention's inputs, not a forward pass of its own.
    """
    layers_ = _select(int(model.cfg.n_layers), layers, "layer")
    heads_ = _select(int(model.cfg.n_heads), heads, "head")
    if all(pattern_is_live(model, layer) for layer in layers_):
        yield mask_key_hooks(model, pos, layers_, heads_)
        return
    n_heads = int(model.cfg.n_heads)
    causal = is_causal(model)

    def pre_hook(module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        if "attention_mask" in kwargs or len(args) < 2:
            kwargs["attention_mask"] = _masked_additive(kwargs.get("attention_mask"), hidden, n_heads, pos, heads_, causal)
        else:
            args = (args[0], _masked_additive(args[1], hidden, n_heads, pos, heads_, causal), *args[2:])
        return args, kwargs

    handles = [model.blocks[layer].attn.original_component.register_forward_pre_hook(pre_hook, with_kwargs=True)
               for layer in layers_]
    try:
        yield []
    finally:
        for h in handles:
            h.remove()


def _value_heads(heads: list[int], n_heads: int, n_value_heads: int) -> list[int]:
    """The value heads that query ``heads`` read: themselves, or under GQA their groups' (whole groups only)."""
    if n_value_heads == n_heads:
        return heads
    rep = n_heads // n_value_heads
    groups = sorted({h // rep for h in heads})
    if sorted(heads) != [g * rep + r for g in groups for r in range(rep)]:
        raise ValueError(f"This model shares each value head among {rep} query heads (grouped-query attention), "
                         f"so value ablation acts on whole groups; choose heads {[list(range(g * rep, (g + 1) * rep)) for g in groups]} "
                         f"instead of {heads}.")
    return groups


def value_ablation_hooks(model: Any, pos: int = 0, layers: Sequence[int] | int | None = None,
                         heads: Sequence[int] | int | None = None, mode: str = "zero") -> list[tuple[str, Any]]:
    """``hook_v`` hooks that zero (``mode="zero"``) or mean-replace (``"mean"``, the mean over
    the batch's other positions) the value vectors at position ``pos``. hook_v: [batch, pos, head, d_head].

    Under grouped-query attention (Llama, Gemma, Qwen, Mistral) hook_v has one value head per
    group of query heads, so ``heads`` must select whole groups: the shared value is ablated.
    """
    if mode not in ("zero", "mean"):
        raise ValueError(f"mode must be 'zero' or 'mean', got {mode!r}.")
    layers_ = _select(int(model.cfg.n_layers), layers, "layer")
    n_heads = int(model.cfg.n_heads)
    heads_ = _select(n_heads, heads, "head")

    def fn(v: torch.Tensor, hook: Any) -> torch.Tensor:
        idx = _value_heads(heads_, n_heads, v.shape[2])
        v = v.clone()
        if mode == "zero":
            v[:, pos, idx] = 0.0
        else:
            others = torch.cat([v[:, :pos], v[:, pos + 1 :]], dim=1)  # [batch, pos-1, head, d_head]
            v[:, pos, idx] = others[:, :, idx].mean(1)
        return v

    return [(f"blocks.{layer}.attn.hook_v", fn) for layer in layers_]


def edit_tokens(corpus: TokenizedCorpus, edit: str, token_id: int | None = None,
                max_len: int | None = None) -> tuple[TokenizedCorpus, int]:
    """A token-edited copy of ``corpus`` and the position shift (original p -> new p + shift).

    ``drop_first``: remove position 0 (shift -1); ``replace_first``: put ``token_id`` at
    position 0 (shift 0); ``prepend_token``: insert ``token_id`` before position 0 (shift +1;
    the rows grow by one column, cut back to ``max_len`` (the model's n_ctx) if given).
    """
    tokens, mask = corpus.tokens, corpus.attention_mask
    if edit == "drop_first":
        new_t, new_m, shift = tokens[:, 1:], mask[:, 1:], -1
    elif edit in ("replace_first", "prepend_token"):
        if token_id is None:
            raise ValueError(f"{edit} needs token_id (e.g. the BOS id, or any token to act as an extra sink).")
        col = torch.full((len(tokens), 1), int(token_id), dtype=tokens.dtype)
        if edit == "replace_first":
            new_t, new_m, shift = torch.cat([col, tokens[:, 1:]], 1), mask, 0
        else:
            new_t, new_m, shift = torch.cat([col, tokens], 1), torch.cat([torch.ones_like(col), mask], 1), 1
            if max_len is not None:
                new_t, new_m = new_t[:, :max_len], new_m[:, :max_len]
    else:
        raise ValueError(f"Unknown token edit {edit!r}; use drop_first, replace_first or prepend_token.")
    out = TokenizedCorpus(new_t.contiguous(), new_m.contiguous(), corpus.doc_ids, corpus.doc_offsets,
                          n_prefix=max(corpus.n_prefix + (1 if shift > 0 else -1 if shift < 0 else 0), 0),
                          n_suffix=corpus.n_suffix)
    return out, shift


def _compare(model: Any, c: TokenizedCorpus, v: TokenizedCorpus, shift: int,
             intervene: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean vs variant on the same original positions: per-target loss [n] (causal) or final hidden [n, d].

    Causal targets at p >= 2 (predicted from position p - 1, which exists in every variant);
    encoder content tokens at p >= 1. ``intervene()`` is a context manager yielding hooks;
    only the variant's forward runs inside it (some interventions act on entering it).
    The clean side never keeps a graph; the variant side does when grad is enabled (so
    :func:`learn_sink_vector` can train through it).
    """
    causal = is_causal(model)
    device = model_device(model)
    last = last_block_hook(model)
    keep = c.attention_mask.bool().clone()
    keep[:, : 2 if causal else 1] = False  # [batch, pos] original positions compared
    keep[:, max(v.seq_len - shift, 0):] = False  # cut off in the variant
    if not causal and c.n_suffix:
        keep &= c.tokens != getattr(model.tokenizer, "sep_token_id", -1)
    b_idx, p_idx = keep.nonzero(as_tuple=True)
    outs = []
    grad = torch.is_grad_enabled()
    for corpus, ctx, sh, g in ((c, _fixed([]), 0, False), (v, intervene(), shift, grad)):
        with ctx as hk:
            if causal:
                logits = forward(model, corpus.tokens, corpus.attention_mask, list(hk), grad=g).logits
                lp = F.log_softmax(logits[b_idx, p_idx + sh - 1].float(), -1)  # [n, vocab]
                outs.append(-lp.gather(1, c.tokens[b_idx, p_idx].to(device)[:, None])[:, 0])
            else:  # final hidden states: stop before the (large, unused) MLM head
                res = forward(model, corpus.tokens, corpus.attention_mask, list(hk), names_filter=[last],
                              stop_after=True, grad=g)
                outs.append(res[last][b_idx, p_idx + sh].float())
    return outs[0], outs[1]


@torch.no_grad()
def output_effect(model: Any, clean: TokenizedCorpus, variant: TokenizedCorpus, shift: int,
                  intervene: Any = None, batch_size: int = 16) -> dict[str, float]:
    """Loss (causal) or final-hidden-state change (encoder) of ``variant`` against ``clean``.

    ``intervene()`` returns a context manager yielding the hooks of the intervention
    (e.g. ``lambda: mask_key(model)``); only the variant's forward runs inside it.
    Positions compared: see :func:`_compare`.
    """
    intervene = intervene or (lambda: _fixed([]))
    causal = is_causal(model)
    totals = {"loss_clean": 0.0, "loss": 0.0, "n": 0.0, "cos": 0.0, "rel_l2": 0.0}
    for start in range(0, len(clean), batch_size):
        c, v = clean[start : start + batch_size], variant[start : start + batch_size]
        base, var = _compare(model, c, v, shift, intervene)
        totals["n"] += len(base)
        if causal:
            totals["loss_clean"] += float(base.sum())
            totals["loss"] += float(var.sum())
        else:
            totals["cos"] += float(F.cosine_similarity(base, var, dim=-1).sum())
            totals["rel_l2"] += float(((var - base).norm(dim=-1) / base.norm(dim=-1).clamp(min=1e-9)).sum())
    n = max(totals["n"], 1.0)
    if causal:
        lc, lv = totals["loss_clean"] / n, totals["loss"] / n
        return {"loss_clean": lc, "loss": lv, "delta_loss": lv - lc, "n_targets": int(totals["n"])}
    return {"hidden_cos": totals["cos"] / n, "hidden_rel_l2": totals["rel_l2"] / n, "n_tokens": int(totals["n"])}


SINK_VECTOR_HOOK = "blocks.0.hook_resid_pre"


def sink_vector_hooks(vector: torch.Tensor) -> list[tuple[str, Any]]:
    """Hooks that make position 0's input to the first block ``vector`` [d_model] (a learned sink token)."""

    def fn(resid: torch.Tensor, hook: Any) -> torch.Tensor:  # [batch, pos, d_model]
        resid = resid.clone()
        resid[:, 0] = vector.to(resid.dtype)
        return resid

    return [(SINK_VECTOR_HOOK, fn)]


def learn_sink_vector(model: Any, corpus: TokenizedCorpus, token_id: int, steps: int = 50, lr: float = 0.05,
                      batch_size: int = 16, seed: int = 0) -> tuple[torch.Tensor, list[float]]:
    """Learn the input vector of an extra first token, with the model frozen (a learnable sink).

    ``token_id`` is prepended to every row (as ``prepend_token``) and its residual input
    is replaced by a trained vector [d_model], initialised at that token's own input
    (so step 0 is the no-op ``prepend_token``). The objective is the one
    :func:`output_effect` reports: next-token loss for causal models, 1 - cosine of the
    content tokens' final hidden states against the clean run for encoders. Returns the
    vector and the objective per step (the curve should fall). Sun et al. / Gu et al.
    show that such a token can take over the sink's role.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}.")
    variant, shift = edit_tokens(corpus, "prepend_token", token_id, max_len=int(model.cfg.n_ctx))
    first = forward(model, variant.tokens[:1], variant.attention_mask[:1], names_filter=[SINK_VECTOR_HOOK],
                    stop_after=True, clone=True)[SINK_VECTOR_HOOK]  # [1, pos, d_model]
    vector = torch.nn.Parameter(first[0, 0].float())
    opt = torch.optim.Adam([vector], lr=lr)
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    causal, curve = is_causal(model), []
    try:
        for _ in range(steps):
            idx = torch.randperm(len(corpus), generator=gen)[:batch_size]
            base, var = _compare(model, corpus[idx], variant[idx], shift, lambda: _fixed(sink_vector_hooks(vector)))
            loss = var.mean() if causal else (1 - F.cosine_similarity(base, var, dim=-1)).mean()
            if not torch.isfinite(loss):
                raise RuntimeError("The learned sink's objective became non-finite; lower lr.")
            opt.zero_grad()
            loss.backward()
            opt.step()
            curve.append(loss.item())
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return vector.detach(), curve


@dataclass
class InterventionResult:
    name: str
    effect: dict[str, float]  # output_effect's numbers
    sink_rate: float  # Sink_0^eps under the intervention (all layers, heads)
    first_mass: float  # mean attention mass on position 0 under the intervention

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, **{k: round(v, 5) if isinstance(v, float) else v for k, v in self.effect.items()},
                "sink_rate": round(self.sink_rate, 5), "first_mass": round(self.first_mass, 5)}


def default_token(model: Any, corpus: TokenizedCorpus) -> int:
    """The token used by replace/prepend: BOS/[CLS] (the first token of the corpus) when there is one."""
    return int(corpus.tokens[0, 0])


def run_interventions(model: Any, corpus: TokenizedCorpus, names: Sequence[str] = INTERVENTIONS,
                      config: SinkConfig | None = None, pos: int = 0, token_id: int | None = None,
                      replace_id: int | None = None) -> list[InterventionResult]:
    """Apply each named intervention (see :data:`INTERVENTIONS`) and measure its effects.

    ``token_id`` is the token prepended by ``prepend_token`` (default: the corpus's first
    token, so a duplicated BOS/[CLS]); ``replace_id`` the one ``replace_first`` writes
    (default: a frequent content token, the corpus's most common token outside position 0).
    """
    cfg = config or SinkConfig()
    cfg = SinkConfig(**{**cfg.__dict__, "progress": False, "example_len": 0})
    unknown = sorted(set(names) - set(ALL_INTERVENTIONS))
    if unknown:
        raise ValueError(f"Unknown interventions {unknown}; choose from {', '.join(ALL_INTERVENTIONS)}.")
    if replace_id is None:
        body = corpus.tokens[:, 1:][corpus.attention_mask[:, 1:].bool()]
        replace_id = int(torch.mode(body).values)
    first_id = token_id if token_id is not None else default_token(model, corpus)
    edits = {"drop_first": ("drop_first", None), "replace_first": ("replace_first", replace_id),
             "prepend_token": ("prepend_token", first_id), "learned_sink": ("prepend_token", first_id)}
    results = []
    for name in names:
        variant, shift = corpus, 0
        if name == "mask_sink":
            intervene = lambda: mask_key(model, pos)  # noqa: E731
        elif name == "ablate_sink_values":
            intervene = lambda: _fixed(value_ablation_hooks(model, pos))  # noqa: E731
        elif name == "learned_sink":
            vector, curve = learn_sink_vector(model, corpus, first_id)
            intervene = lambda: _fixed(sink_vector_hooks(vector))  # noqa: E731
        else:
            intervene = lambda: _fixed([])  # noqa: E731
        if name in edits:
            edit, tid = edits[name]
            variant, shift = edit_tokens(corpus, edit, tid, max_len=int(model.cfg.n_ctx))
        effect = output_effect(model, corpus, variant, shift, intervene, cfg.batch_size)
        if name in edits and tid is not None:
            effect["token_id"] = tid
        if name == "learned_sink":
            effect["objective_start"], effect["objective_end"] = curve[0], curve[-1]
        with intervene() as hooks:
            rep = measure_sinks(model, variant, cfg, fwd_hooks=hooks, values=False, massive=False)
        results.append(InterventionResult(name, effect, rep.overall_sink_rate, float(rep.mass[..., 0].mean())))
    return results


@contextmanager
def _fixed(hooks: list[tuple[str, Any]]) -> Iterator[list[tuple[str, Any]]]:
    """A context manager that just yields ``hooks`` (for interventions that are plain hooks)."""
    yield hooks
