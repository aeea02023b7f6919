"""`interp sae train | eval | features` write complete `sae` runs that read back as docs/runs.md says."""

from __future__ import annotations

import json

import pytest

from interp.cli import main
from interp.runs import list_runs
from interp.sae import SAEConfig, arch_class, architectures, load_sae

CONTRACT = ["l0", "mse", "fvu", "explained_variance", "cos_sim", "l2_ratio", "dead_frac", "dense_frac",
            "ce_loss_clean", "ce_loss_sae", "ce_loss_zero", "ce_loss_score", "kl"]


def test_train_eval_features_on_a_toy_lm_capture(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["capture", "--model", "toy:toylm", "--hooks", "blocks.0.hook_resid_post", "--max-seqs", "10",
                 "--seq-len", "32", "--runs", str(runs)]) == 0
    capture = list_runs(runs, kind="capture")[0]
    assert main(["sae", "train", "--store", str(capture.path), "--d-sae", "64", "--k", "4", "--tokens", "4096",
                 "--batch-size", "256", "--lr", "0.003", "--n-top", "3", "--ctx", "2", "1", "--runs", str(runs)]) == 0
    (train,) = list_runs(runs, kind="sae")
    assert train.status == "complete" and train.model == "toy:toylm"
    assert {"arch", "hook", "d_in", "d_sae", "k", "store"} <= set(train.config) and train.config["d_in"] == 128
    for key in CONTRACT:
        assert key in train.metrics, key
    assert train.metrics["l0"] <= 4.0 and train.metrics["fvu"] < 1.0
    assert train.read_json("history")[-1]["step"] == train.metrics["train_steps"] == 4096 // 256
    assert train.read_json("eval")["metrics"]["fvu"] == pytest.approx(train.metrics["fvu"], rel=1e-5)
    sae = load_sae(train.artifact("sae"))
    assert (sae.cfg.arch, sae.d_sae, sae.cfg.k, sae.cfg.hook) == ("topk", 64, 4, "blocks.0.hook_resid_post")
    meta = train.read_json("features_meta")
    assert meta["n_top"] == 3 and meta["ctx_left"] == 2 and meta["has_logits"] is True
    t = train.read_tensors("features")
    assert tuple(t["top_tokens"].shape) == (64, 3, 4) and tuple(t["logit_pos_ids"].shape) == (64, 10)
    assert len(train.read_json("vocab")) == 4096
    printed = capsys.readouterr().out
    assert json.loads(printed.strip().splitlines()[-2])["l0"] == train.metrics["l0"]

    assert main(["sae", "eval", "--sae", str(train.path), "--runs", str(runs)]) == 0
    ev = next(r for r in list_runs(runs, kind="sae") if r.config.get("command") == "eval")
    assert ev.metrics["fvu"] == pytest.approx(train.metrics["fvu"], rel=1e-5)  # same SAE, same held-out rows
    assert ev.external == ["sae"]  # the trained run's folder, linked
    assert ev.artifact("sae", external_ok=True) == train.artifact("sae")
    from interp.sae.io import open_sae

    assert open_sae(ev.path)[1] == train.artifact("sae")  # the run's reader follows the link its writer marked

    assert main(["sae", "features", "--sae", str(train.artifact("sae")), "--store", str(capture.path),
                 "--n-top", "2", "--runs", str(runs)]) == 0
    fe = next(r for r in list_runs(runs, kind="sae") if r.config.get("command") == "features")
    assert tuple(fe.read_tensors("features")["top_value"].shape) == (64, 2)


def test_bad_inputs_give_clear_errors(tmp_path, capsys):
    assert main(["sae", "eval", "--sae", str(tmp_path / "missing"), "--store", str(tmp_path)]) == 2
    assert "not a folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def toy_capture(tmp_path_factory):
    runs = tmp_path_factory.mktemp("sae-archs") / "runs"
    assert main(["capture", "--model", "toy:toylm", "--hooks", "blocks.0.hook_resid_post", "--max-seqs", "10",
                 "--seq-len", "16", "--runs", str(runs)]) == 0
    return runs, list_runs(runs, kind="capture")[0]


@pytest.mark.parametrize("arch", architectures())
def test_every_architecture_trains_from_the_cli(arch, toy_capture):
    runs, capture = toy_capture
    opts = {"relu_l1": ["--opt", "l1_coeff=2"], "matryoshka": ["--opt", "prefixes=[16, 64]"]}.get(arch, [])
    assert main(["sae", "train", "--store", str(capture.path), "--arch", arch, "--d-sae", "64", "--k", "4",
                 "--tokens", "512", "--batch-size", "64", "--eval-seqs", "1", "--no-features", "--runs", str(runs),
                 *opts]) == 0
    run = next(r for r in list_runs(runs, kind="sae") if r.config["arch"] == arch)
    assert run.status == "complete" and run.metrics["train_steps"] == 512 // 64 and "ce_loss_score" in run.metrics
    sae = load_sae(run.artifact("sae"))
    assert sae.cfg.arch == arch and sae.d_sae == 64 and (sae.cfg.k == 4) == arch_class(arch).needs_k
    assert run.config["sae_config"] == SAEConfig.from_json(run.config["sae_config"]).to_json()
    if opts:
        name, value = opts[1].split("=")
        assert getattr(sae.cfg, name) == json.loads(value)


def test_bad_architecture_options_are_refused(toy_capture, capsys):
    runs, capture = toy_capture
    assert main(["sae", "train", "--store", str(capture.path), "--arch", "topk", "--opt", "l1_coeff=2",
                 "--runs", str(runs)]) == 2
    assert "l1_coeff=2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sae", "train", "--store", str(capture.path), "--arch", "nope"])


def test_an_sae_is_only_scored_on_its_own_hook(tmp_path, capsys):
    """An SAE trained on layer 1 must not be 'evaluated' on a store of layer 0 (it used to exit 0 with metrics)."""
    runs = tmp_path / "runs"
    for hook in ("blocks.0.hook_resid_post", "blocks.1.hook_resid_post"):
        assert main(["capture", "--model", "toy:toylm", "--hooks", hook, "--max-seqs", "6", "--seq-len", "32",
                     "--runs", str(runs)]) == 0
    by_hook = {r.config["hooks"][0]: r for r in list_runs(runs, kind="capture")}
    assert main(["sae", "train", "--store", str(by_hook["blocks.1.hook_resid_post"].path), "--d-sae", "32", "--k", "4",
                 "--tokens", "1024", "--batch-size", "128", "--no-eval", "--no-features", "--runs", str(runs)]) == 0
    (trained,) = list_runs(runs, kind="sae")
    capsys.readouterr()
    wrong = str(by_hook["blocks.0.hook_resid_post"].path)
    for cmd in ("eval", "features"):
        assert main(["sae", cmd, "--sae", str(trained.path), "--store", wrong, "--runs", str(runs)]) == 2
        err = capsys.readouterr().err
        assert "reads 'blocks.1.hook_resid_post'" in err and "holds only ['blocks.0.hook_resid_post']" in err
    assert main(["sae", "eval", "--sae", str(trained.path), "--hook", "blocks.0.hook_resid_post",
                 "--runs", str(runs)]) == 2
    assert "cannot be scored on 'blocks.0.hook_resid_post'" in capsys.readouterr().err
    assert len(list_runs(runs, kind="sae")) == 1  # nothing was written for the refused commands


@pytest.mark.parametrize("argv, says", [
    (["--d-sae", "0"], "--d-sae: must be a positive integer"),
    (["--tokens", "0"], "--tokens: must be a positive integer"),
    (["--held-out", "1.5"], "--held-out: must be a number strictly between 0 and 1"),
    (["--ctx", "-3", "2"], "--ctx: must be an integer >= 0"),
    (["--k", "x"], "--k: must be an integer"),
])
def test_bad_numbers_are_refused_by_name(tmp_path, capsys, argv, says):
    with pytest.raises(SystemExit) as exit_:
        main(["sae", "train", "--store", str(tmp_path), *argv])
    assert exit_.value.code == 2 and says in capsys.readouterr().err


def test_the_cli_arch_table_matches_the_registry():
    from interp.sae.base import arch_options, architectures
    from interp.sae.cli import BUILTIN_ARCHS

    assert {a: list(arch_options(a)) for a in architectures()} == BUILTIN_ARCHS
