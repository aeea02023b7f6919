"""Small superposition data shared by the SAE tests (64 known features in 32 dims)."""

from __future__ import annotations

import pytest
import torch

from interp.sae import SAEConfig, TrainConfig, arch_class, train_sae
from interp.sae.synthetic import SyntheticConfig, SyntheticData


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny tensors here: one intra-op thread (see tests/conftest.py)."""


@pytest.fixture(scope="session")
def toy_data() -> tuple[SyntheticData, torch.Tensor]:
    data = SyntheticData(SyntheticConfig(n_features=64, d=32, l0=4, seed=1))
    return data, data.sample(8192)


def quick_train(x: torch.Tensor, arch: str, steps: int = 150, batch_size: int = 256, **kw) -> "TrainResult":  # noqa: F821
    sae_kw = {k: kw.pop(k) for k in list(kw) if k in arch_class(arch).Config.__dataclass_fields__}
    sae = SAEConfig(arch=arch, d_in=0, d_sae=sae_kw.pop("d_sae", 128), k=sae_kw.pop("k", 4), **sae_kw)
    cfg = TrainConfig(sae=sae, total_tokens=steps * batch_size, batch_size=batch_size, lr=kw.pop("lr", 3e-3),
                      warmup_steps=kw.pop("warmup_steps", 5), log_every=kw.pop("log_every", 5), progress=False, **kw)
    return train_sae(cfg, x)
