"""The two sink experiments run end to end on reduced configurations and write runs per docs/runs.md."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from interp.runs import list_runs

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sinks_minilm_reduced(tmp_path, capsys):
    assert load_script("sinks_minilm").main(["--max-seqs", "6", "--intervention-seqs", "2", "--runs", str(tmp_path)]) == 0
    (run,) = list_runs(tmp_path, kind="sinks")
    assert run.status == "complete" and run.model == "minilm"
    t, meta = run.read_tensors("sinks"), run.read_json("meta")
    assert meta["categories"] == ["[CLS]", "[SEP]", "punct", "other"]
    assert t["alpha"].shape == (6, 12, 128) and t["sink_rate"].shape == (6, 12) and t["mass"].shape == (6, 12, 4)
    # MiniLM's middle layers park attention on [CLS], far more than on [SEP] (docs/sinks.md)
    middle = t["mass"][1:5].mean((0, 1))
    assert middle[0] > 0.2 and middle[0] > 5 * middle[1]
    results = {r["name"]: r for r in run.read_json("interventions")["results"]}
    assert results["clean"]["hidden_cos"] == 1.0 and results["mask_sink"]["sink_rate"] == 0.0
    assert results["mask_sink"]["hidden_cos"] < 0.99
    assert "sink heads" in capsys.readouterr().out


def test_sinks_emergence_quick(tmp_path):
    assert load_script("sinks_emergence").main(["--quick", "--runs", str(tmp_path)]) == 0
    (run,) = list_runs(tmp_path, kind="sink-emergence")
    curves = run.read_json("curves")
    assert curves["epsilon"] == 0.3 and [r["bos"] for r in curves["runs"]] == [True, False]
    for r in curves["runs"]:
        assert {"label", "bos", "seq_len", "lr", "weight_decay", "steps", "sink_rate", "loss"} <= set(r)
        assert len(r["steps"]) == len(r["sink_rate"]) == len(r["loss"]) >= 2
