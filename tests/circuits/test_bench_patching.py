"""experiments/bench_patching.py runs end to end at a tiny size, checks itself against its baselines,
and writes its run."""

import json
import runpy
import sys
from pathlib import Path

from interp.runs import list_runs

ROOT = Path(__file__).resolve().parents[2]


def test_bench_patching_smoke(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["bench_patching.py", "--models", "toy:induction", "toy:toylm", "random:3",
                                      "--prompts", "2", "--segment", "3", "--read", "2",
                                      "--reps", "1", "--ig-steps", "2", "--runs", str(tmp_path)])
    runpy.run_path(str(ROOT / "experiments" / "bench_patching.py"), run_name="__main__")
    (run,) = list_runs(root=tmp_path, kind="bench")
    res = json.loads((run.path / "results.json").read_text())
    assert set(res) == {"toy:induction", "toy:toylm", "random:3"} and "attribution" not in res["random:3"]
    assert res["random:3"]["patching"]["cells"] == 3 * (3 * 7 + 4)  # resid_pre, attn_out, mlp_out x 7 positions; heads
    for spec in ("toy:induction", "toy:toylm"):
        p, a = res[spec]["patching"], res[spec]["attribution"]
        assert p["max_abs_diff_vs_tl"] < 1e-4 * max(1, abs(p["clean_value"]))
        assert p["cells"] > 0 and p["ours_s"] > 0 and p["tl_s"] > 0
        assert "mlp_out" in p["sweeps"] or spec == "toy:induction"
        assert a["edge_patching_max_abs_diff"] < 1e-4 and -1 <= a["eap_spearman_vs_exact"] <= 1
        assert 0 < a["acdc_passes"] <= a["acdc_one_per_pass_passes"] <= a["edges"] + 1
    assert run.metrics["induction_patching_speedup_vs_tl"] == res["toy:induction"]["patching"]["speedup_vs_tl"]
