"""Which analyses work on which hub architecture: a table, from tiny random-weight models built here.

    python experiments/arch_matrix.py [--families llama gemma2 ...]

For each family of :mod:`interp.models.tiny` (GPT-2, Pythia, Llama, Gemma 2/3, Qwen 2/3,
Mistral) it saves a tiny model with ``transformers``, loads it with ``load_model(folder)``
like a hub download, and runs: the logits against ``transformers``' own, capture against
``run_with_cache``, an SAE spliced in (CE-loss score), a denoising patching sweep (the
corrupted position must restore exactly), attention sinks with every intervention, and a
probe. Each cell is a check mark with a figure, or the error. ``tests/models/test_architectures.py``
asserts the same things in CI; this prints them as the README's model table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from interp.models import load_model  # noqa: E402
from interp.models.tiny import FAMILIES, TEXT, build_tiny  # noqa: E402


def _tokens(model: Any, batch: int, pos: int) -> torch.Tensor:
    return torch.randint(2, int(model.cfg.d_vocab), (batch, pos), generator=torch.Generator().manual_seed(0))


def check_logits(path: Path, model: Any) -> str:
    from transformers import AutoModelForCausalLM

    tokens = _tokens(model, 2, 12)
    with torch.no_grad():
        err = (model(tokens) - AutoModelForCausalLM.from_pretrained(path).eval()(tokens).logits).abs().max()
    return f"max abs Δlogit {float(err):.0e}"


def check_capture(path: Path, model: Any) -> str:
    from interp.hooks import capture

    hooks = ["blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern", "blocks.0.hook_mlp_out", "blocks.1.attn.hook_z"]
    tokens = _tokens(model, 3, 12)
    got = capture(model, tokens, hooks, progress=False)
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in hooks)
    same = all(torch.equal(got[h], (cache[h].permute(0, 2, 1, 3) if h.endswith("pattern") else cache[h])
                           .reshape(got[h].shape)) for h in hooks)
    if not same:
        raise AssertionError("capture differs from run_with_cache")
    return f"{len(hooks)} hooks exact"


def check_sae(path: Path, model: Any) -> str:
    from interp.hooks import capture
    from interp.sae import SAEConfig, TrainConfig, train_sae
    from interp.sae.evaluation import splice_metrics

    hook = "blocks.0.hook_resid_post"
    tokens = model.tokenizer([TEXT] * 4, return_tensors="pt")["input_ids"][:, :24]
    acts = capture(model, tokens, [hook], progress=False)[hook]
    sae = train_sae(TrainConfig(sae=SAEConfig(arch="topk", d_in=0, d_sae=128, k=8), total_tokens=200 * 64,
                                batch_size=64, seed=0), acts).sae.eval()
    return f"CE-loss score {splice_metrics(sae, model, hook, tokens)['ce_loss_score']:.2f}"


def check_patching(path: Path, model: Any) -> str:
    from interp.circuits.metrics import Task
    from interp.circuits.patching import patching_sweep

    clean = _tokens(model, 4, 8)
    corrupt = clean.clone()
    corrupt[:, 3] = (clean[:, 3] + 7) % (int(model.cfg.d_vocab) - 2) + 2
    pos = torch.zeros(4, 8, dtype=torch.bool)
    pos[:, 6] = True
    with torch.no_grad():
        answer = model(clean).argmax(-1)
    res = patching_sweep(model, Task(clean, corrupt, pos, answer, (answer + 1) % int(model.cfg.d_vocab)),
                         "logit_diff", "denoising", progress=False)
    return f"restored {float(res.sweeps['resid_pre'][0, 3]):.3f} at the corrupted position"


def check_sinks(path: Path, model: Any) -> str:
    from interp.datasets import tokenize_corpus
    from interp.sinks.interventions import INTERVENTIONS, run_interventions
    from interp.sinks.measure import SinkConfig, measure_sinks

    corpus = tokenize_corpus(model.tokenizer, [TEXT] * 4, 16)
    report = measure_sinks(model, corpus, SinkConfig(progress=False))
    run_interventions(model, corpus, INTERVENTIONS, SinkConfig(progress=False))
    return f"sink rate {report.overall_sink_rate:.2f}, {len(INTERVENTIONS)} interventions"


def check_probe(path: Path, model: Any) -> str:
    from interp.hooks import capture
    from interp.probes import LogisticProbe

    tokens = _tokens(model, 16, 16)
    acts = capture(model, tokens, ["blocks.0.hook_resid_pre"], progress=False)["blocks.0.hook_resid_pre"]
    probe = LogisticProbe(max_epochs=60, seed=0).fit(acts, (tokens.reshape(-1) % 2).long())
    return f"token parity acc {probe.scores_['train']:.2f}"


CHECKS: dict[str, Callable[[Path, Any], str]] = {
    "logits vs transformers": check_logits, "capture": check_capture, "SAE splice": check_sae,
    "patching": check_patching, "sinks": check_sinks, "probe": check_probe}


def main(argv: list[str] | None = None) -> list[dict[str, str]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", nargs="*", default=list(FAMILIES), choices=list(FAMILIES))
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            t0 = time.perf_counter()
            path = build_tiny(family, Path(tmp) / family)
            model = load_model(str(path), device="cpu")
            row = {"family": family}
            for name, check in CHECKS.items():
                try:
                    row[name] = "✓ " + check(path, model)
                except Exception as exc:  # the table's point is to show what fails, and how
                    row[name] = f"✗ {type(exc).__name__}: {str(exc)[:80]}"
            row["seconds"] = f"{time.perf_counter() - t0:.1f}"
            rows.append(row)
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join(row[c] for c in cols) + " |")
    return rows


if __name__ == "__main__":
    main()
