"""From a model spec (or a capture run) and a config to ``probe`` runs: what the CLI, demo and experiments call.

Each pipeline captures the activations it probes, labels the rows, fits every probe
with its controls (:func:`~interp.probes.report.probe_hooks`: control task,
selectivity, random-model baseline) and writes one ``probe`` run per task with
:func:`~interp.probes.run.write_probe_run`. They return ``[(run, result), ...]``.

* :func:`token_probe_pipeline`: token properties labelled from the text
  (:mod:`interp.probes.labels`) at the embeddings and after every block, on a seeded
  sample of the shipped corpus; the split is by sequence, so no sentence is on both sides.
* :func:`modadd_probe_pipeline`: the modular-addition model's answer and its Fourier
  features at the ``=`` position of all p² inputs, with the effect on the model's loss
  of ablating each probe's directions (Fourier task).
* :func:`capture_probe_pipeline`: a token property probed on the rows of an existing
  ``capture`` run (the demo's), with the random-model baseline captured in memory.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from interp.probes.base import ProbeConfig
from interp.probes.controls import random_model
from interp.probes.report import probe_hooks, probe_report
from interp.probes.run import ProbeResult, write_probe_run
from interp.runs import Run

MODADD_HOOKS = ["blocks.0.hook_resid_pre", "blocks.0.hook_resid_mid", "blocks.0.mlp.hook_post",
                "blocks.0.hook_resid_post"]


def residual_hooks(n_layers: int) -> list[str]:
    """The embeddings (resid_pre of block 0) and the output of every block."""
    return ["blocks.0.hook_resid_pre"] + [f"blocks.{layer}.hook_resid_post" for layer in range(n_layers)]


def _slug(prefix: str | None, task: str) -> str | None:
    return f"{prefix}-{task}" if prefix else None


@dataclass
class TokenProbeConfig:
    """Token-label probes on a sample of the shipped corpus (one ``probe`` run per task)."""

    tasks: list[str] = field(default_factory=lambda: ["word_start", "in_quotes", "pos_parity"])
    hooks: list[str] | None = None  # default: the embeddings and every block's output
    max_seqs: int = 96  # sequences of seq_len tokens to probe on
    seq_len: int = 128
    docs: int = 48  # documents drawn at random (seeded) from the corpus
    max_epochs: int = 30
    seed: int = 0  # the document sample, the split and the probes; the random model uses seed + 1
    batch_size: int = 16  # capture batch


def token_probe_pipeline(spec: str, config: TokenProbeConfig | None = None, *, root: str | Path | None = None,
                         slug: str | None = None, device: str | None = None) -> list[tuple[Run, ProbeResult]]:
    """Probe the model ``spec`` for each token-label task; run slugs are ``<slug or spec>-<task>``."""
    from interp.datasets import load_texts, tokenize_corpus
    from interp.hooks import capture
    from interp.models import load_model
    from interp.probes.labels import TASKS, labels_for_rows, token_labels

    cfg = config or TokenProbeConfig()
    if unknown := sorted(set(cfg.tasks) - set(TASKS)):
        raise ValueError(f"Unknown token-label tasks {unknown}; choose from {', '.join(TASKS)}.")
    model = load_model(spec, device=device)
    if model.tokenizer is None:
        raise ValueError(f"{spec} has no tokenizer, so its tokens cannot be labelled from text.")
    texts = load_texts()
    docs = sorted(random.Random(cfg.seed).sample(range(len(texts)), min(cfg.docs, len(texts))))
    corpus = tokenize_corpus(model.tokenizer, [texts[i] for i in docs], cfg.seq_len, max_seqs=cfg.max_seqs)
    hooks = cfg.hooks or residual_hooks(model.cfg.n_layers)
    acts = capture(model, corpus, hooks, batch_size=cfg.batch_size, progress=False)
    rand = capture(random_model(model, seed=cfg.seed + 1), corpus, hooks, batch_size=cfg.batch_size, progress=False)
    seq_id, seq_pos, token_id = acts.meta["seq_id"], acts.meta["seq_pos"], acts.meta["token_id"]
    probe_cfg = ProbeConfig(max_epochs=cfg.max_epochs, seed=cfg.seed, lr=1e-2, batch_size=512, l2=1e-4)
    out = []
    for task in cfg.tasks:
        labels = labels_for_rows(token_labels(task, model.tokenizer, corpus), seq_id, seq_pos)
        keep = labels >= 0  # drop [CLS]/[SEP]/BOS
        reports = probe_hooks({h: acts[h][keep] for h in hooks}, {h: rand[h][keep] for h in hooks}, hooks,
                              labels[keep], token_id[keep], kind="logistic", config=probe_cfg,
                              groups=seq_id[keep], desc=task)
        result = ProbeResult(task, reports, {"n_rows": int(keep.sum()),
                                             "positive_rate": float(labels[keep].float().mean())})
        run_config = {"corpus": "default", "docs": docs, "max_seqs": cfg.max_seqs, "seq_len": cfg.seq_len,
                      "control_types": "token id", "split_groups": "sequence", "random_seed": cfg.seed + 1}
        out.append((write_probe_run(result, spec=spec, config=run_config, root=root, slug=_slug(slug, task)), result))
    return out


@dataclass
class ModaddProbeConfig:
    """Probes of ``toy:modadd`` at the ``=`` position: the answer (logistic) and its Fourier features (linear)."""

    hooks: list[str] = field(default_factory=lambda: list(MODADD_HOOKS))
    tasks: list[str] = field(default_factory=lambda: ["answer", "fourier"])
    max_epochs: int = 40
    seed: int = 0
    batch_size: int = 4096  # capture batch


def modadd_probe_pipeline(spec: str = "toy:modadd", config: ModaddProbeConfig | None = None, *,
                          root: str | Path | None = None, slug: str | None = "modadd",
                          device: str | None = None) -> list[tuple[Run, ProbeResult]]:
    """Probe the modular-addition model for ``(a + b) mod p`` and ``cos/sin w (a + b)`` (key frequencies w)."""
    from interp.circuits.fourier import embedding_frequency_norms, key_frequencies, modadd_inputs, number_embedding
    from interp.hooks import capture
    from interp.models import load_model
    from interp.probes.steering import ablation_losses

    cfg = config or ModaddProbeConfig()
    if unknown := sorted(set(cfg.tasks) - {"answer", "fourier"}):
        raise ValueError(f"Unknown modadd probe tasks {unknown}; choose from answer, fourier.")
    model = load_model(spec, device=device)
    extra = getattr(getattr(model, "toy_config", None), "extra", None) or {}
    if "p" not in extra:
        raise ValueError(f"{spec} is not a modular-addition toy model (its config has no modulus p).")
    p = int(extra["p"])
    tokens, answer = modadd_inputs(p, int(extra.get("eq_token", p)))
    a, b = tokens[:, 0], tokens[:, 1]
    types = torch.minimum(a, b) * p + torch.maximum(a, b)  # unordered pair {a, b}: the model is symmetric in a, b
    keys = key_frequencies(embedding_frequency_norms(number_embedding(model, p)))
    angle = 2 * math.pi * answer[:, None].double() * torch.tensor(keys, dtype=torch.float64)[None] / p
    fourier = torch.cat([torch.cos(angle), torch.sin(angle)], dim=1).float()  # [p*p, 2k]

    hooks = cfg.hooks
    acts = capture(model, tokens, hooks, positions=[-1], batch_size=cfg.batch_size, progress=False)
    rand = capture(random_model(model, seed=cfg.seed + 1), tokens, hooks, positions=[-1], batch_size=cfg.batch_size,
                   progress=False)
    probe_cfg = ProbeConfig(max_epochs=cfg.max_epochs, seed=cfg.seed, lr=1e-2, batch_size=512, l2=1e-5)
    out = []
    for task, kind, labels, note in (
        ("answer", "logistic", answer, "(a + b) mod p"),
        ("fourier", "linear", fourier, f"cos/sin of w (a + b) for key frequencies {keys}"),
    ):
        if task not in cfg.tasks:
            continue
        reports = probe_hooks(acts.acts, rand.acts, hooks, labels, types, kind=kind, config=probe_cfg, desc=task)
        result = ProbeResult(task, reports)
        if task == "fourier":  # does the model need what the probes read? (interp.probes.steering)
            result.extra["ablation"] = ablation_losses(model, tokens, answer, reports, cfg.seed)
        run_config = {"positions": "last", "control_types": "unordered pair {a, b}", "key_freqs": keys,
                      "random_seed": cfg.seed + 1, "label": note}
        out.append((write_probe_run(result, spec=spec, config=run_config, root=root, slug=_slug(slug, task)), result))
    return out


@dataclass
class CaptureProbeConfig:
    """A token property probed on the rows of a ``capture`` run, with its controls."""

    tasks: Sequence[str] = ("in_quotes", "word_start")  # the first whose rarer class is >= min_rate of the rows
    min_rate: float = 0.05
    max_seqs: int = 64  # the first this many sequences of the capture
    hook: str | None = None  # default: the capture's first *hook_resid_post
    max_epochs: int = 20
    random_seed: int = 1


def capture_probe_pipeline(capture_run: str | Path | Run, config: CaptureProbeConfig | None = None, *,
                           root: str | Path | None = None, slug: str | None = None,
                           device: str | None = None) -> tuple[Run, ProbeResult]:
    """Probe ``capture_run``'s rows for a token property; the split is by token (few sequences).

    With a handful of sequences a split by sequence leaves a test set with almost no
    quoted text, where no probe can beat chance; :func:`token_probe_pipeline` splits by
    sequence on a larger slice. The run slug is ``<slug or spec>-<task>``.
    """
    from interp.hooks import capture
    from interp.hooks.pipeline import CaptureConfig, open_store, parse_positions
    from interp.models import load_model
    from interp.probes.labels import labels_for_rows, token_labels
    from interp.runs import load_run

    cfg = config or CaptureProbeConfig()
    source = capture_run if isinstance(capture_run, Run) else load_run(capture_run)
    if source.kind != "capture":
        raise ValueError(f"{source.path} is a {source.kind!r} run; probing its rows needs a capture run.")
    captured = CaptureConfig.from_json(source.config)
    store = open_store(source.path)
    hook = cfg.hook or next((h for h in store.hooks if h.endswith("hook_resid_post")), None)
    if hook is None:
        raise ValueError(f"{source.path} holds no *hook_resid_post ({store.hooks}); pass a hook.")
    store.check_hooks(hook)
    n = min(cfg.max_seqs, store.inputs_shape()[0])
    corpus = store.inputs(torch.arange(n))
    model = load_model(captured.model, device=device)
    meta = store.meta()
    stop = int((meta["seq_id"] < n).nonzero().max()) + 1  # rows are in sequence order
    for task in cfg.tasks:
        labels = labels_for_rows(token_labels(task, model.tokenizer, corpus), meta["seq_id"][:stop],
                                 meta["seq_pos"][:stop])
        rate = float(labels[labels >= 0].float().mean())
        if min(rate, 1 - rate) >= cfg.min_rate:
            break
    acts = store.rows(hook, 0, stop)
    rand = capture(random_model(model, seed=cfg.random_seed), corpus, [hook], progress=True,
                   positions=parse_positions(captured.positions), include_bos=captured.include_bos)[hook]
    if rand.shape[0] != stop:
        raise RuntimeError(f"The random-model capture has {rand.shape[0]} rows, "
                           f"the store's first {n} sequences {stop}.")
    keep = labels >= 0
    report = probe_report(acts[keep], labels[keep], rand[keep], meta["token_id"][:stop][keep],
                          config=ProbeConfig(max_epochs=cfg.max_epochs))
    report.hook = report.probe.hook = hook
    result = ProbeResult(task, [report])
    run_config = {"store": str(store.path), "max_seqs": n, "control_types": "token id", "random_seed": cfg.random_seed}
    return write_probe_run(result, spec=captured.model, config=run_config, root=root, slug=_slug(slug, task)), result


def summary_lines(run: Run, result: ProbeResult) -> list[str]:
    """The headline and the per-hook table of one probe run (plus the ablation rows, when measured)."""
    extra = result.extra
    if "n_rows" in extra:
        head = (f"{result.task}: {extra['n_rows']} tokens, {extra['positive_rate']:.1%} positive, "
                f"chance {result.chance:.3f} -> {run.path}")
    else:
        note = f"{run.config['label']}; " if run.config.get("label") else ""
        head = f"{result.task} ({note}metric {result.metric}, chance {result.chance:.3f}) -> {run.path}"
    with_layer = "n_rows" in extra
    width = 26 if with_layer else 28
    lines = [head, f"  {'hook':{width}s} " + (f"{'layer':>5s} " if with_layer else "")
             + f"{'train':>6s} {'test':>6s} {'control':>7s} {'select.':>7s} {'random':>6s}"]
    for r in result.reports:
        layer = f"{r.row()['layer']:5d} " if with_layer else ""
        lines.append(f"  {r.hook:{width}s} {layer}{r.train:6.3f} {r.test:6.3f} {r.control:7.3f} "
                     f"{r.selectivity:7.3f} {r.random_model:6.3f}")
    for row in extra.get("ablation", []):
        lines.append(f"  ablating at {row['hook']}: model loss {row['clean_loss']:.4f} -> probe weight directions "
                     f"{row['ablated_loss']:.4f}, pattern directions {row['pattern_ablated_loss']:.3f}, "
                     f"{row['n_directions']} random directions {row['random_dirs_loss']:.4f}")
    return lines


def demo_step(ctx: Any) -> list[Run]:
    """``interp demo``: probe the demo's MiniLM capture for "inside quotes" (or "starts a word"), with controls."""
    run, result = capture_probe_pipeline(ctx.find("capture", "minilm"), root=ctx.runs_root, device=ctx.device,
                                         slug="demo-minilm")
    r = result.reports[0]
    print(f"  {run.model} {r.hook}: '{result.task}' probe test accuracy {r.test:.3f} (chance {r.chance:.3f}), "
          f"control {r.control:.3f}, selectivity {r.selectivity:.3f}, random model "
          f"{r.random_model:.3f} -> {run.path}")
    note = selectivity_note(r.test, r.control, r.random_model)
    if note:
        print(f"  {note}")
    return [run]


def selectivity_note(test: float, control: float, random_model: float, low: float = 0.05) -> str:
    """One line that says what a low selectivity or a strong random-model baseline means ("" when neither)."""
    notes = []
    if test - control < low:
        notes.append(f"selectivity {test - control:.3f} is low: the control task (labels tied to token identity) is "
                     "learned about as well, so the probe may be reading which token it is rather than the property")
    if random_model >= test - low / 2:
        notes.append("a randomly initialised model does about as well, so the property is readable from the "
                     "token embeddings alone, not something the trained layers computed")
    text = "; ".join(notes)
    return text[:1].upper() + text[1:] + "." if text else ""
