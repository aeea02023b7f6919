"""``measure_sinks``: stream a corpus through a model and average every sink metric, with bounded memory.

Each batch runs one forward pass with hooks on ``blocks.{l}.attn.hook_pattern``,
``blocks.{l}.attn.hook_v`` and ``blocks.{l}.hook_resid_post``. The hooks reduce what
they see on the spot (sink scores, category masses, value norms, massive entries)
and drop the tensor, so memory is one layer's pattern of one batch whatever the
corpus size. Works for causal models (visible queries ``q >= k``) and bidirectional
encoders (all real queries), read off ``model.cfg.attention_dir``.

Each pass goes through :func:`interp.hooks.hooked.forward` and stops after the last
block, so the (large) unembedding never runs. The result is a :class:`SinkReport`;
:func:`interp.sinks.run.write_sinks_run` saves it as a ``sinks`` run in the layout of
``docs/runs.md`` (which the dashboard reads).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from interp.datasets import TokenizedCorpus
from interp.hooks.hooked import forward, last_block_hook
from interp.models import model_device
from interp.sinks.massive import MassiveActivations
from interp.sinks.metrics import TokenCategories, category_mass, category_mean, sink_scores


@dataclass
class SinkConfig:
    """Knobs of :func:`measure_sinks`."""

    epsilon: float = 0.3  # Gu et al.; Barbero et al. use 0.8
    extra_epsilons: tuple[float, ...] = (0.8,)  # also report first-token sink rates at these thresholds
    batch_size: int = 16
    head_threshold: float = 0.5  # a head is a sink head if >= this mass goes to one special token category
    massive_abs: float = 100.0  # Sun et al.: |a| > 100 ...
    massive_ratio: float = 1000.0  # ... and > 1000x the median |a| of its hidden state
    max_massive: int = 200
    example_len: int = 24  # tokens of the example pattern saved for display
    progress: bool = True


def is_causal(model: Any) -> bool:
    """Causal unless the bridge config says the attention is bidirectional."""
    return getattr(model.cfg, "attention_dir", "causal") != "bidirectional"


def categories_for(model: Any, corpus: TokenizedCorpus) -> TokenCategories:
    """The token categories of ``model``'s vocabulary, labelling position 0 BOS when every row starts with it."""
    tok = getattr(model, "tokenizer", None)
    encoder = not is_causal(model)
    first = None
    if not encoder:
        bos = getattr(tok, "bos_token_id", None) if tok is not None else None
        starts_bos = bos is not None and corpus.n_prefix > 0 and bool((corpus.tokens[:, 0] == bos).all())
        first = "BOS" if starts_bos else "first"
    return TokenCategories(tok, int(model.cfg.d_vocab), encoder=encoder, first_label=first)


@dataclass
class SinkReport:
    """Corpus averages of the sink metrics (layer L, head H, key position K, category C)."""

    alpha: torch.Tensor  # [L, H, K] mean alpha_k over samples in which key k is real
    sink_rate: torch.Tensor  # [L, H] fraction of samples with alpha_0 > epsilon
    sink_rate_by_pos: torch.Tensor  # [L, H, K] fraction of samples (with key k real) with alpha_k > epsilon
    sink_rate_eps: torch.Tensor  # [E, L, H] first-token sink rate at each of extra_epsilons
    extra_epsilons: list[float]
    mass: torch.Tensor  # [L, H, C] mean attention mass per real query on each category
    v_norm: torch.Tensor  # [L, H, C] mean value-vector norm (hook_v) of the tokens of each category
    categories: list[str]
    epsilon: float
    causal: bool
    n_samples: int
    massive: list[dict] = field(default_factory=list)
    massive_summary: dict[str, list[float]] = field(default_factory=dict)
    n_massive: int = 0
    example_tokens: list[str] = field(default_factory=list)
    example_pattern: torch.Tensor | None = None  # [L, H, q, k] on one short example

    @property
    def overall_sink_rate(self) -> float:
        """Sink_0^eps over all (sample, layer, head)."""
        return float(self.sink_rate.mean())

    def sink_heads(self, threshold: float = 0.5) -> list[dict[str, Any]]:
        """Heads that put >= ``threshold`` of their mass on one special category (first token, [SEP])."""
        special = [i for i, c in enumerate(self.categories) if c not in ("punct", "other")]
        out = []
        for layer in range(self.mass.shape[0]):
            for head in range(self.mass.shape[1]):
                c = max(special, key=lambda i: float(self.mass[layer, head, i]))
                m = float(self.mass[layer, head, c])
                if m >= threshold:
                    out.append({"layer": layer, "head": head, "token": self.categories[c], "mass": round(m, 4),
                                "sink_rate": round(float(self.sink_rate[layer, head]), 4)})
        return out

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {"alpha": self.alpha, "sink_rate": self.sink_rate, "sink_rate_by_pos": self.sink_rate_by_pos,
               "sink_rate_eps": self.sink_rate_eps, "mass": self.mass, "v_norm": self.v_norm}
        for k, v in self.massive_summary.items():
            out[k] = torch.tensor(v, dtype=torch.float32)
        if self.example_pattern is not None:
            out["example_pattern"] = self.example_pattern
        return {k: v.detach().float().cpu().contiguous() for k, v in out.items()}


class _Accumulator:
    """Running sums of the sink metrics; the hooks feed it one layer of one batch at a time."""

    def __init__(self, n_layers: int, n_heads: int, seq_len: int, n_cat: int, cfg: SinkConfig) -> None:
        self.eps = cfg.epsilon
        self.extra = torch.tensor(cfg.extra_epsilons, dtype=torch.float64)
        self.above_extra = torch.zeros(len(self.extra), n_layers, n_heads, dtype=torch.float64)
        self.alpha_sum = torch.zeros(n_layers, n_heads, seq_len, dtype=torch.float64)
        self.above = torch.zeros(n_layers, n_heads, seq_len, dtype=torch.float64)
        self.key_count = torch.zeros(seq_len, dtype=torch.float64)
        self.mass_sum = torch.zeros(n_layers, n_heads, n_cat, dtype=torch.float64)
        self.n_queries = 0
        self.v_sum = torch.zeros(n_layers, n_heads, n_cat, dtype=torch.float64)
        self.v_count = torch.zeros(n_cat, dtype=torch.float64)
        self.n_samples = 0

    def pattern(self, layer: int, pattern: torch.Tensor, mask: torch.Tensor, cats: torch.Tensor, causal: bool) -> None:
        alpha = sink_scores(pattern, mask, causal).cpu().double()  # [batch, head, k]
        ok = ~torch.isnan(alpha)
        self.alpha_sum[layer] += torch.where(ok, alpha, 0).sum(0)
        self.above[layer] += (ok & (alpha > self.eps)).sum(0)
        a0 = alpha[..., 0]  # [batch, head]; NaN-free: position 0 is always real
        self.above_extra[:, layer] += (a0[None] > self.extra[:, None, None]).sum(1)
        mass, n_q = category_mass(pattern, cats, self.mass_sum.shape[-1], mask)
        self.mass_sum[layer] += mass.cpu().double()
        if layer == 0:
            self.key_count += mask.bool().sum(0).cpu().double()
            self.n_queries += n_q
            self.n_samples += int(pattern.shape[0])

    def values(self, layer: int, v: torch.Tensor, cats: torch.Tensor) -> None:
        norms = v.float().norm(dim=-1)  # [batch, pos, head] (or [batch, pos, kv_head] under grouped-query attention)
        n_heads = self.v_sum.shape[1]
        if norms.shape[-1] != n_heads:  # GQA: query head h reads value head h // (n_heads / n_kv_heads)
            if n_heads % norms.shape[-1]:
                raise ValueError(f"hook_v has {norms.shape[-1]} value heads for {n_heads} query heads in layer "
                                 f"{layer}; expected a divisor (grouped-query attention).")
            norms = norms.repeat_interleave(n_heads // norms.shape[-1], dim=-1)
        sums, counts = category_mean(norms, cats, self.v_sum.shape[-1])
        self.v_sum[layer] += sums.cpu().double()
        if layer == 0:
            self.v_count += counts.cpu().double()

    def report(self, categories: list[str], causal: bool) -> dict[str, Any]:
        kc = self.key_count.clamp(min=1)
        return {
            "alpha": (self.alpha_sum / kc).float(),
            "sink_rate": (self.above[..., 0] / kc[0]).float(),
            "sink_rate_by_pos": (self.above / kc).float(),
            "sink_rate_eps": (self.above_extra / kc[0]).float(),
            "extra_epsilons": self.extra.tolist(),
            "mass": (self.mass_sum / max(self.n_queries, 1)).float(),
            "v_norm": (self.v_sum / self.v_count.clamp(min=1)).float(),
            "categories": categories,
            "causal": causal,
            "n_samples": self.n_samples,
        }


def _layer_of(name: str) -> int:
    return int(name.split(".")[1])


@torch.no_grad()
def measure_sinks(
    model: Any,
    corpus: TokenizedCorpus,
    config: SinkConfig | None = None,
    fwd_hooks: Sequence[tuple[str, Any]] = (),
    values: bool = True,
    massive: bool = True,
) -> SinkReport:
    """Average the sink metrics of every layer and head of ``model`` over ``corpus``.

    ``fwd_hooks`` (TransformerLens ``(name, fn)`` pairs) run before the measuring hooks,
    so an intervention (:mod:`interp.sinks.interventions`) is measured as it acts.
    ``values``/``massive`` switch off the hook_v / hook_resid_post parts.
    """
    cfg = config or SinkConfig()
    if not 0 <= cfg.epsilon < 1:
        raise ValueError(f"epsilon must be in [0, 1), got {cfg.epsilon}.")
    if cfg.batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {cfg.batch_size}.")
    if len(corpus) == 0:
        raise ValueError("The corpus has no sequences; nothing to measure.")
    causal = is_causal(model)
    n_layers, n_heads = int(model.cfg.n_layers), int(model.cfg.n_heads)
    cats_of = categories_for(model, corpus)
    acc = _Accumulator(n_layers, n_heads, corpus.seq_len, len(cats_of), cfg)
    finder = MassiveActivations(n_layers, cfg.massive_abs, cfg.massive_ratio, cfg.max_massive)
    device = model_device(model)
    state: dict[str, torch.Tensor] = {}

    def on_pattern(t: torch.Tensor, hook: Any) -> None:
        acc.pattern(_layer_of(hook.name), t, state["mask"], state["cats"], causal)

    def on_v(t: torch.Tensor, hook: Any) -> None:
        acc.values(_layer_of(hook.name), t, state["cats"])

    def on_resid(t: torch.Tensor, hook: Any) -> None:
        finder.update(_layer_of(hook.name), t, state["mask"].bool(), state["tokens"])

    last = last_block_hook(model)
    hooks = list(fwd_hooks)
    for layer in range(n_layers):
        hooks.append((f"blocks.{layer}.attn.hook_pattern", on_pattern))
        if values:
            hooks.append((f"blocks.{layer}.attn.hook_v", on_v))
        if massive:
            hooks.append((f"blocks.{layer}.hook_resid_post", on_resid))
    bar = tqdm(range(0, len(corpus), cfg.batch_size), desc="sinks", disable=not cfg.progress, dynamic_ncols=True)
    for start in bar:
        batch = corpus[start : start + cfg.batch_size]
        tokens, mask = batch.tokens.to(device), batch.attention_mask.to(device)
        state.update(tokens=tokens, mask=mask, cats=cats_of(tokens, mask))
        forward(model, tokens, mask, hooks, stop_after=last)  # the hooks reduce; no unembedding
    summary = finder.summary()
    report = SinkReport(**acc.report(cats_of.labels, causal), epsilon=cfg.epsilon, massive=finder.entries(),
                        massive_summary=summary, n_massive=finder.count)
    if massive and report.massive and getattr(model, "tokenizer", None) is not None:
        for e in report.massive:
            e["token"] = model.tokenizer.convert_ids_to_tokens(e["token_id"])
    if cfg.example_len:
        report.example_tokens, report.example_pattern = example_pattern(model, corpus, cfg.example_len, fwd_hooks)
    return report


@torch.no_grad()
def example_pattern(model: Any, corpus: TokenizedCorpus, length: int,
                    fwd_hooks: Sequence[tuple[str, Any]] = ()) -> tuple[list[str], torch.Tensor]:
    """Every head's pattern on the first row cut to ``length`` tokens (a [SEP] kept at the end for encoders).

    Returns ``(token strings, pattern [layer, head, q, k])`` for display.
    """
    row = corpus.tokens[0][corpus.attention_mask[0].bool()]
    if corpus.n_suffix and len(row) > length:
        row = torch.cat([row[: length - corpus.n_suffix], row[-corpus.n_suffix:]])
    row = row[:length][None].to(model_device(model))
    patterns: dict[int, torch.Tensor] = {}

    def grab(t: torch.Tensor, hook: Any) -> None:
        patterns[_layer_of(hook.name)] = t[0].detach().float().cpu()

    n_layers = int(model.cfg.n_layers)
    hooks = list(fwd_hooks) + [(f"blocks.{i}.attn.hook_pattern", grab) for i in range(n_layers)]
    forward(model, row, None, hooks, stop_after=last_block_hook(model))
    tok = getattr(model, "tokenizer", None)
    labels = tok.convert_ids_to_tokens(row[0].tolist()) if tok is not None else [str(t) for t in row[0].tolist()]
    return labels, torch.stack([patterns[i] for i in range(n_layers)])


def config_dict(cfg: SinkConfig) -> dict[str, Any]:
    """``cfg`` as recorded in a run's config (``progress`` is display only, not a setting of the result)."""
    return {k: v for k, v in asdict(cfg).items() if k != "progress"}
