"""Recipe for ``toy:induction-lm``: a small language model that has induction heads.

Why a second LM: ``toy:toylm`` (2 layers, 4 heads, trained on ~2M tokens of text) has no
induction heads: text that short rarely repeats itself, so copying earns too little.
Attribution graphs over feature circuits need a language model whose mechanism for one
behaviour is known, and induction is the best known one (Olsson et al. 2022).

Plainly adding repeated random tokens to the text did not make one. Over runs of 500-3000
steps (toylm's shape, 4 x 32 or 8 x 16 heads, pools of 64 to 3791 tokens, rotary or learned
positions, periodic or shifted repeats), the model with MLPs never formed a previous-token
head; it lowered the repeat's loss another way (4.16 to ~2.9 nats on a 63-token pool, where
induction reaches ~0.5). The *same* data and optimiser with the MLPs removed formed the
circuit in ~700 steps, as ``toy:induction`` does. So the recipe has two stages:

1. **Attention only.** The MLPs' output weights start at 0 and the MLPs are frozen, so the
   model is exactly an attention-only transformer; it trains on
   :func:`~interp.datasets.synthetic.shifted_induction_batch` rows over a pool of
   ``pool_size`` text tokens until a layer-0 previous-token head and a layer-1 induction
   head clear ``stop_prev`` / ``stop_induction``, then ``widen_steps`` more over every
   repeat token (below), still attention-only. Started on the whole pool, the circuit had not
   formed after 3000 steps; formed on 63 tokens, it spread to all 3791 in ~600.
2. **Language model.** Everything trains, on batches of text chunks (as ``toy:toylm``) mixed
   with ``repeat_frac`` rows of shifted repeats over every token seen ``min_count`` times in
   the training text, so the heads keep their job on real tokens while the MLPs and
   embeddings learn language. Attention waits ``freeze_attention_steps``, because the first
   text gradients are large (the unembedding has only seen repeat tokens). In a run with
   neither the widening nor the wait, text took the previous-token head from 0.64 to 0.43
   and the whole-pool induction score from 0.18 to 0.04 in 500 steps; with both, induction
   dipped from 0.95 to 0.76 and came back to 0.84.

The shipped checkpoint (seed 0, 30 min at one thread): stage 1 stopped at step 2101, then
1000 widening and 1500 language steps. On ``[BOS] r r`` over the repeat pool: best
previous-token head 0.84, induction head 0.84, repeat loss 1.40 against 8.40 for the first
copy; held-out text loss 5.14 nats (``toy:toylm``: 4.71, unigram 6.75); a repeated
held-out passage costs 0.9 nats/token less the second time (``toy:toylm``: 0.05).

Same tokenizer as ``toy:toylm`` (the same BPE trained on the same training documents), so
the two models read the same token ids. The repeat-token pool is saved in ``config.json``
(``extra["repeat_pool"]``): induction scores must be measured on tokens the model trained
on (an untrained embedding is noise to a previous-token head).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from interp.datasets.synthetic import (
    induction_score_from_pattern,
    pool_tokens,
    previous_token_score_from_pattern,
    shifted_induction_batch,
)
from interp.models.toy import build_native, build_tokenizer, native_patterns, save_toy
from interp.models.training.common import Curve, LoopConfig, seed_everything, torch_threads, train_loop
from interp.models.training.toylm import heldout_loss, lm_loss, split_documents, toylm_config, train_tokenizer


@dataclass
class InductionLMRecipe:
    """Every knob of the recipe; ``train_induction_lm(**overrides)`` replaces any of them."""

    vocab_size: int = 4096
    n_layers: int = 2
    d_model: int = 128
    n_heads: int = 8
    d_head: int = 16  # 8 x 16 rather than toylm's 4 x 32: more heads to specialise
    d_mlp: int = 512
    n_ctx: int = 128
    # stage 1: attention only, repeats over a small pool
    pool_size: int = 63  # 0: the whole repeat pool from the start
    stage1_steps: int = 3000  # at most; stops once the stop_* bars are met
    widen_steps: int = 1000  # then attention-only steps on repeats over the whole pool (pool_size > 0 only)
    stage1_batch_size: int = 64
    stage1_seq: int = 50
    min_segment: int = 6
    max_segment: int = 24
    stage1_lr: float = 1e-3
    stop_prev: float = 0.6  # the previous-token work ends up shared by two heads (best one ~0.63)
    stop_induction: float = 0.85
    # stage 2: text and repeats, everything trains
    steps: int = 1500
    batch_size: int = 32
    repeat_frac: float = 0.25
    freeze_attention_steps: int = 300  # the first stage-2 steps train everything but attention
    max_segment_lm: int = 40
    min_count: int = 5  # repeat rows use tokens seen at least this often in the training text
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    heldout_frac: float = 0.05
    eval_every: int = 100
    eval_seqs: int = 32
    eval_segment: int = 20
    threads: int = 1  # torch CPU threads while training (bitwise results independent of the host)
    max_docs: int | None = None  # the first N corpus documents only (tests)


RECIPE = InductionLMRecipe  # the options train_toy checks overrides against


def pooled_repeats(pool: torch.Tensor, batch: int, seq: int, lo: int, hi: int,
                   generator: torch.Generator) -> torch.Tensor:
    """:func:`shifted_induction_batch` rows whose tokens are drawn from ``pool`` (LM token ids), BOS 0.

    Returns: LongTensor [batch, seq].
    """
    return pool_tokens(shifted_induction_batch(batch, seq, len(pool) + 1, generator, lo, hi), pool)


@torch.no_grad()
def repeat_scores(model: torch.nn.Module, pool: torch.Tensor, segment: int, n_seq: int = 64,
                  seed: int = 5) -> dict[str, float]:
    """Best layer-0 previous-token score, best last-layer induction score and both copies' losses
    on ``[BOS] r r`` with ``r`` drawn from ``pool`` (a fixed seed, so the curve compares steps)."""
    g = torch.Generator().manual_seed(seed)
    r = pool[torch.randint(0, len(pool), (n_seq, segment), generator=g)]  # [n_seq, segment]
    tokens = torch.cat([torch.zeros(n_seq, 1, dtype=torch.long), r, r], 1)  # [n_seq, 1 + 2 * segment]
    logits, patterns = native_patterns(model, tokens)
    first = F.cross_entropy(logits[:, :segment].flatten(0, 1), tokens[:, 1:segment + 1].flatten())
    repeat = F.cross_entropy(logits[:, segment + 1:-1].flatten(0, 1), tokens[:, segment + 2:].flatten())
    return {"prev_token_score": float(previous_token_score_from_pattern(patterns[0]).max()),
            "induction_score": float(induction_score_from_pattern(patterns[-1], segment).max()),
            "first_half_loss": float(first), "repeat_loss": float(repeat)}


def train_induction_lm(out_dir: str | Path, seed: int = 0, **overrides: Any) -> Path:
    """Train tokenizer and model, save the checkpoint folder (as :func:`train_toylm` does); returns it."""
    recipe = InductionLMRecipe(**overrides)
    with torch_threads(recipe.threads):
        return _train(Path(out_dir), seed, recipe)


def _train(out: Path, seed: int, recipe: InductionLMRecipe) -> Path:
    from interp.datasets.corpus import load_texts, tokenize_corpus

    out.mkdir(parents=True, exist_ok=True)
    gen = seed_everything(seed)
    texts = load_texts(max_docs=recipe.max_docs)
    train_ids, held_ids = split_documents(len(texts), recipe.heldout_frac, seed)
    tok = train_tokenizer([texts[i] for i in train_ids], recipe.vocab_size)
    tok.save(str(out / "tokenizer.json"))
    cfg = toylm_config(tok.get_vocab_size(), seed=seed, n_layers=recipe.n_layers, d_model=recipe.d_model,
                       n_heads=recipe.n_heads, d_mlp=recipe.d_mlp, n_ctx=recipe.n_ctx)
    cfg.name, cfg.bridge_config["d_head"] = "induction-lm", recipe.d_head
    hf_tok = build_tokenizer(out, cfg)
    train = tokenize_corpus(hf_tok, [texts[i] for i in train_ids], recipe.n_ctx)
    held = tokenize_corpus(hf_tok, [texts[i] for i in held_ids], recipe.n_ctx)
    counts = torch.bincount(train.tokens[train.attention_mask.bool()], minlength=cfg.bridge_config["d_vocab"])
    counts[:3] = 0  # BOS, PAD, EOT are never repeat tokens
    pool = torch.nonzero(counts >= recipe.min_count)[:, 0]  # [n_pool] token ids, ascending
    if len(pool) < 2:
        raise ValueError(f"Only {len(pool)} token(s) occur >= min_count={recipe.min_count} times in the "
                         f"{len(train_ids)} training documents; lower min_count or use more documents (max_docs).")
    small = pool[torch.randperm(len(pool), generator=gen)[: recipe.pool_size]].sort().values  # [pool_size]
    cfg.extra = {"repeat_pool": pool.tolist(), "stage1_pool": small.tolist(), "min_count": recipe.min_count,
                 "eval_segment": recipe.eval_segment}
    model = build_native(cfg)

    # stage 1: an attention-only transformer (MLP outputs exactly 0, MLPs frozen) learns induction
    with torch.no_grad():
        for layer in model.layers:
            layer.mlp.fc_out.weight.zero_()
            layer.mlp.fc_out.bias.zero_()
    for name, p in model.named_parameters():
        p.requires_grad_(".mlp." not in name and ".ln2." not in name)

    def attention_only(repeat_pool: torch.Tensor, steps: int, stop_fn: Any, desc: str) -> Curve:
        def loss1(m: torch.nn.Module, step: int) -> torch.Tensor:
            tokens = pooled_repeats(repeat_pool, recipe.stage1_batch_size, recipe.stage1_seq + 1, recipe.min_segment,
                                    recipe.max_segment, gen)  # [batch, seq + 1]
            logits = m(tokens[:, :-1])
            return F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())

        loop = LoopConfig(steps=steps, lr=recipe.stage1_lr, weight_decay=recipe.weight_decay, warmup_steps=100,
                          eval_every=recipe.eval_every, desc=desc)
        return train_loop(model, loss1, loop, eval_fn=lambda m: repeat_scores(m, repeat_pool, recipe.eval_segment),
                          stop_fn=stop_fn)

    def formed(metrics: dict[str, float]) -> bool:
        return metrics["prev_token_score"] >= recipe.stop_prev and metrics["induction_score"] >= recipe.stop_induction

    curve = attention_only(small if recipe.pool_size else pool, recipe.stage1_steps, formed,
                           "induction-lm: attention only")
    if recipe.pool_size and recipe.widen_steps:
        # the circuit formed on a few tokens; make it work on every token it will see in text
        curve.extend(attention_only(pool, recipe.widen_steps, None, "induction-lm: attention only, whole pool"))
    stage1_steps = curve.steps
    for p in model.parameters():
        p.requires_grad_(True)
    attention = [p for name, p in model.named_parameters()
                 if ".attn." in name or ".ln1." in name or name.startswith("pos.")]

    # stage 2: text chunks + repeat rows over the whole pool
    n_rep = round(recipe.batch_size * recipe.repeat_frac)
    n_text = recipe.batch_size - n_rep
    order = torch.cat([torch.randperm(len(train), generator=gen)
                       for _ in range(math.ceil(recipe.steps * n_text / max(len(train), 1)) + 1)])
    eval_rows = torch.linspace(0, len(held) - 1, min(recipe.eval_seqs, len(held))).round().long().unique()

    def loss2(m: torch.nn.Module, step: int) -> torch.Tensor:
        # text's first gradients are large (the unembedding has seen only repeat tokens); they would
        # wreck the circuit before the rest of the model learns the text, so attention waits
        if step in (0, recipe.freeze_attention_steps):
            for p in attention:
                p.requires_grad_(step >= recipe.freeze_attention_steps)
        rows = order[step * n_text:(step + 1) * n_text]
        text = lm_loss(m, train.tokens[rows], train.attention_mask[rows])
        if not n_rep:
            return text
        reps = pooled_repeats(pool, n_rep, recipe.n_ctx, recipe.min_segment, recipe.max_segment_lm, gen)
        return (text * n_text + lm_loss(m, reps, torch.ones_like(reps)) * n_rep) / recipe.batch_size

    def eval2(m: torch.nn.Module) -> dict[str, float]:
        return {**repeat_scores(m, pool, recipe.eval_segment),
                "heldout_loss": heldout_loss(m, held.tokens[eval_rows], held.attention_mask[eval_rows])}

    loop2 = LoopConfig(steps=recipe.steps, lr=recipe.lr, weight_decay=recipe.weight_decay, betas=(0.9, 0.95),
                       warmup_steps=recipe.warmup_steps, decay="cosine", eval_every=recipe.eval_every,
                       desc="induction-lm: text + repeats")
    curve.extend(train_loop(model, loss2, loop2, eval_fn=eval2))
    for p in attention:
        p.requires_grad_(True)
    final = {"stage1_steps": stage1_steps, "steps_run": stage1_steps + recipe.steps,
             **repeat_scores(model, pool, recipe.eval_segment, n_seq=256, seed=seed + 10_000),
             "heldout_loss": heldout_loss(model, held.tokens, held.attention_mask)}
    training = curve.to_json() | {
        "final": final, "recipe": asdict(recipe), "n_params": sum(p.numel() for p in model.parameters()),
        "split": {"heldout_frac": recipe.heldout_frac, "seed": seed, "n_docs": len(texts), "heldout_docs": held_ids}}
    return save_toy(model, cfg, out, training=training)

