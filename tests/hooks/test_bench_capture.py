"""experiments/bench_capture.py runs end to end at a tiny size and writes its run (a smoke test: no timing bars)."""

import json
import runpy
import sys
from pathlib import Path

from interp.datasets import load_texts, tokenize_corpus
from interp.runs import list_runs

ROOT = Path(__file__).resolve().parents[2]


def test_bench_capture_smoke(monkeypatch, tmp_path, capsys):
    reps = 2
    monkeypatch.setattr(sys, "argv", ["bench_capture.py", "--models", "toy:toylm", "--seqs", "6", "--seq-len", "16",
                                      "--batch-size", "4", "--reps", str(reps), "--rss-seqs", "3", "--rss-mults", "1",
                                      "--runs", str(tmp_path)])
    runpy.run_path(str(ROOT / "experiments" / "bench_capture.py"), run_name="__main__")
    (run,) = list_runs(root=tmp_path, kind="bench")
    res = json.loads((run.path / "results.json").read_text())

    from interp.models import load_model

    tok = load_model("toy:toylm").tokenizer
    real = lambda n: int(tokenize_corpus(tok, load_texts(), 16, max_seqs=n).attention_mask.sum())  # noqa: E731
    speed = res["speed"]
    assert [(r["hook"], r["where"]) for r in speed] == [("blocks.1.hook_resid_post", "last block"),
                                                        ("blocks.0.hook_resid_post", "middle block")]
    for r in speed:
        assert r["tokens"] == real(6)
        assert set(r["seconds"]) == {"cut", "bare", "cache", "capture"}
        assert all(len(v) == reps and min(v) > 0 for v in r["seconds"].values())  # every method timed in every rep
        assert r["capture_vs_cut_paired"]["min"] <= r["capture_vs_cut_paired"]["median"] <= r["capture_vs_cut_paired"]["max"]
        assert 0 < r["own_work_share"] and r["capture_vs_cut_own_work"] == 1 / (1 + r["own_work_share"])
        assert r["own_work_ms"] > 0 and r["batches"] >= 1
    import interp.hooks.capturing as capturing
    from interp.hooks.hooked import hooked_passes

    assert capturing.hooked_passes is hooked_passes  # the pass timer let go of the module
    (read,) = res["read"]
    assert read["rows"] == real(6) and set(read["seconds"]) == {"checked", "unchecked", "batches_checked", "batches_unchecked"}
    assert all(len(v) == reps for v in read["seconds"].values())
    (rss,) = res["rss"]
    assert rss["corpus"] == "1x" and rss["tokens"] == real(3) and rss["store_mib"] > 0
    assert run.metrics["min_capture_vs_cut"] == min(r["capture_vs_cut"] for r in speed)
    out = capsys.readouterr().out
    assert "**capture vs cut forward**" in out and out.count("| toy:toylm |") == 4  # two speed rows, one read row, one RSS row
