"""A capture as a run: :class:`CaptureConfig` -> a ``capture`` run holding an ActivationStore.

The CLI (``interp capture``), the demo and every experiment describe a capture
with the same dataclass and call :func:`capture_run`, so the run's ``config`` has
one shape whoever wrote it, and :func:`resume_capture` can finish any of them.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.runs import Run, load_run, start_run


@dataclass
class CaptureConfig:
    """What to capture, from which model and text: everything that determines the store."""

    model: str  # model spec: toy:NAME, minilm, a HF folder or hub name
    hooks: list[str]  # TransformerLens hook names
    corpus: list[str] | None = None  # .txt/.jsonl files or folders (None: the shipped corpus)
    seq_len: int = 128
    max_seqs: int | None = None  # at most this many sequences
    shuffle_seed: int | None = None  # take the sequences in this seeded random order (a random held-out tail)
    batch_size: int = 32
    positions: str | None = None  # "all" (None), "last", or comma-separated positions such as "0,-1"
    include_bos: bool = True
    dtype: str = "float32"
    tokens_per_shard: int = 65536
    out: str | None = None  # store folder (None: "activations" inside the run folder)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "CaptureConfig":
        """From a run's ``config`` (runs written before this class existed included)."""
        if not isinstance(obj, dict) or "model" not in obj or "hooks" not in obj:
            raise ValueError(f"This run's config is not a capture's (no model/hooks): {obj!r:.200}.")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in known})


def parse_positions(text: str | None) -> Any:
    """``None``/"all"/"last" as is; "0,3,-1" -> ``[0, 3, -1]`` (what :func:`~interp.hooks.capturing` takes)."""
    if text in (None, "all", "last"):
        return text
    try:
        return [int(p) for p in str(text).split(",")]
    except ValueError:
        raise ValueError(f"positions must be 'all', 'last' or comma-separated integers, got {text!r}.") from None


def _capture_into(run: Run, cfg: CaptureConfig, model: Any = None, device: str | None = None) -> Any:
    import torch

    from interp.datasets import load_texts, tokenize_corpus
    from interp.hooks.capturing import capture
    from interp.models import load_model

    t0 = time.perf_counter()
    model = model if model is not None else load_model(cfg.model, device=device)
    if model.tokenizer is None:
        raise ValueError(f"{cfg.model} has no tokenizer, so it cannot read a text corpus; "
                         "use interp.hooks.capturing with token ids.")
    texts = load_texts(cfg.corpus or None)
    if cfg.shuffle_seed is None:
        corpus = tokenize_corpus(model.tokenizer, texts, cfg.seq_len, max_seqs=cfg.max_seqs)
    else:
        corpus = tokenize_corpus(model.tokenizer, texts, cfg.seq_len)
        gen = torch.Generator().manual_seed(cfg.shuffle_seed)
        corpus = corpus[torch.randperm(len(corpus), generator=gen)[: cfg.max_seqs]]
    out = Path(cfg.out) if cfg.out else run.path / "activations"
    store = capture(model, corpus, cfg.hooks, positions=parse_positions(cfg.positions), batch_size=cfg.batch_size,
                    out=out, dtype=cfg.dtype, include_bos=cfg.include_bos, tokens_per_shard=cfg.tokens_per_shard)
    where = out.resolve()
    run.add_artifact("store", os.path.relpath(where, run.path.resolve()),
                     external=not where.is_relative_to(run.path.resolve()))  # --out may be anywhere
    run.metrics.update({"tokens": len(store), "shards": len(store.shards), "sequences": len(corpus),
                        "documents": len(texts), "d": store.d, "seconds": round(time.perf_counter() - t0, 2)})
    return store


def capture_run(cfg: CaptureConfig, *, root: Any = None, slug: str | None = None, device: str | None = None,
                model: Any = None) -> Run:
    """Capture ``cfg`` into a new ``capture`` run (artifact ``store``); ``model`` skips loading it again."""
    if cfg.corpus:  # stored absolute, so the run resumes from any working directory
        cfg = dataclasses.replace(cfg, corpus=[str(Path(c).resolve()) for c in cfg.corpus])
    if cfg.out:
        cfg = dataclasses.replace(cfg, out=str(Path(cfg.out).resolve()))
    with start_run("capture", cfg.to_json(), model=cfg.model, slug=slug, root=root) as run:
        _capture_into(run, cfg, model, device)
    return run


def resume_capture(path: str | Path, *, device: str | None = None) -> Run:
    """Continue an interrupted ``capture`` run where its last complete shard ends."""
    run = load_run(path)
    if run.kind != "capture":
        raise ValueError(f"{run.path} is a {run.kind!r} run, not a capture; --resume takes a capture run folder.")
    cfg = CaptureConfig.from_json(run.config)
    run.status, run.error = "running", None
    run.save()
    with run:
        _capture_into(run, cfg, device=device)
    return run


def open_store(path: str | Path) -> Any:
    """An :class:`~interp.hooks.ActivationStore` from a ``capture`` run folder or a store folder.

    A capture's store may live outside its run folder (``--out``); the run lists it as
    external, and this reader follows it (``external_ok``).
    """
    from interp.hooks.store import ActivationStore

    p = Path(path)
    if (p / "run.json").is_file():
        return ActivationStore(load_run(p).artifact("store", external_ok=True))
    return ActivationStore(p)
