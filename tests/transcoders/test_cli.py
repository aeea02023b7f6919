"""`interp transcoder train` writes a complete `transcoder` run that load_transcoders reads back (docs/runs.md)."""

from __future__ import annotations

import json

import pytest
import torch

from interp.cli import main
from interp.hooks.pipeline import open_store
from interp.runs import list_runs
from interp.transcoders import CrossLayerTranscoder, load_transcoders
from interp.transcoders.evaluate import layer_metrics

CONTRACT = ["fvu", "l0", "dead_frac", "dense_frac", "explained_variance", "n_tokens", "ce_loss_clean",
            "ce_loss_replaced", "ce_loss_zero", "ce_loss_score", "kl", "splice_seqs", "splice_tokens", "train_seconds",
            "train_steps", "train_tokens", "eval_seconds"] + [f"{k}_L{l}" for l in (0, 1) for k in
                                                              ("fvu", "l0", "mse", "dead_frac", "dense_frac")]


@pytest.mark.parametrize("cross", [False, True])
def test_train_writes_a_transcoder_run_that_loads_back(toy_capture, tmp_path, capsys, cross):
    runs = tmp_path / "runs"
    argv = ["transcoder", "train", "--store", str(toy_capture.path), "--layers", "0", "1", "--d-sae", "256", "--k", "8",
            "--skip", "--tokens", str(60 * 256), "--batch-size", "256", "--lr", "0.003", "--seed", "1",
            "--eval-seqs", "4", "--runs", str(runs)] + (["--cross-layer"] if cross else [])
    assert main(argv) == 0
    (run,) = list_runs(runs, kind="transcoder")
    assert run.status == "complete" and run.model == "toy:toylm"
    c = run.config
    assert (c["kind"], c["layers"], c["d_in"], c["d_out"], c["d_sae"], c["k"], c["skip"], c["held_out"]) == (
        "clt" if cross else "plt", [0, 1], 128, 128, 256, 8, True, 0.1)
    assert c["hooks_in"] == ["blocks.0.ln2.hook_normalized", "blocks.1.ln2.hook_normalized"]
    assert c["train"]["seed"] == 1 and c["train"]["cross_layer"] == cross
    for key in CONTRACT:
        assert key in run.metrics, key
    assert run.metrics["train_steps"] == 60 and run.metrics["splice_seqs"] == 4
    assert run.metrics["fvu_L0"] < 0.5 and run.metrics["ce_loss_score"] > 0.5  # 60 steps: learning, not converged
    names = ["clt"] if cross else ["L0", "L1"]
    assert set(run.artifacts) == ({"transcoders", "history", "eval", "vocab"} | {f"{a}_{n}" for a in ("cfg", "weights") for n in names}
                                  | {f"{a}_L{l}" for a in ("features", "features_meta") for l in (0, 1)})
    assert run.read_json("cfg_" + names[0])["kind"] == ("clt" if cross else "transcoder")
    assert list(run.read_json("history")) == names and run.read_json("history")[names[0]][-1]["step"] == 60
    ev = run.read_json("eval")
    assert set(ev["layers"]) == {"0", "1"} and ev["held_out"] == 0.1 and ev["metrics"]["fvu"] == pytest.approx(run.metrics["fvu"], rel=1e-5)
    printed = capsys.readouterr().out.strip().splitlines()
    assert json.loads(printed[-2])["ce_loss_score"] == run.metrics["ce_loss_score"] and printed[-1] == f"run: {run.path}"

    models = load_transcoders(run.path)
    assert isinstance(models, CrossLayerTranscoder) == cross
    if not cross:
        assert [(m.cfg.layer, m.cfg.model, m.cfg.skip, m.cfg.k) for m in models] == [(0, "toy:toylm", True, 8),
                                                                                      (1, "toy:toylm", True, 8)]
    assert load_transcoders(run.artifact("transcoders")).__class__ is models.__class__
    held = open_store(toy_capture.path).split_sequences(0.1)[1]
    with torch.no_grad():
        again, _ = layer_metrics(models, held)
    for l in (0, 1):  # the loaded weights score exactly what the run recorded
        assert again[l]["fvu"] == pytest.approx(run.metrics[f"fvu_L{l}"], rel=1e-4)


@pytest.mark.parametrize("argv, says", [
    (["--d-sae", "0"], "--d-sae: must be a positive integer"),
    (["--lr", "-1"], "--lr: must be a number > 0"),
    (["--layers", "-1"], "--layers: must be an integer >= 0"),
    (["--activation", "gelu"], "invalid choice"),
])
def test_bad_numbers_are_refused_at_parse_time(argv, says, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["transcoder", "train", "--store", str(tmp_path)] + argv)
    assert exc.value.code == 2 and says in capsys.readouterr().err


def test_a_store_without_mlp_pairs_is_a_clear_error(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["capture", "--model", "toy:toylm", "--hooks", "blocks.0.hook_resid_post", "--max-seqs", "4",
                 "--seq-len", "16", "--runs", str(runs)]) == 0
    (capture,) = list_runs(runs, kind="capture")
    assert main(["transcoder", "train", "--store", str(capture.path), "--runs", str(runs)]) == 2
    assert "capture each layer's MLP input and output together" in capsys.readouterr().err
