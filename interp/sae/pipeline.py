"""SAE runs: an SAE trained, evaluated and analysed on an ActivationStore, recorded as an ``sae`` run.

The computing is done elsewhere in the package -- :func:`~interp.sae.train_sae` (a
:class:`~interp.sae.TrainResult`), :func:`~interp.sae.evaluation` (an
:class:`~interp.sae.SAEEval`), :func:`~interp.sae.compute_features` (a
:class:`~interp.sae.Features`). Here they are put together:

* :func:`write_sae_run` records an :class:`SAERunResult` as an ``sae`` run with the
  artifacts and metric keys docs/runs.md specifies (the dashboard reads them);
* :func:`train_sae_run` trains on all but the last ``held_out`` fraction of the
  store's sequences (a view: no rows are loaded), evaluates on those held-out
  sequences (reconstruction, and the SAE spliced into the model) and computes the
  per-latent features over the whole store -- what ``interp sae train``, the demo
  and the experiments run;
* :func:`eval_sae_run` / :func:`features_sae_run` do the last two for a saved SAE
  (``interp sae eval | features``); their runs link to its folder;
* :func:`sae_experiment` captures a model's hook over the shipped corpus first
  (``experiments/sae_*.py``); :func:`demo_step` is the SAE step of ``interp demo``.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from interp.hooks.pipeline import CaptureConfig, capture_run, open_store
from interp.runs import Run, start_run
from interp.sae.base import SAE, SAEConfig, arch_class
from interp.sae.evaluation import SAEEval, evaluate
from interp.sae.features import FEATURES_FILE, META_FILE, VOCAB_FILE, FeatureConfig, Features, compute_features
from interp.sae.io import open_sae, save_sae
from interp.sae.trainer import TrainConfig, TrainResult, train_sae

SAE_DIR = "sae"
SUMMARY_KEYS = ("l0", "fvu", "explained_variance", "dead_frac", "dense_frac", "ce_loss_score", "kl", "downstream_cos",
                "downstream_score")


@dataclass
class SAERunConfig:
    """What a training run does around the trainer: the held-out split, the evaluation and the features."""

    held_out: float = 0.1  # the last fraction of the store's sequences, kept out of training and evaluated on
    evaluate: bool = True  # held-out metrics, and the SAE spliced into the model
    features: bool = True  # the dashboard's per-latent features over the whole store
    max_eval_seqs: int | None = 64  # held-out sequences run through the model for CE / KL
    expansion: int = 8  # d_sae = expansion * d_in when the SAE config's d_sae is 0
    feature: FeatureConfig = field(default_factory=FeatureConfig)


@dataclass
class SAERunResult:
    """Everything an ``sae`` run records; the parts a command did not compute are None."""

    sae: SAE
    hook: str
    sae_folder: Path | None = None  # an SAE saved before (eval / features of a saved SAE): linked, not copied
    train: TrainResult | None = None
    train_seconds: float = 0.0
    eval: SAEEval | None = None
    eval_seconds: float = 0.0
    held_out: float | None = None  # the held-out fraction ``eval`` was computed on
    features: Features | None = None
    features_seconds: float = 0.0


def _round(v: Any) -> Any:
    return round(v, 6) if isinstance(v, float) else v


def write_sae_run(result: SAERunResult, *, spec: str | None, config: dict[str, Any] | Any, root: Any = None,
                  slug: str | None = None) -> Run:
    """Record ``result`` as a complete ``sae`` run (docs/runs.md): ``sae``, ``history``, ``eval``, ``features``..."""
    with start_run("sae", config, model=spec, slug=slug, root=root) as run:
        if result.train is not None:
            tr = result.train
            run.metrics.update({"train_seconds": round(result.train_seconds, 2), "train_tokens": tr.tokens,
                                "train_steps": tr.steps})
            run.metrics.update({f"train_{k}": _round(v) for k, v in tr.metrics.items()})
            run.write_json("history", tr.history)
        if result.sae_folder is None:
            save_sae(result.sae, run.path / SAE_DIR)
            run.add_artifact("sae", SAE_DIR)
        else:
            where = Path(result.sae_folder).resolve()  # an SAE saved before (another run's): linked, not copied
            run.add_artifact("sae", os.path.relpath(where, run.path.resolve()),
                             external=not where.is_relative_to(run.path.resolve()))
        if result.eval is not None:
            ev = result.eval
            run.metrics.update({k: _round(v) for k, v in ev.metrics.items()})
            run.metrics["eval_seconds"] = round(result.eval_seconds, 2)
            run.write_json("eval", {"metrics": ev.metrics, "density_hist": ev.density_hist, "held_out": result.held_out})
        if result.features is not None:
            f = result.features
            run.write_tensors("features", f.tensors, FEATURES_FILE)
            run.write_json("features_meta", f.meta, META_FILE)
            if f.vocab is not None:
                run.write_json("vocab", f.vocab, VOCAB_FILE)
            run.metrics["features_seconds"] = round(result.features_seconds, 2)
    return run


# --------------------------------------------------------------------------- pipelines
def _pick_hook(store: Any, hook: str | None) -> str:
    if hook:
        if hook not in store.hooks:
            raise ValueError(f"{store.path} holds hooks {store.hooks}, not {hook!r}.")
        return hook
    if len(store.hooks) != 1:
        raise ValueError(f"{store.path} holds several hooks {store.hooks}; pick one with --hook.")
    return store.hooks[0]


def _model(model: Any, device: str | None) -> Any:
    """A loaded model from a spec (None stays None; a model object is returned as is)."""
    if not isinstance(model, str):
        return model
    from interp.models import load_model

    return load_model(model, device=device)


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    return fn(*args, **kwargs), time.perf_counter() - t0


def _describe(sae_cfg: SAEConfig, hook: str, store: Any, **more: Any) -> dict[str, Any]:
    """The run config's common head: what the SAE is and which store it reads."""
    return {"arch": sae_cfg.arch, "hook": hook, "d_in": sae_cfg.d_in, "d_sae": sae_cfg.d_sae, "k": sae_cfg.k,
            "store": str(Path(store.path).resolve()), **more}


def train_sae_run(store: Any, train: TrainConfig, cfg: SAERunConfig | None = None, *, hook: str | None = None,
                  model: Any = None, root: Any = None, slug: str | None = None, device: str | None = None) -> Run:
    """Train ``train.sae`` on ``store`` minus its held-out sequences, evaluate it on those, compute its features.

    ``store``: an ActivationStore, or a store / ``capture`` run folder. In ``train.sae``,
    ``d_in = 0`` is taken from the store and ``d_sae = 0`` is ``cfg.expansion * d_in``.
    ``model`` (a loaded model or a spec; default the store's spec) is needed for
    splicing, logit effects and token strings. Returns the complete ``sae`` run; if
    evaluation or features fail, the trained SAE is still recorded in a failed run.
    """
    cfg = cfg or SAERunConfig()
    store = open_store(store) if isinstance(store, (str, Path)) else store
    hook = _pick_hook(store, hook or train.sae.hook)
    d_in = store.d[hook]
    sae_cfg = replace(train.sae, hook=hook, model=train.sae.model or store.model, d_in=train.sae.d_in or d_in,
                      d_sae=train.sae.d_sae or cfg.expansion * d_in)
    train = replace(train, sae=sae_cfg)
    if cfg.evaluate and not cfg.held_out:
        raise ValueError("Evaluation needs held-out sequences: set held_out in (0, 1), or turn evaluation off.")
    if cfg.evaluate or cfg.features:
        model = _model(model if model is not None else store.model, device)
    rest, held = store.split_sequences(cfg.held_out) if cfg.held_out else (store, None)
    config = _describe(sae_cfg, hook, store, held_out=cfg.held_out, sae_config=sae_cfg.to_json(),
                       train=train.to_json(), features=asdict(cfg.feature))
    write = dict(spec=store.model, config=config, root=root, slug=slug or f"{sae_cfg.arch}-{hook}")

    trained, seconds = _timed(train_sae, train, rest, hook=hook)
    sae = trained.sae.cpu().eval()
    result = SAERunResult(sae, hook, train=trained, train_seconds=seconds, held_out=cfg.held_out)
    try:
        if cfg.evaluate:
            result.eval, result.eval_seconds = _timed(evaluate, sae, held, model, hook=hook, max_seqs=cfg.max_eval_seqs)
        if cfg.features:
            result.features, result.features_seconds = _timed(compute_features, sae, store, hook=hook, model=model,
                                                              cfg=cfg.feature)
    except BaseException as exc:  # keep what training produced, in a run that says how it ended
        run = write_sae_run(result, **write)
        run.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        run.error = f"{type(exc).__name__}: {exc}"
        run.save()
        raise
    return write_sae_run(result, **write)


def _saved(sae_path: str | Path, store: Any, hook: str | None = None) -> tuple[SAE, Path, Any, str]:
    """``(sae, folder, store, hook)`` for a saved SAE; ``store`` defaults to the one its run trained on."""
    sae, folder, src = open_sae(sae_path)
    store = store or (src.config.get("store") if src is not None else None)
    if not store:
        raise ValueError("Say which activations to use with --store (a capture run or store folder).")
    store = open_store(store) if isinstance(store, (str, Path)) else store
    own = sae.cfg.hook
    if own and hook and hook != own:
        raise ValueError(f"The SAE in {folder} reads {own!r}; it cannot be scored on {hook!r}.")
    hook = hook or own
    if hook and hook not in store.hooks:
        raise ValueError(f"The SAE in {folder} reads {hook!r}, but {store.path} holds only {store.hooks}; "
                         "capture that hook (interp capture --hooks ...) or pass the store that has it.")
    return sae, folder, store, _pick_hook(store, hook)


def eval_sae_run(sae_path: str | Path, store: Any = None, *, held_out: float = 0.1, max_eval_seqs: int | None = 64,
                 model: Any = None, device: str | None = None, root: Any = None, slug: str = "eval",
                 hook: str | None = None) -> Run:
    """Evaluate a saved SAE (an ``sae`` run or SAE folder) on the last ``held_out`` of the store's sequences.

    Only ever on the SAE's own hook: ``hook`` is needed for an SAE whose config names none.
    """
    sae, folder, store, hook = _saved(sae_path, store, hook)
    spec = sae.cfg.model or store.model
    model = _model(model if model is not None else spec, device)
    ev, seconds = _timed(evaluate, sae, store.split_sequences(held_out)[1], model, hook=hook, max_seqs=max_eval_seqs)
    config = _describe(sae.cfg, hook, store, sae_path=str(Path(folder).resolve()), held_out=held_out, command="eval")
    result = SAERunResult(sae, hook, sae_folder=folder, eval=ev, eval_seconds=seconds, held_out=held_out)
    return write_sae_run(result, spec=spec, config=config, root=root, slug=slug)


def features_sae_run(sae_path: str | Path, store: Any = None, *, feature: FeatureConfig | None = None,
                     model: Any = None, device: str | None = None, root: Any = None, slug: str = "features",
                     hook: str | None = None) -> Run:
    """The dashboard's per-latent features of a saved SAE over a whole store (on the SAE's own hook)."""
    sae, folder, store, hook = _saved(sae_path, store, hook)
    feature = feature or FeatureConfig()
    spec = sae.cfg.model or store.model
    model = _model(model if model is not None else spec, device)
    feats, seconds = _timed(compute_features, sae, store, hook=hook, model=model, cfg=feature)
    config = _describe(sae.cfg, hook, store, sae_path=str(Path(folder).resolve()), features=asdict(feature),
                       command="features")
    result = SAERunResult(sae, hook, sae_folder=folder, features=feats, features_seconds=seconds)
    return write_sae_run(result, spec=spec, config=config, root=root, slug=slug)


def summary(run: Run, keys: tuple[str, ...] = SUMMARY_KEYS) -> dict[str, Any]:
    """The headline metrics of an ``sae`` run (those it has)."""
    return {k: run.metrics[k] for k in keys if k in run.metrics}


# --------------------------------------------------------------------------- experiments and the demo
@dataclass
class SAEExperiment:
    """``experiments/sae_*.py``: an SAE on one hook of a model over the shipped corpus."""

    spec: str  # model spec
    hook: str
    d_sae: int
    k: int  # for architectures that take one
    max_seqs: int  # 128-token sequences captured, in a seeded random order (a random held-out tail)
    epochs: float  # passes over the training rows
    arch: str = "topk"
    batch_size: int = 1024
    lr: float | None = None
    seed: int = 0
    store: str | None = None  # reuse this capture run / store instead of capturing
    device: str | None = None


def sae_experiment(exp: SAEExperiment, *, root: Any = None) -> tuple[Run | None, Run]:
    """Capture (unless ``exp.store``), train on 90 % of the sequences, evaluate on the rest, compute the features.

    Returns ``(capture run or None, sae run)``.
    """
    model = _model(exp.spec, exp.device)
    capture = None
    if exp.store:
        store = open_store(exp.store)
    else:
        cap_cfg = CaptureConfig(model=exp.spec, hooks=[exp.hook], seq_len=128, max_seqs=exp.max_seqs,
                                shuffle_seed=exp.seed, batch_size=32)
        capture = capture_run(cap_cfg, root=root, slug=f"{exp.spec}-shuffled", device=exp.device, model=model)
        store = open_store(capture.path)
    sae_cfg = SAEConfig(arch=exp.arch, d_in=store.d[exp.hook], d_sae=exp.d_sae,
                        k=exp.k if arch_class(exp.arch).needs_k else None, hook=exp.hook)
    n_train = int(len(store) * 0.9)
    train = TrainConfig(sae=sae_cfg, total_tokens=int(exp.epochs * n_train), batch_size=exp.batch_size, lr=exp.lr,
                        seed=exp.seed, device=exp.device)
    run = train_sae_run(store, train, SAERunConfig(held_out=0.1, max_eval_seqs=128), hook=exp.hook, model=model,
                        root=root, slug=f"{exp.spec}-{exp.arch}", device=exp.device)
    return capture, run


DEMO_HOOK = "blocks.1.hook_resid_post"


def demo_step(ctx: Any) -> list[Run]:
    """``interp demo``: a small TopK SAE on the toy LM's last residual stream, from the demo's capture.

    Trains on all but the last 10 % of the capture's sequences, scores the SAE on
    those (reconstruction, and the CE-loss score spliced into the model) and computes
    the features the dashboard's Features page shows. Small on purpose: seconds on 2 cores.
    """
    store = open_store(ctx.find("capture", "toy:toylm").path)
    sae_cfg = SAEConfig(arch="topk", d_in=0, d_sae=1024, k=16, hook=DEMO_HOOK)
    n_train = int(len(store) * 0.9)
    train = TrainConfig(sae=sae_cfg, total_tokens=max(3 * n_train, 4096), batch_size=512, lr=2e-3, seed=0,
                        device=ctx.device, progress=True)
    cfg = SAERunConfig(held_out=0.1, max_eval_seqs=32, feature=FeatureConfig(batch_size=1024))
    run = train_sae_run(store, train, cfg, hook=DEMO_HOOK, root=ctx.runs_root, slug="demo-toylm-topk",
                        device=ctx.device)
    m = run.metrics
    print(f"  SAE on toy:toylm {DEMO_HOOK}: L0 {m['l0']:.1f}, FVU {m['fvu']:.3f}, dead {m['dead_frac']:.2f}, "
          f"CE-loss score {m['ce_loss_score']:.3f} (held out); features for {run.config['d_sae']} latents "
          f"in {m['train_seconds'] + m['eval_seconds'] + m['features_seconds']:.0f} s -> {run.path}")
    return [run]
