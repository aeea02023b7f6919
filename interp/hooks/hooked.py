"""``forward``: the one hooked forward pass every analysis uses.

Capturing, ablating, patching, splicing an SAE, measuring sinks: each is "run the
model on tokens with some hooks, keep some activations, maybe stop early, maybe
read the logits". Written once here, the details are right everywhere:

* **padding**: the attention mask is passed only when a row is padded (a mask of
  all ones changes nothing but costs a mask op per layer), see :func:`mask_kwargs`;
* **stopping early**: ``stop_after="blocks.1.hook_resid_post"`` ends the pass as
  soon as that hook has fired, and ``stop_after=True`` once every cached hook has
  fired, so a layer-1 capture never runs layers 2..n or the unembedding;
* **caching**: ``names_filter`` (a list of hook names or a predicate) keeps those
  activations, detached (cloned with ``clone=True`` when a later hook edits them in
  place); aliases of one hook point are recorded from one hook;
* **logits only where read**: ``logits_at`` (positions) trims the residual stream at
  ``unembed.hook_in`` so the unembedding runs on those alone;
* a hook that never fires is an error that names it, not a silent ``KeyError``.

Gradients are off unless ``grad=True`` (attribution needs them).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch

from interp.models.device import model_device

Hook = tuple[str, Callable[..., Any]]  # a TransformerLens fwd_hooks entry: (hook name, fn(act, hook))


class StopForward(Exception):
    """Raised from a hook to end a forward pass early; :func:`forward` catches it."""


class HookDidNotFire(RuntimeError):
    """A requested hook name exists but was never called during the pass."""


@dataclass
class ForwardResult:
    """What one pass returns: logits (None when the pass stopped early) and the cached activations."""

    logits: torch.Tensor | None  # [batch, pos (or len(logits_at)), d_vocab]
    cache: dict[str, torch.Tensor] = field(default_factory=dict)  # hook name -> activation as the hook saw it

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.cache[name]


def mask_kwargs(attention_mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """``{"attention_mask": mask}`` when some position is padding, else ``{}`` (nothing to mask)."""
    if attention_mask is None or not bool((attention_mask == 0).any()):
        return {}
    return {"attention_mask": attention_mask}


def stop_hook(name: str) -> Hook:
    """A hook that ends the pass once ``name`` has fired (raise :class:`StopForward`)."""

    def stop(act: torch.Tensor, hook: Any) -> None:
        raise StopForward

    return name, stop


def last_block_hook(model: Any) -> str:
    """The last block's output: where a pass that needs no logits can stop."""
    return f"blocks.{int(model.cfg.n_layers) - 1}.hook_resid_post"


def _cache_names(model: Any, names_filter: Sequence[str] | str | Callable[[str], bool] | None) -> list[str]:
    if names_filter is None:
        return []
    if isinstance(names_filter, str):
        return [names_filter]
    if callable(names_filter):
        return [n for n in model.hook_dict if names_filter(n)]
    return list(dict.fromkeys(names_filter))


# Where logits_at cuts the positions: the unembedding's input. Not the final norm's input:
# Hugging Face models (GPT-2) reshape the hidden states to the input's length right after
# the final norm, so a trim before it breaks them; the norm is cheap, the unembedding is not.
TRIM_HOOK = "unembed.hook_in"


def _trim_hook(positions: torch.Tensor) -> Hook:
    def trim(act: torch.Tensor, hook: Any) -> torch.Tensor:
        return act[:, positions.to(act.device)]

    return TRIM_HOOK, trim


def forward(
    model: Any,
    tokens: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    fwd_hooks: Sequence[Hook] = (),
    *,
    names_filter: Sequence[str] | str | Callable[[str], bool] | None = None,
    stop_after: str | bool | None = None,
    logits_at: torch.Tensor | None = None,
    clone: bool = False,
    grad: bool = False,
    check: bool = True,
) -> ForwardResult:
    """Run ``model`` on ``tokens`` [batch, pos] with ``fwd_hooks``; see the module docstring.

    ``fwd_hooks`` run first, so cached activations are the ones after any intervention.
    ``stop_after`` is a hook name, or ``True`` to stop once every hook in ``names_filter``
    has fired; a stopped pass returns ``logits=None``. ``logits_at`` [n] keeps the logits
    of those positions only.
    Tokens and mask are moved to the model's device. ``check=False`` is for hot loops
    (thousands of passes with hooks validated once by the caller): hook names are not
    validated and ``logits_at`` trims at ``unembed.hook_in`` without looking it up
    (reading ``model.hook_dict`` costs tens of microseconds on a TransformerBridge).
    """
    with hooked_passes(model, fwd_hooks, names_filter=names_filter, stop_after=stop_after, logits_at=logits_at,
                       clone=clone, grad=grad, check=check) as run:
        return run(tokens, attention_mask)


@contextlib.contextmanager
def hooked_passes(
    model: Any,
    fwd_hooks: Sequence[Hook] = (),
    *,
    names_filter: Sequence[str] | str | Callable[[str], bool] | None = None,
    stop_after: str | bool | None = None,
    logits_at: torch.Tensor | None = None,
    clone: bool = False,
    grad: bool = False,
    check: bool = True,
) -> Iterator[Callable[..., ForwardResult]]:
    """:func:`forward`'s hooks set up once for many passes: yields ``run(tokens, attention_mask)``.

    For a loop over batches (``capture``): the names are checked and the hooks attached
    once, not per batch. Inside the block gradients are off unless ``grad=True``, between
    passes too. Each ``run`` returns its own :class:`ForwardResult`.
    """
    device = model_device(model)
    names = _cache_names(model, names_filter)
    looked_up = check or bool(names)
    hook_dict = getattr(model, "hook_dict", {}) if looked_up else {}
    unknown = [n for n in names + ([stop_after] if isinstance(stop_after, str) else []) if n not in hook_dict]
    if unknown and check:
        from interp.hooks.capturing import check_hook_names

        check_hook_names(model, unknown)  # raises HookNameError with the nearest valid names

    state: dict[str, dict[str, torch.Tensor]] = {"cache": {}}
    by_point: dict[int, list[str]] = {}
    for n in names:
        by_point.setdefault(id(hook_dict[n]), []).append(n)

    def recorder(aliases: list[str]) -> Callable[..., Any]:
        def fn(act: torch.Tensor, hook: Any) -> torch.Tensor:
            kept = act if grad else act.detach()
            kept = kept.clone() if clone else kept
            cache = state["cache"]
            for a in aliases:
                cache[a] = kept
            if stop_after is True and len(cache) == len(names):
                raise StopForward
            return act

        return fn

    hooks: list[Hook] = list(fwd_hooks)
    hooks += [(aliases[0], recorder(aliases)) for aliases in by_point.values()]
    if isinstance(stop_after, str):
        hooks.append(stop_hook(stop_after))
    trims = logits_at is not None and (TRIM_HOOK in hook_dict or not looked_up)
    if trims and not stop_after:
        hooks.append(_trim_hook(logits_at))

    def run(tokens: torch.Tensor, attention_mask: torch.Tensor | None = None) -> ForwardResult:
        tokens = tokens.to(device)
        kwargs = mask_kwargs(None if attention_mask is None else attention_mask.to(device))
        state["cache"] = cache = {}
        try:
            logits = model(tokens, **kwargs)
        except StopForward:
            logits = None
        if logits is not None and logits_at is not None and not trims:
            logits = logits[:, logits_at.to(logits.device)]
        missing = [n for n in names if n not in cache]
        if missing:
            raise HookDidNotFire(f"Hooks {missing} never fired during the forward pass; this model does not use them.")
        return ForwardResult(logits, cache)

    ctx = contextlib.nullcontext() if grad else torch.no_grad()
    with ctx, model.hooks(fwd_hooks=hooks):
        yield run


def cache_hooks(model: Any, tokens: torch.Tensor, hooks: Sequence[str],
                attention_mask: torch.Tensor | None = None, fwd_hooks: Sequence[Hook] = ()) -> dict[str, torch.Tensor]:
    """Activations of ``hooks`` on ``tokens`` from one pass that stops after the last of them (no grad)."""
    return forward(model, tokens, attention_mask, fwd_hooks, names_filter=list(hooks), stop_after=True,
                   clone=True).cache
