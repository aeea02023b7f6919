"""The one training loop the toy models share: seeded, shows progress, records a curve.

Each toy task (``induction``, ``modadd``, ``toylm``) supplies a batch function and a
loss; this module owns what they have in common so the task files stay short and
read top to bottom like nanoGPT's ``train.py``.
"""

from __future__ import annotations

import math
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch Generator for data sampling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@dataclass
class LoopConfig:
    steps: int
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    decay: str = "none"  # "none" | "cosine" | "linear"
    grad_clip: float | None = 1.0
    eval_every: int = 100
    desc: str = "train"


@dataclass
class Curve:
    """Training curve: one row per evaluation, saved as the checkpoint's ``training.json``."""

    rows: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"curve": self.rows, "seconds": round(self.seconds, 2), "final": self.rows[-1] if self.rows else {}}

    @property
    def steps(self) -> int:
        """Optimizer steps behind the curve (its last row is the last step: the loop always evaluates it)."""
        return int(self.rows[-1]["step"]) + 1 if self.rows else 0

    def extend(self, later: Curve) -> None:
        """Append a later stage's curve, its steps counted on from this one's."""
        first = self.steps
        self.rows += [{**r, "step": r["step"] + first} for r in later.rows]
        self.seconds += later.seconds


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (None or 0: leave as is), then restore the old count.

    Recipes train at one thread by default: bitwise results then don't depend on the host's
    core count, and on a shared 2-core machine two threads racing another job ran ~8x slower.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def lr_factor(step: int, cfg: LoopConfig) -> float:
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.decay == "none":
        return 1.0
    frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    if cfg.decay == "cosine":
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))
    if cfg.decay == "linear":
        return max(0.0, 1.0 - frac)
    raise ValueError(f"Unknown decay {cfg.decay!r}; use 'none', 'cosine' or 'linear'.")


def train_loop(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, int], torch.Tensor],
    cfg: LoopConfig,
    eval_fn: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    stop_fn: Callable[[dict[str, float]], bool] | None = None,
) -> Curve:
    """AdamW on ``loss_fn(model, step)`` for ``cfg.steps`` steps.

    ``eval_fn`` runs every ``eval_every`` steps (in eval mode, no grad) and its
    metrics join the curve; ``stop_fn`` may end training early on those metrics
    (e.g. once held-out accuracy is reached), which keeps CPU training short.
    """
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=cfg.betas)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))
    curve = Curve()
    start = time.perf_counter()
    bar = tqdm(range(cfg.steps), desc=cfg.desc, dynamic_ncols=True)
    for step in bar:
        model.train()
        loss = loss_fn(model, step)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{cfg.desc}: loss became {loss.item()} at step {step}; lower the learning rate.")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        last = step == cfg.steps - 1
        if eval_fn is not None and (step % cfg.eval_every == 0 or last):
            model.eval()
            with torch.no_grad():
                metrics = {"step": step, "train_loss": float(loss.item()), **eval_fn(model)}
            curve.rows.append(metrics)
            bar.set_postfix({k: f"{v:.3g}" for k, v in metrics.items() if k != "step"})
            if stop_fn is not None and stop_fn(metrics):
                break
    curve.seconds = time.perf_counter() - start
    model.eval()
    return curve
