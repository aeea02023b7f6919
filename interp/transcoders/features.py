"""Feature dashboards for transcoder latents: the SAE feature analysis, run on each layer's latents.

The Features page shows, for every latent, its top contexts, activation histogram and
interval examples, logit effects and nearest neighbours. :func:`interp.sae.features.compute_features`
computes all of that for any dictionary with an ``encode``, a width and a decoder
(:class:`~interp.sae.features.Latents`); this module adapts a transcoder layer to that shape
rather than forking the analysis:

* **what the latents read**: the layer's MLP *input* (``cfg.hook_in``, e.g.
  ``blocks.L.ln2.hook_normalized``), so the store must hold that hook and the contexts are
  its rows (the capture the transcoders were trained on has it);
* **what they write**: a unit of latent ``i`` adds ``W_dec[i] / output_scale`` to the MLP
  output, hence to the residual stream; the logit effects are that row times ``W_U`` (the
  direct path, as for a residual-stream SAE) and the neighbours are cosines between those rows;
* **a CLT**: each layer's latents are one feature set; a latent of layer ``l`` writes to the
  MLP outputs of layers ``l .. n−1``, and all of them add into the residual stream, so its
  write direction is the **sum over target layers** ``Σ_{t≥l} W_dec_to(l, t) / output_scale[t]``
  (its whole direct contribution to the final residual stream; the own-layer decoder alone
  would miss what it writes later).

:func:`transcoder_features` computes one :class:`~interp.sae.features.Features` per layer;
:func:`write_transcoder_features` records them in a ``transcoder`` run as ``features_L<l>`` /
``features_meta_L<l>`` (under ``features/L<l>/``) and one shared ``vocab`` (docs/runs.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from interp.runs import Run
from interp.sae.features import FEATURES_FILE, META_FILE, VOCAB_FILE, FeatureConfig, Features, compute_features
from interp.transcoders.base import Transcoder
from interp.transcoders.clt import CrossLayerTranscoder

FEATURES_DIR = "features"


@dataclass
class LatentsInfo:
    """The defaults compute_features reads from ``cfg``: the hook the latents read and the model they belong to."""

    hook: str | None
    model: str | None
    layer: int


def write_directions(models: list[Transcoder] | CrossLayerTranscoder, layer: int) -> torch.Tensor:
    """[d_sae, d_out] what a unit of each of ``layer``'s latents adds to the residual stream, in model units.

    A per-layer transcoder: ``W_dec / output_scale``. A CLT: the sum of the layer's decoders to
    every target layer ``t ≥ layer``, each divided by that target's ``output_scale``.
    """
    with torch.no_grad():
        if isinstance(models, CrossLayerTranscoder):
            scales = models.cfg.output_scale
            return sum(models.W_dec_to(layer, t).detach().float() / scales[t] for t in range(layer, models.n_layers))
        tc = _by_layer(models)[layer]
        return tc.W_dec.detach().float() / tc.cfg.output_scale


class TranscoderLatents(nn.Module):
    """One layer's transcoder latents in the shape :func:`~interp.sae.features.compute_features` takes.

    ``encode`` [n, d_in] → [n, d_sae] is the transcoder's (a CLT's for ``layer``); ``W_dec``
    [d_sae, d_out] is :func:`write_directions` (model units, so no ``input_scale``); ``cfg.hook``
    the MLP input the latents read.
    """

    def __init__(self, models: list[Transcoder] | CrossLayerTranscoder, layer: int) -> None:
        super().__init__()
        if isinstance(models, CrossLayerTranscoder):
            if not 0 <= layer < models.n_layers:
                raise ValueError(f"The CLT covers layers 0..{models.n_layers - 1}, not layer {layer}.")
            self.source: nn.Module = models
            hooks = models.cfg.hooks_in
            hook = hooks[layer] if hooks else None
        else:
            by_layer = _by_layer(models)
            if layer not in by_layer:
                raise ValueError(f"There is no transcoder for layer {layer}; the run has layers {sorted(by_layer)}.")
            self.source = by_layer[layer]
            hook = by_layer[layer].cfg.hook_in
        self.layer = layer
        self.cross = isinstance(models, CrossLayerTranscoder)
        self.cfg = LatentsInfo(hook=hook, model=models.cfg.model if self.cross else self.source.cfg.model, layer=layer)
        self.W_dec = write_directions(models, layer)  # [d_sae, d_out] (a plain tensor, not a parameter)

    @property
    def d_in(self) -> int:
        return self.source.d_in

    @property
    def d_sae(self) -> int:
        return self.source.d_sae

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents [..., d_sae] of the layer's raw MLP input [..., d_in]."""
        return self.source.encode(self.layer, x) if self.cross else self.source.encode(x)


def _by_layer(models: list[Transcoder]) -> dict[int, Transcoder]:
    out = {}
    for m in models:
        if m.cfg.layer is None:
            raise ValueError("A transcoder without cfg.layer cannot be given a feature set; set its layer.")
        out[int(m.cfg.layer)] = m
    return out


def model_layers(models: list[Transcoder] | CrossLayerTranscoder) -> list[int]:
    """The layers that have latents, in order."""
    return list(range(models.n_layers)) if isinstance(models, CrossLayerTranscoder) else sorted(_by_layer(models))


@torch.no_grad()
def transcoder_features(models: list[Transcoder] | CrossLayerTranscoder, store: Any, model: Any = None,
                        cfg: FeatureConfig | None = None, layers: Sequence[int] | None = None,
                        progress: bool = True) -> dict[int, Features]:
    """``{layer: Features}``: each layer's latents over ``store``, read from its MLP input hook.

    ``model`` (the loaded LM) gives the logit effects and the vocab; without it they are left out.
    """
    have = model_layers(models)
    layers = list(layers) if layers is not None else have
    unknown = [l for l in layers if l not in have]
    if unknown:
        raise ValueError(f"No transcoder latents for layers {unknown}; the transcoders cover layers {have}.")
    out: dict[int, Features] = {}
    for layer in layers:
        lat = TranscoderLatents(models, layer).eval()
        hook = lat.cfg.hook
        if hook is None or hook not in store.hooks:
            raise ValueError(f"Layer {layer}'s latents read {hook!r}, which {store.path} does not hold (it has "
                             f"{store.hooks}); give the store the transcoders were trained on (--store), or capture "
                             f"{hook} there.")
        f = compute_features(lat, store, hook=hook, model=model, cfg=cfg, progress=progress)
        f.meta.update({"layer": layer, "transcoder": "clt" if lat.cross else "plt",
                       "write_direction": "sum over target layers" if lat.cross else "mlp_out"})
        if out and f.vocab is not None:
            f.vocab = None  # one vocab per run (the first layer's): every layer has the same model
        out[layer] = f
    return out


def write_transcoder_features(run: Run, features: dict[int, Features]) -> None:
    """Record ``features`` in ``run`` (docs/runs.md, ``transcoder``): ``features_L<l>``, ``features_meta_L<l>``, ``vocab``.

    The caller saves ``run.json`` (a run being written saves itself when its ``with`` block ends).
    """
    for layer, f in features.items():
        sub = f"{FEATURES_DIR}/L{layer}"
        run.write_tensors(f"features_L{layer}", f.tensors, f"{sub}/{FEATURES_FILE}")
        run.write_json(f"features_meta_L{layer}", f.meta, f"{sub}/{META_FILE}")
    vocab = next((f.vocab for f in features.values() if f.vocab is not None), None)
    if vocab is not None:
        run.write_json("vocab", vocab, VOCAB_FILE)
