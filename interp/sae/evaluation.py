"""How good is an SAE? Reconstruction, sparsity and what it does to the model, on held-out data.

Two families of numbers, both computed on data the SAE was not trained on:

* **Reconstruction and sparsity** (:func:`reconstruction_metrics`), streamed over
  activation rows: L0 (active latents per token), MSE (per token, summed over
  d_in), FVU = Σ‖x − x̂‖² / Σ‖x − mean(x)‖² (variance *around the mean*, the
  conventional definition; ``explained_variance = 1 − FVU``), cosine similarity
  of x̂ and x, the L2 ratio ‖x̂‖/‖x‖ (< 1 = shrinkage), and per-latent firing
  density -> dead (never fires) and dense (> 10 % of tokens) fractions and a
  log10-density histogram.
* **Splicing** (:func:`splice_metrics`): the SAE's reconstruction replaces the
  activation at its hook during a real forward pass (a TransformerLens hook that
  returns x̂). For a causal LM we compare next-token cross-entropy clean, spliced
  and with the hook zero-ablated: ``ce_loss_score = (CE_zero − CE_sae) / (CE_zero − CE_clean)``
  (1 = as good as the model, 0 = as bad as deleting the activation), and
  KL(clean ‖ spliced) per token. An encoder (MiniLM) has no next-token loss, so we
  measure the downstream effect on the last layer's hidden states: their cosine
  with the clean ones, relative MSE, and the same zero-ablation-normalised score.

Special prefix tokens (BOS / [CLS]) are left untouched by splicing by default:
their activations are often orders of magnitude larger than the rest (attention
sinks), and most SAEs are not meant to model them.

:func:`evaluate` ties it together for an ActivationStore or a view of one (its rows,
and the sequences they come from for splicing; e.g. the held-out part of
``store.split_sequences(0.1)``), an activation tensor, or a model + tokens
(captured on the fly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import torch
from tqdm.auto import tqdm

from interp.sae.base import SAE

DENSE_THRESHOLD = 0.1


@dataclass
class SAEEval:
    """What :func:`evaluate` returns: scalar ``metrics`` and per-latent firing ``density``."""

    metrics: dict[str, float]
    density: torch.Tensor  # [d_sae] fraction of evaluated tokens on which each latent is > 0
    density_hist: dict[str, list[float]] = field(default_factory=dict)  # {"edges": log10 edges, "counts"}


@dataclass
class ReconstructionSums:
    """Running sums (float64) for the reconstruction metrics of a target ``x`` and its estimate ``x_hat``.

    Public because transcoders (:mod:`interp.transcoders.evaluate`) score their MLP-output
    estimates with the same definitions (FVU around the mean, L0, dead / dense latents).
    """

    d_sae: int
    n: int = 0
    sq_err: float = 0.0
    sum_sq: float = 0.0
    cos: float = 0.0
    l2_ratio: float = 0.0
    l0: float = 0.0
    sum_x: torch.Tensor | None = None
    fired: torch.Tensor | None = None

    def add(self, x: torch.Tensor, x_hat: torch.Tensor, z: torch.Tensor) -> None:
        x, x_hat = x.double(), x_hat.double()
        self.n += x.shape[0]
        self.sq_err += float((x - x_hat).pow(2).sum())
        self.sum_sq += float(x.pow(2).sum())
        sx = x.sum(0)
        self.sum_x = sx if self.sum_x is None else self.sum_x + sx
        nx, nh = x.norm(dim=-1), x_hat.norm(dim=-1)
        self.cos += float(((x * x_hat).sum(-1) / (nx * nh).clamp_min(1e-12)).sum())
        self.l2_ratio += float((nh / nx.clamp_min(1e-12)).sum())
        active = z > 0
        self.l0 += float(active.sum())
        f = active.sum(0).long()
        self.fired = f if self.fired is None else self.fired + f

    def result(self, dense_threshold: float) -> tuple[dict[str, float], torch.Tensor]:
        if self.n == 0:
            raise ValueError("No rows to evaluate: the held-out selection is empty.")
        mean = self.sum_x / self.n
        total_var = self.sum_sq - self.n * float(mean.pow(2).sum())  # Σ‖x - mean‖²
        fvu = self.sq_err / total_var if total_var > 0 else float("nan")
        density = self.fired.double() / self.n
        metrics = {
            "n_tokens": self.n,
            "l0": self.l0 / self.n,
            "mse": self.sq_err / self.n,
            "fvu": fvu,
            "explained_variance": 1.0 - fvu,
            "cos_sim": self.cos / self.n,
            "l2_ratio": self.l2_ratio / self.n,
            "dead_frac": float((self.fired == 0).double().mean()),
            "dense_frac": float((density > dense_threshold).double().mean()),
        }
        return metrics, density.float()


@torch.no_grad()
def reconstruction_metrics(sae: SAE, batches: Iterable[torch.Tensor], dense_threshold: float = DENSE_THRESHOLD,
                           progress: bool = False) -> tuple[dict[str, float], torch.Tensor]:
    """``(metrics, density [d_sae])`` over activation batches [n, d_in] in raw units."""
    acc = ReconstructionSums(sae.d_sae)
    p = next(sae.parameters())
    for x in tqdm(batches, desc="eval", disable=not progress, unit="batch"):
        x = x.to(p.device, p.dtype)
        z = sae.encode(x)
        acc.add(x, sae.decode(z), z)
    return acc.result(dense_threshold)


def density_histogram(density: torch.Tensor, n_bins: int = 40, lo: float = -8.0) -> dict[str, list[float]]:
    """Histogram of log10(density) over latents that fire (dead latents are counted apart)."""
    alive = density[density > 0].double().log10().clamp_min(lo).numpy()
    counts, edges = np.histogram(alive, bins=n_bins, range=(lo, 0.0))
    return {"edges": edges.tolist(), "counts": counts.tolist(), "dead": int((density == 0).sum())}


# --------------------------------------------------------------------------- splicing
def is_causal_lm(model: Any) -> bool:
    """True for next-token models (our toys, GPT-style HF models); False for BERT-style encoders."""
    if getattr(model, "toy_config", None) is not None:
        return True
    hf_cfg = getattr(getattr(model, "original_model", None), "config", None)
    if hf_cfg is None:
        return True
    if getattr(hf_cfg, "is_decoder", False):
        return True
    archs = " ".join(getattr(hf_cfg, "architectures", None) or [])
    return "CausalLM" in archs or "LMHead" in archs


def _splice_mask(mask: torch.Tensor, n_prefix: int) -> torch.Tensor:
    """Positions whose activation is replaced: real tokens after the special prefix."""
    m = mask.bool().clone()
    if n_prefix:
        m[:, :n_prefix] = False
    return m


def _replace_hook(fn_rows: Any, where: torch.Tensor) -> Any:
    """A forward hook that replaces the activation at ``where`` [batch, pos] by ``fn_rows(rows)``."""

    def hook(t: torch.Tensor, hook: Any = None) -> torch.Tensor:
        w = where.to(t.device)
        rows = t[w]  # [n, ...]
        if rows.shape[0] == 0:
            return t
        out = t.clone()
        out[w] = fn_rows(rows.reshape(rows.shape[0], -1)).reshape(rows.shape).to(t.device, t.dtype)
        return out

    return hook


@torch.no_grad()
def splice_metrics(sae: SAE, model: Any, hook: str, tokens: torch.Tensor, attention_mask: torch.Tensor | None = None,
                   n_prefix: int = 0, batch_size: int = 8, causal: bool | None = None,
                   progress: bool = False) -> dict[str, float]:
    """CE-loss score and KL (causal LM) or the downstream effect on final hidden states (encoder).

    ``tokens`` [n_seq, seq_len]; the SAE replaces ``hook`` on real positions from
    ``n_prefix`` on (keep the BOS / [CLS] activation clean).
    """
    from interp.hooks.capturing import check_hook_names
    from interp.hooks.hooked import forward
    from interp.models import model_device

    check_hook_names(model, [hook])
    causal = is_causal_lm(model) if causal is None else causal
    tokens = tokens.long()
    mask = torch.ones_like(tokens) if attention_mask is None else attention_mask.long()
    device = model_device(model)
    p = next(sae.parameters())
    recon = lambda rows: sae(rows.to(p.device, p.dtype))  # noqa: E731
    zero = lambda rows: torch.zeros_like(rows)  # noqa: E731
    sums = {k: 0.0 for k in ("ce_clean", "ce_sae", "ce_zero", "kl", "n", "cos", "cos_zero", "se", "se_zero", "ss")}
    final = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    for s in tqdm(range(0, tokens.shape[0], batch_size), desc="splice", disable=not progress, unit="batch"):
        tok, m = tokens[s:s + batch_size].to(device), mask[s:s + batch_size].to(device)
        where = _splice_mask(m, n_prefix)
        if causal:
            logits = {name: forward(model, tok, m, hooks).logits.float() for name, hooks in (
                ("clean", []), ("sae", [(hook, _replace_hook(recon, where))]), ("zero", [(hook, _replace_hook(zero, where))]))}
            valid = (m[:, 1:] * m[:, :-1]).bool()  # positions with a real next token
            target = tok[:, 1:]
            logp = {k: v[:, :-1].log_softmax(-1) for k, v in logits.items()}
            for k, lp in logp.items():
                ce = -lp.gather(-1, target[..., None])[..., 0]  # [batch, pos-1]
                sums[f"ce_{k}"] += float(ce[valid].sum())
            kl = (logp["clean"].exp() * (logp["clean"] - logp["sae"])).sum(-1)
            sums["kl"] += float(kl[valid].sum())
            sums["n"] += float(valid.sum())
        else:
            out = {name: forward(model, tok, m, extra, names_filter=[final], stop_after=True).cache[final].float()
                   for name, extra in (("clean", []), ("sae", [(hook, _replace_hook(recon, where))]),
                                       ("zero", [(hook, _replace_hook(zero, where))]))}
            real = m.bool()
            h, hs, hz = out["clean"][real], out["sae"][real], out["zero"][real]
            sums["cos"] += float(torch.cosine_similarity(h, hs, dim=-1).sum())
            sums["cos_zero"] += float(torch.cosine_similarity(h, hz, dim=-1).sum())
            sums["se"] += float((h - hs).double().pow(2).sum())
            sums["se_zero"] += float((h - hz).double().pow(2).sum())
            sums["ss"] += float(h.double().pow(2).sum())
            sums["n"] += float(real.sum())
    n = max(sums["n"], 1.0)
    if causal:
        clean, spliced, zeroed = sums["ce_clean"] / n, sums["ce_sae"] / n, sums["ce_zero"] / n
        denom = zeroed - clean
        return {"ce_loss_clean": clean, "ce_loss_sae": spliced, "ce_loss_zero": zeroed,
                "ce_loss_score": (zeroed - spliced) / denom if abs(denom) > 1e-12 else float("nan"),
                "kl": sums["kl"] / n}
    return {"downstream_cos": sums["cos"] / n, "downstream_cos_zero": sums["cos_zero"] / n,
            "downstream_rel_mse": sums["se"] / max(sums["ss"], 1e-12),
            "downstream_score": 1.0 - sums["se"] / sums["se_zero"] if sums["se_zero"] > 0 else float("nan")}


def evaluate(sae: SAE, data: Any, model: Any = None, *, hook: str | None = None, held_out: float | None = 0.1,
             tokens: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
             n_prefix: int | None = None, max_seqs: int | None = 64, batch_size: int = 4096,
             splice_batch_size: int = 8, dense_threshold: float = DENSE_THRESHOLD, progress: bool = False) -> SAEEval:
    """Evaluate ``sae`` on activations it was not trained on, and spliced into ``model`` when one is given.

    ``data`` is an ActivationStore or a view of one. Of a whole store, the last
    ``held_out`` fraction of its sequences is evaluated (the rows ``train_sae_run``
    held out; ``held_out=None``: every row); a view, such as the held-out half of
    ``store.split_sequences(frac)``, is evaluated whole. The sequences
    those rows come from are run through ``model`` for the splice metrics. It may
    also be a tensor [n, d_in] of activations (pass ``tokens`` to splice), or ``None``
    with ``model`` and ``tokens`` (activations captured on the fly). ``max_seqs``
    bounds the number of sequences run through the model.
    """
    from interp.hooks.rows import open_rows
    from interp.hooks.store import ActivationStore

    hook = hook or sae.cfg.hook
    if isinstance(data, ActivationStore):
        if hook is None:
            if len(data.hooks) != 1:
                raise ValueError(f"{data.path} holds hooks {data.hooks}; say which one the SAE reads with hook=.")
            hook = data.hooks[0]
        if hook not in data.hooks:
            raise ValueError(f"{data.path} holds hooks {data.hooks}, not the SAE's {hook!r}; pass hook=.")
        if data.d[hook] != sae.d_in:
            raise ValueError(f"The SAE reads d_in={sae.d_in} but {hook!r} in {data.path} has width {data.d[hook]}.")
        if held_out is not None and not data.is_view:
            data = data.split_sequences(held_out)[1]
        batches: Iterable[torch.Tensor] = (x for _, x in open_rows(data, hook).chunks(batch_size))
        if model is not None and tokens is None:
            inputs = data.inputs(torch.unique(data.seq_ids()))
            tokens, attention_mask, n_prefix = inputs.tokens, inputs.attention_mask, inputs.n_prefix
    elif isinstance(data, torch.Tensor):
        if data.dim() != 2 or data.shape[1] != sae.d_in:
            raise ValueError(f"Activations must be [n, d_in={sae.d_in}], got {tuple(data.shape)}.")
        batches = data.split(batch_size)
    elif data is None:
        if model is None or tokens is None or hook is None:
            raise ValueError("evaluate(sae, None, model, tokens=..., hook=...) needs a model, tokens and a hook.")
        from interp.hooks import capture

        res = capture(model, tokens, [hook], out=None, include_bos=not n_prefix, progress=False)
        batches = res.acts[hook].split(batch_size)
    else:
        raise TypeError(f"Cannot evaluate on {type(data).__name__}: pass an ActivationStore, a tensor or None.")
    metrics, density = reconstruction_metrics(sae, batches, dense_threshold, progress)
    if model is not None:
        if tokens is None or hook is None:
            raise ValueError("Splice metrics need token sequences and the SAE's hook name.")
        if max_seqs is not None:
            tokens = tokens[:max_seqs]
            attention_mask = None if attention_mask is None else attention_mask[:max_seqs]
        metrics.update(splice_metrics(sae, model, hook, tokens, attention_mask, n_prefix or 0, splice_batch_size,
                                      progress=progress))
        metrics["splice_seqs"] = int(tokens.shape[0])
    return SAEEval(metrics, density, density_histogram(density))
