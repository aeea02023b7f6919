"""Shared fixtures: tiny in-memory models, the offline MiniLM, and an isolated runs folder."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest

from interp.models import ToyConfig, boot_toy


@pytest.fixture
def one_thread():
    """One intra-op thread for tiny tensors: on a busy 2-core machine torch's second thread only spin-waits.

    A test folder opts in with an autouse fixture that requests it (tests/sae, tests/transcoders).
    """
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path, monkeypatch):
    """Every test writes runs under its own temp folder, never ./runs."""
    monkeypatch.setenv("INTERP_RUNS", str(tmp_path / "runs"))


def json_with(obj, path: tuple, value):
    """A deep copy of the JSON value ``obj`` with the item at ``path`` (keys / list indices) set to ``value``.

    The fuzz tests (store manifests, SAE configs) build their damaged variants with it.
    """
    out = json.loads(json.dumps(obj))
    d = out
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value
    return out


def tiny_config(**overrides) -> ToyConfig:
    bc = dict(d_model=32, d_head=8, n_heads=4, n_layers=3, n_ctx=24, d_vocab=50,
              normalization_type="LN", act_fn="gelu", d_mlp=64)
    bc.update(overrides)
    return ToyConfig(name="tiny", bridge_config=bc, task="test", seed=7)


@pytest.fixture
def tiny_model():
    """A 3-layer causal model with MLPs, random weights, on CPU."""
    model = boot_toy(tiny_config())
    model.eval()
    return model


@pytest.fixture(scope="session")
def minilm():
    from interp.models import load_model

    return load_model("minilm", device="cpu")
