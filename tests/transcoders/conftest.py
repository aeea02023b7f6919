"""Shared data for the transcoder tests: synthetic pairs with a known answer, and one toy-LM capture."""

from __future__ import annotations

import pytest
import torch

from interp.sae.synthetic import derive_seed

IN, OUT = "blocks.0.hook_mlp_in", "blocks.0.hook_mlp_out"
TOY_HOOKS = [h for l in range(2) for h in (f"blocks.{l}.ln2.hook_normalized", f"blocks.{l}.hook_mlp_out")]


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny tensors here: one intra-op thread (see tests/conftest.py)."""


def sparse_pairs(n: int = 16384, m: int = 48, d_in: int = 40, d_out: int = 24, l0: float = 2.0, seed: int = 0,
                 linear: float = 0.0) -> dict[str, torch.Tensor]:
    """Known features: sparse codes s [n, m] (~l0 active, magnitudes in [0.5, 1.5]), x = s @ A + noise,
    y = s @ B (+ linear · x @ C). More features than input dimensions (superposition), so y is not a
    linear function of x. Drawn from a generator seeded apart from any model seed (``derive_seed``)."""
    g = torch.Generator().manual_seed(derive_seed(seed, "tests.transcoders.pairs"))
    s = (torch.rand(n, m, generator=g) < l0 / m) * (0.5 + torch.rand(n, m, generator=g))
    A = torch.randn(m, d_in, generator=g)
    A /= A.norm(dim=-1, keepdim=True)
    B = torch.randn(m, d_out, generator=g)
    B /= B.norm(dim=-1, keepdim=True)
    C = torch.randn(d_in, d_out, generator=g) / d_in**0.5
    x = s @ A + 0.01 * torch.randn(n, d_in, generator=g)
    y = s @ B + linear * x @ C
    return {IN: x, OUT: y, "A": A, "B": B, "C": C * linear, "s": s}


@pytest.fixture(scope="session")
def pairs() -> dict[str, torch.Tensor]:
    return sparse_pairs()


@pytest.fixture(scope="session")
def toy_lm():
    from interp.models import load_model

    return load_model("toy:toylm", device="cpu")


@pytest.fixture(scope="session")
def toy_capture(tmp_path_factory, toy_lm):
    """64 sequences x 64 tokens of the shipped corpus, every layer's MLP input and output in ONE capture."""
    from interp.hooks.pipeline import CaptureConfig, capture_run

    root = tmp_path_factory.mktemp("tc_runs")
    cfg = CaptureConfig(model="toy:toylm", hooks=TOY_HOOKS, seq_len=64, max_seqs=64, shuffle_seed=0, batch_size=32)
    return capture_run(cfg, root=root, model=toy_lm)
