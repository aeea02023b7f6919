"""The SAE step of ``interp demo``: a small TopK SAE on the toy LM's residual stream, with its features.

It reads the toy LM capture an earlier demo step wrote, trains on all but the last
10 % of its sequences, scores the SAE on those (reconstruction, and the CE-loss
score with the SAE spliced into the model), and computes the per-latent features
the dashboard's Features page shows. Small on purpose: a few seconds on 2 cores.
"""

from __future__ import annotations

from typing import Any

from interp.runs import Run

HOOK = "blocks.1.hook_resid_post"


def demo_step(ctx: Any) -> list[Run]:
    from interp.hooks import ActivationStore
    from interp.sae import SAEConfig, TrainConfig
    from interp.sae.cli import sae_run
    from interp.sae.features import FeatureConfig

    capture = ctx.find("capture", "toy:toylm")
    store = ActivationStore(capture.artifact("store"))
    sae_cfg = SAEConfig(arch="topk", d_in=0, d_sae=1024, k=16, hook=HOOK)
    n_train = int(len(store) * 0.9)
    train = TrainConfig(sae=sae_cfg, total_tokens=max(3 * n_train, 4096), batch_size=512, lr=2e-3, seed=0,
                        device=ctx.device, progress=False)
    run = sae_run(store, sae_cfg, train, hook=HOOK, held_out=0.1, feature_cfg=FeatureConfig(batch_size=1024),
                  max_eval_seqs=32, runs_root=ctx.runs_root, slug="demo-toylm-topk", device=ctx.device)
    m = run.metrics
    print(f"  SAE on toy:toylm {HOOK}: L0 {m['l0']:.1f}, FVU {m['fvu']:.3f}, dead {m['dead_frac']:.2f}, "
          f"CE-loss score {m['ce_loss_score']:.3f} (held out); features for {run.config['d_sae']} latents "
          f"in {m['train_seconds'] + m['eval_seconds'] + m['features_seconds']:.0f} s -> {run.path}")
    return [run]
