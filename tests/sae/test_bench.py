"""experiments/bench_sae.py: a smoke test at a tiny size (no SAELens), and its FLOP counts checked against
the matrix products torch actually runs for one training step (counted here, not re-typed from the script)."""

import json
import math
import re
import runpy
import sys
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from interp.runs import list_runs
from interp.sae import SAEConfig, make_sae

ROOT = Path(__file__).resolve().parents[2]
D_IN, D_SAE, K = 16, 64, 4
OURS = {"ours topk (sparse)": ("topk", True), "ours topk (dense autograd)": ("topk", False), "ours relu_l1": ("relu_l1", True)}


def _nnz(t: torch.Tensor) -> int:
    return t._nnz() if t.layout != torch.strided else t.numel()


def _mm(a: torch.Tensor, b: torch.Tensor) -> int:
    """Multiply-adds of a @ b: a sparse operand costs its stored entries times the other side's width."""
    if a.layout != torch.strided:
        return _nnz(a) * b.shape[-1]
    if b.layout != torch.strided:
        return _nnz(b) * a.shape[0]
    return a.shape[0] * a.shape[1] * b.shape[1]


# aten op -> multiply-adds, from the shapes of its actual arguments
MACS = {
    "aten.mm.default": lambda a: _mm(a[0], a[1]),
    "aten.addmm.default": lambda a: _mm(a[1], a[2]),
    "aten._sparse_addmm.default": lambda a: _mm(a[1], a[2]),
    "aten.bmm.default": lambda a: a[0].shape[0] * a[0].shape[1] * a[0].shape[2] * a[1].shape[2],
    "aten.mv.default": lambda a: a[0].shape[0] * a[0].shape[1],
    "aten.addmv.default": lambda a: a[1].shape[0] * a[1].shape[1],
    "aten.dot.default": lambda a: a[0].numel(),
    "aten.sparse_sampled_addmm.default": lambda a: _nnz(a[0]) * a[1].shape[1],  # one dot of width d per kept entry
    "aten._embedding_bag.default": lambda a: a[1].numel() * a[0].shape[1],  # a weighted sum of one row per index
}
LOOKS_LIKE_A_PRODUCT = re.compile(r"mm|mv|dot|matmul|linear|conv|embedding|einsum|addr|bilinear|tensordot")


class CountMACs(TorchDispatchMode):
    """Multiply-adds of every matrix product dispatched inside the block (elementwise work is not counted)."""

    def __init__(self) -> None:
        super().__init__()
        self.macs = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        if name in MACS:
            self.macs += MACS[name](args)
        elif LOOKS_LIKE_A_PRODUCT.search(name.split(".")[1]):
            raise AssertionError(f"{name} looks like a matrix product this counter does not know; add it to MACS")
        return func(*args, **(kwargs or {}))


def step_flops_per_sample(arch: str, fast: bool) -> float:
    """FLOPs per sample (2 per multiply-add) of the SAE's training loss and its backward.

    Counted at two batch sizes; the difference divided by the extra rows is the per-sample cost
    (per-batch terms such as ``b_dec @ W_enc`` drop out).
    """
    sae = make_sae(SAEConfig(arch=arch, d_in=D_IN, d_sae=D_SAE, k=K))
    if hasattr(sae, "fast"):
        sae.fast = fast
    counts = []
    for n in (64, 192):
        x = torch.randn(n, D_IN, generator=torch.Generator().manual_seed(n))
        with CountMACs() as c:
            sae.loss(x, 1.0, torch.zeros(D_SAE, dtype=torch.bool)).loss.backward()
        counts.append(c.macs)
        sae.zero_grad(set_to_none=True)
    return 2 * (counts[1] - counts[0]) / (192 - 64)


def test_bench_sae_smoke_and_its_flop_counts(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["bench_sae.py", "--d-in", str(D_IN), "--d-sae", str(D_SAE), "--k", str(K), "--batch", "128",
                                      "--steps", "2", "--reps", "1", "--no-saelens", "--no-small", "--runs", str(tmp_path)])
    runpy.run_path(str(ROOT / "experiments" / "bench_sae.py"), run_name="__main__")
    (run,) = list_runs(root=tmp_path, kind="bench")
    res = json.loads((run.path / "results.json").read_text())
    assert set(OURS) <= set(res["rows"])
    for name in OURS:  # a smoke test: every row was measured and scored (the values mean nothing at 2 steps)
        row = res["rows"][name]
        assert row["samples_per_s"] > 0 and math.isfinite(row["samples_per_s"]), name
        assert all(math.isfinite(row[k]) for k in ("fvu", "l0", "mcc", "mmcs", "flop_limit")), name
        assert "interleaved" in row, name
    assert run.metrics["topk_samples_per_s"] == res["rows"]["ours topk (sparse)"]["samples_per_s"]

    # the FLOPs per sample the script reports = the multiply-adds of one real loss + backward, counted here
    counted = {name: step_flops_per_sample(arch, fast) for name, (arch, fast) in OURS.items()}
    assert counted["ours topk (sparse)"] < 0.3 * counted["ours topk (dense autograd)"]  # the sparse path is sparse
    for name in OURS:
        assert res["rows"][name]["flops_per_sample"] == counted[name], (name, counted[name])
