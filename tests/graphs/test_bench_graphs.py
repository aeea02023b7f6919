"""experiments/bench_graphs.py end to end at a tiny size (a smoke test: no timing bar, the graph must match)."""

import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_graphs_smoke(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bench_graphs.py"])
    mod = runpy.run_path(str(ROOT / "experiments" / "bench_graphs.py"))
    res = mod["main"](["--tokens", "12", "--d-sae", "64", "--k", "4", "--batch-size", "16", "--runs", str(tmp_path)])
    assert res["tokens"] == 12 and res["features"] == 2 * 12 * 4  # TopK: exactly k per position and layer
    assert res["targets"] == res["features"] + min(10, res["targets"] - res["features"])
    assert res["max_abs_diff"] <= 1e-5  # batched edges = one pass per target
    assert res["batched_s"] > 0 and res["naive_s"] > 0 and res["estimate_mib"] > 0
