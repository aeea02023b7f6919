"""Two torchrun processes on CPU (gloo) reach the single-process weights for the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from interp.sae import SAEConfig, TrainConfig, train_sae

from .test_trainer import make_store

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, torch
torch.set_num_threads(1)
import torch.distributed as dist
from safetensors.torch import save_file
from tests.sae.test_distributed import make_cfg
from interp.sae import train_sae
r = train_sae(make_cfg(), sys.argv[1])
assert dist.is_initialized() and dist.get_world_size() == 2
rank = dist.get_rank()
if rank == 0:
    save_file({k: v.contiguous() for k, v in r.sae.state_dict().items()}, sys.argv[2])
# an ActivationStore: each rank reads its own shards; DDP keeps the replicas identical
s = train_sae(make_cfg(), sys.argv[3], hook="blocks.0.hook_resid_post")
save_file({k: v.contiguous() for k, v in s.sae.state_dict().items()}, sys.argv[4] + f".{rank}")
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


def test_ddp_two_ranks_match_single_process(toy_data, tmp_path):
    _, x = toy_data
    np.save(tmp_path / "x.npy", x[:2048].numpy())
    make_store(tmp_path / "store", {"blocks.0.hook_resid_post": x[:4096]}, rows_per_shard=1024)
    (tmp_path / "ddp.py").write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
                           str(tmp_path / "ddp.py"), str(tmp_path / "x.npy"), str(tmp_path / "ddp.safetensors"),
                           str(tmp_path / "store"), str(tmp_path / "store.safetensors")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    ddp = load_file(str(tmp_path / "ddp.safetensors"))
    single = train_sae(make_cfg(), tmp_path / "x.npy").sae.state_dict()
    assert set(ddp) == set(single)
    moved = (single["W_dec"] - make_cfg_init_W_dec()).abs().max()
    assert moved > 1e-2  # training really changed the weights the comparison is about
    for name, p in single.items():
        assert torch.allclose(ddp[name], p, atol=1e-5, rtol=1e-4), (name, (ddp[name] - p).abs().max())
    r0, r1 = (load_file(str(tmp_path / f"store.safetensors.{r}")) for r in (0, 1))
    for name in r0:
        assert torch.equal(r0[name], r1[name]), name
    assert bool(r0["W_dec"].isfinite().all())


def make_cfg_init_W_dec() -> torch.Tensor:
    from interp.sae import make_sae

    sae = make_sae(SAEConfig(arch="topk", d_in=32, d_sae=128, k=4))
    sae.reset_parameters(torch.Generator().manual_seed(make_cfg().seed))
    return sae.W_dec.detach()
