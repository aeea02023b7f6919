"""The interp command: help everywhere, capture writes a run with a store, errors are one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import interp.models
from interp.cli import main
from interp.hooks import ActivationStore
from interp.runs import list_runs


@pytest.mark.parametrize("command", [[], ["models"], ["train-toy"], ["capture"], ["runs"], ["demo"]])
def test_help_everywhere(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: interp" in capsys.readouterr().out


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "interp.cli", "models"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "minilm" in out.stdout


def test_capture_writes_a_run_with_a_store(tmp_path, capsys, monkeypatch):
    argv = ["capture", "--model", "minilm", "--hooks", "blocks.1.hook_resid_post", "blocks.0.attn.hook_pattern",
            "--max-seqs", "6", "--seq-len", "32", "--batch-size", "4", "--tokens-per-shard", "64",
            "--runs", str(tmp_path / "runs")]
    assert main(argv) == 0
    (run,) = list_runs(tmp_path / "runs", kind="capture")
    assert run.status == "complete" and run.model == "minilm"
    store = ActivationStore(run.artifact("store"))
    assert len(store) == run.metrics["tokens"] > 100 and store.d["blocks.0.attn.hook_pattern"] == 12 * 32
    assert main(["runs", "--runs", str(tmp_path / "runs")]) == 0
    assert str(run.path) in capsys.readouterr().out

    # an interrupted capture (last shard never committed) resumes to the same bytes, keeping the
    # committed shards as they are and running only the batches that hold the missing rows
    store_dir = run.artifact("store")
    before = {p.name: p.read_bytes() for p in store_dir.iterdir()}
    manifest = json.loads((store_dir / "manifest.json").read_text())
    last = manifest["shards"].pop()
    manifest["complete"] = False
    manifest["total_tokens"] -= last["rows"]
    (store_dir / "manifest.json").write_text(json.dumps(manifest))
    (store_dir / last["file"]).unlink()
    kept = {}
    for s in manifest["shards"]:  # a marker mtime in the past: a rewritten shard cannot keep it
        os.utime(store_dir / s["file"], ns=(10**18, 10**18))
        kept[s["file"]] = ((store_dir / s["file"]).stat().st_ino, 10**18)
    forwarded, load_model = [], interp.models.load_model

    def load_and_record(*args, **kwargs):  # the model the resume loads, with its forward passes recorded
        model = load_model(*args, **kwargs)
        model.embed.register_forward_pre_hook(lambda mod, a: forwarded.append(a[0].detach().cpu().clone()))
        return model

    monkeypatch.setattr(interp.models, "load_model", load_and_record)
    assert main(["capture", "--resume", str(run.path)]) == 0
    tokens = store.corpus()["tokens"]
    index = {tuple(t.tolist()): i for i, t in enumerate(tokens)}
    assert len(index) == len(tokens) == 6
    ran = [[index[tuple(t.tolist())] for t in b] for b in forwarded]
    ran = ran[1:] if ran and ran[0] == [0] else ran  # capture's one-sequence shape probe
    missing_seqs = set(store.meta()["seq_id"][-last["rows"]:].tolist())  # the sequences the lost shard held rows of
    want = sorted({q // 4 for q in missing_seqs})  # batches of 4
    assert ran == [list(range(4 * b, min(4 * b + 4, 6))) for b in want] and len(ran) < 2
    for name, (ino, mtime) in kept.items():
        st = (store_dir / name).stat()
        assert (st.st_ino, st.st_mtime_ns) == (ino, mtime), f"{name} was rewritten by the resume"
    assert {p.name: p.read_bytes() for p in store_dir.iterdir()} == before


def test_bad_hook_is_one_clear_line(tmp_path, capsys):
    code = main(["capture", "--model", "minilm", "--hooks", "blocks.1.hook_resid_pots", "--max-seqs", "2",
                 "--runs", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: Unknown hook name") and "blocks.1.hook_resid_post" in err
    (run,) = list_runs(tmp_path)
    assert run.status == "failed" and "resid_pots" in run.error


def test_unknown_model_lists_specs(capsys):
    assert main(["capture", "--model", "toy:nope", "--hooks", "x"]) == 2
    assert "Shipped toy models" in capsys.readouterr().err


def test_train_toy_writes_a_run_and_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "ind"
    assert main(["train-toy", "induction", "--steps", "5", "--set", "prune_steps=2", "--set", "lr=2e-3",
                 "--out", str(out), "--runs", str(tmp_path / "runs")]) == 0
    (run,) = list_runs(tmp_path / "runs", kind="train-toy")
    assert run.status == "complete" and run.config["steps"] == 5 and run.config["checkpoint"] == str(out.resolve())
    assert run.config["prune_steps"] == 2 and run.config["lr"] == 2e-3 and run.metrics["steps_run"] == 7
    assert {"prev_token_score", "induction_score", "loss_ratio"} <= set(run.metrics)  # the recipe's final metrics
    assert run.external == ["checkpoint"]  # written outside the run folder, on purpose
    assert run.artifact("checkpoint", external_ok=True) == out.resolve()
    from interp.models import load_model

    model = load_model(str(out), device="cpu")
    assert model.cfg.n_layers == 2 and (out / "training.json").is_file()


def test_help_and_listings_start_without_torch(tmp_path):
    """`interp --help`, every command's --help, `interp runs` and `interp models` never import torch (< 1 s)."""
    import subprocess
    import sys

    code = (
        "import sys, contextlib, io\n"
        "from interp.cli import build_parser, main\n"
        "p = build_parser()\n"
        "cmds = [a for a in p._subparsers._group_actions[0].choices]\n"
        "for argv in [['--help']] + [[c, '--help'] for c in cmds] + [['sae', 'train', '--help'], ['probes', 'tokens', '--help']]:\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['runs', '--runs', {str(tmp_path)!r}]); main(['models'])\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
