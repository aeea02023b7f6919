"""``interp graph``: model spec + transcoder run + prompt -> an attribution graph, pruned, recorded as a ``graph`` run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from interp.runs import Run


@dataclass
class GraphRunConfig:
    """Everything ``interp graph`` takes besides the model, the transcoders and the prompt."""

    max_logits: int = 10
    logit_mass: float = 0.95
    target: str | None = None
    batch_size: int = 64
    node_threshold: float = 0.8
    edge_threshold: float = 0.98
    max_bytes: float = 8e9  # refuse a graph whose estimate is larger (pass a larger one to insist)


def graph_pipeline(spec: str | None, transcoders: str | Path, prompt: str, cfg: GraphRunConfig | None = None, *,
                   root: Any = None, slug: str | None = None, device: str | None = None, model: Any = None,
                   progress: bool = True, log: Any = print) -> tuple[Run, Any]:
    """Load the model and transcoders, print the estimate, attribute, prune, write the run."""
    from interp.graphs.attribute import AttributionConfig, attribute, estimate
    from interp.graphs.prune import prune
    from interp.graphs.replacement import GraphError, LocalReplacement
    from interp.graphs.run import write_graph_run
    from interp.models import load_model
    from interp.transcoders import load_transcoders

    cfg = cfg or GraphRunConfig()
    tcs = load_transcoders(transcoders)
    first = tcs[0] if isinstance(tcs, list) else tcs
    spec = spec or getattr(first.cfg, "model", None)
    if not spec:
        raise GraphError("The transcoders do not record their model: pass --model.")
    model = model if model is not None else load_model(spec, device=device)
    tokens = model.to_tokens(prompt)
    rep = LocalReplacement(model, tcs, tokens)
    est = estimate(model, len(rep.sources), rep.sources.n_feat, cfg.max_logits, int(tokens.shape[1]), cfg.batch_size)
    log(f"graph of {tokens.shape[1]} tokens: {rep.sources.n_feat} active features, {est['nodes']} nodes, "
        f"{est['passes']} batched passes, about {est['peak_bytes'] / 2**20:.0f} MiB at peak")
    if est["peak_bytes"] > cfg.max_bytes:
        raise GraphError(f"This graph would need about {est['peak_bytes'] / 2**30:.1f} GiB (more than max_bytes "
                         f"{cfg.max_bytes / 2**30:.1f} GiB): use a shorter prompt or a smaller --batch-size, "
                         "or raise --max-gib.")
    graph = attribute(model, tcs, tokens[0], AttributionConfig(cfg.max_logits, cfg.logit_mass, cfg.target,
                                                               batch_size=cfg.batch_size, progress=progress))
    pruned = prune(graph, cfg.node_threshold, cfg.edge_threshold)
    config = {"model": spec, "transcoders": str(Path(transcoders).resolve()), "prompt": prompt, **asdict(cfg)}
    run = write_graph_run((graph, pruned), spec=spec, config=config, root=root, slug=slug)
    return run, graph


DEMO_PROMPT = "It was the best of times, it was the worst of"
TOYLM_MLP_HOOKS = [h for layer in range(2) for h in (f"blocks.{layer}.ln2.hook_normalized", f"blocks.{layer}.hook_mlp_out")]


def demo_step(ctx: Any) -> list[Run]:
    """``interp demo``: transcoders for the toy LM's MLPs, and the attribution graph of one prompt through them."""
    from interp.hooks.pipeline import CaptureConfig, capture_run
    from interp.models import load_model
    from interp.transcoders.base import TranscoderConfig
    from interp.transcoders.pipeline import TranscoderRunConfig, train_transcoder_run
    from interp.transcoders.train import TranscoderTrainConfig

    model = load_model("toy:toylm", device=ctx.device)
    cap = capture_run(CaptureConfig(model="toy:toylm", hooks=TOYLM_MLP_HOOKS, seq_len=64,
                                    max_seqs=min(ctx.max_seqs, 128), shuffle_seed=0),
                      root=ctx.runs_root, slug="demo-toylm-mlp-pairs", model=model)
    tc = TranscoderConfig(d_in=0, d_out=0, d_sae=512, activation="topk", k=16, skip=True)
    train = TranscoderTrainConfig(transcoder=tc, total_tokens=300 * 256, batch_size=256, lr=3e-3, seed=0,
                                  device=ctx.device)
    tc_run = train_transcoder_run(cap.path, train, TranscoderRunConfig(max_eval_seqs=8), model=model,
                                  root=ctx.runs_root, slug="demo-toylm-plt")
    m = tc_run.metrics
    print(f"  transcoders on toy:toylm: FVU {m['fvu_L0']:.3f} / {m['fvu_L1']:.3f} (layers 0 / 1), replacement "
          f"model CE-loss score {m['ce_loss_score']:.3f} (held out) -> {tc_run.path}")
    run, graph = graph_pipeline("toy:toylm", tc_run.path, DEMO_PROMPT, root=ctx.runs_root, slug="demo-toylm-graph",
                                model=model, progress=False, log=lambda msg: print(f"  {msg}"))
    g = run.metrics
    print(f"  graph of {DEMO_PROMPT!r}: top next token {g['top_logit']!r} (p {g['top_prob']:.2f}); "
          f"{g['kept_features']} of {g['features']} features and {g['kept_edges']} edges carry 80 % / 98 % of the "
          f"influence -> {run.path}")
    return [cap, tc_run, run]
