"""Fourier analysis of modular addition: the basis, the key-frequency rule, and the known answer on toy:modadd."""

from __future__ import annotations

import math

import pytest
import torch

from interp.circuits.fourier import (
    embedding_frequency_norms,
    excluded_logits,
    fourier_analysis,
    fourier_basis,
    frequency_norms,
    key_frequencies,
    restricted_logits,
    sum_directions,
)
from interp.circuits.writers import write_fourier_run


@pytest.mark.parametrize("p", [113, 10, 7])
def test_fourier_basis_is_orthonormal(p):
    basis, names = fourier_basis(p)
    assert basis.shape == (p, p) and len(names) == p
    assert torch.allclose(basis @ basis.T, torch.eye(p), atol=1e-5)
    assert names[:3] == ["const", "cos 1", "sin 1"]


def test_pure_cosine_gives_its_frequency():
    p, k = 113, 17
    x = torch.arange(p, dtype=torch.float64)
    signal = (3 * torch.cos(2 * math.pi * k * x / p + 0.4)).float()  # a phase mixes cos and sin of k
    basis, _ = fourier_basis(p)
    norms = frequency_norms(basis @ signal, p)
    assert int(norms.argmax()) + 1 == k
    assert float(norms[k - 1] ** 2) == pytest.approx(float(signal.pow(2).sum()), rel=1e-4)  # all energy at k
    assert float(norms.pow(2).sum() - norms[k - 1] ** 2) < 1e-6


def test_key_frequencies_cut_at_the_largest_drop():
    norms = torch.full((56,), 0.1)
    norms[[4, 9, 30]] = torch.tensor([5.0, 4.0, 4.5])
    assert key_frequencies(norms) == [5, 31, 10]
    w_e = torch.randn(113, 16) * 0.01
    x = torch.arange(113, dtype=torch.float32)
    w_e[:, 0] += torch.cos(2 * math.pi * 3 * x / 113)
    w_e[:, 1] += torch.sin(2 * math.pi * 40 * x / 113)
    assert sorted(key_frequencies(embedding_frequency_norms(w_e))) == [3, 40]
    with pytest.raises(ValueError, match="at least 2"):
        key_frequencies(torch.ones(1))


def test_restricted_and_excluded_split_synthetic_logits():
    """Logits cos(w (a + b - c)) for one w: restricted keeps them, excluded leaves only the per-class mean."""
    p, w = 13, 3
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    c = torch.arange(p)
    logits = (5 * torch.cos(2 * math.pi * w * ((a + b)[:, None] - c[None]).double() / p)).float()  # [p*p, p]
    assert torch.allclose(restricted_logits(logits, [w]), logits, atol=1e-4)
    assert excluded_logits(logits, [w]).abs().max() < 1e-4
    u = sum_directions(p, [1, w])
    assert torch.allclose(u.T @ u, torch.eye(4), atol=1e-5)
    with pytest.raises(ValueError, match="outside"):
        sum_directions(p, [7])


@pytest.fixture(scope="module")
def modadd():
    from interp.models import load_model

    return load_model("toy:modadd", device="cpu")


def test_modadd_known_answer(modadd, tmp_path):
    """Nanda et al. 2023 on the shipped checkpoint: few key frequencies; restricted ~ clean; excluded >= chance."""
    r = fourier_analysis(modadd)
    assert 2 <= len(r.key_freqs) <= 8
    assert r.key_norm_fraction >= 0.5  # most of W_E's squared norm on a handful of the 56 frequencies
    # The same frequencies dominate the logits' (a + b) directions: the embedding's and the output's agree.
    top_logit = [int(i) + 1 for i in r.logit_norms.argsort(descending=True)[: len(r.key_freqs)]]
    assert sorted(top_logit) == sorted(r.key_freqs)
    assert r.clean_acc > 0.99 and r.clean_loss < 0.05
    assert r.restricted_loss <= r.clean_loss + 0.05 and r.restricted_acc > 0.99
    assert r.excluded_loss >= 0.9 * r.chance_loss and r.excluded_acc < 0.1
    assert r.chance_loss == pytest.approx(math.log(113))
    run = write_fourier_run(r, spec="toy:modadd", config={}, root=tmp_path)
    from interp.runs import load_run

    loaded = load_run(run.path)
    assert loaded.read_json("results")["key_freqs"] == r.key_freqs
    assert loaded.read_tensors("norms")["embed_norms"].shape == (56,)
    assert loaded.metrics["n_key_freqs"] == len(r.key_freqs)
