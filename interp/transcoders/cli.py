"""``interp transcoder train | features``: transcoders from a capture as a ``transcoder`` run; their feature dashboards.

    interp capture --model toy:toylm --hooks blocks.0.ln2.hook_normalized blocks.0.hook_mlp_out \\
                   blocks.1.ln2.hook_normalized blocks.1.hook_mlp_out
    interp transcoder train --store RUN [--layers 0 1] [--cross-layer] [--d-sae 1024] [--k 16] [--skip]
    interp transcoder features --run TRANSCODER_RUN [--store RUN] [--layers 0]   # (train computes them already)

Imports nothing heavy until a command runs (``interp --help`` stays fast).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from interp.argtypes import fraction, nonneg_int, positive_float, positive_int

ACTIVATIONS = ["topk", "relu", "jumprelu"]  # interp.transcoders.common.ACTIVATIONS, without importing torch


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("transcoder", help="train per-layer / cross-layer transcoders of the MLPs (writes `transcoder` runs)")
    ss = p.add_subparsers(dest="transcoder_command", metavar="TRANSCODER_COMMAND")
    p.set_defaults(func=lambda a: (p.print_help(), 0)[1])
    t = ss.add_parser("train", parents=parents, help="train transcoders on a capture of each layer's MLP input and "
                                                      "output, score them on held-out sequences")
    t.add_argument("--store", required=True, help="capture run folder or ActivationStore folder (MLP inputs and outputs)")
    t.add_argument("--layers", type=nonneg_int, nargs="+", help="layers (default: every layer the store has both hooks for)")
    t.add_argument("--cross-layer", action="store_true", help="one cross-layer transcoder (layers 0..n-1) instead of one per layer")
    t.add_argument("--activation", default="topk", choices=ACTIVATIONS, help="latent nonlinearity (default topk)")
    t.add_argument("--d-sae", type=positive_int, default=0, help="latents per layer (default: --expansion x d_in)")
    t.add_argument("--expansion", type=positive_int, default=8, help="d_sae = expansion * d_in when --d-sae is not given")
    t.add_argument("--k", type=positive_int, default=32, help="active latents per token and layer, for topk (default 32)")
    t.add_argument("--skip", action="store_true", help="add a linear skip connection x @ W_skip")
    t.add_argument("--tokens", type=positive_int, help="training tokens (default: one pass over the training rows)")
    t.add_argument("--batch-size", type=positive_int, default=1024)
    t.add_argument("--lr", type=positive_float, help="learning rate (default: the SAE trainer's d_sae-scaled rule)")
    t.add_argument("--seed", type=nonneg_int, default=0)
    t.add_argument("--held-out", type=fraction, default=0.1, help="fraction of sequences held out for evaluation")
    t.add_argument("--eval-seqs", type=positive_int, default=64, help="held-out sequences run through the replacement model")
    t.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation")
    t.add_argument("--no-features", action="store_true", help="skip the feature dashboards (add them later with "
                                                               "`interp transcoder features`)")
    t.add_argument("--model", help="model the replacement model runs (default: the store's)")
    f = ss.add_parser("features", parents=parents, help="per-latent contexts, histograms, logit effects of each "
                                                         "layer's latents, added to the run (the Features page)")
    f.add_argument("--run", required=True, help="transcoder run folder")
    f.add_argument("--store", help="capture run / store holding each layer's MLP input (default: the run's own)")
    f.add_argument("--model", help="model spec for logit effects and token strings (default: the run's)")
    f.add_argument("--layers", type=nonneg_int, nargs="+", help="layers to analyse (default: all)")
    for q in (t, f):
        q.add_argument("--n-top", type=positive_int, default=10, help="top contexts per latent (default 10)")
        q.add_argument("--ctx", type=nonneg_int, nargs=2, default=[8, 4], metavar=("LEFT", "RIGHT"),
                       help="context tokens before / after (default 8 4)")
        q.add_argument("--n-quantiles", type=positive_int, default=5, help="activation intervals per latent (default 5)")
        q.add_argument("--device", default=None)
    t.set_defaults(func=cmd_train)
    f.set_defaults(func=cmd_features)


def _feature_cfg(args: argparse.Namespace) -> Any:
    from interp.sae.features import FeatureConfig

    return FeatureConfig(n_top=args.n_top, ctx_left=args.ctx[0], ctx_right=args.ctx[1], n_quantiles=args.n_quantiles)


def cmd_train(args: argparse.Namespace) -> int:
    from interp.transcoders.base import TranscoderConfig
    from interp.transcoders.pipeline import TranscoderRunConfig, summary, train_transcoder_run
    from interp.transcoders.train import TranscoderTrainConfig

    tc = TranscoderConfig(d_in=0, d_out=0, d_sae=args.d_sae, activation=args.activation,
                          k=args.k if args.activation == "topk" else None, skip=args.skip)
    train = TranscoderTrainConfig(transcoder=tc, layers=args.layers, cross_layer=args.cross_layer,
                                  expansion=args.expansion, total_tokens=args.tokens, batch_size=args.batch_size,
                                  lr=args.lr, seed=args.seed, device=args.device)
    cfg = TranscoderRunConfig(held_out=args.held_out, evaluate=not args.no_eval, max_eval_seqs=args.eval_seqs,
                              features=not args.no_features, feature=_feature_cfg(args))
    run = train_transcoder_run(args.store, train, cfg, model=args.model, root=args.runs, device=args.device)
    print(json.dumps(summary(run)))
    print(f"run: {run.path}")
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from interp.transcoders.pipeline import features_transcoder_run

    run = features_transcoder_run(args.run, args.store, feature=_feature_cfg(args), model=args.model,
                                  layers=args.layers, device=args.device)
    layers = sorted(int(k[len("features_L"):]) for k in run.artifacts if k.startswith("features_L"))
    print(json.dumps({"layers": layers, "features_seconds": run.metrics.get("features_seconds")}))
    print(f"run: {run.path}")
    return 0
