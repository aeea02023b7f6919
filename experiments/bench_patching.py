"""Benchmark: activation patching and attribution patching (interp.circuits) against their baselines.

For each model, on one clean/corrupt task, measured in the same run (median of ``--reps``
after a warm-up):

1. **Activation patching sweeps** (denoising; resid_pre and attn_out by layer x position,
   mlp_out where there are MLPs, heads by layer x head):
   * ours: ``patching_sweep`` (the default, and ``cells_per_pass=1``: one cell per pass);
   * TransformerLens's own ``transformer_lens.patching`` (``get_act_patch_resid_pre``,
     ``get_act_patch_attn_out``, ``get_act_patch_mlp_out``,
     ``get_act_patch_attn_head_out_all_pos``) on the same TransformerBridge model, same
     tokens, same metric: one ``run_with_hooks`` per cell;
   * the floor of the one-cell-per-pass method: n_cells x one bare forward of the batch.
   Both results are checked equal (raw metric, to 1e-4) before anything is timed.
2. **Edge attribution** (every edge of :class:`~interp.circuits.graph.EdgeGraph`):
   EAP and EAP-IG (``task_attribution``) against exact per-edge patching (``edge_patching``,
   ours, and the one-``EdgeRun``-per-edge loop it replaced), with how close the rankings
   are (Spearman of |score| against |exact|, and the faithfulness AUC of each ranking);
   ACDC wall time and forward passes, ours and the one-trial-per-pass loop it replaced
   (same circuit checked).

``random:N`` (``--models``) adds a randomly initialised N-layer model (d_model 64, 4 heads, MLPs,
vocab 512) on random repeated tokens with the KL metric, for the patching sweeps only (its edge
graph is too big for the one-edge-per-pass baselines): how the sweep scales with depth.

Tasks: ``toy:induction``: ``induction_task`` (repeated random tokens, first copy
resampled; logit_diff read on the repeat). ``toy:toylm``: shipped-corpus text, the second
quarter of the first 2 x 16 tokens resampled (symmetric token replacement), logprob of the true
next token, in three variants on prefixes of the same prompts:

* ``toy:toylm`` (the lead): BOS + 24 tokens, the metric read at **every** position, so no
  position and no logit can be skipped; what is left of our speed is the method's own (no-op
  cells not run, passes that start at the patched layer, cells sharing passes);
* ``toy:toylm:after``: the same 25 tokens, read at the ``--read`` (8) positions right after the
  span: we compute logits only there (TransformerLens computes all 25);
* ``toy:toylm:trailing``: BOS + 32 tokens, read at the same 8 positions, then 8 tokens never
  read: our runs stop before them (TransformerLens's API runs every position). This is the
  task the earlier headline (5.2x) came from; it measures that task-design choice.

    python experiments/bench_patching.py                      # every task above, 32 prompts, median of 3
    python experiments/bench_patching.py --models toy:induction --prompts 8 --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # transformer_lens.patching draws a bar per sweep
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from interp.circuits.attribution import edge_patching, task_attribution  # noqa: E402
from interp.circuits.discovery import acdc  # noqa: E402
from interp.circuits.faithfulness import CircuitEval, faithfulness_curve  # noqa: E402
from interp.circuits.graph import EdgeGraph, EdgeRun  # noqa: E402
from interp.circuits.metrics import Task, induction_task, metric_per_input, replace_tokens  # noqa: E402
from interp.circuits.patching import patching_sweep  # noqa: E402

TL_SWEEPS = {"resid_pre": "get_act_patch_resid_pre", "attn_out": "get_act_patch_attn_out",
             "mlp_out": "get_act_patch_mlp_out", "heads": "get_act_patch_attn_head_out_all_pos"}


def timed(fns: dict[str, Callable[[], Any]], reps: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Median seconds of each function and its last result: one warm-up each, then ``reps`` rounds
    that call every function in turn, so all of them see the same load on a shared machine."""
    results = {name: fn() for name, fn in fns.items()}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}, results


class PassCounter:
    """Counts the model's forward passes (a forward pre-hook on the bridge)."""

    def __init__(self, model: Any) -> None:
        self.n = 0
        self.handle = model.register_forward_pre_hook(self._count)

    def _count(self, *_: Any) -> None:
        self.n += 1


TOYLM_VARIANTS = {
    "all": "every position read (no trailing tokens): no position or logit can be skipped",
    "after": "read only after the resampled span, no trailing tokens: the logits before it are not computed",
    "trailing": "read after the span, then tokens that are never read: our runs stop before them",
}


def split_spec(spec: str) -> tuple[str, str]:
    """``toy:toylm:trailing`` -> (``toy:toylm``, ``trailing``); plain ``toy:toylm`` is the ``all`` task."""
    head, _, tail = spec.rpartition(":")
    if spec.startswith("toy:toylm") and tail in TOYLM_VARIANTS:
        return head, tail
    return spec, "all" if spec == "toy:toylm" else ""


def make_task(model: Any, spec: str, n: int, segment: int | None, read: int, seed: int) -> tuple[Task, str, str]:
    """(task, metric, description) for ``spec`` (see the module docstring)."""
    vocab = model.cfg.d_vocab
    base, variant = split_spec(spec)
    if base.startswith("random:"):
        return induction_task(n, segment or 20, vocab, seed=seed), "kl", f"induction_task(n={n}, segment={segment or 20})"
    if base == "toy:induction":
        seg = segment or int(model.toy_config.extra["eval_segment"])
        return (induction_task(n, seg, vocab, seed=seed), "logit_diff",
                f"induction_task(n={n}, segment={seg}, seed={seed})")
    from interp.datasets import load_texts, tokenize_corpus

    half = segment or 16
    seq = 2 * half + 1 if variant == "trailing" else half + 1 + read  # BOS + content; the token after each is its answer
    longest = max(seq, 2 * half + 1)
    corpus = tokenize_corpus(model.tokenizer, load_texts(), longest + 1, max_seqs=8 * n)
    rows = corpus.tokens[corpus.attention_mask.bool().all(1)][:n]  # [n, longest + 1], no padding
    if len(rows) < n:
        raise SystemExit(f"The corpus has only {len(rows)} unpadded rows of {longest + 1} tokens; use fewer --prompts.")
    span = torch.zeros(n, longest, dtype=torch.bool)
    span[:, half // 2 + 1 : half + 1] = True  # the second quarter of the content
    pad = model.tokenizer.pad_token_id
    corrupt = replace_tokens(rows[:, :longest], span, vocab, torch.Generator().manual_seed(seed), bos=int(rows[0, 0]))
    if pad is not None:
        corrupt = torch.where(corrupt == pad, (corrupt + 1) % vocab, corrupt)
    clean, corrupt = rows[:, :seq], corrupt[:, :seq]  # every variant: prefixes of the same prompts and corruption
    positions = torch.zeros(clean.shape, dtype=torch.bool)
    if variant == "all":
        positions[:] = True
        where = f"at every position 0-{seq - 1}"
    else:
        positions[:, half + 1 : half + 1 + read] = True  # the positions right after the span
        where = f"at {half + 1}-{half + read}" + (f", then {seq - half - 1 - read} tokens never read" if variant == "trailing" else "")
    return (Task(clean, corrupt, positions, rows[:, 1 : seq + 1]), "logprob",
            f"corpus text, {seq} tokens, positions {half // 2 + 1}-{half} resampled, logprob read {where}")


def random_model(spec: str, device: str) -> Any:
    """``random:N``: a randomly initialised N-layer decoder with MLPs (seeded)."""
    from interp.models import ToyConfig, boot_toy

    bc = dict(n_layers=int(spec.split(":")[1]), d_model=64, n_heads=4, d_head=16, d_mlp=256, n_ctx=128,
              d_vocab=512, normalization_type="LN", act_fn="gelu")
    model = boot_toy(ToyConfig(name=spec.replace(":", "-"), bridge_config=bc, seed=0), device=device)
    return model.eval()


def tl_sweeps(model: Any, task: Task, metric: str, sweeps: list[str]) -> dict[str, torch.Tensor]:
    """Raw metric per cell from transformer_lens.patching, clean -> corrupt (denoising)."""
    from transformer_lens import patching as tlp

    with torch.no_grad():
        clean_logits, cache = model.run_with_cache(task.clean)
        fn = lambda logits: metric_per_input(metric, logits, task, clean_logits).mean()  # noqa: E731
        return {s: getattr(tlp, TL_SWEEPS[s])(model, task.corrupt, cache, fn).cpu() for s in sweeps}


def edge_patching_one_per_pass(ev: CircuitEval) -> torch.Tensor:
    """The loop ``edge_patching`` replaced: one EdgeRun (whole model, full logits) per edge."""
    g, scores = ev.graph, torch.zeros(ev.graph.valid.shape)
    for i, j in g.edges():
        cut = torch.zeros_like(g.valid)
        cut[i, j] = True
        with torch.no_grad():
            logits = EdgeRun(ev.model, g, ev.patch, cut)(ev.task.clean)
        scores[i, j] = metric_per_input(ev.metric, logits, ev.task, ev.clean_logits).mean().item() - ev.clean_value
    return scores


def acdc_one_per_pass(ev: CircuitEval, threshold: float, objective: str = "kl") -> tuple[torch.Tensor, torch.Tensor]:
    """The loop ``acdc`` replaced: one EdgeRun (whole model, full logits) per tested edge. (keep, scores)."""
    g = ev.graph
    keep, scores = g.valid.clone(), torch.zeros(g.valid.shape)
    scale = abs(ev.clean_value - ev.corrupt_value)

    def f(keep: torch.Tensor) -> float:
        with torch.no_grad():
            logits = EdgeRun(ev.model, g, ev.patch, g.valid & ~keep)(ev.task.clean)
        value = metric_per_input(objective, logits, ev.task, ev.clean_logits).mean().item()
        return value if objective == "kl" else abs(value - ev.clean_value) / scale

    current = f(keep)
    for j in reversed(range(len(g.dst))):
        node = g.dst[j].node
        dead = node.type != "output" and not bool(keep[g.src.index(node)].any())
        for i in reversed(range(g.n_upstream(j))):
            keep[i, j] = False
            if not dead:
                trial = f(keep)
                scores[i, j] = trial - current
                if trial - current < threshold:
                    current = trial
                else:
                    keep[i, j] = True
    return keep, scores


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """A markdown table: first column left-aligned, the others right (nothing without rows)."""
    if not rows:
        return
    print("\n| " + " | ".join(header) + " |\n|---|" + "---:|" * (len(header) - 1))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra, rb = (x.argsort().argsort().float() for x in (a, b))
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def bench_patching(model: Any, task: Task, metric: str, reps: int) -> dict[str, Any]:
    sweeps = ["resid_pre", "attn_out", "heads"] + ([] if getattr(model.cfg, "attn_only", False) else ["mlp_out"])
    ours = patching_sweep(model, task, metric, "denoising", sweeps, progress=False)
    tl = tl_sweeps(model, task, metric, sweeps)
    gap = ours.clean_value - ours.corrupt_value  # compare raw metric values (normalising divides by the gap)
    err = max((tl[s] - (ours.sweeps[s] * gap + ours.corrupt_value)).abs().max().item() for s in sweeps)
    assert err < 1e-4 * max(1.0, abs(ours.clean_value)), f"ours and transformer_lens.patching disagree by {err:.3g}"
    n_cells = sum(t.numel() for t in ours.sweeps.values())

    fwd: list[float] = []

    @torch.no_grad()
    def bare() -> None:  # one bare forward of the batch, best of 3, taken in turn with the others
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            model(task.corrupt)
            best = min(best, time.perf_counter() - t0)
        fwd.append(best)

    t, _ = timed({"tl": lambda: tl_sweeps(model, task, metric, sweeps), "fwd": bare,
                  "ours": lambda: patching_sweep(model, task, metric, "denoising", sweeps, progress=False),
                  "one": lambda: patching_sweep(model, task, metric, "denoising", sweeps, progress=False,
                                                cells_per_pass=1)}, reps)
    t_fwd = statistics.median(fwd)
    return {"sweeps": sweeps, "cells": n_cells, "max_abs_diff_vs_tl": err, "clean_value": ours.clean_value,
            "corrupt_value": ours.corrupt_value, "bare_forward_s": t_fwd,
            "floor_s": n_cells * t_fwd, "ours_s": t["ours"], "ours_one_cell_per_pass_s": t["one"], "tl_s": t["tl"],
            "speedup_vs_tl": t["tl"] / t["ours"], "ours_vs_floor": t["ours"] / (n_cells * t_fwd),
            "tl_vs_floor": t["tl"] / (n_cells * t_fwd)}


def bench_attribution(model: Any, task: Task, metric: str, reps: int, ig_steps: int, tau: float) -> dict[str, Any]:
    graph = EdgeGraph.from_model(model)
    ev = CircuitEval.prepare(model, graph, task, metric)
    fns = {"exact": lambda: edge_patching(ev, progress=False), "exact_old": lambda: edge_patching_one_per_pass(ev),
           "eap": lambda: task_attribution(model, graph, task, metric, "eap", progress=False),
           "eap_ig": lambda: task_attribution(model, graph, task, metric, "eap-ig", steps=ig_steps, progress=False),
           "acdc": lambda: acdc(ev, tau, progress=False), "acdc_old": lambda: acdc_one_per_pass(ev, tau)}
    counter = PassCounter(model)
    try:
        passes = {}
        for name in ("acdc", "acdc_old"):
            counter.n = 0
            fns[name]()
            passes[name] = counter.n
    finally:
        counter.handle.remove()
    t, res = timed(fns, reps)
    exact, exact_old, circuit = res["exact"], res["exact_old"], res["acdc"]
    err = (exact - exact_old).abs().max().item()
    assert err < 1e-4 * max(1.0, exact_old.abs().max().item()), f"edge_patching changed by {err:.3g}"
    assert torch.equal(circuit.keep, res["acdc_old"][0]), "acdc kept different edges than the one-trial-per-pass loop"
    all_ks = list(range(graph.n_edges + 1))
    v = graph.valid
    out: dict[str, Any] = {"edges": graph.n_edges, "edge_patching_s": t["exact"], "edge_patching_one_per_pass_s": t["exact_old"],
                           "edge_patching_speedup": t["exact_old"] / t["exact"], "edge_patching_max_abs_diff": err,
                           "auc_exact": faithfulness_curve(ev, exact.abs(), all_ks)["auc"]}
    for name in ("eap", "eap_ig"):
        out.update({f"{name}_s": t[name], f"{name}_speedup_vs_exact": t["exact"] / t[name],
                    f"{name}_speedup_vs_exact_one_per_pass": t["exact_old"] / t[name],
                    f"{name}_spearman_vs_exact": spearman(res[name].abs()[v], exact.abs()[v]),
                    f"auc_{name}": faithfulness_curve(ev, res[name].abs(), all_ks)["auc"]})
    out.update({"acdc_tau": tau, "acdc_edges_kept": circuit.edges_kept, "acdc_s": t["acdc"], "acdc_passes": passes["acdc"],
                "acdc_one_per_pass_s": t["acdc_old"], "acdc_one_per_pass_passes": passes["acdc_old"],
                "acdc_speedup": t["acdc_old"] / t["acdc"]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["toy:induction", "toy:toylm", "toy:toylm:after", "toy:toylm:trailing"],
                    help="toy:toylm reads every position; toy:toylm:after and toy:toylm:trailing read 8 positions after "
                         "the resampled span, the latter with 8 unread tokens after them")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--segment", type=int, default=None,
                    help="induction: repeated segment (default: the checkpoint's eval_segment); toylm: half the content (16)")
    ap.add_argument("--read", type=int, default=8, help="toylm: metric positions after the resampled span")
    ap.add_argument("--ig-steps", type=int, default=5)
    ap.add_argument("--tau", type=float, default=0.005, help="ACDC threshold on KL")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions (median) after one warm-up")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0 = torch default)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--runs", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from interp.models import load_model
    from interp.runs import start_run

    dev = torch.cuda.get_device_name(0) if args.device == "cuda" else f"{platform.processor() or platform.machine()} CPU"
    print(f"# bench_patching on {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.prompts} prompts, median of {args.reps}\n", flush=True)
    results: dict[str, Any] = {}
    for spec in args.models:
        base, variant = split_spec(spec)
        model = random_model(base, args.device) if base.startswith("random:") else load_model(base, device=args.device)
        task, metric, desc = make_task(model, spec, args.prompts, args.segment, args.read, args.seed)
        print(f"{spec}: {desc}; metric {metric}", flush=True)
        p = bench_patching(model, task, metric, args.reps)
        print(json.dumps(p), flush=True)
        results[spec] = {"task": desc, "metric": metric, "tokens": list(task.clean.shape), "patching": p,
                         "read_positions": int(task.positions[0].sum()), "variant": TOYLM_VARIANTS.get(variant, "")}
        if not base.startswith("random:") and variant in ("", "all"):  # edge attribution on the lead task only
            results[spec]["attribution"] = a = bench_attribution(model, task, metric, args.reps, args.ig_steps, args.tau)
            print(json.dumps(a), flush=True)
    attributed = {spec: r for spec, r in results.items() if "attribution" in r}

    print_table(["model / task", "tokens (read)", "sweeps (cells)", "TL patching", "ours, 1 cell/pass", "ours", "ours vs TL",
                 "floor (cells x forward)", "ours / floor"],
                [[spec, f"{results[spec]['tokens'][1]} ({results[spec]['read_positions']})",
                  f"{'+'.join(p['sweeps'])} ({p['cells']})", f"{p['tl_s']:.2f} s",
                  f"{p['ours_one_cell_per_pass_s']:.2f} s", f"{p['ours_s']:.2f} s", f"**{p['speedup_vs_tl']:.2f}x**",
                  f"{p['floor_s']:.2f} s", f"{p['ours_vs_floor']:.2f}"]
                 for spec, p in ((spec, r["patching"]) for spec, r in results.items())])
    print_table(["model", "edges", "exact, 1 edge/pass", "exact (ours)", "EAP", "EAP-IG", "EAP vs exact",
                 "EAP-IG vs exact", "Spearman EAP / EAP-IG", "AUC exact / EAP / EAP-IG"],
                [[spec, str(a["edges"]), f"{a['edge_patching_one_per_pass_s']:.2f} s", f"{a['edge_patching_s']:.2f} s",
                  f"{a['eap_s']:.3f} s", f"{a['eap_ig_s']:.3f} s", f"{a['eap_speedup_vs_exact']:.1f}x",
                  f"{a['eap_ig_speedup_vs_exact']:.1f}x",
                  f"{a['eap_spearman_vs_exact']:.2f} / {a['eap_ig_spearman_vs_exact']:.2f}",
                  f"{a['auc_exact']:.3f} / {a['auc_eap']:.3f} / {a['auc_eap_ig']:.3f}"]
                 for spec, a in ((spec, r["attribution"]) for spec, r in attributed.items())])
    print_table(["model", "ACDC tau", "edges kept", "1 trial/pass: time, passes", "ours: time, passes", "speedup"],
                [[spec, f"{a['acdc_tau']:g}", str(a["acdc_edges_kept"]),
                  f"{a['acdc_one_per_pass_s']:.2f} s, {a['acdc_one_per_pass_passes']}",
                  f"{a['acdc_s']:.2f} s, {a['acdc_passes']}", f"{a['acdc_speedup']:.2f}x"]
                 for spec, a in ((spec, r["attribution"]) for spec, r in attributed.items())])
    metrics = {}
    for spec, r in results.items():
        key = spec.replace("toy:", "").replace(":", "")
        metrics.update({f"{key}_patching_speedup_vs_tl": r["patching"]["speedup_vs_tl"],
                        f"{key}_patching_vs_floor": r["patching"]["ours_vs_floor"]})
        if "attribution" in r:
            metrics.update({f"{key}_edge_patching_speedup": r["attribution"]["edge_patching_speedup"],
                            f"{key}_acdc_speedup": r["attribution"]["acdc_speedup"],
                            f"{key}_eap_ig_speedup_vs_exact": r["attribution"]["eap_ig_speedup_vs_exact"]})
    with start_run("bench", {**vars(args), "device_name": dev}, slug="bench-patching", root=args.runs) as run:
        run.write_json("results", results)
        run.metrics.update(metrics)
    print(f"run: {run.path}")


if __name__ == "__main__":
    main()
