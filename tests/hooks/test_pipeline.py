"""capture_run / resume_capture: one CaptureConfig for the CLI, the demo and experiments."""

from __future__ import annotations

import pytest
import torch

from interp.hooks.pipeline import CaptureConfig, capture_run, open_store, parse_positions, resume_capture
from interp.runs import load_run, start_run


def test_capture_run_records_its_config_and_resumes_from_another_directory(tmp_path, monkeypatch):
    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n\n".join(f"document number {i} says hello to the world again" for i in range(12)))
    monkeypatch.chdir(tmp_path)
    cfg = CaptureConfig(model="minilm", hooks=["blocks.0.hook_resid_post"], corpus=["texts.txt"], seq_len=16,
                        max_seqs=6, shuffle_seed=3, tokens_per_shard=20)
    run = capture_run(cfg, root=tmp_path / "runs")
    assert run.status == "complete" and run.config["corpus"] == [str(corpus)]  # stored absolute
    assert CaptureConfig.from_json(run.config).shuffle_seed == 3
    store = open_store(run.path)
    assert len(store) == run.metrics["tokens"] and run.metrics["sequences"] == 6
    # a seeded shuffle takes other sequences than the first six
    plain = capture_run(CaptureConfig(model="minilm", hooks=cfg.hooks, corpus=[str(corpus)], seq_len=16, max_seqs=6),
                        root=tmp_path / "runs")
    assert not torch.equal(open_store(plain.path).inputs().tokens, store.inputs().tokens)

    # drop the last shard as a kill would, then resume from elsewhere: the same bytes come back
    before = {p.name: p.read_bytes() for p in store.path.iterdir()}
    import json

    manifest = json.loads((store.path / "manifest.json").read_text())
    last = manifest["shards"].pop()
    manifest.update(complete=False, total_tokens=manifest["total_tokens"] - last["rows"])
    (store.path / "manifest.json").write_text(json.dumps(manifest))
    (store.path / last["file"]).unlink()
    monkeypatch.chdir("/")
    resume_capture(run.path)
    assert {p.name: p.read_bytes() for p in store.path.iterdir()} == before
    assert load_run(run.path).status == "complete"


def test_resume_refuses_a_run_that_is_not_a_capture_and_leaves_it_alone(tmp_path):
    with start_run("sae", {"arch": "topk"}, model="toy:toylm", root=tmp_path) as run:
        pass
    before = (run.path / "run.json").read_text()
    with pytest.raises(ValueError, match="is a 'sae' run, not a capture"):
        resume_capture(run.path)
    assert (run.path / "run.json").read_text() == before


def test_old_capture_configs_load_and_positions_parse():
    old = {"model": "toy:toylm", "hooks": ["h"], "corpus": None, "seq_len": 128, "max_seqs": 4, "batch_size": 32,
           "positions": None, "include_bos": True, "dtype": "float32", "tokens_per_shard": 16384, "out": None,
           "something_newer": 1}
    assert CaptureConfig.from_json(old).tokens_per_shard == 16384
    with pytest.raises(ValueError, match="not a capture"):
        CaptureConfig.from_json({"arch": "topk"})
    assert parse_positions("0,-1") == [0, -1] and parse_positions("last") == "last" and parse_positions(None) is None
    with pytest.raises(ValueError, match="comma-separated"):
        parse_positions("first")


def test_a_store_captured_outside_its_run_folder_opens_through_the_run(tmp_path):
    out = tmp_path / "elsewhere" / "store"
    cfg = CaptureConfig(model="toy:toylm", hooks=["blocks.0.hook_resid_post"], seq_len=16, max_seqs=2, out=str(out))
    run = load_run(capture_run(cfg, root=tmp_path / "runs").path)
    assert run.external == ["store"] and run.artifacts["store"] == out.resolve().as_posix()
    store = open_store(run.path)  # the run's reader follows the link its writer marked
    assert store.path == out.resolve() and len(store) == run.metrics["tokens"]
    inside = load_run(capture_run(CaptureConfig(model="toy:toylm", hooks=cfg.hooks, seq_len=16, max_seqs=2),
                                  root=tmp_path / "runs").path)
    assert inside.external == [] and inside.artifacts["store"] == "activations"
    assert len(open_store(inside.path)) == len(store)
