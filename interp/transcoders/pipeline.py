"""Transcoder runs: transcoders trained and scored on an ActivationStore, recorded as a ``transcoder`` run.

:func:`train_transcoder_run` trains (:func:`~interp.transcoders.train.train_transcoders`) on all
but the last ``held_out`` fraction of the store's sequences, evaluates on those
(:func:`~interp.transcoders.evaluate.evaluate_transcoders`: per-layer FVU, L0, dead / dense, and
the replacement model's CE-loss score and KL), computes every layer's feature dashboards over the
whole store (:func:`~interp.transcoders.features.transcoder_features`, what the Features page shows)
and records everything with :func:`write_transcoder_run` as docs/runs.md specifies. ``interp
transcoder train`` calls it; :func:`features_transcoder_run` (``interp transcoder features``) adds
the dashboards to a run written without them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from interp.hooks.pipeline import open_store
from interp.runs import Run, RunError, load_run, start_run
from interp.sae.evaluation import density_histogram
from interp.sae.features import FeatureConfig, Features
from interp.transcoders.clt import CrossLayerTranscoder
from interp.transcoders.evaluate import TranscoderEval, evaluate_transcoders, hooks_of
from interp.transcoders.features import transcoder_features, write_transcoder_features
from interp.transcoders.io import CFG_FILE, MODELS_DIR, WEIGHTS_FILE, load_transcoders, model_dir, save_transcoders
from interp.transcoders.train import TranscoderTrainConfig, TranscoderTrainResult, train_transcoders

SUMMARY_KEYS = ("fvu", "l0", "dead_frac", "ce_loss_score", "kl", "train_seconds")
PER_LAYER_KEYS = ("fvu", "l0", "mse", "dead_frac", "dense_frac")


@dataclass
class TranscoderRunConfig:
    """What a training run does around the trainer: the held-out split and the evaluation."""

    held_out: float = 0.1  # the last fraction of the store's sequences, kept out of training and evaluated on
    evaluate: bool = True  # held-out metrics, and the replacement model's CE / KL
    max_eval_seqs: int | None = 64  # held-out sequences run through the replacement model
    splice_batch_size: int = 8
    features: bool = True  # every layer's feature dashboards over the whole store (one pass per layer)
    feature: FeatureConfig = field(default_factory=FeatureConfig)


@dataclass
class TranscoderRunResult:
    """Everything a ``transcoder`` run records; ``eval`` is None when evaluation was off."""

    train: TranscoderTrainResult
    train_seconds: float = 0.0
    eval: TranscoderEval | None = None
    eval_seconds: float = 0.0
    held_out: float | None = None
    features: dict[int, Features] | None = None  # layer -> its latents' dashboards
    features_seconds: float = 0.0


def _round(v: Any) -> Any:
    return round(v, 6) if isinstance(v, float) else v


def write_transcoder_run(result: TranscoderRunResult, *, spec: str | None, config: dict[str, Any] | Any,
                         root: Any = None, slug: str | None = None) -> Run:
    """Record ``result`` as a complete ``transcoder`` run (docs/runs.md): models, history, eval, metrics."""
    tr = result.train
    models = tr.transcoders
    with start_run("transcoder", config, model=spec, slug=slug, root=root) as run:
        save_transcoders(models, run.path / MODELS_DIR)
        run.add_artifact("transcoders", MODELS_DIR)
        for m in ([models] if isinstance(models, CrossLayerTranscoder) else models):
            sub = f"{MODELS_DIR}/{model_dir(m)}"
            run.add_artifact(f"cfg_{model_dir(m)}", f"{sub}/{CFG_FILE}")
            run.add_artifact(f"weights_{model_dir(m)}", f"{sub}/{WEIGHTS_FILE}")
        run.write_json("history", tr.history)
        run.metrics.update({"train_seconds": round(result.train_seconds, 2), "train_steps": tr.steps,
                            "train_tokens": tr.tokens})
        for name, last in tr.metrics.items():
            if "fvu" in last:
                run.metrics[f"train_fvu_{name}"] = _round(last["fvu"])
        if result.eval is not None:
            ev = result.eval
            run.metrics.update({k: _round(v) for k, v in ev.metrics.items()})
            for layer, m in ev.layers.items():
                run.metrics.update({f"{k}_L{layer}": _round(m[k]) for k in PER_LAYER_KEYS})
            run.metrics["eval_seconds"] = round(result.eval_seconds, 2)
            run.write_json("eval", {"metrics": ev.metrics, "layers": {str(l): m for l, m in ev.layers.items()},
                                    "density_hist": {str(l): density_histogram(d) for l, d in ev.density.items()},
                                    "held_out": result.held_out})
        if result.features is not None:
            write_transcoder_features(run, result.features)
            run.metrics["features_seconds"] = round(result.features_seconds, 2)
    return run


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    return fn(*args, **kwargs), time.perf_counter() - t0


def describe(models: Any, store: Any, train: TranscoderTrainConfig, run_cfg: TranscoderRunConfig) -> dict[str, Any]:
    """The run's ``config``: what was trained on which store, and everything needed to train it again."""
    layers = hooks_of(models)
    one = models if isinstance(models, CrossLayerTranscoder) else models[0]
    return {"kind": "clt" if isinstance(models, CrossLayerTranscoder) else "plt", "layers": [l for l, _, _ in layers],
            "hooks_in": [h for _, h, _ in layers], "hooks_out": [h for _, _, h in layers],
            "activation": one.cfg.activation, "k": one.cfg.k, "skip": one.cfg.skip, "d_in": one.d_in,
            "d_out": one.d_out, "d_sae": one.d_sae, "held_out": run_cfg.held_out,
            "store": str(Path(store.path).resolve()), "train": train.to_json(), "run": asdict(run_cfg)}


def train_transcoder_run(store_or_run: Any, cfg: TranscoderTrainConfig, run_cfg: TranscoderRunConfig | None = None, *,
                         model: Any = None, root: Any = None, slug: str | None = None,
                         device: str | None = None) -> Run:
    """Train ``cfg`` on the store (a capture run, store folder or ActivationStore) minus its held-out
    sequences, evaluate on those, and write a ``transcoder`` run. ``model`` (a spec or a loaded
    model; default the store's) is what the replacement model runs."""
    store = open_store(store_or_run) if isinstance(store_or_run, (str, Path)) else store_or_run
    run_cfg = run_cfg or TranscoderRunConfig()
    if run_cfg.evaluate and not run_cfg.held_out:
        raise ValueError("Evaluation needs held-out sequences: set held_out in (0, 1), or turn evaluation off.")
    if device is not None:
        cfg = replace(cfg, device=device)
    rest, held = store.split_sequences(run_cfg.held_out) if run_cfg.held_out else (store, None)
    trained, seconds = _timed(train_transcoders, cfg, rest)
    models = trained.transcoders
    models = models.cpu() if isinstance(models, CrossLayerTranscoder) else [m.cpu() for m in models]
    trained.transcoders = models
    result = TranscoderRunResult(trained, seconds, held_out=run_cfg.held_out)
    kind = "clt" if isinstance(models, CrossLayerTranscoder) else "plt"
    write = dict(spec=store.model, config=describe(models, store, cfg, run_cfg), root=root,
                 slug=slug or f"{kind}-{cfg.transcoder.activation}")
    try:
        lm = _model(model if model is not None else store.model, device) if run_cfg.evaluate or run_cfg.features else None
        if run_cfg.evaluate:
            result.eval, result.eval_seconds = _timed(evaluate_transcoders, models, held, lm,
                                                      max_seqs=run_cfg.max_eval_seqs,
                                                      splice_batch_size=run_cfg.splice_batch_size)
        if run_cfg.features:
            result.features, result.features_seconds = _timed(transcoder_features, models, store, model=lm,
                                                              cfg=run_cfg.feature, progress=cfg.progress)
    except BaseException as exc:  # keep what training produced, in a run that says how it ended
        run = write_transcoder_run(result, **write)
        run.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        run.error = f"{type(exc).__name__}: {exc}"
        run.save()
        raise
    return write_transcoder_run(result, **write)


def _model(lm: Any, device: str | None) -> Any:
    """A loaded model: ``lm`` itself, or the model its spec names (None stays None)."""
    if isinstance(lm, str):
        from interp.models import load_model

        return load_model(lm, device=device)
    return lm


def features_transcoder_run(run_path: str | Path, store: Any = None, *, feature: FeatureConfig | None = None,
                            model: Any = None, layers: list[int] | None = None, device: str | None = None,
                            progress: bool = True) -> Run:
    """Add every layer's feature dashboards to an existing ``transcoder`` run (in place) and return it.

    ``store`` (a capture run, store folder or ActivationStore) defaults to the one the run was
    trained on (``config.store``); ``model`` (a spec or loaded model) to the run's. Layers
    already analysed are recomputed; ``layers`` limits the work to some.
    """
    run = load_run(run_path)
    if run.kind != "transcoder":
        raise RunError(f"{run.path} is a {run.kind!r} run; `interp transcoder features` takes a 'transcoder' run.")
    if store is None:
        store = run.config.get("store")
        if not isinstance(store, str) or not Path(store).is_dir():
            raise RunError(f"The store run {run.path} was trained on ({store!r}) is not there; give one that holds "
                           "each layer's MLP input (--store).")
    store = open_store(store) if isinstance(store, (str, Path)) else store
    models = load_transcoders(run.path)
    lm = _model(model if model is not None else (run.model or store.model), device)
    feats, seconds = _timed(transcoder_features, models, store, model=lm, cfg=feature or FeatureConfig(),
                            layers=layers, progress=progress)
    write_transcoder_features(run, feats)
    run.metrics["features_seconds"] = round(seconds, 2)
    run.save()
    return run


def summary(run: Run, keys: tuple[str, ...] = SUMMARY_KEYS) -> dict[str, Any]:
    """The headline metrics of a ``transcoder`` run (those it has)."""
    return {k: run.metrics[k] for k in keys if k in run.metrics}
