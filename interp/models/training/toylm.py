"""``toylm``: a small causal language model trained on the shipped English corpus.

Why it exists: the synthetic toys (``induction``, ``modadd``) have known circuits but no
language; SAEs, probes and attention-sink analyses need a model that has learnt *real*
text statistics, yet the whole workbench must run offline on a laptop CPU. So this
recipe trains, in a few CPU minutes and fully reproducibly:

1. a byte-level BPE tokenizer (``tokenizers``, vocab ~4096) on the *training* documents
   of ``data/corpus/default.jsonl``, with ``<|bos|>`` = 0, ``<|pad|>`` = 1 and
   ``<|endoftext|>`` = 2. The last one is never trained on: it exists because the bridge
   falls back to an ``<|endoftext|>`` EOS and would otherwise grow the vocabulary past
   ``d_vocab``. Its post-processor prepends ``<|bos|>``, so ``model.tokenizer(text)`` and
   ``model.to_tokens(text)`` produce what the model saw in training;
2. a 2-layer pre-LN GPT (learned positions, GELU MLP, n_ctx 128) on chunks
   ``[BOS] content... [PAD]*`` that never cross a document (``tokenize_corpus``); the
   loss ignores padding. The split into train and held-out is by *document* (seeded),
   so held-out loss measures generalisation to unseen chapters and speeches.

``training.json`` records the curve, the held-out loss, and two baselines on the same
held-out targets: the train unigram distribution (add-one smoothed) and a bigram model
interpolated with it (weight tuned on held-out, so an optimistic baseline).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from interp.models.toy import ToyConfig, build_native, build_tokenizer, save_toy
from interp.models.training.common import LoopConfig, seed_everything, torch_threads, train_loop

BOS, PAD, EOT = "<|bos|>", "<|pad|>", "<|endoftext|>"
SPECIAL_TOKENS = (BOS, PAD, EOT)  # ids 0, 1, 2

DEFAULTS: dict[str, Any] = dict(
    vocab_size=4096, n_layers=2, d_model=128, n_heads=4, d_mlp=512, n_ctx=128,
    steps=1000, batch_size=16, lr=3e-3, warmup_steps=50, weight_decay=0.1,
    heldout_frac=0.05, eval_every=100, eval_seqs=32,
    threads=1,  # torch CPU threads; see train_toylm
    max_docs=None,  # use only the first N corpus documents (tests)
    max_seqs=None,  # cap the number of training chunks (tests)
)
RECIPE = DEFAULTS  # the options train_toy checks overrides against


def train_tokenizer(texts: list[str], vocab_size: int = 4096) -> Any:
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on ``texts``; deterministic.

    Byte-level means every string round-trips (no unknown token); the template
    post-processor prepends ``<|bos|>`` whenever special tokens are requested.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))]
    )
    return tok


def split_documents(n_docs: int, heldout_frac: float = 0.05, seed: int = 0) -> tuple[list[int], list[int]]:
    """(train, held-out) document indices, each sorted: a seeded split by whole document."""
    perm = torch.randperm(n_docs, generator=torch.Generator().manual_seed(seed)).tolist()
    n_held = max(1, round(n_docs * heldout_frac)) if n_docs > 1 else 0
    return sorted(perm[n_held:]), sorted(perm[:n_held])


def toylm_config(d_vocab: int, seed: int = 0, **arch: Any) -> ToyConfig:
    """The checkpoint config: architecture for ``TransformerBridgeConfig`` plus the tokenizer."""
    a = {k: arch.get(k, DEFAULTS[k]) for k in ("n_layers", "d_model", "n_heads", "d_mlp", "n_ctx")}
    bridge_config = dict(
        n_layers=a["n_layers"], d_model=a["d_model"], n_heads=a["n_heads"],
        d_head=a["d_model"] // a["n_heads"], d_mlp=a["d_mlp"], n_ctx=a["n_ctx"], d_vocab=d_vocab,
        normalization_type="LN", act_fn="gelu", positional_embedding_type="standard",
        default_prepend_bos=True,  # every training sequence starts with <|bos|>
    )
    return ToyConfig(name="toylm", bridge_config=bridge_config, task="language modelling",
                     tokenizer="tokenizer.json", bos_token=BOS, pad_token=PAD, seed=seed)


def lm_loss(model: torch.nn.Module, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over real (mask 1) targets.

    tokens, mask: [batch pos]. Padding is only ever at the end of a row, so under the
    causal mask real positions never attend to it and no attention mask is needed.
    """
    logits = model(tokens)  # [batch pos d_vocab]
    targets = tokens[:, 1:].masked_fill(mask[:, 1:] == 0, -100)  # [batch pos-1]
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), targets.flatten(), ignore_index=-100)


@torch.no_grad()
def heldout_loss(model: torch.nn.Module, tokens: torch.Tensor, mask: torch.Tensor, batch: int = 64) -> float:
    """Token-weighted mean loss over all rows of ``tokens`` [n_seq pos]."""
    total, count = 0.0, 0
    for i in range(0, len(tokens), batch):
        n = int(mask[i : i + batch, 1:].sum())
        total += float(lm_loss(model, tokens[i : i + batch], mask[i : i + batch])) * n
        count += n
    return total / max(count, 1)


def ngram_baselines(train: tuple[torch.Tensor, torch.Tensor], held: tuple[torch.Tensor, torch.Tensor],
                    vocab: int) -> dict[str, float]:
    """Held-out cross-entropy (nats/token) of unigram and interpolated-bigram models of ``train``.

    ``train`` and ``held`` are (tokens, mask) pairs, [n_seq pos]; the targets are exactly
    those of :func:`lm_loss`, so the numbers compare directly with the model's loss.
    """
    def pairs(tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keep = mask[:, 1:].bool()
        return tokens[:, :-1][keep], tokens[:, 1:][keep]  # [n_targets] each

    prev, nxt = pairs(*train)
    h_prev, h_next = pairs(*held)
    uni = (torch.bincount(nxt, minlength=vocab).double() + 1) / (len(nxt) + vocab)  # add-one
    out = {"unigram": float(-uni[h_next].log().mean())}
    keys, counts = torch.unique(prev * vocab + nxt, return_counts=True)  # sorted pair ids
    ctx = torch.bincount(prev, minlength=vocab).double()
    h_keys = h_prev * vocab + h_next
    pos = torch.searchsorted(keys, h_keys).clamp(max=len(keys) - 1)
    pair = torch.where(keys[pos] == h_keys, counts[pos], 0).double()
    p_big = pair / ctx[h_prev].clamp(min=1)
    best = min(
        (float(-(lam * p_big + (1 - lam) * uni[h_next]).log().mean()), lam)
        for lam in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    )
    out["bigram"], out["bigram_lambda"] = best
    return out


def train_toylm(out_dir: str | Path, seed: int = 0, **overrides: Any) -> Path:
    """Train tokenizer and model, save ``config.json``, ``model.safetensors``,
    ``tokenizer.json`` and ``training.json`` under ``out_dir``; return ``out_dir``.

    ``overrides`` replace entries of :data:`DEFAULTS` (architecture, steps, batch size,
    ``max_docs`` / ``max_seqs`` for quick runs, ``threads``).
    """
    hp = {**DEFAULTS, **overrides}
    with torch_threads(hp["threads"]):  # one by default (see torch_threads)
        return _train(Path(out_dir), seed, hp)


def _train(out: Path, seed: int, hp: dict[str, Any]) -> Path:
    """The body of :func:`train_toylm` (run under its thread setting)."""
    from interp.datasets.corpus import load_texts, tokenize_corpus

    out.mkdir(parents=True, exist_ok=True)
    gen = seed_everything(seed)

    texts = load_texts(max_docs=hp["max_docs"])
    train_ids, held_ids = split_documents(len(texts), hp["heldout_frac"], seed)
    train_texts, held_texts = [texts[i] for i in train_ids], [texts[i] for i in held_ids]

    tok = train_tokenizer(train_texts, hp["vocab_size"])
    tok.save(str(out / "tokenizer.json"))
    cfg = toylm_config(tok.get_vocab_size(), seed=seed, **hp)
    hf_tok = build_tokenizer(out, cfg)  # exactly the tokenizer load_toy will hand the bridge
    n_ctx = cfg.bridge_config["n_ctx"]
    train = tokenize_corpus(hf_tok, train_texts, n_ctx, max_seqs=hp["max_seqs"])
    held = tokenize_corpus(hf_tok, held_texts, n_ctx)
    eval_rows = torch.linspace(0, len(held) - 1, min(hp["eval_seqs"], len(held))).round().long().unique()

    B, steps = hp["batch_size"], hp["steps"]
    epochs = math.ceil(steps * B / len(train))
    order = torch.cat([torch.randperm(len(train), generator=gen) for _ in range(epochs)])  # [epochs*n_seq]

    def loss_fn(model: torch.nn.Module, step: int) -> torch.Tensor:
        rows = order[step * B : (step + 1) * B]
        return lm_loss(model, train.tokens[rows], train.attention_mask[rows])

    def eval_fn(model: torch.nn.Module) -> dict[str, float]:
        return {"heldout_loss": heldout_loss(model, held.tokens[eval_rows], held.attention_mask[eval_rows])}

    model = build_native(cfg)
    loop = LoopConfig(steps=steps, lr=hp["lr"], weight_decay=hp["weight_decay"], betas=(0.9, 0.95),
                      warmup_steps=hp["warmup_steps"], decay="cosine", eval_every=hp["eval_every"], desc="toylm")
    curve = train_loop(model, loss_fn, loop, eval_fn=eval_fn)

    final = heldout_loss(model, held.tokens, held.attention_mask)
    baselines = ngram_baselines((train.tokens, train.attention_mask), (held.tokens, held.attention_mask),
                                tok.get_vocab_size())
    seen = order[: steps * B]
    training = {
        **curve.to_json(),
        "hyperparameters": {**hp, "seed": seed},
        "split": {"heldout_frac": hp["heldout_frac"], "seed": seed, "n_docs": len(texts),
                  "heldout_docs": held_ids},
        "n_params": sum(p.numel() for p in model.parameters()),
        "train_tokens_available": int(train.attention_mask[:, 1:].sum()),
        "tokens_trained": int(train.attention_mask[seen, 1:].sum()),
        "heldout_tokens": int(held.attention_mask[:, 1:].sum()),
        "heldout_loss": round(final, 4),
        "baselines": {k: round(v, 4) for k, v in baselines.items()},
    }
    return save_toy(model, cfg, out, training=training)
