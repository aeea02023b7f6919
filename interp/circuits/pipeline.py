"""Circuits pipelines: a model spec and a config dataclass in, runs out.

What the CLI (``interp circuits induction|fourier``), ``experiments/circuit_induction.py``,
``experiments/modadd_fourier.py`` and ``interp demo`` call; each loads the model,
runs the compute functions and writes the runs with the package's writers
(:mod:`interp.circuits.writers`):

* :func:`run_induction_circuit`: the induction known answer on ``toy:induction``
  (:mod:`interp.circuits.induction_circuit`) -> two ``patching`` runs and a ``circuit``
  run per method; :func:`report` prints its numbers;
* :func:`run_fourier`: the Fourier analysis of ``toy:modadd`` (:mod:`interp.circuits.fourier`)
  -> a ``fourier`` run; :func:`fourier_report` prints its numbers;
* :func:`demo_step`: the small induction known answer of ``interp demo``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from interp.circuits.fourier import FourierResult, fourier_analysis
from interp.circuits.induction_circuit import CORRUPTION, InductionCircuitConfig, induction_circuit
from interp.circuits.head_scores import induction_head_scores
from interp.circuits.writers import write_circuit_run, write_fourier_run, write_heads_run, write_patching_run
from interp.runs import Run


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch threads, restored after (None or 0: leave them). The circuits' matrices are tiny:
    one thread is fastest, and threads only contend on a shared machine."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_induction_circuit(cfg: InductionCircuitConfig, *, root: Any = None, model: Any = None,
                          device: str | None = None, progress: bool = True, threads: int | None = None
                          ) -> dict[str, Any]:
    """The induction known answer for ``cfg.model`` (or the loaded ``model``): its numbers and the runs written.

    Returns the summary of :func:`~interp.circuits.induction_circuit.induction_circuit` plus
    ``runs``: the ``patching`` runs (one per direction), then a ``circuit`` run per method.
    """
    from interp.models import load_model

    with torch_threads(threads):
        model = model if model is not None else load_model(cfg.model, device=device)
        res = induction_circuit(model, cfg, progress=progress)
    runs: list[Run] = [
        write_patching_run(sweep, spec=cfg.model, config={"corruption": CORRUPTION, "prompts": res.task},
                           root=root, slug=f"induction-{direction}")
        for direction, sweep in res.patching.items()]
    runs += [
        write_circuit_run(circuit, spec=cfg.model, root=root, slug=f"induction-{method}",
                          config={"task": res.task, "ig_steps": cfg.ig_steps if method == "eap-ig" else None,
                                  "adversarial_inputs": cfg.n_adversarial})
        for method, circuit in res.circuits.items()]
    return {**res.summary, "runs": runs}


def report(out: dict[str, Any]) -> str:
    """The numbers of :func:`run_induction_circuit` as text."""
    lines = [f"heads: previous-token {out['prev_token_head']}, induction {', '.join(out['induction_heads'])} "
             f"(top {out['induction_head']}); silent (write < 10 % of their layer's largest head): "
             f"{', '.join(out.get('silent_heads', [])) or 'none'}"]
    for name, v in out["losses"].items():
        lines.append(f"loss {name:30s} first half {v['first_half']:.3f}  repeat {v['repeat']:.3f}")
    lines.append(f"logit diff clean {out['clean_value']:.3f}, corrupt {out['corrupt_value']:.3f}; "
                 f"edges total {out['edges_total']} (5 % = {out['budget_edges']} edges)")
    for method, s in out["circuits"].items():
        p = s["adversarial_percentiles"]
        lines.append(
            f"{method:6s} kept {s['edges_kept']}/{out['edges_total']} ({s['fraction_kept']:.1%})  recovered "
            f"{s['metric_recovered']:.3f}  AUC {s['faithfulness_auc']:.3f}  edges for 90% {s['edges_for_90pct']}  "
            f"recovered with <= {out['budget_edges']} edges {s['recovered_at_budget']:.3f}  "
            f"PT->IH key edges {len(s['prev_to_induction_key_edges'])}  "
            f"adversarial KL p50/p90/p99 {p['50']:.3f}/{p['90']:.3f}/{p['99']:.3f}  "
            f"(mean recovered there {s['adversarial_recovered_mean']:.3f})")
        lines.append(f"       nodes: {' '.join(s['nodes'])}")
    lines.append("faithfulness AUC of each edge ranking: " + ", ".join(
        f"{name} {auc:.3f}" for name, auc in out["ranking_auc"].items()))
    lines += ["runs:"] + [f"  {r.path}" for r in out["runs"]]
    return "\n".join(lines)


@dataclass
class FourierConfig:
    """The Fourier analysis of a modular-addition model (Nanda et al. 2023)."""

    model: str = "toy:modadd"
    max_k: int = 8  # at most this many key frequencies


def run_fourier(cfg: FourierConfig, *, root: Any = None, model: Any = None, device: str | None = "cpu"
                ) -> tuple[FourierResult, Run]:
    """Key frequencies and restricted / excluded losses of ``cfg.model``, and the ``fourier`` run written."""
    from interp.models import load_model

    model = model if model is not None else load_model(cfg.model, device=device)
    result = fourier_analysis(model, max_k=cfg.max_k)
    return result, write_fourier_run(result, spec=cfg.model, config={"max_k": cfg.max_k}, root=root)


def fourier_report(result: FourierResult) -> str:
    """The numbers of :func:`run_fourier` as text."""
    norms = result.embed_norms
    top = sorted(range(len(norms)), key=lambda i: -float(norms[i]))[:8]
    p = result.p
    return "\n".join([
        "embedding norm by frequency (top 8): " + ", ".join(f"{i + 1}: {float(norms[i]):.2f}" for i in top),
        f"key frequencies {result.key_freqs} carry {result.key_norm_fraction:.1%} of the embedding's squared norm",
        f"loss over all {p}^2 inputs: clean {result.clean_loss:.4f}, restricted {result.restricted_loss:.4f}, "
        f"excluded {result.excluded_loss:.3f} (chance ln {p} = {result.chance_loss:.3f})",
        f"accuracy: clean {result.clean_acc:.4f}, restricted {result.restricted_acc:.4f}, "
        f"excluded {result.excluded_acc:.4f}"])


def run_heads(spec: str = "toy:induction", *, n_seq: int = 64, seed: int = 1234, segment_len: int | None = None,
              root: Any = None, model: Any = None, device: str | None = None) -> Run:
    """A ``heads`` run: previous-token and induction scores of every head of an induction toy.

    ``segment_len`` defaults to the checkpoint's ``eval_segment``.
    """
    from interp.models import load_model

    model = model if model is not None else load_model(spec, device=device)
    seg = int(segment_len or model.toy_config.extra["eval_segment"])
    scores = induction_head_scores(model, seg, n_seq=n_seq, seed=seed)
    return write_heads_run(scores, spec=spec, root=root)


def heads_demo_step(ctx: Any) -> list[Run]:
    """``interp demo``: the induction model's previous-token and induction heads."""
    run = run_heads("toy:induction", root=ctx.runs_root, device=ctx.device)
    m = run.metrics
    print(f"  toy:induction: previous-token head {m['prev_token_head']} ({m['prev_token_score']}), "
          f"induction head {m['induction_head']} ({m['induction_score']}), loss {m['first_half_loss']} on the "
          f"random half vs {m['repeat_loss']} on the repeat -> {run.path}")
    return [run]


def demo_step(ctx: Any) -> list[Run]:
    """``interp demo``: a small induction known answer (denoising patching, EAP-IG and ACDC circuits)."""
    cfg = InductionCircuitConfig(n_prompts=16, n_adversarial=32, ig_steps=10, methods=("eap-ig", "acdc"),
                                 patching=("denoising",), compare_rankings=False)
    out = run_induction_circuit(cfg, root=ctx.runs_root, device=ctx.device, progress=True, threads=1)
    print("  circuits on toy:induction:\n    " + report(out).replace("\n", "\n    "))
    return out["runs"]
