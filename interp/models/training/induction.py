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

Few heads do the work. Trained plainly, every layer-1 head of such a model becomes an
induction head (redundant parallel copies), so no small circuit exists: with 4 or 8
heads, 90 % of the logit difference needed 25-40 % of the edges. Real LMs are
different: a handful of heads do induction and the rest do other things. So the
recipe adds a group lasso on each head's OV circuit from the start (heads the task
does not need stay at ~0; the sum over heads of a norm prices each head separately)
and, once the circuit has formed, ``prune_steps`` with a *concave* penalty
``sum_h |OV_h|^0.5`` (a group lasso alone cannot break the tie between parallel
copies: their norms add up the same however the work is shared; the concave penalty
makes one head cheaper than several). Heads need ``d_head`` 16: with 8 dimensions a
head cannot match 63 tokens on its own and the work stays shared. The shipped
checkpoint keeps one previous-token head in layer 0 and two induction heads in layer
1 out of 8 + 8 (``training.json`` records every head's OV norm, :func:`head_ov_norms`).
The first phase stops once the ``stop_*`` bars are cleared (~1.5k steps), then 3000
pruning steps follow: ~7 minutes on two busy CPU cores; the final scores are recorded
in the checkpoint's ``training.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from interp.datasets.synthetic import (
    half_losses,
    induction_eval_batch,
    induction_score_from_pattern,
    previous_token_score_from_pattern,
    shifted_induction_batch,
)
from interp.models.toy import ToyConfig, build_native, native_patterns, save_toy
from interp.models.training.common import LoopConfig, seed_everything, train_loop


@dataclass
class InductionRecipe:
    """Every knob of the recipe; ``train_induction(**overrides)`` replaces any of them."""

    vocab: int = 64  # token 0 is BOS, 1..63 are the random tokens
    d_model: int = 64
    n_heads: int = 8
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
    head_sparsity: float = 0.01  # group lasso sum_h |OV_h| over the whole training (see head_ov_norms)
    prune_steps: int = 3000  # extra steps once the circuit has formed, adding the penalty below to the lasso above
    prune_sparsity: float = 0.1  # weight of sum_h |OV_h|^prune_power in those steps
    prune_power: float = 0.5  # < 1: concave, so one head takes over from redundant parallel copies


RECIPE = InductionRecipe  # the options train_toy checks overrides against


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
    logits, patterns = native_patterns(model, tokens)  # [batch, pos, vocab], per layer [batch, head, q, k]
    first_loss, second_loss = half_losses(logits.detach(), tokens, first, second)
    return {
        "prev_token_score": float(previous_token_score_from_pattern(patterns[0]).max().detach()),
        "induction_score": float(induction_score_from_pattern(patterns[1], recipe.eval_segment).max()),
        "first_half_loss": first_loss,
        "repeat_loss": second_loss,
        "loss_ratio": first_loss / max(second_loss, 1e-9),
    }


def train_induction(out_dir: str | Path, seed: int = 0, **overrides: Any) -> Path:
    """Train ``toy:induction`` with ``seed`` and save it to ``out_dir``; returns the folder.

    ``overrides`` are :class:`InductionRecipe` fields (``steps=5`` makes a smoke run; ``train_toy`` checks the names).
    """
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
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
        if recipe.head_sparsity:
            loss = loss + recipe.head_sparsity * head_ov_norms(m, recipe.n_heads).sum()
        return loss

    def pruned_loss_fn(m: torch.nn.Module, step: int) -> torch.Tensor:
        norms = head_ov_norms(m, recipe.n_heads)  # [layer, head]
        return loss_fn(m, step) + recipe.prune_sparsity * (norms + 1e-3).pow(recipe.prune_power).sum()

    def eval_fn(m: torch.nn.Module) -> dict[str, float]:
        return evaluate_induction(m, recipe, torch.Generator().manual_seed(eval_gen_seed))

    def stop_fn(metrics: dict[str, float]) -> bool:
        return (metrics["prev_token_score"] >= recipe.stop_prev
                and metrics["induction_score"] >= recipe.stop_induction
                and metrics["loss_ratio"] >= recipe.stop_loss_ratio)

    loop = LoopConfig(steps=recipe.steps, lr=recipe.lr, weight_decay=recipe.weight_decay,
                      warmup_steps=recipe.warmup_steps, eval_every=recipe.eval_every, desc="induction")
    curve = train_loop(model, loss_fn, loop, eval_fn=eval_fn, stop_fn=stop_fn)
    if recipe.prune_steps:
        # Once induction has formed, the group lasso prunes the heads it does not need (applied
        # from step 0 it kills every head before the circuit can form: the loss plateau is long).
        prune = LoopConfig(steps=recipe.prune_steps, lr=recipe.lr, weight_decay=recipe.weight_decay,
                           warmup_steps=recipe.warmup_steps, eval_every=recipe.eval_every,
                           desc="induction: prune heads")
        curve.extend(train_loop(model, pruned_loss_fn, prune, eval_fn=eval_fn))
    with torch.no_grad():
        final = eval_fn(model)
    final = {"steps_run": curve.steps, **final,
             "head_ov_norms": head_ov_norms(model, recipe.n_heads).detach().tolist()}
    training = curve.to_json() | {"final": final, "recipe": asdict(recipe)}
    return save_toy(model, cfg, out_dir, training=training)


def head_ov_norms(model: torch.nn.Module, n_heads: int) -> torch.Tensor:
    """Frobenius norm of each head's OV circuit ``W_O^h W_V^h`` (what it can write), ``[layer, head]``.

    Their sum is a group lasso over heads: it drives heads the task does not need to
    exactly nothing (an L2 penalty would spread the work over all of them instead),
    so the trained model uses one previous-token head and one induction head, as the
    circuit-discovery known answer wants. The product, not ``W_O`` alone, so the
    penalty cannot be dodged by scaling ``W_V`` up and ``W_O`` down.
    """
    norms = []
    for layer in model.layers:
        w_v = layer.attn.v.weight.unflatten(0, (n_heads, -1))  # [head, d_head, d_model]
        w_o = layer.attn.o.weight.unflatten(1, (n_heads, -1)).transpose(0, 1)  # [head, d_model, d_head]
        norms.append(torch.linalg.matrix_norm(w_o @ w_v))  # [head]
    return torch.stack(norms)  # [layer, head]

