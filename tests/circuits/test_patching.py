"""Activation patching sweeps: exact answers when clean and corrupt differ at a single position."""

from __future__ import annotations

import pytest
import torch

from interp.circuits.metrics import Task
from interp.circuits.patching import patching_sweep
from interp.circuits.writers import write_patching_run
from interp.runs import load_run
from circuit_threads import one_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def task(tiny_model):
    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(1, 50, (4, 8), generator=gen)
    corrupt = clean.clone()
    corrupt[:, 3] = (clean[:, 3] + 7) % 49 + 1  # one position differs
    pos = torch.zeros(4, 8, dtype=torch.bool)
    pos[:, 6] = True
    with torch.no_grad():
        answer = tiny_model(clean).argmax(-1)
    return Task(clean, corrupt, pos, answer, (answer + 1) % 50, [f"t{i}" for i in range(8)])


@pytest.mark.parametrize("metric", ["logit_diff", "kl"])
def test_denoising_resid_pre_restores_exactly_at_the_corrupted_position(tiny_model, task, metric):
    res = patching_sweep(tiny_model, task, metric, "denoising", progress=False)
    rp = res.sweeps["resid_pre"]  # [layer, pos]
    assert rp.shape == (3, 8)
    # Before layer 0 the only difference sits at position 3 (later layers have moved it on).
    assert rp[0, 3].item() == pytest.approx(1.0, abs=1e-4)
    others = [0, 1, 2, 4, 5, 6, 7]
    torch.testing.assert_close(rp[0, others], torch.zeros(7), atol=1e-4, rtol=0)  # identical there
    torch.testing.assert_close(rp[:, 7], torch.zeros(3), atol=1e-4, rtol=0)  # after the metric position
    assert res.sweeps["heads"].shape == (3, 4) and res.sweeps["mlp_out"].shape == (3, 8)
    torch.testing.assert_close(res.sweeps["attn_out"][:, 7], torch.zeros(3), atol=1e-4, rtol=0)  # after the metric


def test_noising_is_the_mirror_image(tiny_model, task):
    res = patching_sweep(tiny_model, task, "logprob", "noising", sweeps=["resid_pre"], progress=False)
    rp = res.sweeps["resid_pre"]
    assert rp[0, 3].item() == pytest.approx(0.0, abs=1e-4)
    torch.testing.assert_close(rp[0, [0, 1, 2, 4, 5, 6, 7]], torch.ones(7), atol=1e-4, rtol=0)
    torch.testing.assert_close(rp[:, 7], torch.ones(3), atol=1e-4, rtol=0)
    assert list(res.sweeps) == ["resid_pre"]


def test_patching_run_follows_the_contract(tiny_model, task, tmp_path):
    res = patching_sweep(tiny_model, task, "logit_diff", "denoising", sweeps=["resid_pre", "heads"], progress=False)
    written = write_patching_run(res, spec="tiny", config={"corruption": "position 3 replaced", "prompts": "test"},
                                 root=tmp_path)
    run = load_run(written.path)
    assert run.kind == "patching" and run.config["direction"] == "denoising" and run.config["metric"] == "logit_diff"
    tensors = run.read_tensors("results")
    assert set(tensors) == {"resid_pre", "heads"} and tensors["resid_pre"].shape == (3, 8)
    meta = run.read_json("meta")
    assert meta["pos_labels"] == [f"t{i}" for i in range(8)] and meta["direction"] == "denoising"
    assert meta["clean_value"] > meta["corrupt_value"]
    # The keys (and their order) older runs have; the task's size comes with the result.
    assert list(run.config) == ["model", "metric", "direction", "corruption", "prompts", "n_prompts", "sweeps"]
    assert run.config["n_prompts"] == 4 and run.config["sweeps"] == ["heads", "resid_pre"]
    assert run.artifacts == {"results": "patching.safetensors", "meta": "patching.json"}
    assert set(run.metrics) == {"clean_value", "corrupt_value", "resid_pre_extreme", "heads_extreme"}


def test_run_writers_take_a_dataclass_config(tiny_model, task, tmp_path):
    from dataclasses import dataclass

    @dataclass
    class Described:
        corruption: str = "position 3 replaced"
        prompts: str = "test"

    res = patching_sweep(tiny_model, task, "logprob", "noising", sweeps=["attn_out"], progress=False)
    a = write_patching_run(res, spec="tiny", config=Described(), root=tmp_path, slug="a")
    b = write_patching_run(res, spec="tiny", config=vars(Described()), root=tmp_path, slug="b")
    assert a.config == b.config and a.config["corruption"] == "position 3 replaced"
    assert a.path.name.endswith("-a") and b.metrics == a.metrics


def test_bad_arguments(tiny_model, task):
    with pytest.raises(ValueError, match="direction"):
        patching_sweep(tiny_model, task, direction="sideways")
    with pytest.raises(ValueError, match="sweeps"):
        patching_sweep(tiny_model, task, sweeps=["neurons"])
