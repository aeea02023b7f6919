"""The probe and Fourier experiment scripts write runs with the known answers (fast slices; full runs are slow)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from interp.runs import load_run

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"experiment_{name}", EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(run):
    return {r["hook"]: r for r in load_run(run.path).read_json("results")["rows"]}


def test_probe_modadd_answer_is_read_after_the_mlp_not_before(tmp_path):
    hooks = ["blocks.0.hook_resid_pre", "blocks.0.hook_resid_post"]
    (run,) = _script("probe_modadd").main(["--runs", str(tmp_path), "--tasks", "answer", "--max-epochs", "10",
                                           "--hooks", *hooks])
    rows = _rows(run)
    before, after = rows["blocks.0.hook_resid_pre"], rows["blocks.0.hook_resid_post"]
    assert before["test"] < 0.03  # the '=' position before attention knows nothing about a, b (chance 1/113)
    assert after["test"] > 0.95  # the unembedding reads the answer linearly from the final residual
    assert after["selectivity"] > 0.8 and after["control"] < 0.1
    assert after["random_model"] < 0.05  # a random 1-layer model does not compute (a + b) mod p
    assert load_run(run.path).metrics["best_hook"] == "blocks.0.hook_resid_post"


@pytest.mark.slow
def test_probe_modadd_full(tmp_path):
    answer, fourier = _script("probe_modadd").main(["--runs", str(tmp_path)])
    a, f = _rows(answer), _rows(fourier)
    assert a["blocks.0.hook_resid_mid"]["test"] < 0.5 < a["blocks.0.mlp.hook_post"]["test"]  # the MLP computes it
    assert f["blocks.0.mlp.hook_post"]["test"] > 0.9 and f["blocks.0.hook_resid_mid"]["test"] < 0.5
    res = load_run(fourier.path).read_json("results")
    assert res["metric"] == "r2"
    abl = {r["hook"]: r for r in res["ablation"]}["blocks.0.hook_resid_post"]
    assert abl["pattern_ablated_loss"] > 4.0 > 0.1 > abl["random_dirs_loss"]  # the pattern directions carry the answer


def test_modadd_fourier_script_writes_a_run(tmp_path):
    run = _script("modadd_fourier").main(["--runs", str(tmp_path)])
    loaded = load_run(run.path)
    assert loaded.kind == "fourier" and loaded.status == "complete"
    assert loaded.metrics["n_key_freqs"] <= 8
    assert loaded.metrics["excluded_loss"] > loaded.metrics["chance_loss"] * 0.9 > loaded.metrics["restricted_loss"]


def test_probe_minilm_slice_writes_a_run(tmp_path):
    hooks = ["blocks.0.hook_resid_pre", "blocks.2.hook_resid_post"]
    (run,) = _script("probe_minilm").main(["--runs", str(tmp_path), "--tasks", "word_start", "--max-seqs", "8",
                                           "--docs", "4", "--max-epochs", "10", "--hooks", *hooks])
    res = load_run(run.path).read_json("results")
    assert res["task"] == "word_start" and [r["layer"] for r in res["rows"]] == [0, 3]
    for row in res["rows"]:
        assert row["test"] >= res["chance"] - 0.02  # at least the majority class
        assert row["selectivity"] == pytest.approx(row["test"] - row["control"])


@pytest.mark.slow
def test_probe_minilm_full(tmp_path):
    runs = _script("probe_minilm").main(["--runs", str(tmp_path)])
    rows = {load_run(r.path).read_json("results")["task"]: load_run(r.path).read_json("results")["rows"] for r in runs}
    quotes = rows["in_quotes"]
    best = max(quotes, key=lambda r: r["test"])
    assert best["layer"] > 0 and best["test"] > quotes[0]["test"] + 0.05  # context, built by the blocks
    assert best["test"] > best["random_model"] + 0.05 and best["selectivity"] > 0
    parity = rows["pos_parity"]
    assert max(r["test"] for r in parity) < 0.65 < min(r["random_model"] for r in parity)
