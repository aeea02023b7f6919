"""The SAE pipeline: training reads the training view only, evaluation the held-out one; a failure keeps the SAE."""

from __future__ import annotations

import pytest
import torch

from interp.datasets import TokenizedCorpus
from interp.hooks.store import TOKENS_FILE, ActivationStore, StoreWriter
from interp.runs import list_runs
from interp.sae import SAEConfig, TrainConfig, load_sae
from interp.sae import pipeline
from interp.sae.pipeline import SAERunConfig, train_sae_run

N_SEQ, SEQ, D = 20, 16, 8


@pytest.fixture
def store(tmp_path) -> ActivationStore:
    """A model-free store: 20 sequences of 16 tokens, 8-wide rows, several shards."""
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 50, (N_SEQ, SEQ), generator=g)
    corpus = TokenizedCorpus(tokens, torch.ones_like(tokens), torch.arange(N_SEQ), torch.zeros(N_SEQ, dtype=torch.long),
                             n_prefix=0)
    n = N_SEQ * SEQ
    path = tmp_path / "store"
    w = StoreWriter(path, {"model": None}, ["h"], {"h": D}, {"h": [D]}, torch.float32, 50, n)
    corpus.save(path / TOKENS_FILE)
    w.append({"h": torch.randn(n, D, generator=g)}, {"__seq_id": torch.arange(n) // SEQ, "__seq_pos": torch.arange(n) % SEQ,
                                                     "__token_id": tokens.reshape(-1)})
    w.close()
    return ActivationStore(path)


def _train() -> TrainConfig:
    return TrainConfig(sae=SAEConfig(arch="topk", d_in=0, d_sae=0, k=2), total_tokens=640, batch_size=64,
                       progress=False)


def test_training_reads_the_training_view_and_evaluation_the_held_out_one(store, tmp_path, monkeypatch):
    seen = {}
    real_train, real_eval = pipeline.train_sae, pipeline.evaluate

    def train(cfg, data, **kw):
        seen["train"] = data
        return real_train(cfg, data, **kw)

    def evaluate(sae, data, *args, **kw):
        seen["eval"] = data
        return real_eval(sae, data, *args, **kw)

    monkeypatch.setattr(pipeline, "train_sae", train)
    monkeypatch.setattr(pipeline, "evaluate", evaluate)
    run = train_sae_run(store, _train(), SAERunConfig(held_out=0.25, features=False), root=tmp_path / "runs")
    rest, held = store.split_sequences(0.25)
    assert isinstance(seen["train"], ActivationStore) and seen["train"].row_range == rest.row_range == (0, 240)
    assert seen["eval"].row_range == held.row_range and run.metrics["n_tokens"] == len(held) == 80
    assert run.config["d_sae"] == 8 * D and load_sae(run.artifact("sae")).d_sae == 8 * D  # d_sae 0: expansion x d_in
    assert run.read_json("eval")["held_out"] == 0.25 and run.status == "complete"


def test_a_failure_after_training_keeps_the_trained_sae(store, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("features exploded")

    monkeypatch.setattr(pipeline, "compute_features", broken)
    with pytest.raises(RuntimeError, match="exploded"):
        train_sae_run(store, _train(), SAERunConfig(held_out=0.25), root=tmp_path / "runs")
    (run,) = list_runs(tmp_path / "runs", kind="sae")
    assert run.status == "failed" and "features exploded" in run.error
    assert load_sae(run.artifact("sae")).d_sae == 8 * D and run.read_json("history")
    assert "fvu" in run.metrics and "features_seconds" not in run.metrics  # evaluation finished, features did not


def test_evaluation_needs_held_out_data(store, tmp_path):
    with pytest.raises(ValueError, match="held_out"):
        train_sae_run(store, _train(), SAERunConfig(held_out=0.0), root=tmp_path / "runs")
    run = train_sae_run(store, _train(), SAERunConfig(held_out=0.0, evaluate=False), root=tmp_path / "runs")
    assert run.metrics["train_steps"] == 10 and "features" in run.artifacts  # features over the whole store
    assert run.read_json("features_meta")["n_tokens"] == N_SEQ * SEQ
