"""``interp demo``: the tour a new user runs first, on shipped models and the shipped corpus.

It should finish in a few minutes on 2 CPU cores and leave runs that every later
tool (SAE training, probes, the dashboard) can pick up:

1. capture the toy LM's residual stream (every layer) and layer-0 attention
   patterns over the default corpus into an ActivationStore;
2. capture MiniLM's middle-layer residual stream and attention patterns;
3. check the known answer on the induction model: its previous-token and
   induction heads, recorded as a ``heads`` run.

Later analyses add steps: ``DEMO_STEPS`` is an ordered list of
``"module:function"`` names; each function takes a :class:`DemoContext` and
returns the runs it wrote (a step can read earlier steps' runs from
``ctx.runs``, e.g. the SAE step trains on the toy LM capture).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interp.runs import Run

TOYLM_HOOKS = ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post", "blocks.0.attn.hook_pattern"]
MINILM_HOOKS = ["blocks.3.hook_resid_post", "blocks.3.attn.hook_pattern"]


def _capture_run(spec: str, hooks: list[str], max_seqs: int, runs_root: Any, device: str | None) -> Run:
    from interp.hooks.pipeline import CaptureConfig, capture_run

    cfg = CaptureConfig(model=spec, hooks=hooks, max_seqs=max_seqs, tokens_per_shard=16384)
    run = capture_run(cfg, root=runs_root, slug=f"demo-{spec}", device=device)
    print(f"  {spec}: {run.metrics['tokens']} tokens x {len(hooks)} hooks in {run.metrics['seconds']} s -> {run.path}")
    return run


@dataclass
class DemoContext:
    """What every demo step gets: where runs go, the device, the corpus size, and the runs so far."""

    runs_root: str | Path | None
    device: str | None
    max_seqs: int
    runs: list[Run] = field(default_factory=list)

    def find(self, kind: str, model: str | None = None) -> Run:
        """The latest run of this kind (and model) written by an earlier step."""
        for run in reversed(self.runs):
            if run.kind == kind and (model is None or run.model == model):
                return run
        raise LookupError(f"No earlier demo step wrote a {kind!r} run for {model or 'any model'}.")


def capture_step(ctx: DemoContext) -> list[Run]:
    """``interp demo``: capture the toy LM's and MiniLM's residual streams and attention patterns."""
    return [_capture_run("toy:toylm", TOYLM_HOOKS, ctx.max_seqs, ctx.runs_root, ctx.device),
            _capture_run("minilm", MINILM_HOOKS, ctx.max_seqs, ctx.runs_root, ctx.device)]


DEMO_STEPS: list[str] = ["interp.demo:capture_step", "interp.circuits.pipeline:heads_demo_step",
                         "interp.sae.pipeline:demo_step", "interp.probes.pipeline:demo_step",
                         "interp.circuits.pipeline:demo_step", "interp.sinks.pipeline:demo_step",
                         "interp.graphs.pipeline:demo_step"]


def _step(name: str) -> Any:
    module, func = name.split(":")
    return getattr(importlib.import_module(module), func)


def step_title(step: Any) -> str:
    """A step's one-line description: its docstring's first line without the ``interp demo``: prefix."""
    doc = (step.__doc__ or step.__name__).strip().splitlines()[0]
    return doc.replace("``interp demo``: ", "").rstrip(".")


def run_demo(max_seqs: int = 256, runs_root: str | Path | None = None, device: str | None = None) -> list[Run]:
    from interp.runs import runs_root as resolve_root

    t0 = time.perf_counter()
    print("interp demo: capturing activations from the shipped models on the shipped corpus")
    ctx = DemoContext(runs_root, device, max_seqs)
    for i, name in enumerate(DEMO_STEPS, 1):
        step = _step(name)
        t_step = time.perf_counter()
        print(f"[{i}/{len(DEMO_STEPS)}] {step_title(step)} ...", flush=True)
        ctx.runs.extend(step(ctx))
        print(f"      ({time.perf_counter() - t_step:.0f} s)", flush=True)
    runs = ctx.runs
    print(f"done in {time.perf_counter() - t0:.0f} s; {len(runs)} runs in {resolve_root(runs_root).resolve()}")
    print("next: `interp runs` lists them; in Python, `interp.runs.list_runs()` and "
          "`interp.hooks.ActivationStore(run.artifact('store'))` read them back.")
    print(f"browse them: interp dashboard{'' if runs_root is None else f' --runs {runs_root}'} → http://localhost:8501")
    return runs
