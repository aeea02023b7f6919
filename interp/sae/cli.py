"""``interp sae train | eval | features``: the pipelines of :mod:`interp.sae.pipeline` from the command line.

    interp sae train --store RUN_OR_STORE --hook blocks.1.hook_resid_post --arch topk --d-sae 1024 --k 16
    interp sae eval | features --sae RUN_OR_SAE_FOLDER [--store RUN_OR_STORE]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from interp.argtypes import fraction, nonneg_int, positive_float, positive_int

# The built-in architectures and their options, written out so that `interp sae --help` does not
# import torch; tests/sae/test_cli.py checks this against the registry (interp.sae.base).
BUILTIN_ARCHS: dict[str, list[str]] = {
    "batchtopk": ["k_aux", "aux_coeff"],
    "jumprelu": ["l0_coeff", "jumprelu_threshold", "jumprelu_bandwidth"],
    "matryoshka": ["k_aux", "aux_coeff", "prefixes"],
    "relu_l1": ["l1_coeff"],
    "topk": ["k_aux", "aux_coeff"],
}


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sae", help="train, evaluate and inspect sparse autoencoders (writes `sae` runs)")
    ss = p.add_subparsers(dest="sae_command", metavar="SAE_COMMAND")
    p.set_defaults(func=lambda a: (p.print_help(), 0)[1])
    opts = "; ".join(f"{a}: {', '.join(o) or '-'}" for a, o in BUILTIN_ARCHS.items())
    t = ss.add_parser("train", parents=parents, help="train an SAE on a store, evaluate it on held-out data, "
                                                      "compute its features")
    t.add_argument("--store", required=True, help="capture run folder or ActivationStore folder")
    t.add_argument("--hook", help="hook to train on (default: the store's only hook)")
    t.add_argument("--arch", default="topk", choices=sorted(BUILTIN_ARCHS), help="SAE architecture (default topk)")
    t.add_argument("--d-sae", type=positive_int, default=0, help="latents (default: --expansion x d_in)")
    t.add_argument("--expansion", type=positive_int, default=8, help="d_sae = expansion * d_in when --d-sae is not given")
    t.add_argument("--k", type=positive_int, default=32, help="active latents per token, for archs that take k (default 32)")
    t.add_argument("--opt", action="append", default=[], metavar="NAME=VALUE", help=f"architecture option, repeatable ({opts})")
    t.add_argument("--l1-coeff", type=positive_float, help="relu_l1 sparsity coefficient (= --opt l1_coeff=X)")
    t.add_argument("--l0-coeff", type=positive_float, help="jumprelu L0 coefficient (= --opt l0_coeff=X)")
    t.add_argument("--tokens", type=positive_int, help="training tokens (default: one pass over the training rows)")
    t.add_argument("--batch-size", type=positive_int, default=1024)
    t.add_argument("--lr", type=positive_float, help="learning rate (default: the trainer's d_sae-scaled rule)")
    t.add_argument("--seed", type=nonneg_int, default=0)
    t.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation")
    t.add_argument("--no-features", action="store_true", help="skip the feature analysis")
    e = ss.add_parser("eval", parents=parents, help="evaluate a saved SAE on held-out data (and spliced into its model)")
    f = ss.add_parser("features", parents=parents, help="per-latent contexts, histograms, logit effects (dashboard)")
    for q in (e, f):
        q.add_argument("--sae", required=True, help="sae run folder or SAE folder")
        q.add_argument("--store", help="capture run / store (default: the one the sae run trained on)")
        q.add_argument("--model", help="model spec (default: the SAE's / store's)")
        q.add_argument("--hook", help="the hook the SAE reads, for an SAE whose config names none (never another)")
    for q in (t, e):
        q.add_argument("--held-out", type=fraction, default=0.1, help="fraction of sequences held out for evaluation")
        q.add_argument("--eval-seqs", type=positive_int, default=64, help="held-out sequences run through the model for CE / KL")
    for q in (t, f):
        q.add_argument("--n-top", type=positive_int, default=10, help="top contexts per latent (default 10)")
        q.add_argument("--ctx", type=nonneg_int, nargs=2, default=[8, 4], metavar=("LEFT", "RIGHT"), help="context (default 8 4)")
        q.add_argument("--n-quantiles", type=positive_int, default=5, help="activation intervals per latent (default 5)")
    for q, func in ((t, cmd_train), (e, cmd_eval), (f, cmd_features)):
        q.add_argument("--device", default=None)
        q.set_defaults(func=func)


def _feature_cfg(args: argparse.Namespace) -> Any:
    from interp.sae.features import FeatureConfig

    return FeatureConfig(n_top=args.n_top, ctx_left=args.ctx[0], ctx_right=args.ctx[1], n_quantiles=args.n_quantiles)


def cmd_train(args: argparse.Namespace) -> int:
    from interp.sae.base import SAEConfig, arch_class, parse_options
    from interp.sae.pipeline import SAERunConfig, train_sae_run
    from interp.sae.trainer import TrainConfig

    sae = SAEConfig(arch=args.arch, d_in=0, d_sae=args.d_sae, k=args.k if arch_class(args.arch).needs_k else None,
                    hook=args.hook, **parse_options(args.arch, args.opt + [
                        f"{k}={v}" for k, v in (("l1_coeff", args.l1_coeff), ("l0_coeff", args.l0_coeff)) if v is not None]))
    train = TrainConfig(sae=sae, total_tokens=args.tokens, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                        device=args.device)
    cfg = SAERunConfig(held_out=args.held_out, evaluate=not args.no_eval, features=not args.no_features,
                       max_eval_seqs=args.eval_seqs, expansion=args.expansion, feature=_feature_cfg(args))
    return _print(train_sae_run(args.store, train, cfg, root=args.runs, device=args.device))


def cmd_eval(args: argparse.Namespace) -> int:
    from interp.sae.pipeline import eval_sae_run

    return _print(eval_sae_run(args.sae, args.store, held_out=args.held_out, max_eval_seqs=args.eval_seqs,
                               model=args.model, device=args.device, root=args.runs, hook=args.hook))


def cmd_features(args: argparse.Namespace) -> int:
    from interp.sae.pipeline import features_sae_run

    return _print(features_sae_run(args.sae, args.store, feature=_feature_cfg(args), model=args.model,
                                   device=args.device, root=args.runs, hook=args.hook))


def _print(run: Any) -> int:
    from interp.sae.pipeline import summary

    print(json.dumps(summary(run)))
    print(f"run: {run.path}")
    return 0
