"""``interp probes``: each command runs one pipeline and records a ``probe`` run; bad input is one clear line."""

from __future__ import annotations

import re

import pytest

from interp.cli import main
from interp.runs import list_runs

TINY = ["--max-epochs", "2", "--runs"]


def test_interp_probes_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["probes", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and all(c in out for c in ("tokens", "modadd", "capture"))
    with pytest.raises(SystemExit) as exit_:
        main(["probes", "tokens", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "--task" in out and "--hooks" in out and "--runs" in out


def test_interp_probes_tokens_writes_a_probe_run(tmp_path, capsys):
    argv = ["probes", "tokens", "--model", "toy:toylm", "--task", "pos_parity", "--max-seqs", "4", "--seq-len", "32",
            "--docs", "2", "--hooks", "blocks.0.hook_resid_pre", "blocks.1.hook_resid_post", *TINY, str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "pos_parity:" in out and "blocks.1.hook_resid_post" in out and "control" in out
    (run,) = list_runs(tmp_path, kind="probe")
    assert run.status == "complete" and run.model == "toy:toylm"
    assert run.config["task"] == "pos_parity" and run.config["max_epochs"] == 2
    assert run.config["split_groups"] == "sequence"
    res = run.read_json("results")
    assert [r["layer"] for r in res["rows"]] == [0, 2] and res["positive_rate"] == pytest.approx(0.5, abs=0.05)
    assert res["n_rows"] == 4 * 31  # every content token of 4 full sequences (BOS dropped)
    assert run.metrics["best_hook"] in ("blocks.0.hook_resid_pre", "blocks.1.hook_resid_post")


def test_interp_probes_capture_reads_the_store_inputs(tmp_path, capsys):
    from interp.hooks.pipeline import CaptureConfig, capture_run

    source = capture_run(CaptureConfig(model="toy:toylm", hooks=["blocks.0.hook_resid_post"], seq_len=32, max_seqs=6),
                         root=tmp_path)
    assert main(["probes", "capture", str(source.path), "--task", "pos_parity", "--max-seqs", "4",
                 "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^pos_parity \(metric accuracy, chance 0\.\d{3}\) -> ", out, re.M)
    assert "blocks.0.hook_resid_post" in out
    (run,) = list_runs(tmp_path, kind="probe")
    assert run.model == "toy:toylm" and run.config["max_seqs"] == 4 and run.config["store"].endswith("activations")
    res = run.read_json("results")
    assert res["task"] == "pos_parity" and [r["hook"] for r in res["rows"]] == ["blocks.0.hook_resid_post"]
    # a run of another kind is refused in one line
    assert main(["probes", "capture", str(run.path), "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "'probe' run" in err and "needs a capture run" in err
