"""experiments/bench_sae.py runs end to end at a tiny size and writes its run (no SAELens)."""

import json
import runpy
import sys
from pathlib import Path

from interp.runs import list_runs

ROOT = Path(__file__).resolve().parents[2]


def test_bench_sae_smoke(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["bench_sae.py", "--d-in", "16", "--d-sae", "64", "--k", "4", "--batch", "128",
                                      "--steps", "2", "--reps", "1", "--no-saelens", "--no-small", "--runs", str(tmp_path)])
    runpy.run_path(str(ROOT / "experiments" / "bench_sae.py"), run_name="__main__")
    (run,) = list_runs(root=tmp_path, kind="bench")
    res = json.loads((run.path / "results.json").read_text())
    row = res["rows"]["ours topk (sparse)"]
    assert row["samples_per_s"] > 0 and row["flops_per_sample"] == 2 * 16 * 64 + 8 * 4 * 16
    assert 0 <= row["mcc"] <= 1 and "interleaved" in row
    assert run.metrics["topk_samples_per_s"] == row["samples_per_s"]
