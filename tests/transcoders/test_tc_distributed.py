"""Transcoders under torchrun: two CPU ranks (gloo) each read half of every global batch, and the trained
weights are those of one process trained on the same global batches (per-layer and cross-layer)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from interp.transcoders import TranscoderConfig, TranscoderTrainConfig, train_transcoders

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, torch
torch.set_num_threads(1)
import torch.distributed as dist
from safetensors.torch import save_file
from tests.transcoders.test_tc_distributed import make_cfg, make_pairs, weights
from interp.transcoders import train_transcoders
for cross in (False, True):
    r = train_transcoders(make_cfg(cross), make_pairs())
    assert dist.is_initialized() and dist.get_world_size() == 2
    save_file(weights(r), sys.argv[1] + f".{int(cross)}.{dist.get_rank()}")
dist.barrier()
dist.destroy_process_group()
import os
sys.stdout.flush()
os._exit(0)  # gloo can abort at interpreter finalization after all the work (see tests/sae/test_distributed.py)
"""


def make_pairs() -> dict[str, torch.Tensor]:
    """Two layers of (MLP input, output) pairs with a sparse structure, 512 rows."""
    g = torch.Generator().manual_seed(0)
    out = {}
    for L in range(2):
        s = (torch.rand(512, 32, generator=g) < 0.15) * torch.rand(512, 32, generator=g)  # [512, 32] sparse codes
        out[f"blocks.{L}.hook_mlp_in"] = s @ torch.randn(32, 12, generator=g)
        out[f"blocks.{L}.hook_mlp_out"] = s @ torch.randn(32, 10, generator=g)
    return out


def make_cfg(cross: bool) -> TranscoderTrainConfig:
    return TranscoderTrainConfig(transcoder=TranscoderConfig(d_in=0, d_out=0, d_sae=48, activation="topk", k=4),
                                 cross_layer=cross, total_tokens=64 * 12, batch_size=64, lr=3e-3, warmup_steps=2,
                                 dead_tokens=128, progress=False)


def weights(result) -> dict[str, torch.Tensor]:
    models = [result.transcoders] if not isinstance(result.transcoders, list) else result.transcoders
    return {f"{i}.{k}": v.detach().contiguous() for i, m in enumerate(models) for k, v in m.state_dict().items()}


def test_two_ranks_train_the_weights_of_one_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    script = tmp_path / "ddp_tc.py"
    script.write_text(SCRIPT)
    out = tmp_path / "w"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
                           str(script), str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for cross in (False, True):
            ranks = [load_file(f"{out}.{int(cross)}.{r}") for r in range(2)]
            single = weights(train_transcoders(make_cfg(cross), make_pairs()))
            assert set(ranks[0]) == set(single)
            for k, v in single.items():
                assert torch.equal(ranks[0][k], ranks[1][k]), k  # the replicas never drift apart
                assert torch.allclose(ranks[0][k], v, atol=1e-4, rtol=1e-3), (cross, k, (ranks[0][k] - v).abs().max())
            moved = weights(train_transcoders(TranscoderTrainConfig(**{**make_cfg(cross).__dict__, "total_tokens": 64}),
                                              make_pairs()))
            assert any(not torch.allclose(moved[k], v, atol=1e-3) for k, v in single.items())  # training moved them
    finally:
        torch.set_num_threads(n)
