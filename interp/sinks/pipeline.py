"""From a model spec and a config to a run: what ``interp sinks``, the demo and the experiments call.

* :func:`sinks_pipeline` loads the model, tokenizes the corpus, runs
  :func:`~interp.sinks.measure.measure_sinks` and (optionally)
  :func:`~interp.sinks.interventions.run_interventions`, and writes one ``sinks`` run.
* :func:`emergence_pipeline` trains the grid of small causal LMs of the emergence
  study (:mod:`interp.sinks.emergence`) and writes one ``sink-emergence`` run.

Both return ``(run, result)``: the run for its path, the result for printing.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from interp.runs import Run
from interp.sinks.emergence import EmergenceConfig, train_with_sinks
from interp.sinks.measure import SinkConfig, config_dict, measure_sinks
from interp.sinks.run import EMERGENCE_SPEC, EmergenceResult, SinksResult, write_emergence_run, write_sinks_run


@dataclass
class SinksRunConfig:
    """One ``sinks`` run: which text, how much of it, which interventions, and the measurement's knobs."""

    corpus: Sequence[str] | str | None = None  # .txt/.jsonl paths or folders (None: the shipped corpus)
    seq_len: int = 128
    max_seqs: int | None = 128
    interventions: Sequence[str] = ()  # names from interp.sinks.interventions.ALL_INTERVENTIONS
    intervention_seqs: int = 32  # the interventions run on the first this many sequences
    measure: SinkConfig = field(default_factory=SinkConfig)

    def to_json(self, spec: str) -> dict[str, Any]:
        """The run's ``config`` (docs/runs.md): these fields, then the SinkConfig's."""
        return {"model": spec, "corpus": self.corpus, "seq_len": self.seq_len, "max_seqs": self.max_seqs,
                "interventions": list(self.interventions), "intervention_seqs": self.intervention_seqs,
                **config_dict(self.measure)}


def sinks_pipeline(spec: str, config: SinksRunConfig | None = None, *, root: str | Path | None = None,
                   slug: str | None = None, device: str | None = None) -> tuple[Run, SinksResult]:
    """Measure the sinks of the model ``spec`` on ``config.corpus`` and write a ``sinks`` run."""
    from interp.datasets import load_texts, tokenize_corpus
    from interp.models import load_model
    from interp.sinks.interventions import run_interventions

    cfg = config or SinksRunConfig()
    t0 = time.perf_counter()
    model = load_model(spec, device=device)
    if model.tokenizer is None:
        raise ValueError(f"{spec} has no tokenizer, so it cannot read a text corpus; use measure_sinks with token ids.")
    texts = load_texts(cfg.corpus or None)
    tokens = tokenize_corpus(model.tokenizer, texts, cfg.seq_len, max_seqs=cfg.max_seqs)
    report = measure_sinks(model, tokens, cfg.measure)
    result = SinksResult(report, head_threshold=cfg.measure.head_threshold)
    if cfg.interventions:
        result.interventions = run_interventions(model, tokens[: max(1, cfg.intervention_seqs)], cfg.interventions,
                                                 cfg.measure)
        result.intervention_seqs = min(len(tokens), cfg.intervention_seqs)
    result.seconds = round(time.perf_counter() - t0, 2)
    run = write_sinks_run(result, spec=spec, config=cfg.to_json(spec), root=root, slug=slug)
    return run, result


@dataclass
class EmergenceStudyConfig:
    """The grid of the emergence study: every (BOS, context length, learning rate) setting is one training run."""

    task: str = "text"  # "text" (the shipped corpus) or "backcopy" (Guo et al.'s Bigram-Backcopy task)
    bos: str = "both"  # train with BOS ("yes"), without ("no"), or both
    steps: int = 400
    eval_every: int = 25
    seq_lens: list[int] = field(default_factory=lambda: [32, 128])
    lrs: list[float] = field(default_factory=lambda: [1e-3, 5e-3])
    weight_decay: float = 0.1
    tokens_per_step: int = 2048  # batch = tokens_per_step // seq_len, so every T sees as many tokens per step
    n_layers: int = 2
    d_model: int = 64
    n_heads: int = 4
    epsilon: float = 0.3
    quick: bool = False  # two tiny runs (seconds), to check the pipeline

    def runs(self) -> list[EmergenceConfig]:
        """The training runs of the grid (two tiny ones when ``quick``)."""
        if self.quick:
            base = dict(task=self.task, steps=20, eval_every=10, eval_seqs=8, d_model=32, n_heads=2, d_mlp=64,
                        max_docs=40, warmup_steps=2, epsilon=self.epsilon)
            return [EmergenceConfig(bos=b, seq_len=32, batch_size=8, lr=3e-3, **base) for b in (True, False)]
        bos_values = {"both": (True, False), "yes": (True,), "no": (False,)}[self.bos]
        return [EmergenceConfig(task=self.task, bos=bos, seq_len=T, lr=lr, weight_decay=self.weight_decay,
                                steps=self.steps, batch_size=max(1, self.tokens_per_step // T),
                                eval_every=self.eval_every, n_layers=self.n_layers, d_model=self.d_model,
                                n_heads=self.n_heads, d_mlp=4 * self.d_model, epsilon=self.epsilon)
                for bos, T, lr in itertools.product(bos_values, self.seq_lens, self.lrs)]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def emergence_pipeline(config: EmergenceStudyConfig | None = None, *, root: str | Path | None = None,
                       slug: str | None = None,
                       on_entry: Callable[[dict[str, Any]], None] | None = None) -> tuple[Run, EmergenceResult]:
    """Train every run of the grid and write a ``sink-emergence`` run; ``on_entry`` sees each curve as it ends."""
    cfg = config or EmergenceStudyConfig()
    entries = []
    for run_cfg in cfg.runs():
        entries.append(train_with_sinks(run_cfg))
        if on_entry is not None:
            on_entry(entries[-1])
    result = EmergenceResult(entries, cfg.epsilon)
    slug = slug or f"{cfg.task}-emergence{'-quick' if cfg.quick else ''}"
    return write_emergence_run(result, spec=EMERGENCE_SPEC, config=cfg.to_json(), root=root, slug=slug), result


def demo_step(ctx: Any) -> list[Run]:
    """``interp demo``: MiniLM's attention sinks on a slice of the shipped corpus, with interventions."""
    from interp.sinks.interventions import INTERVENTIONS

    cfg = SinksRunConfig(seq_len=128, max_seqs=min(ctx.max_seqs, 32), interventions=INTERVENTIONS,
                         intervention_seqs=min(ctx.max_seqs, 4), measure=SinkConfig(progress=True))
    run, result = sinks_pipeline("minilm", cfg, root=ctx.runs_root, device=ctx.device, slug="demo-minilm-sinks")
    report = result.report
    print(f"  minilm sinks: [CLS] gets {float(report.mass[..., 0].mean()):.0%} of attention, first-token sink "
          f"rate {report.overall_sink_rate:.2f}, {len(report.sink_heads())} sink heads, {run.metrics['seconds']} s "
          f"-> {run.path}")
    return [run]
