"""One call from a model spec to a ``sinks`` run: the entry point of the CLI, the demo and the experiments.

:func:`sinks_analysis` loads the model, tokenizes the corpus, runs
:func:`~interp.sinks.measure.measure_sinks` and (optionally)
:func:`~interp.sinks.interventions.run_interventions`, and writes everything as one
``sinks`` run (``docs/runs.md``); :func:`summary_lines` prints the headline numbers.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from interp.sinks.measure import SinkConfig, SinkReport, config_dict, measure_sinks, write_sinks_run


def sinks_analysis(
    model: str,
    corpus: Sequence[str] | str | None = None,
    seq_len: int = 128,
    max_seqs: int | None = 128,
    config: SinkConfig | None = None,
    interventions: Sequence[str] | None = None,
    intervention_seqs: int = 32,
    root: Any = None,
    device: str | None = None,
    slug: str | None = None,
) -> tuple[Any, SinkReport]:
    """Measure sinks of ``model`` (a spec) on ``corpus`` (paths; default: the shipped corpus); write a run.

    ``interventions`` (names from :data:`~interp.sinks.interventions.INTERVENTIONS`) run on
    the first ``intervention_seqs`` sequences and are saved as the ``interventions``
    artifact. Returns ``(run, report)``.
    """
    from interp.datasets import load_texts, tokenize_corpus
    from interp.models import load_model

    cfg = config or SinkConfig()
    t0 = time.perf_counter()
    bridge = load_model(model, device=device)
    if bridge.tokenizer is None:
        raise ValueError(f"{model} has no tokenizer, so it cannot read a text corpus; use measure_sinks with token ids.")
    texts = load_texts(corpus or None)
    tokens = tokenize_corpus(bridge.tokenizer, texts, seq_len, max_seqs=max_seqs)
    report = measure_sinks(bridge, tokens, cfg)
    extra = {}
    if interventions:
        from interp.sinks.interventions import run_interventions

        results = run_interventions(bridge, tokens[: max(1, intervention_seqs)], interventions, cfg)
        extra["interventions"] = {"n_seqs": min(len(tokens), intervention_seqs), "results": [r.to_json() for r in results]}
    run_config = {"model": model, "corpus": corpus, "seq_len": seq_len, "max_seqs": max_seqs,
                  "interventions": list(interventions or []), "intervention_seqs": intervention_seqs,
                  **config_dict(cfg)}
    run = write_sinks_run(report, run_config, model=model, root=root, slug=slug, extra=extra,
                          head_threshold=cfg.head_threshold)
    run.metrics["seconds"] = round(time.perf_counter() - t0, 2)
    run.save()
    return run, report


def summary_lines(report: SinkReport, head_threshold: float = 0.5) -> list[str]:
    """Human-readable headline numbers: mass per category by layer, sink rates, sink heads, massive activations."""
    cats = report.categories
    lines = [f"{report.n_samples} sequences, {'causal' if report.causal else 'bidirectional'}, "
             f"epsilon {report.epsilon}: first-token sink rate {report.overall_sink_rate:.3f}",
             "layer  " + "  ".join(f"{c:>7}" for c in cats) + "  sink_rate"]
    by_layer = report.mass.mean(1)  # [layer, cat]
    for layer in range(by_layer.shape[0]):
        lines.append(f"{layer:>5}  " + "  ".join(f"{float(v):7.3f}" for v in by_layer[layer])
                     + f"  {float(report.sink_rate[layer].mean()):9.3f}")
    heads = report.sink_heads(head_threshold)
    lines.append(f"sink heads (>= {head_threshold} mass on one special token): "
                 + (", ".join(f"L{h['layer']}H{h['head']} {h['token']} {h['mass']:.2f}" for h in heads) or "none"))
    s = report.massive_summary
    if s:
        lines.append(f"massive activations: {report.n_massive} entries; per-layer max |a| / median |a| = "
                     + ", ".join(f"{r:.0f}" for r in s["resid_ratio"]))
    return lines


def demo_step(ctx: Any) -> list[Any]:
    """``interp demo``: MiniLM's attention sinks on a slice of the shipped corpus, with interventions."""
    from interp.sinks.interventions import INTERVENTIONS

    run, report = sinks_analysis("minilm", seq_len=128, max_seqs=min(ctx.max_seqs, 32),
                                 config=SinkConfig(progress=False), interventions=INTERVENTIONS,
                                 intervention_seqs=min(ctx.max_seqs, 4), root=ctx.runs_root, device=ctx.device,
                                 slug="demo-minilm-sinks")
    heads = report.sink_heads()
    print(f"  minilm sinks: [CLS] gets {float(report.mass[..., 0].mean()):.0%} of attention, first-token sink "
          f"rate {report.overall_sink_rate:.2f}, {len(heads)} sink heads, {run.metrics['seconds']} s -> {run.path}")
    return [run]
