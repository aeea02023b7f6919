"""Kill a training subprocess with SIGKILL, resume it, and reach the uninterrupted run's weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from interp.sae import CheckpointError, SAEConfig, TrainConfig, train_sae
from interp.sae.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def make_cfg(ckpt: str | None, resume: bool = False, **kw) -> TrainConfig:
    # 24 steps over 16 batches/epoch (crosses an epoch), a small dead window so AuxK and the
    # dead-latent counters matter, checkpoints every 5 steps
    sae = SAEConfig(arch="topk", d_in=0, d_sae=256, k=4)
    return TrainConfig(sae=sae, total_tokens=256 * 24, batch_size=256, lr=3e-3, warmup_steps=3, dead_tokens=768,
                       checkpoint_dir=ckpt, checkpoint_every=5, resume=resume, progress=False, **kw)


KILLED_RUN = """
import os, signal, sys, torch
torch.set_num_threads(1)
from tests.sae.test_checkpoint import make_cfg
from interp.sae import train_sae
def cb(step, m):
    if step == 12:
        os.kill(os.getpid(), signal.SIGKILL)
train_sae(make_cfg(sys.argv[2]), sys.argv[1], callback=cb)
"""


def test_killed_run_resumes_to_identical_weights(toy_data, tmp_path):
    _, x = toy_data
    np.save(tmp_path / "x.npy", x[:4096].numpy())
    ckpt = tmp_path / "ckpt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, str(tmp_path / "x.npy"), str(ckpt)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    meta, _ = load_checkpoint(ckpt)
    assert meta["step"] == 10 and meta["data"] == [[0, 10]]  # steps 11-12 were lost with the process
    assert TrainConfig.from_json(meta["train"]) == make_cfg(str(ckpt))  # the checkpoint records the full config

    ran = []
    resumed = train_sae(make_cfg(str(ckpt), resume=True), tmp_path / "x.npy", callback=lambda s, m: ran.append(s))
    assert ran == list(range(11, 25))  # it continued from step 10, it did not start over
    straight = train_sae(make_cfg(None), tmp_path / "x.npy")
    assert resumed.steps == straight.steps == 24
    for name, p in straight.sae.state_dict().items():
        assert torch.allclose(resumed.sae.state_dict()[name], p, atol=1e-6, rtol=0), name
    assert [h["step"] for h in resumed.history] == [h["step"] for h in straight.history]
    assert load_checkpoint(ckpt)[0]["step"] == 24  # the final state is checkpointed too


def test_resume_refuses_different_settings(toy_data, tmp_path):
    _, x = toy_data
    ckpt = str(tmp_path / "ckpt")
    train_sae(make_cfg(ckpt), x[:4096])
    with pytest.raises(CheckpointError, match="lr"):
        train_sae(make_cfg(ckpt, resume=True).__class__(**{**make_cfg(ckpt, resume=True).__dict__, "lr": 1e-3}), x[:4096])
    done = train_sae(make_cfg(ckpt, resume=True), x[:4096])  # already finished: nothing left to do
    assert done.steps == 24
    with pytest.raises(CheckpointError, match="resume=True"):  # never silently overwritten
        train_sae(make_cfg(ckpt), x[:4096])


def _saved_checkpoint(tmp_path) -> tuple[Path, Path]:
    from interp.sae import make_sae
    from interp.sae.checkpoint import save_checkpoint

    sae = make_sae(SAEConfig(arch="topk", d_in=4, d_sae=8, k=2))
    opt = torch.optim.Adam(sae.parameters())
    f = save_checkpoint(tmp_path / "ckpt", sae, opt, {"since_fired": torch.zeros(8)}, {"step": 3})
    return tmp_path / "ckpt", f


@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], lambda b: b[:5], lambda b: b"garbage" * 10])
def test_a_truncated_tensor_file_is_a_named_error(tmp_path, damage):
    folder, f = _saved_checkpoint(tmp_path)
    assert f.name.startswith("ckpt-") and load_checkpoint(folder)[0]["step"] == 3
    f.write_bytes(damage(f.read_bytes()))
    with pytest.raises(CheckpointError, match="not a readable safetensors file") as err:
        load_checkpoint(folder)
    assert str(f) in str(err.value)


@pytest.mark.parametrize("meta, says", [([1, 2], "a JSON list"), ({"format": "interp-sae-checkpoint", "file": 7},
                                                                  "names the tensor file 7"),
                                        ({"format": "interp-sae-checkpoint", "file": "../../x.safetensors"},
                                         "not a .safetensors file in the checkpoint folder")])
def test_a_malformed_checkpoint_json_is_a_named_error(tmp_path, meta, says):
    import json

    folder, _ = _saved_checkpoint(tmp_path)
    (folder / "checkpoint.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=says) as err:
        load_checkpoint(folder)
    assert str(folder / "checkpoint.json") in str(err.value)
