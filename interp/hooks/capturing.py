"""``capture``: activations for any TransformerLens hook names, from one forward pass per batch.

Why not just ``run_with_cache``? It keeps every activation of a batch in memory,
runs the model to the end even when you need layer 1, and leaves padding,
batching and disk to you. ``capture`` takes a corpus (or token tensor), runs the
model batch by batch with hooks only on the points you asked for, **stops the
forward pass as soon as the last of them has fired**, keeps only real token
positions (padding is dropped; BOS/[CLS] optionally), and either returns the rows
in memory or streams them to an :class:`~interp.hooks.store.ActivationStore`
whose memory use is one batch plus one shard, whatever the corpus size.

Rows are token positions. A hook whose tensor is ``[batch, pos, *rest]`` gives
rows of ``prod(rest)`` values; attention patterns/scores ``[batch, head, q, k]``
are indexed by query position and give rows ``[head, k]`` (flattened).

A capture into ``out`` that is interrupted (Ctrl-C, kill, crash) resumes when
called again with the same arguments: it continues after the last complete shard
and ends byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from interp.datasets import TokenizedCorpus, load_texts, tokenize_corpus
from interp.hooks.hooked import hooked_passes
from interp.hooks.store import (
    DTYPES,
    TOKENS_FILE,
    ActivationStore,
    StoreWriter,
    dtype_name,
)

PER_QUERY_HOOKS = ("hook_pattern", "hook_attn_scores")  # [batch, head, q, k] -> rows by query


class HookNameError(KeyError):
    """A requested hook name does not exist on the model."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def corpus_digest(corpus: TokenizedCorpus) -> str:
    """A short hash of the inputs, so a resumed capture can refuse different data."""
    h = hashlib.sha256()
    for t in (corpus.tokens, corpus.attention_mask, corpus.doc_ids, corpus.doc_offsets):
        h.update(t.to(torch.int64).contiguous().numpy().tobytes())
    h.update(f"{corpus.n_prefix},{corpus.n_suffix}".encode())
    return h.hexdigest()[:16]


@dataclass
class CaptureResult:
    """In-memory capture (``out=None``): ``acts[hook]`` is [rows, d]; ``meta`` has seq_id/seq_pos/token_id."""

    acts: dict[str, torch.Tensor]
    meta: dict[str, torch.Tensor]
    row_shape: dict[str, list[int]] = field(default_factory=dict)
    inputs: TokenizedCorpus | None = None

    def __getitem__(self, hook: str) -> torch.Tensor:
        return self.acts[hook]


def check_hook_names(model: Any, hooks: Sequence[str]) -> list[str]:
    """Validate ``hooks`` against the model before any work; suggest the nearest names."""
    if isinstance(hooks, str):
        hooks = [hooks]
    if not hooks:
        raise HookNameError("No hook names given. Example: hooks=['blocks.0.hook_resid_post'].")
    valid = list(model.hook_dict)
    out = []
    for h in hooks:
        if h not in model.hook_dict:
            near = difflib.get_close_matches(h, valid, n=5, cutoff=0.5)
            raise HookNameError(
                f"Unknown hook name {h!r}. Nearest valid names: {near or valid[:5]}. "
                f"This model has {len(valid)} hook points; list them with `interp models --hooks SPEC`."
            )
        if h not in out:
            out.append(h)
    return out


def as_inputs(model: Any, data: Any, seq_len: int | None = None, attention_mask: torch.Tensor | None = None) -> TokenizedCorpus:
    """Turn a TokenizedCorpus, a token tensor, texts or a corpus path into a :class:`TokenizedCorpus`."""
    if isinstance(data, TokenizedCorpus):
        return data
    if isinstance(data, torch.Tensor):
        tokens = data.long()
        if tokens.dim() == 1:
            tokens = tokens[None]
        if tokens.dim() != 2:
            raise ValueError(f"Token tensor must be [batch, pos], got shape {tuple(tokens.shape)}.")
        mask = torch.ones_like(tokens) if attention_mask is None else attention_mask.long()
        n = tokens.shape[0]
        return TokenizedCorpus(tokens, mask, torch.arange(n), torch.zeros(n, dtype=torch.long), n_prefix=0)

    if model.tokenizer is None:
        raise ValueError("This model has no tokenizer; pass token ids as a [batch, pos] tensor instead of text.")
    if isinstance(data, (str, Path)) or (isinstance(data, (list, tuple)) and data and isinstance(data[0], Path)):
        texts = load_texts(data)
    elif isinstance(data, (list, tuple)) and all(isinstance(t, str) for t in data):
        texts = list(data)
    else:
        raise TypeError(
            f"Cannot capture from {type(data).__name__}: pass a TokenizedCorpus, a [batch, pos] token tensor, "
            "a list of strings, or a path to a .txt/.jsonl corpus."
        )
    seq_len = seq_len or min(int(model.cfg.n_ctx), 128)
    return as_inputs(model, tokenize_corpus(model.tokenizer, texts, seq_len))


def keep_mask(inputs: TokenizedCorpus, positions: Any = None, include_bos: bool = True) -> torch.Tensor:
    """Which token positions become rows: real tokens, optionally without the prefix, optionally only some positions."""
    real = inputs.attention_mask.bool()
    keep = real.clone()
    if not include_bos and inputs.n_prefix:
        keep[:, : inputs.n_prefix] = False
    if positions is None or positions == "all":
        return keep
    if positions == "last":
        positions = [-1]
    if isinstance(positions, int):
        positions = [positions]
    if isinstance(positions, slice):
        positions = list(range(inputs.tokens.shape[1]))[positions]
    sel = torch.zeros_like(keep)
    lengths = real.sum(1)
    for p in positions:
        if p >= 0:
            if p < sel.shape[1]:
                sel[:, p] = True
        else:  # from the end of each sequence's real tokens
            idx = lengths + p
            ok = idx >= 0
            sel[ok.nonzero()[:, 0], idx[ok]] = True
    return keep & sel


def capture(
    model: Any,
    data: Any,
    hooks: Sequence[str],
    positions: Any = None,
    batch_size: int = 32,
    out: str | Path | None = None,
    dtype: torch.dtype | str = torch.float32,
    include_bos: bool = True,
    tokens_per_shard: int = 65536,
    seq_len: int | None = None,
    progress: bool = True,
    max_batches: int | None = None,
) -> ActivationStore | CaptureResult:
    """Capture ``hooks`` on ``data`` (see the module docstring).

    Returns an :class:`ActivationStore` when ``out`` is given (resuming an
    interrupted capture there), else a :class:`CaptureResult` in memory.
    ``max_batches`` stops after that many batches (the store stays resumable).
    """
    hooks = check_hook_names(model, hooks)
    dname = dtype_name(dtype if dtype is not None else torch.float32)
    store_dtype = DTYPES[dname]
    if batch_size <= 0 or tokens_per_shard <= 0:
        raise ValueError("batch_size and tokens_per_shard must be positive.")
    inputs = as_inputs(model, data, seq_len)
    if inputs.tokens.shape[0] == 0:
        raise ValueError("Nothing to capture: the input has no sequences.")
    keep = keep_mask(inputs, positions, include_bos)
    per_seq = keep.sum(1)  # rows contributed by each sequence
    cum = torch.cat([torch.zeros(1, dtype=torch.long), per_seq.cumsum(0)])
    total_rows = int(cum[-1])
    if total_rows == 0:
        raise ValueError("No token positions selected: check `positions`, `include_bos` and the attention mask.")

    if out is None:
        sink: Any = _MemorySink(hooks, store_dtype)
    else:
        spec = {
            "model": getattr(model, "interp_spec", None) or getattr(model.cfg, "model_name", None),
            "hooks": hooks, "dtype": dname, "positions": repr(positions), "include_bos": include_bos,
            "batch_size": batch_size, "tokens_per_shard": tokens_per_shard, "inputs": corpus_digest(inputs),
            "n_seq": int(inputs.tokens.shape[0]), "seq_len": int(inputs.tokens.shape[1]),
        }
        # Row shapes come from the first batch (no probe pass); a resumed store knows them already.
        sink = StoreWriter(Path(out), spec, hooks, None, None, store_dtype, tokens_per_shard, total_rows)
        if not sink.shards or not (Path(out) / TOKENS_FILE).exists():  # a new store: its corpus, in the background
            sink.write_file(TOKENS_FILE, inputs.save)  # same file mode as the shards (safetensors makes 0600)
        if sink.complete:
            sink.abort()  # nothing to add: just let go of the folder's lock
            return ActivationStore(out)

    done = sink.rows_done
    n_seq, seq_len = inputs.tokens.shape
    first_seq = int(torch.searchsorted(cum, torch.tensor(done), right=True) - 1) if done else 0
    first_batch = min(first_seq, n_seq - 1) // batch_size
    skip = done - int(cum[first_batch * batch_size])  # rows of the first batch already on disk
    starts = range(first_batch * batch_size, n_seq, batch_size)
    ran_all = max_batches is None or max_batches >= len(starts)
    if max_batches is not None:
        starts = starts[:max(max_batches, 0)]
    bar = tqdm(total=total_rows, initial=done, unit="tok", desc="capture", disable=not progress, dynamic_ncols=True)
    finished = False
    row_shape: dict[str, list[int]] | None = None
    try:
        with hooked_passes(model, names_filter=hooks, stop_after=True) as run:  # hooks attached once, not per batch
            for start, stop, flat, meta in _batch_plan(inputs.tokens, keep, starts, batch_size, skip):
                acts = run(inputs.tokens[start:stop], inputs.attention_mask[start:stop]).cache
                if row_shape is None:
                    row_shape = _row_shapes(hooks, acts, keep[start:stop])
                    sink.set_shapes({h: int(np.prod(r)) if r else 1 for h, r in row_shape.items()}, row_shape)
                n_rows = (stop - start) * seq_len
                sink.append_rows({h: _token_major(h, acts[h]).reshape(n_rows, -1) for h in hooks}, flat, meta)
                bar.update(int(meta["__seq_id"].shape[0]))
        if ran_all:
            sink.close()
            finished = True
    finally:
        if not finished:
            sink.abort()  # the full shards handed over are committed; the partial one is dropped
        bar.close()
    if out is None:
        return CaptureResult(sink.result(), sink.meta(), row_shape or {}, inputs)
    return ActivationStore(out, verify="read")  # just written: checksums still checked as shards are read


def _token_major(name: str, t: torch.Tensor) -> torch.Tensor:
    """``t`` with token position second: attention patterns/scores [batch, head, q, k] -> [batch, q, head, k]."""
    return t.permute(0, 2, 1, 3) if name.endswith(PER_QUERY_HOOKS) and t.dim() == 4 else t


def _row_shapes(hooks: list[str], acts: dict[str, torch.Tensor], mask: torch.Tensor) -> dict[str, list[int]]:
    """The shape of one row of each hook (``[d_model]``, ``[head, k]`` …), checking each is per-token."""
    shapes = {}
    for h in hooks:
        t = _token_major(h, acts[h])
        if t.dim() < 2 or tuple(t.shape[:2]) != tuple(mask.shape):
            raise ValueError(
                f"Hook {h!r} gives shape {tuple(acts[h].shape)}, not [batch, pos, ...] = {tuple(mask.shape)}: "
                "capture stores per-token activations only."
            )
        shapes[h] = list(t.shape[2:])
    return shapes


def _batch_plan(tokens: torch.Tensor, keep: torch.Tensor, starts: range, batch_size: int, skip: int = 0,
                chunk: int = 64) -> Iterator[tuple[int, int, torch.Tensor | slice, dict[str, torch.Tensor]]]:
    """``(start, stop, rows, meta)`` for each batch of ``starts`` that keeps any row.

    ``rows``: the batch's kept rows as ``[batch * pos]`` row numbers, a slice when they are
    one contiguous run (then the copy into the shard is a plain one); ``meta``: their
    ``__seq_id`` / ``__seq_pos`` / ``__token_id`` (int32). The first ``skip`` kept rows of
    the first batch (already on disk) are left out.

    Why precomputed: each small tensor op right after a forward pass costs tens of
    microseconds (cold caches, waking threads), and a dozen of them per batch were a few
    per cent of a small model's capture. Worked out for ``chunk`` batches at once, each
    batch gets views and Python ints.
    """
    n_seq, seq_len = keep.shape
    for c in range(0, len(starts), chunk):
        lo = starts[c]
        hi = min(starts[min(c + chunk, len(starts)) - 1] + batch_size, n_seq)
        flat = keep[lo:hi].reshape(-1).nonzero().squeeze(1)  # [rows] kept row numbers within the chunk
        meta = {"__seq_id": (flat // seq_len + lo).int(), "__seq_pos": (flat % seq_len).int(),
                "__token_id": tokens[lo:hi].reshape(-1)[flat].int()}
        ends = torch.arange(batch_size, hi - lo + batch_size, batch_size).clamp(max=hi - lo)  # batch ends, in seqs
        bounds = torch.cat([torch.zeros(1, dtype=torch.long), keep[lo:hi].sum(1).cumsum(0)[ends - 1]])  # [batches + 1]
        b = bounds.tolist()
        top = max(len(flat) - 1, 0)
        firsts = flat[bounds[:-1].clamp(max=top)].tolist() if len(flat) else [0] * len(ends)
        lasts = flat[(bounds[1:] - 1).clamp(min=0, max=top)].tolist() if len(flat) else [0] * len(ends)
        for j, start in enumerate(range(lo, hi, batch_size)):
            s, e, first = b[j], b[j + 1], firsts[j]
            if skip:
                s, skip = s + skip, 0
                first = int(flat[s]) if s < e else first
            if e <= s:
                continue
            off = (start - lo) * seq_len
            rows: torch.Tensor | slice
            if lasts[j] - first + 1 == e - s:  # one contiguous run
                rows = slice(first - off, lasts[j] + 1 - off)
            else:
                rows = flat[s:e] - off
            yield start, min(start + batch_size, n_seq), rows, {k: v[s:e] for k, v in meta.items()}


class _MemorySink:
    def __init__(self, hooks: list[str], dtype: torch.dtype) -> None:
        self.hooks, self.dtype = hooks, dtype
        self.parts: dict[str, list[torch.Tensor]] = {k: [] for k in [*hooks, "__seq_id", "__seq_pos", "__token_id"]}
        self.rows_done = 0

    def set_shapes(self, d: dict[str, int], row_shape: dict[str, list[int]]) -> None:
        pass

    def append_rows(self, src: dict[str, torch.Tensor], index: torch.Tensor | slice, meta: dict[str, torch.Tensor]) -> None:
        for h in self.hooks:
            if isinstance(index, slice):  # a view of the batch: copied, so the batch is not kept alive
                self.parts[h].append(src[h][index].to("cpu", self.dtype, copy=True))
            else:
                self.parts[h].append(src[h].index_select(0, index.to(src[h].device)).to("cpu", self.dtype))
        for k, v in meta.items():
            self.parts[k].append(v)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def result(self) -> dict[str, torch.Tensor]:
        return {h: torch.cat(self.parts[h]) for h in self.hooks}

    def meta(self) -> dict[str, torch.Tensor]:
        return {k.strip("_"): torch.cat(self.parts[k]).long() for k in ("__seq_id", "__seq_pos", "__token_id")}
