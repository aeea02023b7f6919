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


@torch.no_grad()
def load_sae(path: str | Path, device: str | torch.device | None = None) -> SAE:
    """Load an SAE folder written by :func:`save_sae` or by SAELens (``SAE.save_model``)."""
    path = Path(path)
    cfg, tensors = _read_folder(path)
    cfg = _normalise_cfg(cfg)
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
        sae_cfg = SAEConfig.from_json(interp_meta["config"])
    else:
        native = _from_saelens()
        if arch not in native:
            raise SAEFormatError(
                f"{path / CFG_FILE}: SAELens architecture {arch!r} is not supported here; "
                f"supported: {sorted(native)} (BatchTopK is saved by SAELens as 'jumprelu')."
            )
        meta = cfg["metadata"]
        sae_cfg = SAEConfig(arch=native[arch], d_in=int(cfg["d_in"]), d_sae=int(cfg["d_sae"]),
                            k=int(cfg["k"]) if arch == "topk" else None, hook=meta.get("hook_name"),
                            model=meta.get("model_name"))
    missing = [k for k in ("W_enc", "b_enc", "W_dec", "b_dec") if k not in tensors]
    if arch == "jumprelu" and "threshold" not in tensors:
        missing.append("threshold")
    if missing:
        raise SAEFormatError(f"{path / WEIGHTS_FILE} lacks tensors {missing}; it has {sorted(tensors)}.")
    dtype = _DTYPES.get(str(cfg.get("dtype", "float32")), torch.float32)
    t = {k: v.to(torch.float64) for k, v in tensors.items()}  # fold in float64, cast once at the end
    d_in, d_sae = sae_cfg.d_in, sae_cfg.d_sae
    expect = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,)}
    for name, shape in expect.items():
        if tuple(t[name].shape) != shape:
            raise SAEFormatError(f"{path / WEIGHTS_FILE}: {name} has shape {tuple(t[name].shape)}, cfg.json implies {shape}.")
    if not cfg["apply_b_dec_to_input"]:  # encoder sees x, not x - b_dec: fold b_dec @ W_enc into b_enc
        t["b_enc"] = t["b_enc"] + t["b_dec"] @ t["W_enc"]
    if arch == "topk" and cfg.get("rescale_acts_by_decoder_norm"):
        norms = t["W_dec"].norm(dim=-1)  # latents were pre-acts * |W_dec row|, decoded with unit rows
        t["W_enc"], t["b_enc"], t["W_dec"] = t["W_enc"] * norms, t["b_enc"] * norms, t["W_dec"] / norms[:, None]
    sae = make_sae(sae_cfg)
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
    folder = run.artifact("sae") if run is not None else p
    return load_sae(folder), folder, run
