"""Sink emergence: train a small causal LM from scratch and record the sink rate as it trains.

Gu et al. (ICLR 2025, "When attention sink emerges in language models") train small
LLaMA-style models and find that the first-token sink appears early in pre-training,
that it appears with or without a BOS token (on whatever token comes first), and that
a larger learning rate or weight decay gives more of it. Barbero et al. (2025, "Why
do LLMs attend to the first token?") argue sinks curb over-mixing and grow with
context length. This module makes those curves at CPU scale: the ``toylm`` recipe
(pre-LN GPT, learned positions, the shipped BPE tokenizer and corpus) shrunk to a
few hundred thousand non-embedding parameters and a few hundred steps.

Each evaluation reads the attention patterns off the bare native model
(:func:`interp.models.toy.native_patterns`: the model trains without a bridge, so it
has no TransformerLens hook points for :func:`interp.hooks.hooked.forward` to use),
on a fixed set of held-out chunks, and
records: ``sink_rate`` (Sink_0^eps over sample x layer x head,
as in :mod:`interp.sinks.metrics`), ``alpha0`` (mean sink score of position 0),
``first_mass`` (mean attention mass on position 0) and the held-out ``loss``.
:func:`interp.sinks.pipeline.emergence_pipeline` trains a grid of such runs and
records the curves as a ``sink-emergence`` run.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import torch

from interp.models.toy import native_patterns
from interp.sinks.metrics import sink_scores, uniform_alpha0


@dataclass
class EmergenceConfig:
    """One training run of the emergence study."""

    label: str = ""
    task: str = "text"  # "text": the shipped corpus; "backcopy": Guo et al.'s Bigram-Backcopy task
    bos: bool = True  # prepend <|bos|> to every chunk (else chunks start on a content token)
    seq_len: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.1
    steps: int = 300
    batch_size: int = 16
    warmup_steps: int = 20
    eval_every: int = 25
    eval_seqs: int = 32
    n_layers: int = 2
    d_model: int = 64
    n_heads: int = 4
    d_mlp: int = 256
    attn_only: bool = False
    epsilon: float = 0.3
    seed: int = 0
    max_docs: int | None = None  # first N corpus documents only (tests)
    vocab: int = 64  # backcopy only: vocabulary (token 0 is BOS)
    n_triggers: int = 4  # backcopy only: tokens after which the previous token is copied
    threads: int = 1  # torch CPU threads while training (reproducible, kind to shared machines)

    def name(self) -> str:
        return self.label or (f"{self.task}-{'bos' if self.bos else 'nobos'}-T{self.seq_len}-lr{self.lr:g}"
                              f"-wd{self.weight_decay:g}")


class Backcopy:
    """Guo et al. (2024, "Active-dormant attention heads")'s Bigram-Backcopy sequences.

    Tokens 1..V-1 follow a fixed random bigram chain (3 successors each), except that
    after one of ``n_triggers`` trigger tokens the next token copies the token *before*
    the trigger. A head is needed only at triggers (to look one token back); everywhere
    else it has nothing to do, and in the paper it goes dormant by attending to BOS: a
    sink that forms within a few hundred steps of a one-layer model, which makes it the
    CPU-sized emergence study that the text corpus cannot be.
    """

    def __init__(self, vocab: int = 64, n_triggers: int = 4, seed: int = 1234) -> None:
        if vocab < n_triggers + 4:
            raise ValueError(f"vocab ({vocab}) must exceed n_triggers + 3 ({n_triggers + 3}).")
        g = torch.Generator().manual_seed(seed)
        self.vocab = vocab
        self.trans = torch.zeros(vocab, vocab)  # [from, to]
        for t in range(1, vocab):
            succ = torch.randperm(vocab - 1, generator=g)[:3] + 1
            self.trans[t, succ] = torch.rand(3, generator=g) + 0.1
        self.trans /= self.trans.sum(-1, keepdim=True).clamp(min=1e-9)
        self.triggers = torch.randperm(vocab - 1, generator=g)[:n_triggers] + 1
        self.is_trigger = torch.zeros(vocab, dtype=torch.bool)
        self.is_trigger[self.triggers] = True

    def sample(self, batch: int, seq_len: int, bos: bool, g: torch.Generator) -> torch.Tensor:
        """[batch, seq_len] token ids (BOS = 0 first when ``bos``)."""
        n = seq_len - int(bos)
        out = torch.zeros(batch, n, dtype=torch.long)
        out[:, 0] = torch.randint(1, self.vocab, (batch,), generator=g)
        for t in range(1, n):
            nxt = torch.multinomial(self.trans[out[:, t - 1]], 1, generator=g)[:, 0]
            if t >= 2:
                nxt = torch.where(self.is_trigger[out[:, t - 1]], out[:, t - 2], nxt)
            out[:, t] = nxt
        return torch.cat([torch.zeros(batch, 1, dtype=torch.long), out], 1) if bos else out


@lru_cache(maxsize=1)
def shipped_tokenizer() -> Any:
    """The shipped ``toy:toylm`` BPE tokenizer (vocab 4096, ``<|bos|>`` = 0, ``<|pad|>`` = 1)."""
    from interp.models.toy import ToyConfig, build_tokenizer, resolve_toy_path

    path = resolve_toy_path("toylm")
    cfg = ToyConfig.from_json(json.loads((path / "config.json").read_text()), path / "config.json")
    return build_tokenizer(path, cfg)


@lru_cache(maxsize=8)
def corpus_split(seq_len: int, bos: bool, max_docs: int | None, seed: int = 0) -> tuple[Any, Any]:
    """(train, held-out) TokenizedCorpus of the shipped corpus, split by document as in toylm."""
    from interp.datasets import load_texts, tokenize_corpus
    from interp.models.training.toylm import split_documents

    texts = load_texts(max_docs=max_docs)
    train_ids, held_ids = split_documents(len(texts), 0.05, seed)
    tok = shipped_tokenizer()
    train = tokenize_corpus(tok, [texts[i] for i in train_ids], seq_len, prepend_bos=bos)
    held = tokenize_corpus(tok, [texts[i] for i in held_ids], seq_len, prepend_bos=bos)
    return train, held


def model_config(cfg: EmergenceConfig, d_vocab: int) -> Any:
    from interp.models.toy import ToyConfig

    bridge = dict(n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_model // cfg.n_heads,
                  d_mlp=cfg.d_mlp, n_ctx=cfg.seq_len, d_vocab=d_vocab, normalization_type="LN", act_fn="gelu",
                  positional_embedding_type="standard", default_prepend_bos=cfg.bos,
                  attn_only=cfg.attn_only)
    return ToyConfig(name="sink-emergence", bridge_config=bridge, task="language modelling", seed=cfg.seed)


@torch.no_grad()
def sink_metrics(model: torch.nn.Module, tokens: torch.Tensor, mask: torch.Tensor, epsilon: float) -> dict[str, float]:
    """Sink rate, mean alpha_0 and first-token mass of a native causal model on ``tokens`` [batch, pos]."""
    _, patterns = native_patterns(model, tokens)  # per layer: [batch, head, q, k] (no grad: decorated)
    alpha = torch.stack([sink_scores(p, mask, causal=True) for p in patterns])  # [layer, batch, head, key]
    a0 = alpha[..., 0]
    real = mask.bool()
    first = torch.stack([(p[..., 0] * real[:, None]).sum() / (real.sum() * p.shape[1]) for p in patterns])
    return {"sink_rate": float((a0 > epsilon).float().mean()), "alpha0": float(a0.mean()),
            "first_mass": float(first.mean())}


def train_with_sinks(cfg: EmergenceConfig) -> dict[str, Any]:
    """Train one model and return its curve entry for ``curves.json`` (docs/runs.md ``sink-emergence``)."""
    return train_model_with_sinks(cfg)[0]


def train_model_with_sinks(cfg: EmergenceConfig) -> tuple[dict[str, Any], torch.nn.Module]:
    """:func:`train_with_sinks` that also returns the trained native model."""
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads or threads)
    try:
        return _train(cfg)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: EmergenceConfig) -> tuple[dict[str, Any], torch.nn.Module]:
    from interp.models.toy import build_native
    from interp.models.training.common import LoopConfig, seed_everything, train_loop
    from interp.models.training.toylm import heldout_loss, lm_loss

    if cfg.seq_len < 4 or cfg.steps < 1 or cfg.eval_every < 1:
        raise ValueError(f"seq_len must be >= 4 and steps, eval_every >= 1 (got {cfg.seq_len}, {cfg.steps}, {cfg.eval_every}).")
    if cfg.task not in ("text", "backcopy"):
        raise ValueError(f"Unknown task {cfg.task!r}; use 'text' or 'backcopy'.")
    gen = seed_everything(cfg.seed)
    if cfg.task == "backcopy":
        task = Backcopy(cfg.vocab, cfg.n_triggers)
        ev_tokens = task.sample(cfg.eval_seqs, cfg.seq_len, cfg.bos, torch.Generator().manual_seed(cfg.seed + 10_000))
        ev_mask = torch.ones_like(ev_tokens)
        d_vocab = cfg.vocab

        def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
            tokens = task.sample(cfg.batch_size, cfg.seq_len, cfg.bos, gen)
            return tokens, torch.ones_like(tokens)
    else:
        train, held = corpus_split(cfg.seq_len, cfg.bos, cfg.max_docs)
        full = held.attention_mask.bool().all(1).nonzero()[:, 0]  # full-length held-out rows: one T for all
        rows = full if len(full) else torch.arange(len(held))
        rows = rows[torch.linspace(0, len(rows) - 1, min(cfg.eval_seqs, len(rows))).round().long().unique()]
        ev_tokens, ev_mask = held.tokens[rows], held.attention_mask[rows]
        d_vocab = len(shipped_tokenizer())
        epochs = -(-cfg.steps * cfg.batch_size // len(train))
        order = torch.cat([torch.randperm(len(train), generator=gen) for _ in range(epochs)])

        def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
            idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            return train.tokens[idx], train.attention_mask[idx]
    model = build_native(model_config(cfg, d_vocab))

    def loss_fn(m: torch.nn.Module, step: int) -> torch.Tensor:
        return lm_loss(m, *batch(step))

    def eval_fn(m: torch.nn.Module) -> dict[str, float]:
        return {"loss": heldout_loss(m, ev_tokens, ev_mask), **sink_metrics(m, ev_tokens, ev_mask, cfg.epsilon)}

    model.eval()
    init = {"step": -1, **eval_fn(model)}
    loop = LoopConfig(steps=cfg.steps, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95),
                      warmup_steps=cfg.warmup_steps, decay="cosine", eval_every=cfg.eval_every, desc=cfg.name())
    start = time.perf_counter()
    curve = train_loop(model, loss_fn, loop, eval_fn=eval_fn)
    rows_ = [init] + curve.rows
    entry = {
        "label": cfg.name(), "task": cfg.task, "bos": cfg.bos, "seq_len": cfg.seq_len, "lr": cfg.lr, "weight_decay": cfg.weight_decay,
        "steps": [int(r["step"]) + 1 for r in rows_],  # optimizer steps completed at each evaluation
        "sink_rate": [round(r["sink_rate"], 5) for r in rows_],
        "alpha0": [round(r["alpha0"], 5) for r in rows_],
        "first_mass": [round(r["first_mass"], 5) for r in rows_],
        "loss": [round(r["loss"], 5) for r in rows_],
        "uniform_alpha0": round(uniform_alpha0(int(ev_mask.sum(1).max())), 5),
        "seconds": round(time.perf_counter() - start, 2),
        "config": asdict(cfg),
    }
    return entry, model
