"""Toy-model checkpoints: our own small transformers, saved as safetensors + json.

The toy models (``induction``, ``modadd``, ``toylm``) are the known-answer
fixtures of the whole workbench: their circuits are known, so every analysis can
be checked against them. They are TransformerLens-native models built with
``TransformerBridge.boot_native``, which means they expose exactly the same hook
names (``blocks.0.attn.hook_pattern`` ...) as any pretrained model loaded through
the bridge.

A checkpoint is a folder::

    <name>/
      config.json        # {"format": "interp-toy", "name", "bridge_config": {...}, "tokenizer": ..., "task": ..., "seed"}
      model.safetensors  # state_dict of the native model (tok_embed.weight, layers.0.attn.q.weight, ...)
      tokenizer.json     # optional: a `tokenizers` tokenizer (the text LM has one; synthetic tasks don't)
      training.json      # optional: the training curve and final metrics

Weights are only ever read with safetensors, never unpickled.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from interp.io import write_atomic, write_json_atomic
from interp.models.device import move_model
from interp.models.specs import (  # noqa: F401  (re-exported: where they always were)
    DATA_DIR,
    TOY_DIR,
    TOY_FORMAT,
    is_toy_checkpoint,
    list_toy_models,
    resolve_toy_path,
)

@dataclass
class ToyConfig:
    """What it takes to rebuild a toy model: its architecture and its tokenizer.

    ``bridge_config`` holds keyword arguments of ``TransformerBridgeConfig``
    (d_model, n_layers, n_heads, d_head, d_vocab, n_ctx, attn_only, ...), so a
    checkpoint stays readable without our code.
    """

    name: str
    bridge_config: dict[str, Any]
    task: str = ""
    tokenizer: str | None = None  # file name of a tokenizers JSON inside the checkpoint folder
    bos_token: str | None = None
    pad_token: str | None = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # task parameters (p for modadd, ...)

    def to_json(self) -> dict[str, Any]:
        return {"format": TOY_FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, obj: dict[str, Any], source: Path | str = "config.json") -> "ToyConfig":
        if obj.get("format") != TOY_FORMAT:
            raise ValueError(
                f"{source} is not an interp toy-model config (format={obj.get('format')!r}, "
                f"expected {TOY_FORMAT!r})."
            )
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in known})


def build_tokenizer(ckpt_dir: Path, cfg: ToyConfig) -> Any:
    """The checkpoint's tokenizer as a transformers fast tokenizer, or None."""
    if not cfg.tokenizer:
        return None
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(ckpt_dir / cfg.tokenizer),
        bos_token=cfg.bos_token,
        pad_token=cfg.pad_token,
        name_or_path=str(ckpt_dir),  # TransformerLens's tokenizer setup reads this key
        add_bos_token=cfg.bos_token is not None,  # else the bridge reloads it via AutoTokenizer
    )


def boot_toy(cfg: ToyConfig, tokenizer: Any = None, device: Any = None, dtype: Any = None) -> Any:
    """A freshly initialised bridge for ``cfg`` (seeded, so reproducible)."""
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    import transformer_lens.model_bridge.sources  # noqa: F401  (attaches boot_native)

    bcfg = TransformerBridgeConfig(**{**cfg.bridge_config, "seed": cfg.seed})
    return TransformerBridge.boot_native(
        bcfg, tokenizer=tokenizer, device=device, dtype=dtype, model_name=f"toy:{cfg.name}"
    )


def build_native(cfg: ToyConfig) -> torch.nn.Module:
    """The bare native model (no hook points) with the same seeded init as :func:`boot_toy`.

    Training runs on this module because it is ~20 % faster than going through the
    bridge's hook points; its ``state_dict`` keys are exactly :func:`native_state_dict`'s.
    """
    import copy

    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge.sources.native import NativeModel, initialize_native_model

    bcfg = TransformerBridgeConfig(**{**cfg.bridge_config, "seed": cfg.seed})
    with torch.random.fork_rng(devices=[]):
        model = NativeModel(copy.deepcopy(bcfg))
        initialize_native_model(model, bcfg)
    return model


def native_patterns(model: torch.nn.Module, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``(logits [batch, pos, vocab], per-layer attention patterns [batch, head, q, k])`` of a *native* toy.

    Training loops evaluate the bare module from :func:`build_native` (no bridge, so no
    hook points): its attention modules return ``(out, pattern)`` and this reads the
    pattern off them (the bridge's ``hook_pattern`` is the same tensor). Gradients follow
    the caller's mode. On a bridge, use :func:`interp.hooks.hooked.forward` instead.
    """
    patterns: list[torch.Tensor] = []
    handles = [layer.attn.register_forward_hook(lambda _m, _i, out: patterns.append(out[1])) for layer in model.layers]
    try:
        logits = model(tokens)
    finally:
        for h in handles:
            h.remove()
    return logits, patterns


def save_toy(model: Any, cfg: ToyConfig, out_dir: str | Path, training: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint folder atomically enough: each file goes to a temp name first."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in native_state_dict(model).items()}
    write_atomic(out / "model.safetensors", lambda p: save_file(state, str(p), metadata={"format": TOY_FORMAT}))
    write_json_atomic(out / "config.json", cfg.to_json(), indent=2)
    if training is not None:
        write_json_atomic(out / "training.json", training)
    return out


def load_toy(name_or_path: str | Path, device: Any = None, dtype: Any = None) -> Any:
    """Rebuild a toy model from its checkpoint as a ``TransformerBridge``."""
    path = resolve_toy_path(name_or_path)
    cfg = ToyConfig.from_json(json.loads((path / "config.json").read_text()), path / "config.json")
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} is missing: the toy checkpoint {path} is incomplete.")
    try:
        state = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise ValueError(f"Cannot read {weights}: {exc}. Re-train with `interp train-toy {cfg.name}`.") from exc
    bridge = boot_toy(cfg, tokenizer=build_tokenizer(path, cfg))
    try:
        load_native_state_dict(bridge, state)
    except ValueError as exc:
        raise ValueError(f"{weights} does not match {path / 'config.json'}: {exc}") from None
    bridge.toy_config = cfg  # keep the task parameters at hand for analyses
    if device is not None or dtype is not None:
        move_model(bridge, device, dtype)
    bridge.eval()
    return bridge


def native_state_dict(model: Any) -> dict[str, torch.Tensor]:
    """The native model's tensors under their plain names (``layers.0.attn.q.weight``).

    The bridge wraps each native submodule in place, so the raw ``state_dict`` lists
    every tensor under several ``_original_component`` aliases; we keep one name each.
    """
    native = model.original_model if hasattr(model, "original_model") else model
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    # Parameters only: the bridge adds non-trainable zero buffers (an unembed bias) that
    # the native model does not have. The first alias listed is the native module path.
    for key, param in native.named_parameters(remove_duplicate=False):
        if id(param) not in seen:
            seen.add(id(param))
            out[key.replace("_original_component.", "")] = param
    return out


@torch.no_grad()
def load_native_state_dict(model: Any, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` (plain names, as from :func:`native_state_dict`) into ``model`` in place."""
    own = native_state_dict(model)
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"missing tensors {missing[:5]}, unexpected tensors {unexpected[:5]}")
    for key, target in own.items():
        src = state[key]
        if src.shape != target.shape:
            raise ValueError(f"tensor {key} has shape {tuple(src.shape)}, the model expects {tuple(target.shape)}")
        target.data.copy_(src.to(target.dtype))
