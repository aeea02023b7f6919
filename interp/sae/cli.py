"""``interp sae train | eval | features``: SAE runs from the command line (and the pipeline they share).

    interp sae train --store RUN_OR_STORE --hook blocks.1.hook_resid_post --arch topk --d-sae 1024 --k 16
    interp sae eval --sae RUN_OR_SAE_FOLDER [--store RUN_OR_STORE]
    interp sae features --sae RUN_OR_SAE_FOLDER [--store RUN_OR_STORE]

Each command writes an ``sae`` run (docs/runs.md): ``train`` trains on all but the
last ``--held-out`` fraction of the store's sequences, then (unless told not to)
evaluates on the held-out ones -- reconstruction metrics, and the CE-loss score /
KL (causal LM) or downstream hidden-state effect (encoder) with the SAE spliced
into the model -- and computes the dashboard's per-latent features over the whole
store. ``--store`` takes a ``capture`` run folder or an ActivationStore folder;
``--sae`` an ``sae`` run folder or an SAE folder (ours or SAELens's).

:func:`sae_run` is the same pipeline as a function; the experiments and the demo
step call it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from interp.hooks.pipeline import open_store
from interp.runs import Run, start_run
from interp.sae.io import open_sae

SAE_DIR = "sae"


def _rel(target: Path, run: Run) -> str:
    return os.path.relpath(Path(target).resolve(), run.path.resolve())


def _pick_hook(store: Any, hook: str | None) -> str:
    if hook:
        if hook not in store.hooks:
            raise ValueError(f"{store.path} holds hooks {store.hooks}, not {hook!r}.")
        return hook
    if len(store.hooks) != 1:
        raise ValueError(f"{store.path} holds several hooks {store.hooks}; pick one with --hook.")
    return store.hooks[0]


def _model(spec: str | None, device: str | None) -> Any:
    if not spec:
        return None
    from interp.models import load_model

    return load_model(spec, device=device)


def evaluate_into(run: Run, sae: Any, store: Any, model: Any, hook: str, held_out: float, max_seqs: int | None) -> None:
    """Held-out evaluation metrics -> ``run.metrics``; the density histogram -> ``eval.json``."""
    from interp.io import write_json_atomic
    from interp.sae.evaluate import evaluate

    t0 = time.perf_counter()
    res = evaluate(sae, store, model, hook=hook, held_out=held_out, max_seqs=max_seqs)
    run.metrics.update({k: _round(v) for k, v in res.metrics.items()})
    run.metrics["eval_seconds"] = round(time.perf_counter() - t0, 2)
    write_json_atomic(run.path / "eval.json", {"metrics": res.metrics, "density_hist": res.density_hist,
                                               "held_out": held_out})
    run.add_artifact("eval", "eval.json")


def features_into(run: Run, sae: Any, store: Any, model: Any, hook: str, cfg: Any) -> None:
    """Per-latent features over the whole store -> ``features.safetensors`` / ``features.json`` / ``vocab.json``."""
    from interp.sae.features import compute_features, save_features

    t0 = time.perf_counter()
    feats = compute_features(sae, store, hook=hook, model=model, cfg=cfg)
    for name, rel in save_features(feats, run.path).items():
        run.add_artifact(name, rel)
    run.metrics["features_seconds"] = round(time.perf_counter() - t0, 2)


def _round(v: Any) -> Any:
    return round(v, 6) if isinstance(v, float) else v


def sae_run(store: Any, sae_cfg: Any, train_cfg: Any | None = None, *, hook: str | None = None,
            model: Any = None, held_out: float = 0.1, evaluate: bool = True, features: bool = True,
            feature_cfg: Any = None, max_eval_seqs: int | None = 64, runs_root: Any = None,
            slug: str | None = None, device: str | None = None) -> Run:
    """Train an SAE on ``store`` (minus its held-out tail), save it, evaluate it, compute its features.

    ``sae_cfg`` is an :class:`~interp.sae.SAEConfig` (``d_in`` may be 0: taken from
    the data); ``train_cfg`` a :class:`~interp.sae.TrainConfig` (its ``sae`` field is
    replaced). ``model`` is the model the store was captured from (loaded from the
    store's spec when ``None``); it is needed for splicing, logit effects and token
    strings. Returns the complete ``sae`` run.
    """
    from interp.sae import TrainConfig, train_sae
    from interp.sae.evaluate import held_out_start
    from interp.sae.features import FeatureConfig
    from interp.sae.io import save_sae

    hook = _pick_hook(store, hook or sae_cfg.hook)
    spec = store.model
    sae_cfg = replace(sae_cfg, hook=hook, model=sae_cfg.model or spec, d_in=sae_cfg.d_in or store.d[hook])
    train_cfg = replace(train_cfg or TrainConfig(sae=sae_cfg), sae=sae_cfg)
    if model is None and (evaluate or features):
        model = _model(spec, device)
    config = {"arch": sae_cfg.arch, "hook": hook, "d_in": sae_cfg.d_in, "d_sae": sae_cfg.d_sae, "k": sae_cfg.k,
              "store": str(Path(store.path).resolve()), "held_out": held_out,
              "sae_config": sae_cfg.to_json(), "train": train_cfg.to_json(),
              "features": asdict(feature_cfg or FeatureConfig())}
    with start_run("sae", config, model=spec, slug=slug or f"{sae_cfg.arch}-{hook}", root=runs_root) as run:
        start = held_out_start(store, held_out) if held_out else len(store)
        data = store.rows(hook, 0, start) if held_out else store  # train on the sequences before the held-out tail
        t0 = time.perf_counter()
        result = train_sae(train_cfg, data, hook=hook)
        run.metrics.update({"train_seconds": round(time.perf_counter() - t0, 2), "train_tokens": result.tokens,
                            "train_steps": result.steps})
        run.metrics.update({f"train_{k}": _round(v) for k, v in result.metrics.items()})
        from interp.io import write_json_atomic

        write_json_atomic(run.path / "history.json", result.history)
        run.add_artifact("history", "history.json")
        sae = result.sae.cpu().eval()
        save_sae(sae, run.path / SAE_DIR)
        run.add_artifact("sae", SAE_DIR)
        run.save()
        if evaluate:
            evaluate_into(run, sae, store, model, hook, held_out, max_eval_seqs)
        if features:
            features_into(run, sae, store, model, hook, feature_cfg or FeatureConfig())
    return run


# --------------------------------------------------------------------------- commands
def _feature_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-top", type=int, default=10, help="top contexts per latent (default 10)")
    p.add_argument("--ctx", type=int, nargs=2, default=[8, 4], metavar=("LEFT", "RIGHT"), help="context window (default 8 4)")
    p.add_argument("--n-quantiles", type=int, default=5, help="activation intervals per latent (default 5)")


def _feature_cfg(args: argparse.Namespace) -> Any:
    from interp.sae.features import FeatureConfig

    return FeatureConfig(n_top=args.n_top, ctx_left=args.ctx[0], ctx_right=args.ctx[1], n_quantiles=args.n_quantiles)


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    global _PARENTS
    _PARENTS = parents

    p = sub.add_parser("sae", help="train, evaluate and inspect sparse autoencoders (writes `sae` runs)")
    ss = p.add_subparsers(dest="sae_command", metavar="SAE_COMMAND")
    p.set_defaults(func=lambda a: (p.print_help(), 0)[1])

    t = ss.add_parser("train", help="train an SAE on a store, evaluate it on held-out data, compute its features")
    t.add_argument("--store", required=True, help="capture run folder or ActivationStore folder")
    t.add_argument("--hook", help="hook to train on (default: the store's only hook)")
    t.add_argument("--arch", default="topk", help="relu_l1 | topk | batchtopk | jumprelu (default topk)")
    t.add_argument("--d-sae", type=int, help="latents (default: --expansion x d_in)")
    t.add_argument("--expansion", type=int, default=8, help="d_sae = expansion * d_in when --d-sae is not given")
    t.add_argument("--k", type=int, default=32, help="active latents per token for topk/batchtopk (default 32)")
    t.add_argument("--l1-coeff", type=float, help="relu_l1 sparsity coefficient")
    t.add_argument("--l0-coeff", type=float, help="jumprelu L0 coefficient")
    t.add_argument("--tokens", type=int, help="training tokens (default: one pass over the training rows)")
    t.add_argument("--batch-size", type=int, default=1024)
    t.add_argument("--lr", type=float, help="learning rate (default: the trainer's d_sae-scaled rule)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--held-out", type=float, default=0.1, help="fraction of sequences held out for evaluation")
    t.add_argument("--eval-seqs", type=int, default=64, help="held-out sequences run through the model for CE / KL")
    t.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation")
    t.add_argument("--no-features", action="store_true", help="skip the feature analysis")
    t.add_argument("--device", default=None)
    _feature_args(t)
    t.add_argument('--runs', default=None, help='runs folder (default: $INTERP_RUNS or ./runs)')
    t.set_defaults(func=cmd_train)

    e = _saved_sae_parser(ss, "eval", "evaluate a saved SAE on held-out activations (and spliced into its model)")
    e.add_argument("--held-out", type=float, default=0.1)
    e.add_argument("--eval-seqs", type=int, default=64)
    e.set_defaults(func=cmd_eval)

    f = _saved_sae_parser(ss, "features", "per-latent top contexts, histograms, logit effects for the dashboard")
    _feature_args(f)
    f.set_defaults(func=cmd_features)


def _saved_sae_parser(ss: Any, name: str, help: str) -> argparse.ArgumentParser:
    """A subcommand that reads a saved SAE: --sae, --store, --model, --device, --runs."""

    p = ss.add_parser(name, help=help)
    p.add_argument("--sae", required=True, help="sae run folder or SAE folder")
    p.add_argument("--store", help="capture run / store (default: the one the sae run trained on)")
    p.add_argument("--model", help="model spec (default: the SAE's / store's)")
    p.add_argument("--device", default=None)
    p.add_argument('--runs', default=None, help='runs folder (default: $INTERP_RUNS or ./runs)')
    return p


def cmd_train(args: argparse.Namespace) -> int:
    from interp.sae import SAEConfig, TrainConfig

    store = open_store(args.store)
    hook = _pick_hook(store, args.hook)
    d_in = store.d[hook]
    extra = {k: v for k, v in (("l1_coeff", args.l1_coeff), ("l0_coeff", args.l0_coeff)) if v is not None}
    sae_cfg = SAEConfig(arch=args.arch, d_in=d_in, d_sae=args.d_sae or args.expansion * d_in,
                        k=args.k if args.arch in ("topk", "batchtopk") else None, hook=hook, **extra)
    train_cfg = TrainConfig(sae=sae_cfg, total_tokens=args.tokens, batch_size=args.batch_size, lr=args.lr,
                            seed=args.seed, device=args.device)
    run = sae_run(store, sae_cfg, train_cfg, hook=hook, held_out=args.held_out, evaluate=not args.no_eval,
                  features=not args.no_features, feature_cfg=_feature_cfg(args), max_eval_seqs=args.eval_seqs,
                  runs_root=args.runs, device=args.device)
    _print(run)
    return 0


def _sae_and_store(args: argparse.Namespace) -> tuple[Any, Path, Any, str]:
    sae, folder, src = open_sae(args.sae)
    store_path = args.store or (src.config.get("store") if src is not None else None)
    if not store_path:
        raise ValueError("Say which activations to use with --store (a capture run or store folder).")
    store = open_store(store_path)
    return sae, folder, store, _pick_hook(store, sae.cfg.hook if sae.cfg.hook in store.hooks else None)


def _start(kind_cfg: dict[str, Any], sae: Any, store: Any, hook: str, folder: Path, root: Any, slug: str) -> Run:
    config = {"arch": sae.cfg.arch, "hook": hook, "d_in": sae.d_in, "d_sae": sae.d_sae, "k": sae.cfg.k,
              "store": str(Path(store.path).resolve()), "sae_path": str(Path(folder).resolve()), **kind_cfg}
    run = start_run("sae", config, model=sae.cfg.model or store.model, slug=slug, root=root)
    run.add_artifact("sae", _rel(folder, run))
    return run


def cmd_eval(args: argparse.Namespace) -> int:
    sae, folder, store, hook = _sae_and_store(args)
    model = _model(args.model or sae.cfg.model or store.model, args.device)
    with _start({"held_out": args.held_out, "command": "eval"}, sae, store, hook, folder, args.runs, "eval") as run:
        evaluate_into(run, sae, store, model, hook, args.held_out, args.eval_seqs)
    _print(run)
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    sae, folder, store, hook = _sae_and_store(args)
    model = _model(args.model or sae.cfg.model or store.model, args.device)
    cfg = _feature_cfg(args)
    with _start({"features": asdict(cfg), "command": "features"}, sae, store, hook, folder, args.runs, "features") as run:
        features_into(run, sae, store, model, hook, cfg)
    _print(run)
    return 0


def _print(run: Run) -> None:
    keys = ("l0", "fvu", "explained_variance", "dead_frac", "dense_frac", "ce_loss_score", "kl", "downstream_cos",
            "downstream_score")
    shown = {k: run.metrics[k] for k in keys if k in run.metrics}
    print(json.dumps(shown))
    print(f"run: {run.path}")


# --------------------------------------------------------------------------- experiments
def experiment(argv: list[str] | None, *, spec: str, hook: str, description: str, d_sae: int, k: int,
               max_seqs: int, epochs: float, batch_size: int = 1024, lr: float | None = None) -> Run:
    """The body of ``experiments/sae_*.py``: capture ``hook`` of ``spec`` over the shipped corpus
    (sequences in a seeded random order, so the held-out tail is a random sample), train a TopK
    SAE on 90 % of the sequences, evaluate it on the rest, compute its features; print the figures."""
    import torch

    from interp.datasets import load_texts, tokenize_corpus
    from interp.hooks import capture
    from interp.sae import SAEConfig, TrainConfig

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--store", help="reuse a capture run / store instead of capturing")
    ap.add_argument("--max-seqs", type=int, default=max_seqs)
    ap.add_argument("--arch", default="topk")
    ap.add_argument("--d-sae", type=int, default=d_sae)
    ap.add_argument("--k", type=int, default=k)
    ap.add_argument("--epochs", type=float, default=epochs, help="passes over the training rows")
    ap.add_argument("--batch-size", type=int, default=batch_size)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None)
    ap.add_argument("--runs", default=None)
    args = ap.parse_args(argv)
    model = _model(spec, args.device)
    if args.store:
        store = open_store(args.store)
    else:
        texts = load_texts()
        corpus = tokenize_corpus(model.tokenizer, texts, 128)
        perm = torch.randperm(len(corpus), generator=torch.Generator().manual_seed(args.seed))[: args.max_seqs]
        corpus = corpus[perm]
        cfg = {"model": spec, "hooks": [hook], "corpus": None, "seq_len": 128, "max_seqs": args.max_seqs,
               "shuffle_seed": args.seed, "batch_size": 32, "positions": None, "include_bos": True, "dtype": "float32"}
        with start_run("capture", cfg, model=spec, slug=f"{spec}-shuffled", root=args.runs) as cap:
            t0 = time.perf_counter()
            store = capture(model, corpus, [hook], out=cap.path / "activations", batch_size=32)
            cap.add_artifact("store", "activations")
            cap.metrics.update({"tokens": len(store), "shards": len(store.shards), "sequences": len(corpus),
                                "documents": len(texts), "d": store.d, "seconds": round(time.perf_counter() - t0, 1)})
        print(f"capture: {len(store)} tokens -> {cap.path}")
    sae_cfg = SAEConfig(arch=args.arch, d_in=store.d[hook], d_sae=args.d_sae,
                        k=args.k if args.arch in ("topk", "batchtopk") else None, hook=hook)
    n_train = int(len(store) * 0.9)
    train = TrainConfig(sae=sae_cfg, total_tokens=int(args.epochs * n_train), batch_size=args.batch_size,
                        lr=args.lr, seed=args.seed, device=args.device)
    run = sae_run(store, sae_cfg, train, hook=hook, model=model, held_out=0.1, max_eval_seqs=128,
                  runs_root=args.runs, slug=f"{spec}-{args.arch}", device=args.device)
    keys = ("l0", "fvu", "explained_variance", "mse", "cos_sim", "l2_ratio", "dead_frac", "dense_frac",
            "ce_loss_clean", "ce_loss_sae", "ce_loss_zero", "ce_loss_score", "kl", "downstream_cos",
            "downstream_cos_zero", "downstream_rel_mse", "downstream_score", "n_tokens", "splice_seqs",
            "train_tokens", "train_seconds", "eval_seconds", "features_seconds")
    print(json.dumps({k: run.metrics[k] for k in keys if k in run.metrics}, indent=1))
    print(f"run: {run.path}")
    return run
