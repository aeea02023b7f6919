"""Two torchrun processes on CPU (gloo): each rank reads its own rows, together the global batch, and the
weights are those of one process trained on the same global batches (tensor source and ActivationStore)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from interp.hooks.rows import RowSource
from interp.sae import SAEConfig, TrainConfig, train_sae
from interp.sae.data import open_source
from interp.sae.trainer import SAETrainer

from .test_trainer import make_store

ROOT = Path(__file__).resolve().parents[2]
HOOK = "blocks.0.hook_resid_post"

SCRIPT = """
import sys, torch
torch.set_num_threads(1)
import torch.distributed as dist
from safetensors.torch import save_file
from tests.sae.test_distributed import make_cfg, recording_step
from interp.sae import train_sae
from interp.sae.trainer import SAETrainer
SAETrainer.step, runs = recording_step(SAETrainer.step)  # what each rank trains on, step by step
r = train_sae(make_cfg(), sys.argv[1])
assert dist.is_initialized() and dist.get_world_size() == 2
rank = dist.get_rank()
if rank == 0:
    save_file({k: v.contiguous() for k, v in r.sae.state_dict().items()}, sys.argv[2])
# an ActivationStore: each rank reads its own shards; DDP keeps the replicas identical
s = train_sae(make_cfg(), sys.argv[3], hook="blocks.0.hook_resid_post")
save_file({k: v.contiguous() for k, v in s.sae.state_dict().items()}, sys.argv[4] + f".{rank}")
save_file({"tensor": torch.stack(runs[0]["x"]), "store": torch.stack(runs[1]["x"])}, sys.argv[4] + f".rows.{rank}")
dist.barrier()  # both ranks done before teardown
dist.destroy_process_group()
# gloo's worker threads can still abort at interpreter finalization ("terminate called without an
# active exception", rare, under load) after everything above has succeeded: skip finalization.
import os
sys.stdout.flush()
os._exit(0)
"""


def make_cfg() -> TrainConfig:
    sae = SAEConfig(arch="topk", d_in=0, d_sae=128, k=4)
    return TrainConfig(sae=sae, total_tokens=256 * 12, batch_size=256, lr=3e-3, warmup_steps=2, dead_tokens=512, progress=False)


def recording_step(step_fn):
    """``(patched SAETrainer.step, runs)``: each training run appends ``{"init": step-0 weights, "x": [rows per step]}``."""
    runs: list[dict] = []

    def step(self, x, step, global_batch):
        if step == 0:
            runs.append({"init": {k: v.detach().clone() for k, v in self.sae.state_dict().items()}, "x": []})
        runs[-1]["x"].append(x.detach().cpu().clone())
        return step_fn(self, x, step, global_batch)

    return step, runs


class Replay(RowSource):
    """``base``'s rows, but the minibatches are the given ones in order (a single process replaying a DDP run)."""

    def __init__(self, base: RowSource, batches: list[torch.Tensor]) -> None:
        self.base, self.batches = base, batches
        self.names, self.d, self.error = base.names, base.d, base.error

    def __len__(self) -> int:
        return len(self.base)

    def rows(self, name, start, stop):
        return self.base.rows(name, start, stop)

    def sample(self, n):
        return self.base.sample(n)  # input scaling and b_dec: what every rank measured

    def epoch(self, epoch, batch_size, seed, start=0, rank=0, world_size=1):
        assert epoch == 0 and world_size == 1
        for b in self.batches[start:]:
            yield {self.names[0]: b}


def row_ids(batches: torch.Tensor, data: torch.Tensor) -> list[list[int]]:
    """Each batch [steps, rows, d] as the indices of its rows in ``data`` (rows of ``data`` are distinct)."""
    index = {r.numpy().tobytes(): i for i, r in enumerate(data)}
    assert len(index) == len(data)
    return [[index[r.numpy().tobytes()] for r in b] for b in batches]


def test_ddp_two_ranks_match_single_process(toy_data, tmp_path, monkeypatch):
    _, x = toy_data
    x = x + 1e-3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(5))  # distinct rows (toy data has zero rows)
    np.save(tmp_path / "x.npy", x[:2048].numpy())
    make_store(tmp_path / "store", {HOOK: x[:4096]}, rows_per_shard=1024)
    (tmp_path / "ddp.py").write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
                           str(tmp_path / "ddp.py"), str(tmp_path / "x.npy"), str(tmp_path / "ddp.safetensors"),
                           str(tmp_path / "store"), str(tmp_path / "store.safetensors")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    read = [load_file(str(tmp_path / f"store.safetensors.rows.{r}")) for r in (0, 1)]  # rows each rank trained on
    step, runs = recording_step(SAETrainer.step)
    monkeypatch.setattr(SAETrainer, "step", step)

    # tensor source: at every step the ranks read disjoint halves that together are the single process's batch
    single = train_sae(make_cfg(), tmp_path / "x.npy")
    ids0, ids1 = (row_ids(r["tensor"], x[:2048]) for r in read)
    ids = row_ids(torch.stack(runs[0]["x"]), x[:2048])
    assert len(ids) == len(ids0) == len(ids1) == 12
    for a, b, both in zip(ids0, ids1, ids):
        assert len(a) == len(b) == 128 and not set(a) & set(b), "the ranks read overlapping rows"
        assert sorted(a + b) == sorted(both), "the ranks' rows are not the single process's global batch"
    ddp = load_file(str(tmp_path / "ddp.safetensors"))
    state = single.sae.state_dict()
    assert set(ddp) == set(state)
    moved = (state["W_dec"] - runs[0]["init"]["W_dec"]).abs().max()  # the trainer's own step-0 weights
    assert moved > 1e-2  # training really changed the weights the comparison is about
    for name, p in state.items():
        assert torch.allclose(ddp[name], p, atol=1e-5, rtol=1e-4), (name, (ddp[name] - p).abs().max())

    # store source: disjoint rows per step, no row twice in the epoch; one process on the same global batches agrees
    s0, s1 = (row_ids(r["store"], x[:4096]) for r in read)
    assert len(s0) == len(s1) == 12
    for a, b in zip(s0, s1):
        assert len(a) == len(b) == 128 and not set(a) & set(b), "the ranks read overlapping store rows"
    every = [i for a, b in zip(s0, s1) for i in a + b]
    assert len(set(every)) == len(every) == 12 * 256  # one epoch: no row read twice, by either rank
    batches = [torch.cat([a, b]) for a, b in zip(read[0]["store"], read[1]["store"])]
    replay = train_sae(make_cfg(), Replay(open_source(tmp_path / "store", [HOOK]), batches), hook=HOOK).sae.state_dict()
    r0, r1 = (load_file(str(tmp_path / f"store.safetensors.{r}")) for r in (0, 1))
    assert (replay["W_dec"] - runs[-1]["init"]["W_dec"]).abs().max() > 1e-2
    for name, p in replay.items():
        assert torch.equal(r0[name], r1[name]), name
        assert torch.allclose(r0[name], p, atol=1e-5, rtol=1e-4), (name, (r0[name] - p).abs().max())
