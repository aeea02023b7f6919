"""Recipe for ``toy:induction``: a 2-layer attention-only transformer that learns induction heads.

The task: random tokens in which a segment ``r_1..r_n`` appears twice. The
first copy is unpredictable; the repeat can only be predicted by finding the earlier
occurrence of the current token and copying what came next. An attention-only
2-layer model does this with the circuit of Olsson et al. 2022: a previous-token head
in layer 0 and an induction head in layer 1 that K-composes with it.

Training data is :func:`~interp.datasets.synthetic.shifted_induction_batch`: noise
with one repeated segment whose length (``min_segment``..``max_segment``) and place
are drawn per row. On plain ``[BOS] r r`` batches, where the repeat always starts at
``n + 1`` and ends the sequence, the model learns positional shortcuts instead (we
saw a layer-0 head attend to position ~``q / 2``, and induction scores stall below
0.6); random offsets leave content matching as the only way, and a clean
previous-token head + induction heads form. Evaluation uses the canonical
``[BOS] r r`` of :func:`~interp.datasets.synthetic.induction_eval_batch`.

Training stops once the bars that ``tests/circuits/test_head_scores.py`` checks are
cleared with a margin (see ``stop_*`` below), after ~2-3k steps, about two minutes
on two CPU cores; the final scores are recorded in the checkpoint's ``training.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from interp.circuits.head_scores import (
    induction_score_from_pattern,
    previous_token_score_from_pattern,
)
from interp.datasets.synthetic import (
    half_losses,
    induction_eval_batch,
    shifted_induction_batch,
)
from interp.models.toy import ToyConfig, build_native, save_toy
from interp.models.training.common import LoopConfig, seed_everything, train_loop


@dataclass
class InductionRecipe:
    """Every knob of the recipe; ``train_induction(**overrides)`` replaces any of them."""

    vocab: int = 64  # token 0 is BOS, 1..63 are the random tokens
    d_model: int = 64
    n_heads: int = 4
    d_head: int = 16
    max_segment: int = 24  # n_ctx = 1 + 2 * max_segment
    min_segment: int = 6
    eval_segment: int = 20
    steps: int = 4000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    eval_every: int = 50
    eval_batch: int = 128
    stop_prev: float = 0.9  # stop once some layer-0 head is this previous-token-like ...
    stop_induction: float = 0.92  # ... some layer-1 head this induction-like ...
    stop_loss_ratio: float = 8.0  # ... and the repeat's loss this many times below the first copy's


def induction_config(recipe: InductionRecipe, seed: int) -> ToyConfig:
    """The architecture: attention-only, 2 layers, LayerNorm, learned absolute positions."""
    bridge = {
        "d_model": recipe.d_model,
        "n_layers": 2,
        "n_heads": recipe.n_heads,
        "d_head": recipe.d_head,
        "d_vocab": recipe.vocab,
        "n_ctx": 1 + 2 * recipe.max_segment,
        "attn_only": True,
        "normalization_type": "LN",
        "positional_embedding_type": "standard",
    }
    extra = {"bos": 0, "min_segment": recipe.min_segment, "max_segment": recipe.max_segment,
             "eval_segment": recipe.eval_segment}
    return ToyConfig(name="induction", bridge_config=bridge, task="induction", seed=seed, extra=extra)


def evaluate_induction(
    model: torch.nn.Module, recipe: InductionRecipe, generator: torch.Generator
) -> dict[str, float]:
    """Best layer-0 previous-token score, best layer-1 induction score and the two copies' losses.

    Reads the patterns off the bare native module (the bridge's ``hook_pattern`` is the
    same tensor), so evaluation during training needs no bridge.
    """
    tokens, first, second = induction_eval_batch(recipe.eval_batch, recipe.eval_segment, recipe.vocab, generator)
    patterns: list[torch.Tensor] = []  # per layer: [batch, head, q, k]
    handles = [layer.attn.register_forward_hook(lambda _m, _i, out: patterns.append(out[1]))
               for layer in model.layers]
    try:
        logits = model(tokens)  # [batch, pos, vocab]
    finally:
        for h in handles:
            h.remove()
    first_loss, second_loss = half_losses(logits.detach(), tokens, first, second)
    return {
        "prev_token_score": float(previous_token_score_from_pattern(patterns[0]).max()),
        "induction_score": float(induction_score_from_pattern(patterns[1], recipe.eval_segment).max()),
        "first_half_loss": first_loss,
        "repeat_loss": second_loss,
        "loss_ratio": first_loss / max(second_loss, 1e-9),
    }


def train_induction(out_dir: str | Path, seed: int = 0, **overrides: Any) -> Path:
    """Train ``toy:induction`` with ``seed`` and save it to ``out_dir``; returns the folder.

    ``overrides`` are :class:`InductionRecipe` fields (``steps=5`` makes a smoke run).
    """
    known = {f.name for f in fields(InductionRecipe)}
    if unknown := sorted(set(overrides) - known):
        raise TypeError(f"Unknown induction recipe options {unknown}; known: {sorted(known)}.")
    recipe = InductionRecipe(**overrides)
    if not recipe.min_segment <= recipe.eval_segment <= recipe.max_segment:
        raise ValueError("eval_segment must lie within [min_segment, max_segment].")
    gen = seed_everything(seed)
    eval_gen_seed = seed + 10_000  # held-out batches come from their own stream
    cfg = induction_config(recipe, seed)
    model = build_native(cfg)
    n_ctx = cfg.bridge_config["n_ctx"]

    def loss_fn(m: torch.nn.Module, step: int) -> torch.Tensor:
        """Next-token loss at every position: noise costs a constant, the repeat teaches copying."""
        tokens = shifted_induction_batch(recipe.batch_size, n_ctx + 1, recipe.vocab, gen,
                                         recipe.min_segment, recipe.max_segment)  # [batch, n_ctx + 1]
        logits = m(tokens[:, :-1])  # [batch, n_ctx, vocab]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))

    def eval_fn(m: torch.nn.Module) -> dict[str, float]:
        return evaluate_induction(m, recipe, torch.Generator().manual_seed(eval_gen_seed))

    def stop_fn(metrics: dict[str, float]) -> bool:
        return (metrics["prev_token_score"] >= recipe.stop_prev
                and metrics["induction_score"] >= recipe.stop_induction
                and metrics["loss_ratio"] >= recipe.stop_loss_ratio)

    loop = LoopConfig(steps=recipe.steps, lr=recipe.lr, weight_decay=recipe.weight_decay,
                      warmup_steps=recipe.warmup_steps, eval_every=recipe.eval_every, desc="induction")
    curve = train_loop(model, loss_fn, loop, eval_fn=eval_fn, stop_fn=stop_fn)
    with torch.no_grad():
        final = eval_fn(model)
    final = {"steps_run": _steps_run(curve), **final}
    training = curve.to_json() | {"final": final, "recipe": asdict(recipe)}
    return save_toy(model, cfg, out_dir, training=training)


def _steps_run(curve: Any) -> int:
    """How many optimizer steps ran (training may stop early)."""
    return int(curve.rows[-1]["step"]) + 1 if curve.rows else 0
