"""Training SAEs: ``train_sae(config, activations)`` and its multi-hook sibling ``train_saes``.

The loop is deliberately plain (nanoGPT-style): draw a shuffled minibatch from the
source (:mod:`interp.sae.data`, bounded memory), scale it, compute the
architecture's loss, step Adam, let the architecture fix its decoder norms, update
the per-latent "tokens since last fired" counters (dead latents feed AuxK and the
``dead_frac`` metric). Around it:

* **schedules**: learning rate warms up linearly over ``warmup_steps`` and decays
  linearly to 0 over the last ``decay_frac`` of training; the sparsity coefficient
  (L1 / L0 penalties) warms up over the first ``sparsity_warmup_frac``;
* **input scaling**: ``input_scale = √d_in / E‖x‖`` measured on a sample of the data,
  stored in the SAE's config (so ``encode`` on raw activations applies it);
  ``b_dec`` starts at the sample mean;
* **checkpoints** (:mod:`interp.sae.checkpoint`) every ``checkpoint_every`` steps and
  at the end; ``resume=True`` continues from the folder's checkpoint and reaches the
  same final weights as an uninterrupted run (weights, Adam, RNG, data position and
  dead-latent counters are all restored);
* **non-finite guard**: a NaN/inf loss (before the step) or weight (after it) raises
  :class:`TrainingDiverged` naming the step and the last good checkpoint, which is
  never overwritten by a bad state;
* **distributed**: under ``torchrun`` the SAE is wrapped in DDP; each rank reads its
  own rows (:mod:`interp.sae.distributed`), ``batch_size`` stays the *global* batch;
* **the loop itself** (:func:`run_loop`: epochs, resume, checkpoints, history, progress) drives
  any :class:`LoopTrainer`, so the transcoders (:mod:`interp.transcoders.train`) train with it too;
* **fast TopK**: ``fast=True`` uses the sparse backward of :mod:`interp.sae.sparse_ops`;
  on CUDA the forward runs under bf16 autocast (``autocast=None`` means "on GPU").
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import torch
from torch import nn
from tqdm.auto import tqdm

from interp.io import check_config_keys
from interp.sae.base import SAE, SAEConfig, make_sae
from interp.sae.checkpoint import CheckpointError, has_checkpoint, load_checkpoint, restore, save_checkpoint
from interp.sae.data import SourceError, open_source
from interp.sae.distributed import DistInfo, all_gather_ints, all_reduce_sum, barrier, init_distributed

# TrainConfig fields that may change between an interrupted run and its resumption.
_RESUME_FREE = {"checkpoint_dir", "checkpoint_every", "resume", "progress", "log_every", "device"}


@dataclass
class TrainConfig:
    """How to train one SAE. ``sae.d_in = 0`` means "take it from the data"."""

    sae: SAEConfig
    total_tokens: int | None = None  # training budget in rows; None = one pass over the data
    batch_size: int = 4096  # global batch (split across ranks under torchrun)
    lr: float | None = None  # None: 2e-4 / sqrt(d_sae / 16384) (sparsify's scaling rule)
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    warmup_steps: int = 50  # linear lr warm-up
    decay_frac: float = 0.2  # linear lr decay to 0 over the last fraction of steps
    sparsity_warmup_frac: float = 0.05  # penalty coefficient ramps from 0 over this fraction
    dead_tokens: int = 1_000_000  # a latent unused for this many tokens counts as dead
    normalize_inputs: bool = True  # measure input_scale so E||x|| = sqrt(d_in)
    init_b_dec: bool = True  # b_dec = mean of a data sample
    stat_rows: int = 32768  # rows sampled for input_scale / b_dec
    seed: int = 0
    device: str | None = None  # None: cuda if available else cpu
    autocast: bool | None = None  # bf16 autocast; None = on for CUDA, off on CPU
    fast: bool = True  # sparse TopK backward
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0  # steps; 0 = only at the end (if checkpoint_dir)
    resume: bool = False  # continue from checkpoint_dir's checkpoint when there is one
    log_every: int = 10  # steps between history records / progress updates
    progress: bool = True
    buffer_shards: int = 4  # ActivationStore shards mixed in memory at a time

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "TrainConfig":
        check_config_keys(cls, obj)
        return cls(**{**obj, "sae": SAEConfig.from_json(obj["sae"]), "betas": tuple(obj.get("betas", (0.9, 0.999)))})


def lr_schedule(lr: float, step: int, total_steps: int, warmup_steps: int, decay_frac: float) -> float:
    """``lr`` warmed up linearly over ``warmup_steps`` and decayed linearly to 0 over the last ``decay_frac``."""
    warm = min(1.0, (step + 1) / max(1, warmup_steps))
    decay_steps = decay_frac * total_steps
    decay = min(1.0, (total_steps - step) / decay_steps) if decay_steps > 0 else 1.0
    return lr * warm * decay


def config_diff(saved: dict[str, Any], now: dict[str, Any], free: set[str]) -> list[str]:
    """Keys (outside ``free``) whose values differ between a checkpoint's config and the current one."""
    return sorted(k for k in set(saved) | set(now) if k not in free and saved.get(k) != now.get(k))


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN/inf; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    sae: SAE
    steps: int
    tokens: int
    history: list[dict[str, float]] = field(default_factory=list)  # every log_every steps
    metrics: dict[str, float] = field(default_factory=dict)  # means over the last log window


class _LossModule(nn.Module):
    """What DDP wraps: forward = the SAE's training loss plus the statistics the trainer logs."""

    def __init__(self, sae: SAE) -> None:
        super().__init__()
        self.sae = sae

    def forward(self, x: torch.Tensor, sparsity_scale: float, dead: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.sae.loss(x, sparsity_scale, dead)
        with torch.no_grad():  # for the logged FVU: squared error and variance around the batch mean
            n = x.shape[0]
            sse = out.parts["mse"].detach().float() * n
            xf = x.float().reshape(-1)
            sst = torch.dot(xf, xf) - n * x.float().mean(0).pow(2).sum()
        self.part_names = list(out.parts)
        parts = torch.stack([p.detach().float() for p in out.parts.values()])
        return {"loss": out.loss, "fired": out.fired, "l0": out.l0.detach(), "sse": sse, "sst": sst, "parts": parts}


class SAETrainer:
    """One SAE, its optimiser and its dead-latent counters; ``step(x)`` is one training step."""

    def __init__(self, cfg: TrainConfig, d_in: int, sample: torch.Tensor, total_steps: int, info: DistInfo) -> None:
        if cfg.sae.d_in not in (0, None) and cfg.sae.d_in != d_in:
            raise SourceError(f"SAEConfig.d_in={cfg.sae.d_in} but the activations have width {d_in}; set d_in=0 to take it from the data.")
        self.cfg, self.info, self.total_steps = cfg, info, total_steps
        sae_cfg = copy.deepcopy(dataclasses.replace(cfg.sae, d_in=d_in))  # the SAE's own (input_scale is set below)
        torch.manual_seed(cfg.seed)
        sae = make_sae(sae_cfg)
        sae.reset_parameters(torch.Generator().manual_seed(cfg.seed))
        if cfg.normalize_inputs:
            mean_norm = float(sample.norm(dim=-1).mean())
            if not math.isfinite(mean_norm) or mean_norm <= 0:
                raise SourceError(f"Cannot scale inputs: their mean norm is {mean_norm}. Check the activations for NaN/inf or all-zero rows.")
            sae.cfg.input_scale = math.sqrt(d_in) / mean_norm
        if cfg.init_b_dec:
            sae.init_from_data(sample * sae.cfg.input_scale)
        if hasattr(sae, "fast"):
            sae.fast = cfg.fast
        self.sae = sae.to(info.device)
        self._loss_module = _LossModule(self.sae)
        self.module: nn.Module = self._loss_module
        if info.active:
            self.module = nn.parallel.DistributedDataParallel(self.module, device_ids=[info.device.index] if info.device.type == "cuda" else None)
        self.lr = cfg.lr or 2e-4 / math.sqrt(sae_cfg.d_sae / 16384)
        self.opt = torch.optim.Adam(self.sae.parameters(), lr=self.lr, betas=cfg.betas, eps=cfg.adam_eps, fused=True)
        self.since_fired = torch.zeros(sae_cfg.d_sae, dtype=torch.long, device=info.device)  # [d_sae] tokens
        use_amp = cfg.autocast if cfg.autocast is not None else info.device.type == "cuda"
        self.amp = (lambda: torch.autocast(info.device.type, dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext

    # ---- what run_loop reads (the LoopTrainer protocol) ----
    @property
    def model(self) -> nn.Module:
        return self.sae

    @property
    def checkpoint_dir(self) -> str | None:
        return self.cfg.checkpoint_dir

    @property
    def resume(self) -> bool:
        return self.cfg.resume

    def checkpoint_meta(self) -> dict[str, Any]:
        return {"sae": self.sae.cfg.to_json(), "train": self.cfg.to_json()}

    def check_resume(self, meta: dict[str, Any], name: str) -> None:
        _check_resume(meta, self.cfg, name)

    def lr_at(self, step: int) -> float:
        return lr_schedule(self.lr, step, self.total_steps, self.cfg.warmup_steps, self.cfg.decay_frac)

    def sparsity_at(self, step: int) -> float:
        return min(1.0, (step + 1) / max(1.0, self.cfg.sparsity_warmup_frac * self.total_steps))

    def step(self, x: torch.Tensor, step: int, global_batch: int) -> dict[str, float]:
        """One optimiser step on this rank's rows ``x`` [batch / world, d_in] (raw units)."""
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(step)
        x = x.to(self.info.device, non_blocking=True) * self.sae.cfg.input_scale
        dead = self.since_fired >= self.cfg.dead_tokens
        with self.amp():
            out = self.module(x, self.sparsity_at(step), dead)
        stats = all_reduce_sum(torch.cat([out["loss"].detach().float().view(1), out["l0"].float().view(1),
                                          out["sse"].view(1), out["sst"].view(1), out["parts"]]), self.info)
        stats = (stats / self.info.world_size).tolist()
        if not math.isfinite(stats[0]):
            raise TrainingDiverged(f"the loss is {stats[0]} (non-finite)")
        out["loss"].backward()
        self.sae.before_optimizer_step()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.sae.after_optimizer_step()
        if not bool(torch.stack([p.detach().sum() for p in self.sae.parameters()]).isfinite().all()):  # NaN/inf propagate into sums
            raise TrainingDiverged("a weight became non-finite after the optimiser step")
        fired = all_reduce_sum(out["fired"].long(), self.info)
        self.since_fired += global_batch
        self.since_fired[fired > 0] = 0
        m = {"loss": stats[0], "l0": stats[1], "fvu": stats[2] / max(stats[3], 1e-30),
             "dead_frac": float((self.since_fired >= self.cfg.dead_tokens).float().mean()), "lr": self.lr_at(step)}
        m.update(zip(self._loss_module.part_names, stats[4:]))
        return m


def _check_resume(meta: dict[str, Any], cfg: TrainConfig, name: str) -> None:
    saved, now = meta.get("train", {}), cfg.to_json()
    try:  # a checkpoint written before per-architecture configs records the old flat SAEConfig
        saved = TrainConfig.from_json(saved).to_json()
    except (KeyError, TypeError, ValueError):
        pass
    diff = config_diff(saved, now, _RESUME_FREE)
    if diff:
        raise CheckpointError(f"The checkpoint in {cfg.checkpoint_dir} was made with different settings ({', '.join(diff)}) "
                              f"for {name}; resume with the same config, or use a new checkpoint_dir.")


class LoopTrainer(Protocol):
    """What :func:`run_loop` drives: one model, its optimiser and its dead-latent counters.

    :class:`SAETrainer` is one; so are the transcoder trainers (:mod:`interp.transcoders.train`),
    whose ``step`` takes a whole batch (an input hook and a target hook) instead of one hook's rows.
    """

    model: nn.Module  # saved as ``sae.<name>`` in checkpoints
    opt: torch.optim.Optimizer
    since_fired: torch.Tensor  # tokens since each latent last fired (any shape)
    checkpoint_dir: str | None
    resume: bool

    def step(self, inputs: Any, step: int, global_batch: int) -> dict[str, float]: ...

    def checkpoint_meta(self) -> dict[str, Any]: ...  # configs recorded in checkpoint.json

    def check_resume(self, meta: dict[str, Any], name: str) -> None: ...  # CheckpointError on other settings


def run_loop(trainers: dict[str, LoopTrainer], source: Any, settings: Any, info: DistInfo, total_steps: int, *,
             desc: str, label: str = "SAE", take: Callable[[str, dict[str, torch.Tensor]], Any] = lambda name, b: b[name],
             callback: Callable[[int, dict[str, dict[str, float]]], None] | None = None,
             ) -> tuple[int, dict[str, list[dict[str, float]]]]:
    """Train every trainer on the same shuffled minibatches of ``source`` for ``total_steps``; ``(steps, history)``.

    ``settings`` gives ``batch_size, seed, progress, log_every, checkpoint_every`` (a
    :class:`TrainConfig` or the transcoders' config); trainer ``name`` is fed
    ``take(name, batch)``. Resumes each trainer from its checkpoint folder, checkpoints them
    together, records the history every ``log_every`` steps, and turns a
    :class:`TrainingDiverged` into one naming the trainer, the step and the last good checkpoint.
    """
    c0 = settings
    names = list(trainers)
    step, epoch, pos = 0, 0, 0
    history: dict[str, list[dict[str, float]]] = {h: [] for h in names}
    for h, tr in trainers.items():
        if not tr.resume and has_checkpoint(tr.checkpoint_dir):
            raise CheckpointError(f"{tr.checkpoint_dir} already holds a checkpoint; pass resume=True to continue it, "
                                  "or delete it / choose another checkpoint_dir to start over.")
        if tr.resume and has_checkpoint(tr.checkpoint_dir):
            meta, tensors = load_checkpoint(tr.checkpoint_dir)
            tr.check_resume(meta, h)
            tr.since_fired.copy_(restore(tr.model, tr.opt, meta, tensors)["since_fired"])
            if meta.get("world_size", 1) != info.world_size:
                raise CheckpointError(f"{tr.checkpoint_dir} was saved by {meta.get('world_size')} ranks; resume with the same number.")
            step, (epoch, pos) = int(meta["step"]), meta["data"][info.rank]
            history[h] = meta.get("history", [])

    def checkpoint() -> None:
        positions = all_gather_ints([epoch, pos], info)
        for h, tr in trainers.items():
            if tr.checkpoint_dir and info.is_main:
                save_checkpoint(tr.checkpoint_dir, tr.model, tr.opt, {"since_fired": tr.since_fired},
                                {"step": step, "tokens": step * c0.batch_size, "data": positions, "world_size": info.world_size,
                                 **tr.checkpoint_meta(), "history": history[h]})
        barrier(info)

    bar = tqdm(total=total_steps, initial=step, desc=desc, disable=not (c0.progress and info.is_main), dynamic_ncols=True)
    batches = source.epoch(epoch, c0.batch_size, c0.seed, pos, info.rank, info.world_size)
    fresh_epoch = pos == 0
    window: dict[str, list[dict[str, float]]] = {h: [] for h in names}
    while step < total_steps:
        batch = next(batches, None)
        if batch is None:
            if fresh_epoch:
                raise SourceError("The activations yielded no batch for a whole epoch; use a smaller batch_size.")
            epoch, pos, fresh_epoch = epoch + 1, 0, True
            batches = source.epoch(epoch, c0.batch_size, c0.seed, 0, info.rank, info.world_size)
            continue
        fresh_epoch = False
        metrics = {}
        for h, tr in trainers.items():
            try:
                metrics[h] = tr.step(take(h, batch), step, c0.batch_size)
            except TrainingDiverged as exc:
                bar.close()
                where = (f"the last good checkpoint is {tr.checkpoint_dir} (step {load_checkpoint(tr.checkpoint_dir)[0]['step']})"
                         if has_checkpoint(tr.checkpoint_dir) else "no checkpoint was written (set checkpoint_dir/checkpoint_every)")
                raise TrainingDiverged(f"{label} training for {h!r} stopped at step {step}: {exc}. {where}. "
                                       "Lower the learning rate or check the activations for NaN/inf, then resume.") from None
            window[h].append(metrics[h])
        pos, step = pos + 1, step + 1
        bar.update(1)
        if step % c0.log_every == 0 or step == total_steps:
            for h in names:
                rec = {k: sum(m[k] for m in window[h]) / len(window[h]) for k in window[h][0]}
                history[h].append({"step": step, "tokens": step * c0.batch_size, **rec})
                window[h] = []
            last = history[names[0]][-1]
            bar.set_postfix(l0=f"{last['l0']:.1f}", fvu=f"{last['fvu']:.3f}", dead=f"{last['dead_frac']:.2f}")
        if callback is not None:
            callback(step, metrics)
        if c0.checkpoint_every and step % c0.checkpoint_every == 0 and step < total_steps:
            checkpoint()
    bar.close()
    if any(tr.checkpoint_dir for tr in trainers.values()):
        checkpoint()
    return step, history


def train_saes(configs: dict[str, TrainConfig], activations: Any,
               callback: Callable[[int, dict[str, dict[str, float]]], None] | None = None) -> dict[str, TrainResult]:
    """Train one SAE per hook (``configs[hook]``) on the same minibatches of a multi-hook source.

    All configs must share ``batch_size``, ``total_tokens``, ``seed`` and ``buffer_shards``
    (they read one stream). ``callback(step, {hook: metrics})`` runs after every step.
    """
    if not configs:
        raise ValueError("train_saes needs at least one config.")
    cfgs = list(configs.values())
    for key in ("batch_size", "total_tokens", "seed", "buffer_shards"):
        if len({getattr(c, key) for c in cfgs}) > 1:
            raise ValueError(f"All configs of a multi-hook run must share {key}; got {[getattr(c, key) for c in cfgs]}.")
    c0 = cfgs[0]
    info = init_distributed(c0.device)
    source = open_source(activations, [h for h in configs if h] or None, c0.buffer_shards)
    names = source.names
    if len(configs) == 1:  # an array source names its one tensor itself
        configs = {names[0]: c0}
    if c0.batch_size <= 0 or c0.batch_size % info.world_size:
        raise ValueError(f"batch_size={c0.batch_size} must be positive and divisible by the {info.world_size} ranks.")
    total_steps = max(1, (c0.total_tokens or len(source)) // c0.batch_size)
    sample = source.sample(c0.stat_rows)
    trainers = {h: SAETrainer(configs[h], source.d[h], sample[h], total_steps, info) for h in names}

    step, history = run_loop(trainers, source, c0, info, total_steps, callback=callback,
                             desc=f"SAE {'/'.join(t.sae.cfg.arch for t in trainers.values())}")
    results = {}
    for h, tr in trainers.items():
        tr.sae.eval()
        results[h] = TrainResult(tr.sae, step, step * c0.batch_size, history[h],
                                 {k: v for k, v in history[h][-1].items() if k not in ("step", "tokens")} if history[h] else {})
    return results


def train_sae(config: TrainConfig, activations: Any, hook: str | None = None,
              callback: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train one SAE on ``activations``: an ActivationStore (or its folder) with ``hook``
    (default ``config.sae.hook``, or the store's only hook), a ``.npy``/``.safetensors``
    file of shape [n, d_in], or a tensor/array [n, d_in]. Returns the trained SAE (eval
    mode), its loss history and final metrics. ``callback(step, metrics)`` runs after
    every step. Under ``torchrun`` it trains with DDP across the ranks.
    """
    hook = hook or config.sae.hook
    if hook and config.sae.hook is None:
        config = dataclasses.replace(config, sae=dataclasses.replace(config.sae, hook=hook))
    cb = None if callback is None else (lambda step, ms: callback(step, next(iter(ms.values()))))
    return next(iter(train_saes({hook or "": config}, activations, cb).values()))
