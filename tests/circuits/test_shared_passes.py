"""Shared forward passes give the numbers of one plain forward pass per cell / edge / trial.

patching_sweep, edge_patching, ACDC and faithfulness curves skip no-op cells, stop runs
at the last read position, compute logits only where read and evaluate several cells
or edge sets per pass (fanned out after their common prefix). Each is checked here
against a plain reference: one full forward pass per item, TransformerLens-style hooks
or one EdgeRun, on a task whose corruption, read positions and trailing tokens make
every shortcut apply.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from interp.circuits import faithfulness, patching
from interp.circuits.attribution import edge_patching
from interp.circuits.discovery import acdc
from interp.circuits.faithfulness import CircuitEval, faithfulness_curve, recovered_many
from interp.circuits.graph import EdgeGraph, EdgeRun
from interp.circuits.metrics import Task, metric_per_input, normalise
from interp.circuits.patching import _HOOK, ReadOut, patching_sweep
from circuit_threads import one_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")
TOL = dict(atol=1e-5, rtol=1e-5)
BENCH = Path(__file__).resolve().parents[2] / "experiments" / "bench_patching.py"


def bench_module():
    """experiments/bench_patching.py, whose one-pass-per-trial ACDC loop is the reference here."""
    spec = importlib.util.spec_from_file_location("bench_patching", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def task(tiny_model):
    """Corruption at positions 2 and 4; the metric read at positions 3, 5 and 6 of 9 (two trailing tokens)."""
    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(1, 50, (3, 9), generator=gen)
    corrupt = clean.clone()
    corrupt[:, [2, 4]] = torch.randint(1, 50, (3, 2), generator=gen)
    pos = torch.zeros(3, 9, dtype=torch.bool)
    pos[:, [3, 5, 6]] = True
    with torch.no_grad():
        answer = tiny_model(clean).argmax(-1)
    return Task(clean, corrupt, pos, answer, (answer + 1) % 50)


def reference_sweep(model, task, metric, direction, sweeps):
    """One full forward pass per cell, the activation overwritten in place (transformer_lens.patching style)."""
    with torch.no_grad():
        clean_logits, corrupt_logits = model(task.clean), model(task.corrupt)
    clean_v = metric_per_input(metric, clean_logits, task, clean_logits).mean().item()
    corrupt_v = metric_per_input(metric, corrupt_logits, task, clean_logits).mean().item()
    target, source = (task.corrupt, task.clean) if direction == "denoising" else (task.clean, task.corrupt)
    out = {}
    for s in sweeps:
        n = model.cfg.n_heads if s == "heads" else task.clean.shape[1]
        out[s] = torch.zeros(model.cfg.n_layers, n)
        for layer in range(model.cfg.n_layers):
            name = _HOOK[s].format(layer)
            _, cache = model.run_with_cache(source, names_filter=[name])
            for j in range(n):
                def fn(act, hook, j=j):
                    if s == "heads":
                        act[:, :, j] = cache[name][:, :, j]
                    else:
                        act[:, j] = cache[name][:, j]
                    return act

                with torch.no_grad(), model.hooks(fwd_hooks=[(name, fn)]):
                    value = metric_per_input(metric, model(target), task, clean_logits).mean().item()
                out[s][layer, j] = normalise(value, clean_v, corrupt_v)
    return out


def count_passes(model):
    rows = []  # the batch size of every forward pass
    handle = model.register_forward_pre_hook(lambda module, args: rows.append(args[0].shape[0]))
    return rows, handle


@pytest.mark.parametrize("metric,direction", [("logit_diff", "denoising"), ("kl", "noising")])
def test_patching_sweep_equals_one_full_pass_per_cell(tiny_model, task, metric, direction):
    sweeps = ["resid_pre", "attn_out", "mlp_out", "heads"]
    ref = reference_sweep(tiny_model, task, metric, direction, sweeps)
    for k in (1, 4, 0):
        res = patching_sweep(tiny_model, task, metric, direction, sweeps, progress=False, cells_per_pass=k)
        for s in sweeps:
            torch.testing.assert_close(res.sweeps[s], ref[s], **TOL)


def test_no_op_cells_take_no_pass_and_patched_passes_start_at_their_layer(tiny_model, task):
    rows, handle = count_passes(tiny_model)
    try:
        res = patching_sweep(tiny_model, task, "logit_diff", "denoising", ["resid_pre"], progress=False, cells_per_pass=1)
    finally:
        handle.remove()
    # Layer 0 differs only at the corrupted positions 2 and 4; layers 1-2 from position 2 on; runs stop
    # after position 6 (the last read). So 2 + 2 * 5 cells of 27, after the clean and corrupt runs and one
    # check that a one-row pass with the target run's residual swapped in reproduces the target run.
    assert rows == [3, 3] + [1] * (1 + 2 + 2 * 5)
    torch.testing.assert_close(res.sweeps["resid_pre"][:, 7:], torch.zeros(3, 2))  # exactly unpatched
    assert res.sweeps["resid_pre"][0, 2] != 0 and res.sweeps["resid_pre"][0, 3] == 0


def test_readout_trims_positions_exactly(tiny_model, task):
    ro = ReadOut.of(tiny_model, task)
    assert ro.n_pos == 7 and ro.cols.tolist() == [3, 5, 6]
    with torch.no_grad():
        full = tiny_model(task.clean)
        seen = []  # the unembedding runs on the read positions only (trimmed inside the pass, not after it)
        trimmed = ro.run(tiny_model, ro.tokens(task.clean), [("unembed.hook_out", lambda a, hook: seen.append(a.shape))])
    assert seen == [(3, 3, tiny_model.cfg.d_vocab)]
    torch.testing.assert_close(trimmed, full[:, [3, 5, 6]], **TOL)
    for metric in ("logit_diff", "logprob", "kl"):
        torch.testing.assert_close(ro.values(metric, trimmed, ro.logits(full), 1)[0],
                                   metric_per_input(metric, full, task, full), **TOL)


def test_every_way_of_sharing_a_pass_gives_the_same_values(tiny_model, task, monkeypatch):
    """Swapped-in start, fanned-out batch, repeated tokens (for models that refuse the first two)."""
    sweeps = ["resid_pre", "attn_out", "heads"]
    want = reference_sweep(tiny_model, task, "logit_diff", "denoising", sweeps)

    def check():
        got = patching_sweep(tiny_model, task, "logit_diff", "denoising", sweeps, progress=False, cells_per_pass=4)
        for s in sweeps:
            torch.testing.assert_close(got.sweeps[s], want[s], **TOL)

    check()  # start
    monkeypatch.setattr(patching._CellRunner, "_starts_ok", lambda *a: False)
    check()  # fan

    def refuse(act, k, batch):
        if k > 1 and act.shape[0] == batch:
            raise RuntimeError("mask has batch size 3")
        return act

    monkeypatch.setattr(patching, "fan_out", refuse)
    check()  # repeat


# Edge-level: CircuitEval.per_input_many against one EdgeRun per mask -----------------------------------

@pytest.fixture
def ev(tiny_model, task):
    return CircuitEval.prepare(tiny_model, EdgeGraph.from_model(tiny_model), task, "logit_diff", "corrupt")


def reference_values(ev, keeps, metric=None):
    out = []
    for keep in keeps:
        with torch.no_grad():
            logits = EdgeRun(ev.model, ev.graph, ev.patch, ev.graph.valid & ~keep)(ev.task.clean)
        out.append(metric_per_input(metric or ev.metric, logits, ev.task, ev.clean_logits))
    return torch.stack(out)


def random_keeps(g, n, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([(torch.rand(g.valid.shape, generator=gen) < p) & g.valid for p in torch.linspace(0, 1, n)])


def test_per_input_many_equals_one_edge_run_per_mask_in_every_mode(ev):
    g = ev.graph
    keeps = random_keeps(g, 5, 1)  # masks that differ from layer 0 on
    late = g.valid[None].repeat(4, 1, 1)
    late[1, 3, -1] = late[2, 0, -1] = late[3, 5, -2] = False  # differ only at the logits / the last MLP
    single = g.valid.clone()
    single[1, g.attn_slots(1, "k")[2]] = False  # one cut into layer 1: a one-row pass from layer 1 on
    want = {id(ks): {m: reference_values(ev, ks, m) for m in ("logit_diff", "kl")} for ks in (keeps, late)}
    want_single = reference_values(ev, single[None])
    ev.per_input(g.valid)
    assert ev._mode == "start"  # the tiny model allows a pass to start at any layer
    for mode in ("start", "fan", "repeat"):
        ev._mode = mode
        for ks in (keeps, late):
            for metric in ("logit_diff", "kl"):
                torch.testing.assert_close(ev.per_input_many(ks, metric), want[id(ks)][metric], **TOL)
        torch.testing.assert_close(ev.per_input(single), want_single[0], **TOL)


def test_per_input_many_falls_back_when_the_model_refuses(ev, monkeypatch):
    keeps = random_keeps(ev.graph, 3, 2)
    want = reference_values(ev, keeps)
    monkeypatch.setattr(faithfulness, "fan_out", lambda act, k, batch: (_ for _ in ()).throw(RuntimeError("no")))
    torch.testing.assert_close(ev.per_input_many(keeps), want, **TOL)
    assert ev._mode == "repeat"


def test_edge_patching_and_curve_equal_one_pass_each(ev):
    g = ev.graph
    ref = torch.zeros(g.valid.shape)
    for i, j in g.edges():
        keep = g.valid.clone()
        keep[i, j] = False
        ref[i, j] = reference_values(ev, keep[None])[0].mean() - ev.clean_value
    for k in (1, 5, 0):
        torch.testing.assert_close(edge_patching(ev, progress=False, per_pass=k), ref, **TOL)
    ranking = torch.randn(g.valid.shape, generator=torch.Generator().manual_seed(2))
    curve = faithfulness_curve(ev, ranking, [0, 3, 10, g.n_edges])
    keeps = torch.stack([faithfulness.top_k_mask(g, ranking, k) for k in (0, 3, 10, g.n_edges)])
    want = [normalise(v, ev.clean_value, ev.corrupt_value) for v in reference_values(ev, keeps).mean(1).tolist()]
    assert curve["metric_recovered"] == pytest.approx(want, abs=1e-5)
    assert recovered_many(ev, keeps, per_pass=1) == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize("threshold,objective", [(1e-3, "kl"), (0.05, "logit_diff")])
def test_speculative_acdc_equals_one_trial_per_pass(ev, threshold, objective):
    keep, scores = bench_module().acdc_one_per_pass(ev, threshold, objective)  # one EdgeRun per trial
    assert 0 < int(keep.sum()) < ev.graph.n_edges  # a threshold that both prunes and keeps
    for k in (1, 3, 0):
        c = acdc(ev, threshold, objective, progress=False, per_pass=k)
        assert torch.equal(c.keep, keep)
        torch.testing.assert_close(c.scores, scores, **TOL)
