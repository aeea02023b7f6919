"""Fourier analysis of the modular-addition model: the known answer of Nanda et al. 2023.

"Progress measures for grokking via mechanistic interpretability" (Nanda, Chan,
Lieberum, Smith, Steinhardt 2023) reverse-engineered the 1-layer transformer that
computes ``(a + b) mod p``: it embeds each number ``a`` as ``cos(w a), sin(w a)`` for a
handful of *key frequencies* ``w = 2 pi k / p``, combines them into ``cos(w (a + b))``,
``sin(w (a + b))`` with trig identities in attention and MLP, and reads out
``cos(w (a + b - c))`` for every answer ``c``. Three checks recover this picture from
the weights and the logits alone:

* **Embedding sparsity** (:func:`embedding_frequency_norms`): the embedding of the
  ``p`` number tokens, ``W_E [p, d_model]``, expressed in the Fourier basis over the
  token index (:func:`fourier_basis`, orthonormal), has most of its norm on a few
  frequencies; :func:`key_frequencies` picks them.
* **Restricted loss** (:func:`restricted_logits`): over all ``p**2`` inputs, each
  answer's logit is a function of ``(a, b)``; keep only its components along
  ``cos(w (a + b))`` and ``sin(w (a + b))`` for the key ``w`` (plus, as in the paper's
  code, the logits' mean over inputs: a per-answer bias). The loss stays at or
  below the clean loss: those directions carry the whole algorithm.
* **Excluded loss** (:func:`excluded_logits`): remove exactly those components
  instead; the loss rises to chance (``ln p``) or above.

The sum directions are unit vectors over the ``p**2`` inputs, e.g.
``cos(w (a + b)) * sqrt(2) / p``; this equals the paper's
``(cos_a cos_b - sin_a sin_b) / sqrt(2)`` built from its 2-D Fourier basis terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from interp.hooks.hooked import forward


def fourier_basis(p: int) -> tuple[torch.Tensor, list[str]]:
    """Orthonormal real Fourier basis over ``range(p)``: rows ``1, cos 1, sin 1, cos 2, ...``.

    Row ``2k - 1`` is ``cos(2 pi k x / p)``, row ``2k`` is ``sin(2 pi k x / p)``, each
    normalised to unit length (for even ``p`` the last row is the Nyquist cosine).
    Returns: basis [p, p] (rows orthonormal), names [p].
    """
    if p < 2:
        raise ValueError(f"p={p} must be at least 2.")
    x = torch.arange(p, dtype=torch.float64)
    rows, names = [torch.ones(p, dtype=torch.float64)], ["const"]
    for k in range(1, p // 2 + 1):
        rows.append(torch.cos(2 * math.pi * k * x / p))
        names.append(f"cos {k}")
        if 2 * k < p:  # the sine of the Nyquist frequency is identically zero
            rows.append(torch.sin(2 * math.pi * k * x / p))
            names.append(f"sin {k}")
    basis = torch.stack(rows)
    basis = basis / basis.norm(dim=1, keepdim=True)
    return basis.float(), names


def n_frequencies(p: int) -> int:
    """Number of non-zero frequencies ``k = 1 .. p // 2``."""
    return p // 2


def frequency_norms(coeffs: torch.Tensor, p: int) -> torch.Tensor:
    """Norm per frequency from Fourier coefficients ``coeffs [p, ...]`` (rows as in :func:`fourier_basis`).

    Entry ``k - 1`` is ``sqrt(|cos k|^2 + |sin k|^2)`` over the trailing dims. Returns: [p // 2].
    """
    row_sq = coeffs.reshape(p, -1).double().pow(2).sum(1)  # [p]
    out = torch.zeros(n_frequencies(p), dtype=torch.float64)
    for k in range(1, p // 2 + 1):
        out[k - 1] = row_sq[2 * k - 1] + (row_sq[2 * k] if 2 * k < p else 0.0)
    return out.sqrt().float()


def number_embedding(model: Any, p: int | None = None) -> torch.Tensor:
    """``W_E`` of the modadd model restricted to the ``p`` number tokens: [p, d_model]."""
    p = p or modadd_p(model)
    w_e = model.W_E.detach().float()  # [d_vocab, d_model]
    if w_e.shape[0] < p:
        raise ValueError(f"The embedding has {w_e.shape[0]} tokens, fewer than p={p}.")
    return w_e[:p].cpu()


def modadd_p(model: Any) -> int:
    cfg = getattr(model, "toy_config", None)
    if cfg is None or "p" not in cfg.extra:
        raise ValueError("Not a modular-addition toy model (no toy_config.extra['p']); load it with load_model('toy:modadd').")
    return int(cfg.extra["p"])


def embedding_frequency_norms(w_e: torch.Tensor) -> torch.Tensor:
    """Norm of the number embedding ``w_e [p, d_model]`` per frequency: [p // 2]."""
    p = w_e.shape[0]
    basis, _ = fourier_basis(p)
    return frequency_norms(basis @ w_e.float(), p)


def key_frequencies(norms: torch.Tensor, max_k: int = 8) -> list[int]:
    """The key frequencies: the top ``k`` by norm, where ``k <= max_k`` is cut at the largest drop.

    ``norms [n_freq]`` (entry ``i`` is frequency ``i + 1``). Sorted descending, the cut
    falls where ``norm[j] / norm[j + 1]`` is largest: a sparse spectrum has a few tall
    bars and then a cliff. Returns frequencies (1-based), strongest first.
    """
    norms = torch.as_tensor(norms).double()
    if norms.dim() != 1 or norms.numel() < 2:
        raise ValueError(f"norms must be a vector of at least 2 frequencies, got shape {tuple(norms.shape)}.")
    order = norms.argsort(descending=True)
    s = norms[order]
    m = min(max_k, s.numel() - 1)
    ratios = s[:m] / s[1 : m + 1].clamp_min(1e-12)  # ratio after keeping j + 1 frequencies
    k = int(ratios.argmax()) + 1
    return [int(i) + 1 for i in order[:k]]


def frequency_families(acts: torch.Tensor, p: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each latent's dominant frequency family over the a-major grid of inputs, and its share of the variance.

    ``acts [p*p, n]``: latent activations on every input ``(a, b)`` (as :func:`modadd_inputs`
    orders them). A latent of the modadd network is a function of a few frequencies, and
    ReLU/TopK rectification adds harmonics, so a frequency ``k`` is credited with the 2-D
    Fourier power (constant removed) of its *family* ``j in {k, 2k, 3k} mod p`` at the terms
    ``(±j, 0)``, ``(0, ±j)``, ``(±j, ±j)``: functions of a, of b, and of a ± b. This is the
    concentration measure of the transcoder and attribution-graph known answers.
    Returns: (best frequency [n], 1-based; its family's share of the latent's variance [n]).
    """
    grid = acts.T.reshape(-1, p, p).double()  # [n, a, b]
    power = torch.fft.fft2(grid - grid.mean((1, 2), keepdim=True)).abs().pow(2)
    total = power.sum((1, 2)).clamp_min(1e-30)

    def terms(j: int) -> torch.Tensor:
        idx = {(j, 0), (-j % p, 0), (0, j), (0, -j % p), (j, j), (-j % p, -j % p), (j, -j % p), (-j % p, j)}
        return sum(power[:, a, b] for a, b in idx)

    single = torch.stack([terms(k) for k in range(1, p // 2 + 1)], 1)  # [n, p // 2]
    fam = single.clone()
    for k in range(1, p // 2 + 1):
        for h in (2, 3):
            j = h * k % p
            j = min(j, p - j)
            if j and j != k:
                fam[:, k - 1] += single[:, j - 1]
    share, best = (fam / total[:, None]).max(1)
    return best + 1, share.float()


def modadd_inputs(p: int, eq_token: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``p**2`` inputs ``[a, b, =]`` (a-major) and labels ``(a + b) mod p``: [p*p, 3], [p*p]."""
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    eq = torch.full_like(a, p if eq_token is None else eq_token)
    return torch.stack([a, b, eq], dim=1), (a + b) % p


def modadd_logits(model: Any, batch_size: int = 4096) -> torch.Tensor:
    """Logits at the answer position for every input ``(a, b)``, a-major: [p*p, p]."""
    p = modadd_p(model)
    tokens, _ = modadd_inputs(p, int(model.toy_config.extra.get("eq_token", p)))
    out = [forward(model, tokens[i : i + batch_size]).logits[:, -1].float().cpu()
           for i in range(0, len(tokens), batch_size)]
    return torch.cat(out)


def sum_directions(p: int, freqs: Sequence[int]) -> torch.Tensor:
    """Unit vectors over the ``p**2`` inputs along ``cos(w (a + b))``, ``sin(w (a + b))``: [p*p, 2 * len(freqs)]."""
    a = torch.arange(p, dtype=torch.float64).repeat_interleave(p)
    b = torch.arange(p, dtype=torch.float64).repeat(p)
    cols = []
    for k in freqs:
        if not 1 <= k <= (p - 1) // 2:
            raise ValueError(f"Frequency {k} is outside 1..{(p - 1) // 2} for p={p}.")
        angle = 2 * math.pi * k * (a + b) / p
        cols += [torch.cos(angle), torch.sin(angle)]
    u = torch.stack(cols, dim=1) if cols else torch.zeros(p * p, 0, dtype=torch.float64)
    return (u / u.norm(dim=0, keepdim=True).clamp_min(1e-30)).float()


def _component(logits: torch.Tensor, freqs: Sequence[int]) -> torch.Tensor:
    """The part of logits [p*p, p_out] along the key sum directions (per answer column)."""
    p = int(round(math.sqrt(logits.shape[0])))
    if p * p != logits.shape[0]:
        raise ValueError(f"logits must cover all p**2 inputs, got {logits.shape[0]} rows.")
    u = sum_directions(p, freqs).double()  # [p*p, 2k]
    return (u @ (u.T @ logits.double())).float()


def restricted_logits(logits: torch.Tensor, freqs: Sequence[int]) -> torch.Tensor:
    """Keep only the key-frequency sum components, plus each answer's mean logit (Nanda et al.'s bias correction)."""
    kept = _component(logits, freqs)
    return kept + (logits - kept).mean(0, keepdim=True)


def excluded_logits(logits: torch.Tensor, freqs: Sequence[int]) -> torch.Tensor:
    """Remove the key-frequency sum components from the logits [p*p, p_out]."""
    return logits - _component(logits, freqs)


def logit_frequency_norms(logits: torch.Tensor) -> torch.Tensor:
    """Norm of the logits along ``cos/sin(w (a + b))`` per frequency: [p // 2 ... (p - 1) // 2]."""
    p = int(round(math.sqrt(logits.shape[0])))
    freqs = list(range(1, (p - 1) // 2 + 1))
    coeffs = sum_directions(p, freqs).double().T @ logits.double()  # [2 * n_freq, p_out]
    sq = coeffs.pow(2).sum(1)
    return (sq[0::2] + sq[1::2]).sqrt().float()


@dataclass
class FourierResult:
    """What :func:`fourier_analysis` found (losses are mean cross-entropy over the inputs)."""

    p: int
    key_freqs: list[int]
    embed_norms: torch.Tensor  # [p // 2] norm of W_E per frequency
    logit_norms: torch.Tensor  # [(p - 1) // 2] norm of the logits along the sum directions per frequency
    key_norm_fraction: float  # share of W_E's squared norm on the key frequencies
    clean_loss: float
    restricted_loss: float
    excluded_loss: float
    chance_loss: float
    clean_acc: float
    restricted_acc: float
    excluded_acc: float
    excluded_loss_per_freq: dict[int, float] = field(default_factory=dict)
    train_losses: dict[str, float] = field(default_factory=dict)


def _loss_acc(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    logits = logits.double()
    return float(F.cross_entropy(logits, labels)), float((logits.argmax(-1) == labels).double().mean())


def fourier_analysis(model: Any, max_k: int = 8, freqs: Sequence[int] | None = None) -> FourierResult:
    """Key frequencies of the modadd embedding and the clean / restricted / excluded losses."""
    p = modadd_p(model)
    w_e = number_embedding(model, p)
    norms = embedding_frequency_norms(w_e)
    keys = list(freqs) if freqs is not None else key_frequencies(norms, max_k)
    total_sq = float(w_e.double().pow(2).sum())
    key_sq = float(sum(norms[k - 1].double() ** 2 for k in keys))
    logits = modadd_logits(model)
    _, labels = modadd_inputs(p)
    clean, restricted, excluded = logits, restricted_logits(logits, keys), excluded_logits(logits, keys)
    (cl, ca), (rl, ra), (el, ea) = (_loss_acc(x, labels) for x in (clean, restricted, excluded))
    per_freq = {k: _loss_acc(excluded_logits(logits, [k]), labels)[0] for k in keys}
    train = _train_mask(model, p)
    train_losses = {}
    if train is not None:
        train_losses = {name: _loss_acc(x[train], labels[train])[0]
                        for name, x in (("clean", clean), ("restricted", restricted), ("excluded", excluded))}
    return FourierResult(p=p, key_freqs=keys, embed_norms=norms, logit_norms=logit_frequency_norms(logits),
                         key_norm_fraction=key_sq / total_sq, clean_loss=cl, restricted_loss=rl, excluded_loss=el,
                         chance_loss=math.log(p), clean_acc=ca, restricted_acc=ra, excluded_acc=ea,
                         excluded_loss_per_freq=per_freq, train_losses=train_losses)


def _train_mask(model: Any, p: int) -> torch.Tensor | None:
    """Which of the a-major inputs were the checkpoint's training pairs (rebuilt from its split seed)."""
    extra = model.toy_config.extra
    if "frac_train" not in extra or "split_seed" not in extra:
        return None
    from interp.datasets.synthetic import modadd_dataset

    train_x, _, _, _ = modadd_dataset(p, float(extra["frac_train"]), int(extra["split_seed"]))
    mask = torch.zeros(p * p, dtype=torch.bool)
    mask[train_x[:, 0] * p + train_x[:, 1]] = True
    return mask
