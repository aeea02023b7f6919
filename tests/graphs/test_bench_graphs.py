"""experiments/bench_graphs.py end to end at a tiny size (a smoke test: no timing bar, the graph must match)."""

import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_bench_graphs_smoke(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bench_graphs.py"])
    mod = runpy.run_path(str(ROOT / "experiments" / "bench_graphs.py"))
    res = mod["main"](["--tokens", "12", "--d-sae", "64", "--k", "4", "--batch-size", "16", "--train-steps", "3",
                       "--train-batch", "64", "--train-reps", "1", "--runs", str(tmp_path)])
    assert res["tokens"] == 12 and res["features"] == 2 * 12 * 4  # TopK: exactly k per position and layer
    assert res["targets"] == res["features"] + min(10, res["targets"] - res["features"])
    assert res["max_abs_diff"] <= 1e-5  # batched edges = one pass per target
    assert res["batched_s"] > 0 and res["naive_s"] > 0 and res["estimate_mib"] > 0
    # transcoder training against the FLOP limit, measured in the same run
    assert res["train_matmul_gflops"] > 0 and res["train_tc_samples_per_s"] > 0 and res["train_clt_samples_per_s"] > 0
    assert 0 < res["train_tc_frac_of_flop_limit"] < 1 and 0 < res["train_clt_frac_of_flop_limit"] < 1
    from interp.runs import list_runs

    (run,) = list_runs(tmp_path, kind="bench")
    rows = run.read_json("train")["rows"]
    plt, clt = rows["PLT topk"], rows["CLT topk (2 layers)"]
    d, s, k = 128, 64, 4  # toy:toylm's d_model; the sizes above
    assert plt["flops_per_sample"] == 2 * d * s + 2 * k * d + 6 * k * d  # encoder + sparse dW_enc + one decoder
    assert clt["flops_per_sample"] == 2 * (2 * d * s + 2 * k * d) + 3 * 6 * k * d  # 2 encoders, 3 (src, tgt) decoders
    for r in (plt, clt):
        assert r["flop_limit"] == pytest.approx(res["train_matmul_gflops"] * 1e9 / r["flops_per_sample"])
        assert r["frac_of_flop_limit"] == pytest.approx(r["samples_per_s"] / r["flop_limit"])
