"""What each SAE latent responds to: the data behind a feature dashboard, in one pass over a store.

For every latent we want the contexts where it fires hardest, examples from the
whole range of its activations (not only the top), how often and how strongly it
fires, what it does to the logits, and which other latents write in nearly the
same direction. :func:`compute_features` gets all of that from **one streaming
pass** over an :class:`~interp.hooks.ActivationStore`, in memory independent of
the store's size:

* *density / max / mean*: running counts and sums.
* *top activations*: a running top-``n_top`` (value, row) per latent, merged batch by batch.
* *activation histogram and interval examples*: each latent gets a linear grid of
  ``2 * n_bins`` fine bins over ``[0, R]``, where ``R`` starts at the first batch's
  maximum and **doubles** whenever a larger value arrives (bins then merge in
  groups, which is exact because the new edges are a subset of the old). Each fine
  bin keeps the ``n_per_quantile`` examples with the smallest random keys
  (priority sampling), so the examples of any union of bins are a uniform sample
  of that union. At the end the bins are cut into ``n_quantiles`` intervals of
  (nearly, to the fine-bin resolution) equal counts -- activation *quantiles* --
  and each interval's examples are read off its bins.
* *context windows*: the tokens around an example come from the store's inputs, and
  the rows of those tokens (``store.row_index``; all of them for captures with
  ``positions="all"``) are read back after the pass and encoded, to get the latent's
  value on every token of the window.
* *logit effects*: ``W_dec · W_U`` (causal LMs, residual-stream SAEs); *neighbours*:
  top decoder cosines.

Any dictionary of latents works, not only an SAE (:class:`Latents`): it needs ``encode``
(raw activations of ``hook`` in, latents out), ``d_in``, ``d_sae``, ``parameters()`` and a
``W_dec`` [d_sae, d_write] saying what a unit of each latent writes (for the logit effects and
neighbours), with ``cfg.input_scale`` (default 1) dividing it back to raw units, and
``cfg.hook`` / ``cfg.model`` as defaults. A transcoder's latents read the MLP input and write
the MLP output; :mod:`interp.transcoders.features` adapts them to this shape.

:func:`save_features` writes the ``sae`` run artifacts exactly as docs/runs.md
specifies (``features.safetensors``, ``features.json``, ``vocab.json``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

import torch
from safetensors.torch import save_file
from tqdm.auto import tqdm

from interp.io import write_atomic, write_json_atomic

FEATURES_FILE = "features.safetensors"
META_FILE = "features.json"
VOCAB_FILE = "vocab.json"


@dataclass
class FeatureConfig:
    n_top: int = 10  # top-activating contexts per latent
    ctx_left: int = 8  # tokens shown before the example token
    ctx_right: int = 4  # and after it
    n_quantiles: int = 5  # activation intervals of equal counts
    n_per_quantile: int = 4  # examples per interval
    n_bins: int = 32  # activation-histogram bins
    n_logit: int = 10  # top positive / negative logit effects
    n_neighbours: int = 8  # nearest latents by decoder cosine
    batch_size: int = 2048  # rows per step of the streaming pass
    seed: int = 0  # for the interval examples' random keys


class Latents(Protocol):
    """What :func:`compute_features` needs of a dictionary (an :class:`~interp.sae.base.SAE` is one)."""

    d_in: int  # width of the activations read
    d_sae: int  # number of latents
    W_dec: torch.Tensor  # [d_sae, d_write] what a unit of each latent writes (÷ cfg.input_scale: raw units)

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...  # [n, d_in] raw -> [n, d_sae]

    def parameters(self) -> Iterator[torch.Tensor]: ...


def _cfg(sae: Latents, key: str, default: Any = None) -> Any:
    """``sae.cfg.<key>`` where the dictionary has it (an SAE's hook / model / input_scale), else ``default``."""
    return getattr(getattr(sae, "cfg", None), key, default)


@dataclass
class Features:
    """The result: ``tensors`` (docs/runs.md names and shapes), ``meta`` and ``vocab``."""

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    vocab: list[str] | None = None


# --------------------------------------------------------------------------- streaming state
class _Stream:
    """Per-latent running statistics, top-k and priority-sampled bin reservoirs."""

    def __init__(self, d_sae: int, cfg: FeatureConfig) -> None:
        self.cfg, self.d = cfg, d_sae
        self.F = 2 * cfg.n_bins  # fine bins
        self.P = cfg.n_per_quantile
        self.count = torch.zeros(d_sae, dtype=torch.long)
        self.sum = torch.zeros(d_sae, dtype=torch.float64)
        self.max = torch.zeros(d_sae)
        self.R = torch.zeros(d_sae)  # fine-grid range [0, R]; 0 = not fired yet
        self.hist = torch.zeros(d_sae, self.F, dtype=torch.long)
        self.top_val = torch.zeros(d_sae, cfg.n_top)
        self.top_row = torch.full((d_sae, cfg.n_top), -1, dtype=torch.long)
        # per (latent, fine bin): the P examples with the smallest random keys (key inf = empty slot)
        self.res_key = torch.full((d_sae * self.F, self.P), float("inf"))
        self.res_val = torch.zeros(d_sae * self.F, self.P)
        self.res_row = torch.full((d_sae * self.F, self.P), -1, dtype=torch.long)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.n = 0

    def bins(self, j: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (v / self.R[j] * self.F).long().clamp_(0, self.F - 1)

    def add(self, z: torch.Tensor, row0: int) -> None:
        """Fold a batch of latents z [B, d_sae] whose first row is store row ``row0``."""
        B = z.shape[0]
        z = z.float()
        active = z > 0
        self.count += active.sum(0)
        self.sum += z.double().sum(0)
        bmax = z.max(0).values.clamp_min(0)
        self.max = torch.maximum(self.max, bmax)
        # top-k by value, ties resolved by topk's order
        k = min(self.cfg.n_top, B)
        v, i = z.topk(k, dim=0)  # [k, d_sae]
        vals = torch.cat([self.top_val, v.T], 1)
        rows = torch.cat([self.top_row, (i + row0).T], 1)
        tv, ti = vals.topk(self.cfg.n_top, dim=1)
        self.top_val, self.top_row = tv, rows.gather(1, ti)
        # grid: first firing sets R; a larger value doubles it (merging bins f at a time)
        # (R stays strictly above every value seen, so each bin is half-open [lo, hi) and
        # a value's bin after a merge is the bin its value falls in on the new grid)
        new = (self.R == 0) & (bmax > 0)
        self.R[new] = bmax[new] * (1 + 2**-10)
        f = torch.ones(self.d, dtype=torch.long)
        grow = (bmax >= self.R) & (bmax > 0)
        if bool(grow.any()):
            f[grow] = torch.pow(2, torch.ceil(torch.log2(bmax[grow] / self.R[grow]))).long().clamp_min(2)
            while bool((self.R[grow] * f[grow] <= bmax[grow]).any()):  # float-rounding guard
                f[grow] = torch.where(self.R[grow] * f[grow] <= bmax[grow], f[grow] * 2, f[grow])
            self.R = self.R * f
            idx = torch.arange(self.F)[None, :] // f[:, None]  # old fine bin -> new fine bin
            self.hist = torch.zeros_like(self.hist).scatter_add_(1, idx, self.hist)
            self._merge_cells(grow.nonzero()[:, 0], idx)
        r, j = active.nonzero(as_tuple=True)
        val = z[r, j]
        self.hist.view(-1).index_add_(0, j * self.F + self.bins(j, val), torch.ones_like(j))
        self._insert(j * self.F + self.bins(j, val), torch.rand(val.shape[0], generator=self.gen), val, r + row0)
        self.n += B

    def _insert(self, cell: torch.Tensor, key: torch.Tensor, val: torch.Tensor, row: torch.Tensor) -> None:
        """Offer new examples to their cells' reservoirs (only the touched cells are rewritten)."""
        keep, rank = _smallest_per_group(cell, key, self.P)
        cells, slot = torch.unique(cell[keep], return_inverse=True)
        P = self.P
        new_key = torch.full((cells.shape[0], P), float("inf"))
        new_val, new_row = torch.zeros(cells.shape[0], P), torch.full((cells.shape[0], P), -1, dtype=torch.long)
        new_key[slot, rank], new_val[slot, rank], new_row[slot, rank] = key[keep], val[keep], row[keep]
        k = torch.cat([self.res_key[cells], new_key], 1)
        kk, ki = k.topk(P, dim=1, largest=False)
        self.res_key[cells] = kk
        self.res_val[cells] = torch.cat([self.res_val[cells], new_val], 1).gather(1, ki)
        self.res_row[cells] = torch.cat([self.res_row[cells], new_row], 1).gather(1, ki)

    def _merge_cells(self, lat: torch.Tensor, idx: torch.Tensor) -> None:
        """After latents ``lat`` grew their range, pool each group of old bins into its new bin."""
        F, P = self.F, self.P
        cells = (lat[:, None] * F + torch.arange(F)[None, :]).reshape(-1)  # [g * F]
        key, val, row = self.res_key[cells].reshape(-1), self.res_val[cells].reshape(-1), self.res_row[cells].reshape(-1)
        new_cell = (lat[:, None] * F + idx[lat]).reshape(-1).repeat_interleave(P)
        ok = torch.isfinite(key)
        self.res_key[cells], self.res_val[cells], self.res_row[cells] = float("inf"), 0.0, -1
        if bool(ok.any()):
            self._insert(new_cell[ok], key[ok], val[ok], row[ok])


def _smallest_per_group(group: torch.Tensor, key: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(indices, rank)`` of the ``k`` entries with the smallest ``key`` in each ``group``, sorted by (group, key)."""
    if group.numel() == 0:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    order = torch.argsort(key, stable=True)
    order = order[torch.argsort(group[order], stable=True)]
    g = group[order]
    first = torch.ones_like(g, dtype=torch.bool)
    first[1:] = g[1:] != g[:-1]
    start = torch.cummax(torch.where(first, torch.arange(g.numel()), 0), 0).values
    rank = torch.arange(g.numel()) - start
    return order[rank < k], rank[rank < k]


# --------------------------------------------------------------------------- after the pass
def _quantile_examples(st: _Stream, n_q: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(rows [d, n_q, P], values [d, n_q, P], edges [d, n_q + 1])`` of equal-count activation intervals."""
    d, F, P = st.d, st.F, st.P
    cum = st.hist.cumsum(1).double()  # [d, F]
    total = cum[:, -1:]
    targets = total * torch.arange(1, n_q, dtype=torch.float64)[None, :] / n_q  # [d, n_q - 1]
    b = torch.searchsorted(cum.contiguous(), targets.contiguous(), side="left") + 1  # fine-bin boundaries
    e = torch.cat([torch.zeros(d, 1, dtype=torch.long), b.clamp_max(F), torch.full((d, 1), F)], 1)
    e = torch.cummax(e, 1).values  # [d, n_q + 1] in fine-bin units
    edges = e.float() * (st.R / F)[:, None]
    ok = torch.isfinite(st.res_key).view(d, F, P)
    j, cell, _ = ok.nonzero(as_tuple=True)
    key = st.res_key.view(d, F, P)[ok]
    q = (cell[:, None] >= e[j, 1:n_q]).sum(1)  # interval of each reservoir entry
    grp = j * n_q + q
    keep, slot = _smallest_per_group(grp, key, P)
    rows = torch.full((d * n_q, P), -1, dtype=torch.long)
    vals = torch.zeros(d * n_q, P)
    if keep.numel():
        g = grp[keep]
        rows[g, slot] = st.res_row.view(d, F, P)[ok][keep]
        vals[g, slot] = st.res_val.view(d, F, P)[ok][keep]
        # within an interval, show the examples in descending activation order
        order = vals.argsort(1, descending=True)
        vals, rows = vals.gather(1, order), rows.gather(1, order)
    return rows.view(d, n_q, P), vals.view(d, n_q, P), edges


@torch.no_grad()
def context_windows(sae: Latents, store: Any, hook: str, rows: torch.Tensor, latents: torch.Tensor, ctx_left: int,
                    ctx_right: int, batch_size: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and latent values around example rows: ``(tokens [m, ctx], acts [m, ctx])``.

    ``rows`` [m] are store rows (-1 = empty slot: tokens -1, acts 0); ``latents`` [m]
    the latent to read on each window. Token id -1 where the window leaves its
    sequence; act 0 where a neighbouring position is not in the store.
    """
    ctx = ctx_left + 1 + ctx_right
    m = rows.shape[0]
    tokens = torch.full((m, ctx), -1, dtype=torch.long)
    acts = torch.zeros(m, ctx)
    ok = rows >= 0
    if not bool(ok.any()):
        return tokens, acts
    inputs = store.inputs()
    ctoks, cmask = inputs.tokens, inputs.attention_mask
    r = rows.clamp_min(0)
    s, p = store.seq_ids()[r], store.seq_positions()[r]
    offs = torch.arange(-ctx_left, ctx_right + 1)
    wpos = p[:, None] + offs[None, :]  # [m, ctx]
    inside = ok[:, None] & (wpos >= 0) & (wpos < ctoks.shape[1])
    wp = wpos.clamp(0, ctoks.shape[1] - 1)
    real = inside & (cmask[s[:, None], wp] == 1)
    tokens[real] = ctoks[s[:, None].expand_as(wp)[real], wp[real]]
    nrow = store.row_index(s[:, None].expand_as(wpos), wpos)  # [m, ctx] store row of each window token, -1 if none
    present = real & (nrow >= 0)
    pair_rows, pair_out = nrow[present], present.nonzero()
    pair_lat = latents[pair_out[:, 0]]
    order = torch.argsort(pair_rows)
    pair_rows, pair_lat, pair_out = pair_rows[order], pair_lat[order], pair_out[order]
    uniq, inv = torch.unique(pair_rows, return_inverse=True)
    p0 = next(sae.parameters())
    for c in range(0, uniq.shape[0], batch_size):
        z = sae.encode(store.rows_at(hook, uniq[c:c + batch_size]).float().to(p0.device, p0.dtype)).float().cpu()
        sel = (inv >= c) & (inv < c + batch_size)
        acts[pair_out[sel, 0], pair_out[sel, 1]] = z[inv[sel] - c, pair_lat[sel]]
    return tokens, acts


@torch.no_grad()
def logit_effects(sae: Latents, W_U: torch.Tensor, n: int, chunk: int = 1024) -> dict[str, torch.Tensor]:
    """Top ``n`` positive and negative entries of each latent's direct logit effect ``W_dec · W_U``."""
    W_dec = (sae.W_dec.detach().float() / _cfg(sae, "input_scale", 1.0)).cpu()  # effect of a unit latent on raw activations
    W_U = W_U.detach().float().cpu()
    n = min(n, W_U.shape[1])
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("logit_pos_ids", "logit_pos_vals", "logit_neg_ids", "logit_neg_vals")}
    for c in range(0, W_dec.shape[0], chunk):
        eff = W_dec[c:c + chunk] @ W_U  # [chunk, d_vocab]
        pv, pi = eff.topk(n, dim=1)
        nv, ni = (-eff).topk(n, dim=1)
        out["logit_pos_ids"].append(pi)
        out["logit_pos_vals"].append(pv)
        out["logit_neg_ids"].append(ni)
        out["logit_neg_vals"].append(-nv)
    return {k: torch.cat(v) for k, v in out.items()}


@torch.no_grad()
def decoder_neighbours(sae: Latents, n: int, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, cos) [d_sae, n]``: the latents whose decoder rows point closest to each latent's."""
    W = sae.W_dec.detach().float().cpu()
    W = W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)
    n = min(n, W.shape[0] - 1)
    ids, cos = [], []
    for c in range(0, W.shape[0], chunk):
        sim = W[c:c + chunk] @ W.T  # [chunk, d_sae]
        sim[torch.arange(sim.shape[0]), torch.arange(c, c + sim.shape[0])] = -float("inf")
        v, i = sim.topk(n, dim=1)
        ids.append(i)
        cos.append(v)
    return torch.cat(ids), torch.cat(cos)


def vocab_strings(tokenizer: Any, d_vocab: int) -> list[str]:
    """A display string per token id (decoded text; the raw token where decoding is lossy)."""
    out = []
    for i in range(d_vocab):
        try:
            s = tokenizer.decode([i])
        except Exception:  # ids past the tokenizer's vocabulary  # noqa: BLE001
            s = ""
        if not s or "\ufffd" in s:
            tok = tokenizer.convert_ids_to_tokens(i)
            s = tok if isinstance(tok, str) else f"<{i}>"
        out.append(s)
    return out


def unembedding(model: Any, d_in: int) -> torch.Tensor | None:
    """``W_U`` [d_model, d_vocab] when the latents write where it applies (a causal LM's residual stream, ``d_in`` wide)."""
    from interp.sae.evaluation import is_causal_lm

    if model is None or not is_causal_lm(model):
        return None
    try:
        W_U = model.W_U
    except (AttributeError, KeyError, RuntimeError):
        return None
    return W_U if W_U.shape[0] == d_in else None


@torch.no_grad()
def compute_features(sae: Latents, store: Any, hook: str | None = None, model: Any = None,
                     cfg: FeatureConfig | None = None, progress: bool = True) -> Features:
    """Everything the dashboard shows about each latent of ``sae`` (an SAE or any :class:`Latents`) over
    ``store`` (see module doc)."""
    cfg = cfg or FeatureConfig()
    hook = hook or _cfg(sae, "hook") or (store.hooks[0] if len(store.hooks) == 1 else None)
    if hook is None or hook not in store.hooks:
        raise ValueError(f"Say which hook of {store.path} the SAE reads (hook=); it holds {store.hooks}.")
    if store.d[hook] != sae.d_in:
        raise ValueError(f"The SAE reads d_in={sae.d_in} but {hook!r} in {store.path} has width {store.d[hook]}.")
    if cfg.n_bins < 1 or cfg.n_quantiles < 1 or cfg.n_top < 1:
        raise ValueError("n_bins, n_quantiles and n_top must be >= 1.")
    from interp.hooks.rows import open_rows

    p0 = next(sae.parameters())
    st = _Stream(sae.d_sae, cfg)
    n = len(store)
    bar = tqdm(total=n, desc="features", unit="tok", disable=not progress, dynamic_ncols=True)
    for _, x in open_rows(store, hook).chunks(cfg.batch_size):
        st.add(sae.encode(x.to(p0.device, p0.dtype)).float().cpu(), st.n)
        bar.update(x.shape[0])
    bar.close()
    d, ctx = sae.d_sae, cfg.ctx_left + 1 + cfg.ctx_right
    q_rows, q_vals, q_edges = _quantile_examples(st, cfg.n_quantiles)
    st.top_row[st.top_val <= 0] = -1
    st.top_val.clamp_min_(0)
    rows = torch.cat([st.top_row.reshape(-1), q_rows.reshape(-1)])
    lats = torch.cat([torch.arange(d).repeat_interleave(cfg.n_top),
                      torch.arange(d).repeat_interleave(cfg.n_quantiles * cfg.n_per_quantile)])
    toks, acts = context_windows(sae, store, hook, rows, lats, cfg.ctx_left, cfg.ctx_right, cfg.batch_size)
    nt = d * cfg.n_top
    hist = st.hist.view(d, cfg.n_bins, 2).sum(-1)
    R = torch.where(st.R > 0, st.R, torch.ones_like(st.R))
    tensors = {
        "density": st.count.float() / max(n, 1),
        "max_act": st.max,
        "mean_act": (st.sum / st.count.clamp_min(1)).float(),
        "hist_counts": hist,
        "hist_edges": torch.linspace(0, 1, cfg.n_bins + 1)[None, :] * R[:, None],
        "top_value": st.top_val,
        "top_tokens": toks[:nt].view(d, cfg.n_top, ctx),
        "top_acts": acts[:nt].view(d, cfg.n_top, ctx),
        "quantile_tokens": toks[nt:].view(d, cfg.n_quantiles, cfg.n_per_quantile, ctx),
        "quantile_acts": acts[nt:].view(d, cfg.n_quantiles, cfg.n_per_quantile, ctx),
        "quantile_edges": q_edges,
        "quantile_value": q_vals,
        "top_rows": st.top_row,
    }
    W_U = unembedding(model, int(sae.W_dec.shape[1]))  # where the latents write (an SAE: its d_in)
    if W_U is not None:
        tensors.update(logit_effects(sae, W_U, cfg.n_logit))
    tensors["neighbour_ids"], tensors["neighbour_cos"] = decoder_neighbours(sae, cfg.n_neighbours)
    meta = {"model": _cfg(sae, "model") or store.model, "hook": hook, "d_sae": d, "n_top": cfg.n_top,
            "ctx_left": cfg.ctx_left, "ctx_right": cfg.ctx_right, "n_quantiles": cfg.n_quantiles,
            "n_tokens": n, "has_logits": W_U is not None, "n_per_quantile": cfg.n_per_quantile,
            "n_bins": cfg.n_bins, "store": str(store.path), "config": asdict(cfg)}
    vocab = None
    if model is not None:  # token ids stand for themselves when the model has no tokenizer (toy tasks)
        tok = getattr(model, "tokenizer", None)
        d_vocab = int(model.cfg.d_vocab)
        vocab = vocab_strings(tok, d_vocab) if tok is not None else [str(i) for i in range(d_vocab)]
    return Features(tensors, meta, vocab)


def save_features(features: Features, folder: str | Path) -> dict[str, str]:
    """Write ``features.safetensors``, ``features.json`` (and ``vocab.json``); returns artifact -> file name."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in features.tensors.items()}
    write_atomic(folder / FEATURES_FILE, lambda tmp: save_file(tensors, str(tmp)))
    write_json_atomic(folder / META_FILE, features.meta, indent=1)
    out = {"features": FEATURES_FILE, "features_meta": META_FILE}
    if features.vocab is not None:
        write_json_atomic(folder / VOCAB_FILE, features.vocab, indent=0)
        out["vocab"] = VOCAB_FILE
    return out
