"""Save and load SAEs in the SAELens folder format, so our SAEs work in SAELens and theirs here.

A folder holds two files::

    cfg.json                 SAELens 6.x inference config (architecture, d_in, d_sae, dtype, ...,
                             metadata {model_name, hook_name, ...}, k for TopK)
    sae_weights.safetensors  W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in]
                             (+ threshold [d_sae] for JumpReLU)

What SAELens calls each of our architectures (its ``SAE.load_from_disk`` reads
``cfg["architecture"]``) is the architecture's own ``saelens_arch``; today::

    relu_l1   -> "standard"   ReLU(x @ W_enc + b_enc)
    topk      -> "topk"       (+ "k"); TopK then ReLU
    jumprelu  -> "jumprelu"   ReLU(h) * (h > threshold)
    batchtopk -> "jumprelu"   SAELens saves BatchTopK for inference as JumpReLU with its
    matryoshka                learned global threshold; we do the same

and a SAELens folder of architecture ``a`` loads as the architecture that declares
``saelens_arch = a`` with ``loads_saelens`` (relu_l1, topk, jumprelu).

Our own ``arch`` and config are kept under ``metadata["interp"]`` (SAELens 6
keeps unknown metadata keys), so an interp-saved SAE loads back as the same class.

**Input scaling is folded in.** Our SAEs multiply inputs by ``cfg.input_scale``
before encoding and divide the reconstruction by it; SAELens has no such field
(its ``normalize_activations="expected_average_only_in"`` is only applied for
hub releases with a known factor). So we save ``W_enc * s``, ``b_dec / s``,
``W_dec / s`` -- exactly SAELens's ``fold_activation_norm_scaling_factor`` -- and
the saved SAE maps raw activations to the same latents and reconstructions. It
loads back with ``input_scale = 1``.

Loading also accepts SAELens folders written by SAELens itself (6.x, and the
pre-6 flat layout with ``hook_point``/``activation_fn_kwargs``):
``apply_b_dec_to_input = false`` is folded into ``b_enc``, and TopK's
``rescale_acts_by_decoder_norm`` into the encoder/decoder. Only safetensors
weights are read; never pickles.
"""

from __future__ import annotations

import math
import types
import typing
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from interp.io import read_json, write_atomic, write_json_atomic
from interp.sae.base import SAE, SAEConfig, arch_class, architectures, make_sae

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
SAELENS_VERSION = "6.12.0"  # the format we write (SAELens >= 6.0 reads "metadata")

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64,
           "torch.float32": torch.float32, "torch.float16": torch.float16, "torch.bfloat16": torch.bfloat16}


class SAEFormatError(ValueError):
    """A folder is not a readable SAELens SAE, or uses a feature we cannot represent."""


def _from_saelens() -> dict[str, str]:
    """SAELens architecture name -> the interp architecture its folders load as."""
    return {arch_class(a).saelens_arch: a for a in architectures() if arch_class(a).loads_saelens}


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _threshold(sae: SAE) -> torch.Tensor | None:
    """The per-latent inference threshold [d_sae] of a JumpReLU / BatchTopK SAE, else None."""
    t = None
    if hasattr(sae, "inference_threshold"):
        t = sae.inference_threshold()
    elif hasattr(sae, "threshold"):
        t = sae.threshold
    if t is None:
        return None
    t = torch.as_tensor(t, dtype=sae.W_enc.dtype).detach()
    return t.expand(sae.d_sae).clone() if t.numel() == 1 else t.reshape(sae.d_sae).clone()


@torch.no_grad()
def saelens_state(sae: SAE) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(cfg_dict, tensors)`` that SAELens 6.x loads as an equivalent SAE (input scale folded in)."""
    cfg = sae.cfg
    arch = type(sae).saelens_arch
    if arch is None:
        savable = [a for a in architectures() if arch_class(a).saelens_arch]
        raise SAEFormatError(f"SAELens has no equivalent of arch {cfg.arch!r}; savable archs: {savable}.")
    s = float(cfg.input_scale)
    tensors = {
        "W_enc": (sae.W_enc * s).contiguous(),
        "b_enc": sae.b_enc.detach().clone().contiguous(),
        "W_dec": (sae.W_dec / s).contiguous(),
        "b_dec": (sae.b_dec / s).contiguous(),
    }
    if arch == "jumprelu":
        thr = _threshold(sae)
        if thr is None:
            raise SAEFormatError(f"{type(sae).__name__} ({cfg.arch}) has no threshold to save as a JumpReLU SAE.")
        tensors["threshold"] = thr.contiguous()
    interp_cfg = cfg.to_json()
    interp_cfg["input_scale"] = 1.0  # folded into the weights above
    out: dict[str, Any] = {
        "architecture": arch,
        "d_in": cfg.d_in,
        "d_sae": cfg.d_sae,
        "dtype": _dtype_name(sae.W_enc.dtype),
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "hook_z" if (cfg.hook or "").endswith("hook_z") else "none",
        "metadata": {
            "model_name": cfg.model,
            "hook_name": cfg.hook,
            "hook_head_index": None,
            "sae_lens_version": SAELENS_VERSION,
            "sae_lens_training_version": SAELENS_VERSION,
            "interp": {"arch": cfg.arch, "config": interp_cfg, "folded_input_scale": s},
        },
    }
    if arch == "topk":
        out["k"] = int(cfg.k)
        out["rescale_acts_by_decoder_norm"] = False
    return out, {k: v.detach().cpu() for k, v in tensors.items()}


def save_sae(sae: SAE, path: str | Path) -> Path:
    """Write ``sae`` to the folder ``path`` (created) as ``cfg.json`` + ``sae_weights.safetensors``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg, tensors = saelens_state(sae)
    write_atomic(path / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp)))
    write_json_atomic(path / CFG_FILE, cfg, indent=2)
    return path


def _read_folder(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    if not path.is_dir():
        raise SAEFormatError(f"{path} is not a folder; an SAE is a folder with {CFG_FILE} and {WEIGHTS_FILE}.")
    cfg = read_json(path / CFG_FILE, SAEFormatError, f"{path} is not a SAELens SAE folder.", "the SAE is corrupt.")
    if not isinstance(cfg, dict):
        raise SAEFormatError(f"{path / CFG_FILE} holds a JSON {type(cfg).__name__}, not an object; "
                             "the SAE is corrupt (re-save it, or re-train).")
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        pt = [p.name for p in path.glob("*.pt")] + [p.name for p in path.glob("*.pth")]
        hint = f" It holds {pt}: pickled weights are not loaded; convert them to safetensors." if pt else ""
        raise SAEFormatError(f"{weights} does not exist.{hint}")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise SAEFormatError(f"{weights} is not a readable safetensors file ({exc}).") from exc
    return cfg, tensors


def _normalise_cfg(cfg: dict[str, Any]) -> dict[str, Any]:
    """Bring a pre-6.0 flat SAELens config to the 6.x shape (metadata dict, ``k`` at the top)."""
    cfg = dict(cfg)
    meta = dict(cfg.get("metadata") or cfg.get("meta") or {})
    for old, new in (("hook_point", "hook_name"), ("hook_point_head_index", "hook_head_index")):
        if old in cfg:
            cfg.setdefault(new, cfg.pop(old))
    for key in ("model_name", "hook_name", "hook_head_index"):
        if key in cfg:
            meta.setdefault(key, cfg.pop(key))
    cfg["metadata"] = meta
    if "k" not in cfg and isinstance(cfg.get("activation_fn_kwargs"), dict) and "k" in cfg["activation_fn_kwargs"]:
        cfg["k"] = cfg["activation_fn_kwargs"]["k"]
    if cfg.get("activation_fn", cfg.get("activation_fn_str")) == "topk" and cfg.get("architecture", "standard") == "standard":
        cfg["architecture"] = "topk"
    cfg.setdefault("architecture", "standard")
    cfg.setdefault("apply_b_dec_to_input", True)
    norm = cfg.get("normalize_activations")
    cfg["normalize_activations"] = "none" if norm in (None, False) else ("expected_average_only_in" if norm is True else norm)
    return cfg


# cfg.json fields read below -> the JSON types they may have (absent is fine; _normalise_cfg fills defaults)
_CFG_TYPES: dict[str, tuple[type, ...]] = {
    "architecture": (str,), "apply_b_dec_to_input": (bool,), "normalize_activations": (str, bool, type(None)),
    "reshape_activations": (str,), "metadata": (dict, type(None)), "meta": (dict, type(None)),
    "rescale_acts_by_decoder_norm": (bool, type(None)), "dtype": (str,), "hook_name": (str, type(None)),
    "model_name": (str, type(None)), "hook_point": (str, type(None)),
}


def _type_error(where: Path, key: str, value: Any, want: str) -> SAEFormatError:
    """The error for a cfg.json field of the wrong type: the file, the field, what it holds and what it should."""
    return SAEFormatError(f"{where}: {key} is {type(value).__name__} {value!r:.80}, not {want}; the SAE is corrupt "
                          "(re-save it, or fix the file).")


def _check_cfg(where: Path, cfg: dict[str, Any]) -> None:
    """Refuse a cfg.json whose fields have the wrong JSON types, naming the file and the field (a list or a string
    where a dict or a number belongs would otherwise surface as a TypeError deep inside loading)."""
    for key, types_ in _CFG_TYPES.items():
        if key in cfg and not isinstance(cfg[key], types_):
            want = " or ".join("null" if t is type(None) else t.__name__ for t in types_)
            raise _type_error(where, key, cfg[key], want)


def _positive_int(where: Path, cfg: dict[str, Any], key: str) -> int:
    """``cfg[key]`` as a size (JSON ``6``; never ``"6"``, ``6.0``, ``true`` or a missing key)."""
    v = cfg.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise _type_error(where, key, v, "a positive integer")
    return v


def _matches(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a config field's annotation (int, float, str, bool, None, list[...], unions)."""
    if hint is Any:
        return True
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    return True  # a type this check does not know: left to the config class


def _interp_config(where: Path, meta: dict[str, Any]) -> SAEConfig:
    """The SAEConfig an interp-saved cfg.json keeps under ``metadata.interp.config``, every field type-checked."""
    obj = meta.get("config")
    if not isinstance(obj, dict):
        raise _type_error(where, "metadata.interp.config", obj, "an object")
    extra = obj.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise _type_error(where, "metadata.interp.config.extra", extra, "an object")
    arch = obj.get("arch")
    if not isinstance(arch, str) or arch not in architectures():
        raise SAEFormatError(f"{where}: metadata.interp.config.arch is {arch!r:.80}; this interp knows "
                             f"{architectures()}. Upgrade interp, or fix the file.")
    target = arch_class(arch).Config
    hints = typing.get_type_hints(target)
    fields = {**obj, **(extra or {})}
    for key, value in fields.items():
        if key in hints and not _matches(value, hints[key]):
            raise _type_error(where, f"metadata.interp.config.{key}", value, str(hints[key]).replace("typing.", ""))
        if key in hints and _matches(1.5, hints[key]) and isinstance(value, (int, float)):
            if not math.isfinite(value) or abs(value) > 1e30:  # an int too big for a float tensor, inf, nan
                raise _type_error(where, f"metadata.interp.config.{key}", value, "a finite number")
            fields[key] = float(value)  # JSON 2 for 2.0: the SAE multiplies tensors by it
    if fields.get("input_scale", 1.0) <= 0:
        raise _type_error(where, "metadata.interp.config.input_scale", fields["input_scale"], "a positive number")
    try:
        return SAEConfig.from_json({k: v for k, v in fields.items() if k != "extra"})
    except (TypeError, ValueError) as exc:
        raise SAEFormatError(f"{where}: metadata.interp.config is not a valid SAE config ({exc}).") from None


def _native_config(where: Path, cfg: dict[str, Any], arch: str) -> SAEConfig:
    """The SAEConfig of a folder SAELens wrote (no interp metadata)."""
    native = _from_saelens()
    if arch not in native:
        raise SAEFormatError(
            f"{where}: SAELens architecture {arch!r} is not supported here; "
            f"supported: {sorted(native)} (BatchTopK is saved by SAELens as 'jumprelu')."
        )
    meta = cfg["metadata"]
    d_in, d_sae = _positive_int(where, cfg, "d_in"), _positive_int(where, cfg, "d_sae")
    k = _positive_int(where, cfg, "k") if arch == "topk" else None
    for key in ("hook_name", "model_name"):
        if not isinstance(meta.get(key), (str, type(None))):
            raise _type_error(where, f"metadata.{key}", meta[key], "a string")
    return SAEConfig(arch=native[arch], d_in=d_in, d_sae=d_sae, k=k, hook=meta.get("hook_name"),
                     model=meta.get("model_name"))


@torch.no_grad()
def load_sae(path: str | Path, device: str | torch.device | None = None) -> SAE:
    """Load an SAE folder written by :func:`save_sae` or by SAELens (``SAE.save_model``).

    A malformed ``cfg.json`` (wrong types, missing sizes) is an SAEFormatError naming it, never a TypeError.
    """
    path = Path(path)
    cfg, tensors = _read_folder(path)
    _check_cfg(path / CFG_FILE, cfg)
    cfg = _normalise_cfg(cfg)
    _check_cfg(path / CFG_FILE, cfg)  # what the old flat layout's keys moved to
    arch = cfg["architecture"]
    interp_meta = cfg["metadata"].get("interp") if isinstance(cfg["metadata"].get("interp"), dict) else None
    if cfg["normalize_activations"] in ("constant_norm_rescale", "layer_norm"):
        raise SAEFormatError(
            f"{path / CFG_FILE}: normalize_activations={cfg['normalize_activations']!r} rescales every input at run "
            "time; interp SAEs only support a fixed input scale. Fold it or re-train without it."
        )
    if cfg.get("reshape_activations", "none") not in ("none", "hook_z"):
        raise SAEFormatError(f"{path / CFG_FILE}: unsupported reshape_activations={cfg['reshape_activations']!r}.")
    if interp_meta is not None:
        sae_cfg = _interp_config(path / CFG_FILE, interp_meta)
    else:
        sae_cfg = _native_config(path / CFG_FILE, cfg, arch)
    missing = [k for k in ("W_enc", "b_enc", "W_dec", "b_dec") if k not in tensors]
    if arch == "jumprelu" and "threshold" not in tensors:
        missing.append("threshold")
    if missing:
        raise SAEFormatError(f"{path / WEIGHTS_FILE} lacks tensors {missing} that {path / CFG_FILE} "
                             f"({arch!r}) needs; it has {sorted(tensors)}.")
    if "threshold" in tensors and tensors["threshold"].numel() not in (1, sae_cfg.d_sae):
        raise SAEFormatError(f"{path / WEIGHTS_FILE}: threshold has shape {tuple(tensors['threshold'].shape)}, "
                             f"{path / CFG_FILE} implies ({sae_cfg.d_sae},).")
    dtype = _DTYPES.get(str(cfg.get("dtype", "float32")), torch.float32)
    t = {k: v.to(torch.float64) for k, v in tensors.items()}  # fold in float64, cast once at the end
    d_in, d_sae = sae_cfg.d_in, sae_cfg.d_sae
    expect = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,)}
    for name, shape in expect.items():
        if tuple(t[name].shape) != shape:
            raise SAEFormatError(f"{path / WEIGHTS_FILE}: {name} has shape {tuple(t[name].shape)}, "
                                 f"{path / CFG_FILE} implies {shape}.")
    if not cfg["apply_b_dec_to_input"]:  # encoder sees x, not x - b_dec: fold b_dec @ W_enc into b_enc
        t["b_enc"] = t["b_enc"] + t["b_dec"] @ t["W_enc"]
    if arch == "topk" and cfg.get("rescale_acts_by_decoder_norm"):
        norms = t["W_dec"].norm(dim=-1)  # latents were pre-acts * |W_dec row|, decoded with unit rows
        t["W_enc"], t["b_enc"], t["W_dec"] = t["W_enc"] * norms, t["b_enc"] * norms, t["W_dec"] / norms[:, None]
    try:
        sae = make_sae(sae_cfg)
    except ValueError as exc:  # sizes, k or prefixes the architecture refuses
        raise SAEFormatError(f"{path / CFG_FILE}: {exc}") from None
    exact = interp_meta is not None or (cfg["apply_b_dec_to_input"] and not cfg.get("rescale_acts_by_decoder_norm"))
    src = tensors if exact else t  # interp-written folders load bit-exactly
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        getattr(sae, name).data = src[name].to(dtype).clone()
    if "threshold" in tensors:
        _set_threshold(sae, tensors["threshold"].to(dtype), path)
    if device is not None:
        sae = sae.to(device)
    return sae.eval()


def _set_threshold(sae: SAE, thr: torch.Tensor, path: Path) -> None:
    """Put a saved per-latent threshold into an architecture, whatever it calls it."""
    if hasattr(sae, "set_inference_threshold"):
        sae.set_inference_threshold(thr)
        return
    state = sae.state_dict()
    if "log_threshold" in state:
        state["log_threshold"].copy_(thr.clamp_min(1e-12).log().reshape(state["log_threshold"].shape))
    elif "threshold" in state:
        state["threshold"].copy_(thr.reshape(state["threshold"].shape) if state["threshold"].numel() > 1 else thr.max())
    else:
        raise SAEFormatError(f"{path}: the saved threshold has nowhere to go in {type(sae).__name__}.")


def open_sae(path: str | Path) -> tuple[SAE, Path, Any]:
    """``(sae, folder, run)`` from an ``sae`` run folder (``run`` is its :class:`~interp.runs.Run`) or an SAE folder
    (ours or SAELens's; ``run`` is None)."""
    from interp.runs import load_run

    p = Path(path)
    run = load_run(p) if (p / "run.json").is_file() else None
    folder = run.artifact("sae", external_ok=True) if run is not None else p  # eval runs link a trained SAE
    return load_sae(folder), folder, run
