"""Training transcoders: ``train_transcoders(cfg, data)`` -> one per layer (PLT) or one cross-layer (CLT).

Every layer's MLP input and output come from one capture, so a minibatch holds all of a
token's hooks together and every model trains on the same rows. The SAE trainer's pieces are
reused rather than copied: its loop (:func:`interp.sae.trainer.run_loop`: shuffled restartable
epochs, checkpoints every ``checkpoint_every`` steps and at the end in
:mod:`interp.sae.checkpoint` format, ``resume`` to the same final weights, history, tqdm,
:class:`~interp.sae.TrainingDiverged` on a non-finite loss or weight), its learning-rate
schedule (linear warm-up, linear decay to 0), Adam, the dead-latent counters (AuxK for TopK)
and the input normalisation, applied on both sides here:
``input_scale = √d_in / E‖x‖`` and ``output_scale = √d_out / E‖y‖``, measured on a sample.

* **PLT** (``cross_layer=False``): one :class:`Transcoder` per layer, each with its own Adam and
  checkpoint sub-folder ``checkpoint_dir/L<layer>``; loss = MSE of that layer's scaled output.
* **CLT** (``cross_layer=True``): one :class:`CrossLayerTranscoder` over layers ``0 .. n − 1``;
  loss = Σ_layers MSE (each layer's output scaled to the same size, so each counts alike).

The skip matrix is trained in raw units but gets its own learning rate, ``lr · input_scale /
output_scale``, so that its step moves the *scaled* output as much as any other weight's would.
Under ``torchrun`` it trains data-parallel as the SAE trainer does: each rank reads its own rows
of every global batch (the sources slice by rank), the gradients are averaged over ranks before
the optimiser step (one flat all-reduce), so the replicas stay identical, and the dead-latent
counters and logged metrics are all-reduced too.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from interp.io import check_config_keys
from interp.sae.checkpoint import CheckpointError
from interp.sae.data import SourceError
from interp.sae.distributed import DistInfo, all_reduce_sum, init_distributed
from interp.sae.trainer import TrainingDiverged, config_diff, lr_schedule, run_loop
from interp.transcoders.base import Transcoder, TranscoderConfig
from interp.transcoders.clt import CLTConfig, CrossLayerTranscoder
from interp.transcoders.data import OUTPUT_HOOK, available_hooks, layer_hooks, open_pairs

_RESUME_FREE = {"checkpoint_dir", "checkpoint_every", "resume", "progress", "log_every", "device"}


@dataclass
class TranscoderTrainConfig:
    """How to train transcoders; ``transcoder`` is the template (its d_in/d_out 0: from the data, d_sae 0: expansion · d_in)."""

    transcoder: TranscoderConfig = field(default_factory=lambda: TranscoderConfig(d_in=0, d_out=0, d_sae=0))
    layers: list[int] | None = None  # None: every layer the source has both hooks for
    cross_layer: bool = False  # one CLT over layers 0..n-1 instead of one transcoder per layer
    hook_in: str | None = None  # "{layer}" template; None: ln2.hook_normalized where captured, else hook_mlp_in
    hook_out: str = OUTPUT_HOOK
    expansion: int = 8
    total_tokens: int | None = None  # training budget in rows; None = one pass over the data
    batch_size: int = 1024
    lr: float | None = None  # None: 2e-4 / sqrt(d_sae / 16384) (the SAE trainer's rule)
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    warmup_steps: int = 50
    decay_frac: float = 0.2
    sparsity_warmup_frac: float = 0.05  # relu / jumprelu penalty ramps from 0 over this fraction
    dead_tokens: int = 1_000_000  # a latent unused for this many tokens counts as dead (AuxK, dead_frac)
    normalize: bool = True  # measure input_scale / output_scale (E||x|| = sqrt(d_in), E||y|| = sqrt(d_out))
    init_from_data: bool = True  # b_enc centres the mean input, b_dec = mean target
    stat_rows: int = 32768
    seed: int = 0
    device: str | None = None
    checkpoint_dir: str | None = None  # PLT: one sub-folder per layer (L0, L1, ...); CLT: this folder
    checkpoint_every: int = 0
    resume: bool = False
    log_every: int = 10
    progress: bool = True
    buffer_shards: int = 4

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "TranscoderTrainConfig":
        check_config_keys(cls, obj)
        return cls(**{**obj, "transcoder": TranscoderConfig.from_json(obj["transcoder"]),
                      "betas": tuple(obj.get("betas", (0.9, 0.999)))})


@dataclass
class TranscoderTrainResult:
    transcoders: list[Transcoder] | CrossLayerTranscoder  # eval mode, on the training device
    layers: list[int]
    steps: int
    tokens: int
    history: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # "L<layer>" or "clt" -> records
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # the same keys -> last log window


class TranscoderTrainer:
    """One model (a layer's transcoder, or the CLT), its Adam and dead-latent counters; a :class:`LoopTrainer`."""

    def __init__(self, model: Transcoder | CrossLayerTranscoder, cfg: TranscoderTrainConfig, total_steps: int,
                 info: DistInfo, checkpoint_dir: str | None) -> None:
        self.cfg, self.total_steps, self.info, self.device = cfg, total_steps, info, info.device
        device = info.device
        self.checkpoint_dir, self.resume = checkpoint_dir, cfg.resume
        self.model = model.to(device)
        self.cross = isinstance(model, CrossLayerTranscoder)
        c = model.cfg
        self.hooks_in = c.hooks_in if self.cross else [c.hook_in]
        self.hooks_out = c.hooks_out if self.cross else [c.hook_out]
        self.in_scale = c.input_scale if self.cross else [c.input_scale]
        self.out_scale = c.output_scale if self.cross else [c.output_scale]
        self.lr = cfg.lr or 2e-4 / math.sqrt(model.d_sae / 16384)
        skips = list(model.W_skip) if self.cross and model.W_skip is not None else (
            [model.W_skip] if model.W_skip is not None else [])
        skip_ids = {id(p) for p in skips}
        groups = [{"params": [p for p in model.parameters() if id(p) not in skip_ids], "lr_mult": 1.0}]
        groups += [{"params": [p], "lr_mult": self.in_scale[l] / self.out_scale[l]} for l, p in enumerate(skips)]
        self.opt = torch.optim.Adam(groups, lr=self.lr, betas=cfg.betas, eps=cfg.adam_eps)
        shape = (model.n_layers, model.d_sae) if self.cross else (model.d_sae,)
        self.since_fired = torch.zeros(shape, dtype=torch.long, device=device)

    def checkpoint_meta(self) -> dict[str, Any]:
        return {"transcoder": self.model.cfg.to_json(), "train": self.cfg.to_json()}

    def check_resume(self, meta: dict[str, Any], name: str) -> None:
        diff = config_diff(meta.get("train", {}), self.cfg.to_json(), _RESUME_FREE)
        if diff:
            raise CheckpointError(f"The checkpoint in {self.checkpoint_dir} was made with different settings "
                                  f"({', '.join(diff)}) for {name}; resume with the same config, or use a new checkpoint_dir.")

    def step(self, batch: dict[str, torch.Tensor], step: int, global_batch: int) -> dict[str, float]:
        """One optimiser step on a batch ``{hook: [batch, d]}`` in raw units."""
        lr = lr_schedule(self.lr, step, self.total_steps, self.cfg.warmup_steps, self.cfg.decay_frac)
        for g in self.opt.param_groups:
            g["lr"] = lr * g["lr_mult"]
        xs = [batch[h].to(self.device) * s for h, s in zip(self.hooks_in, self.in_scale)]
        ys = [batch[h].to(self.device) * s for h, s in zip(self.hooks_out, self.out_scale)]
        sparsity = min(1.0, (step + 1) / max(1.0, self.cfg.sparsity_warmup_frac * self.total_steps))
        dead = self.since_fired >= self.cfg.dead_tokens
        out = self.model.loss(xs, ys, sparsity, dead) if self.cross else self.model.loss(xs[0], ys[0], sparsity, dead)
        world = self.info.world_size
        names = list(out.parts)
        stats = all_reduce_sum(torch.cat([out.loss.detach().float().view(1), out.l0.float(), out.sse.float(),
                                          out.sst.float(), torch.stack([v.detach().float() for v in out.parts.values()])]),
                               self.info).tolist()  # summed over ranks: loss, l0 and parts are averaged below
        n_l0, n_t = len(out.l0), len(out.sse)
        loss = stats[0] / world
        if not math.isfinite(loss):
            raise TrainingDiverged(f"the loss is {loss} (non-finite)")
        out.loss.backward()
        if self.info.active:
            self._average_grads()
        self.model.before_optimizer_step()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.model.after_optimizer_step()
        if not bool(torch.stack([p.detach().sum() for p in self.model.parameters()]).isfinite().all()):
            raise TrainingDiverged("a weight became non-finite after the optimiser step")
        fired = all_reduce_sum(out.fired.long(), self.info)
        self.since_fired += global_batch
        self.since_fired[fired > 0] = 0
        l0 = [v / world for v in stats[1:1 + n_l0]]
        sse, sst = stats[1 + n_l0:1 + n_l0 + n_t], stats[1 + n_l0 + n_t:1 + n_l0 + 2 * n_t]
        m = {"loss": loss, "l0": sum(l0) / len(l0), "fvu": sum(sse) / max(sum(sst), 1e-30),
             "dead_frac": float((self.since_fired >= self.cfg.dead_tokens).float().mean()), "lr": lr}
        m.update({k: v / world for k, v in zip(names, stats[1 + n_l0 + 2 * n_t:])})
        if self.cross:
            m.update({f"fvu_L{l}": e / max(t, 1e-30) for l, (e, t) in enumerate(zip(sse, sst))})
            m.update({f"l0_L{l}": v for l, v in enumerate(l0)})
        return m

    def _average_grads(self) -> None:
        """Mean of every gradient over ranks (each rank's loss is the mean over its rows, equal in number)."""
        params = [p for p in self.model.parameters() if p.grad is not None]
        flat = all_reduce_sum(torch.cat([p.grad.reshape(-1) for p in params]), self.info) / self.info.world_size
        offset = 0
        for p in params:
            p.grad.copy_(flat[offset:offset + p.numel()].view_as(p.grad))
            offset += p.numel()


def _scale(x: torch.Tensor, d: int, normalize: bool, what: str) -> float:
    if not normalize:
        return 1.0
    mean_norm = float(x.float().norm(dim=-1).mean())
    if not math.isfinite(mean_norm) or mean_norm <= 0:
        raise SourceError(f"Cannot scale {what}: its mean norm is {mean_norm}. Check the activations for NaN/inf "
                          "or all-zero rows.")
    return math.sqrt(d) / mean_norm


def build_models(cfg: TranscoderTrainConfig, pairs: list[tuple[int, str, str]], d: dict[str, int],
                 sample: dict[str, torch.Tensor], spec: str | None) -> list[Transcoder] | CrossLayerTranscoder:
    """Freshly initialised transcoders for ``pairs`` (seeded by ``cfg.seed``), scaled and centred on ``sample``."""
    t = cfg.transcoder
    opts = {f.name: getattr(t, f.name) for f in dataclasses.fields(t) if f.kw_only}
    gen = torch.Generator().manual_seed(cfg.seed)
    in_s = [_scale(sample[hi], d[hi], cfg.normalize, hi) for _, hi, _ in pairs]
    out_s = [_scale(sample[ho], d[ho], cfg.normalize, ho) for _, _, ho in pairs]
    if cfg.cross_layer:
        layers = [l for l, _, _ in pairs]
        if layers != list(range(len(layers))):
            raise ValueError(f"A cross-layer transcoder reads layers 0..n-1 of its model (all, or a prefix); got {layers}.")
        dims = {(d[hi], d[ho]) for _, hi, ho in pairs}
        if len(dims) != 1:
            raise ValueError(f"A CLT needs the same widths at every layer; got (d_in, d_out) {sorted(dims)}.")
        d_in, d_out = dims.pop()
        clt = CrossLayerTranscoder(CLTConfig(
            n_layers=len(pairs), d_in=d_in, d_out=d_out, d_sae=t.d_sae or cfg.expansion * d_in, activation=t.activation,
            k=t.k, skip=t.skip, input_scale=in_s, output_scale=out_s, hooks_in=[hi for _, hi, _ in pairs],
            hooks_out=[ho for _, _, ho in pairs], model=spec, **opts))
        clt.reset_parameters(gen)
        if cfg.init_from_data:
            clt.init_from_data([sample[hi] * s for (_, hi, _), s in zip(pairs, in_s)],
                               [sample[ho] * s for (_, _, ho), s in zip(pairs, out_s)])
        return clt
    models = []
    for (layer, hi, ho), si, so in zip(pairs, in_s, out_s):
        tc = Transcoder(dataclasses.replace(t, d_in=d[hi], d_out=d[ho], d_sae=t.d_sae or cfg.expansion * d[hi],
                                            input_scale=si, output_scale=so, hook_in=hi, hook_out=ho, layer=layer,
                                            model=spec))
        tc.reset_parameters(gen)
        if cfg.init_from_data:
            tc.init_from_data(sample[hi] * si, sample[ho] * so)
        models.append(tc)
    return models


def train_transcoders(cfg: TranscoderTrainConfig, data: Any,
                      callback: Callable[[int, dict[str, dict[str, float]]], None] | None = None) -> TranscoderTrainResult:
    """Train per-layer transcoders (or a CLT) on ``data``: an ActivationStore, a view (e.g. the training part of
    ``store.split_sequences(0.1)``), a capture run folder, or ``{hook: tensor [n, d]}``.

    ``callback(step, {"L<layer>" | "clt": metrics})`` runs after every step.
    """
    if cfg.batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {cfg.batch_size}.")
    if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__"):
        from interp.hooks.pipeline import open_store

        data = open_store(data)
    pairs = layer_hooks(available_hooks(data), cfg.layers, cfg.hook_in, cfg.hook_out)
    hooks = list(dict.fromkeys(h for _, hi, ho in pairs for h in (hi, ho)))
    source = open_pairs(data, hooks, cfg.buffer_shards)
    total_steps = max(1, (cfg.total_tokens or len(source)) // cfg.batch_size)
    spec = getattr(data, "model", None) if not isinstance(data, dict) else None
    info = init_distributed(cfg.device)
    if cfg.batch_size % info.world_size:
        raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the {info.world_size} ranks.")
    torch.manual_seed(cfg.seed)
    models = build_models(cfg, pairs, source.d, source.sample(cfg.stat_rows), spec)
    if isinstance(models, CrossLayerTranscoder):
        trainers = {"clt": TranscoderTrainer(models, cfg, total_steps, info, cfg.checkpoint_dir)}
    else:
        trainers = {f"L{m.cfg.layer}": TranscoderTrainer(m, cfg, total_steps, info,
                                                          f"{cfg.checkpoint_dir}/L{m.cfg.layer}" if cfg.checkpoint_dir else None)
                    for m in models}
    kind = f"CLT {models.cfg.activation}" if isinstance(models, CrossLayerTranscoder) else f"PLT {cfg.transcoder.activation}"
    step, history = run_loop(trainers, source, cfg, info, total_steps, desc=kind,
                             label="Transcoder", take=lambda name, batch: batch, callback=callback)
    for tr in trainers.values():
        tr.model.eval()
    return TranscoderTrainResult(models, [l for l, _, _ in pairs], step, step * cfg.batch_size, history,
                                 {n: {k: v for k, v in h[-1].items() if k not in ("step", "tokens")} if h else {}
                                  for n, h in history.items()})

