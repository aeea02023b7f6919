"""``interp sinks`` writes a sinks run and prints the headline numbers; bad input is one clear line."""

from __future__ import annotations

from interp.cli import main
from interp.runs import list_runs


def test_interp_sinks_on_toylm(tmp_path, capsys):
    argv = ["sinks", "--model", "toy:toylm", "--max-seqs", "4", "--seq-len", "32", "--epsilon", "0.8",
            "--interventions", "mask_sink", "drop_first", "--intervention-seqs", "2", "--runs", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "BOS" in out and "sink heads" in out and "run:" in out
    (run,) = list_runs(tmp_path, kind="sinks")
    assert run.config["epsilon"] == 0.8 and run.config["max_seqs"] == 4
    assert run.read_tensors("sinks")["alpha"].shape == (2, 4, 32)
    names = [r["name"] for r in run.read_json("interventions")["results"]]
    assert names == ["mask_sink", "drop_first"]


def test_interp_sinks_bad_epsilon_is_one_line(tmp_path, capsys):
    assert main(["sinks", "--model", "toy:toylm", "--max-seqs", "2", "--epsilon", "2", "--runs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "epsilon" in err


def test_interp_sinks_help(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_:
        main(["sinks", "--help"])
    assert exit_.value.code == 0 and "--interventions" in capsys.readouterr().out
