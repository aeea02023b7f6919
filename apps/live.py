"""Live computations for the pages: a model + SAE (or transcoder) on the user's text, a prompt's attention patterns.

These are the only places the dashboard runs a model. Models and SAEs are cached
with ``st.cache_resource`` (one copy per server), results with ``st.cache_data``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st
import torch

import common
from interp.runs import Run


@st.cache_resource(show_spinner="Loading the SAE…", max_entries=4)
def sae(path: str, mtime: tuple[float, float]) -> Any:
    """The SAE in an SAELens-format folder (cfg.json + sae_weights.safetensors), via interp.sae.load_sae."""
    try:
        from interp.sae import load_sae
    except ImportError as exc:
        raise ImportError("this install has no interp.sae.load_sae (the SAE package's io), so the SAE cannot be "
                          "run live; the stored feature panels above do not need it.") from exc
    return load_sae(path).eval()


def encode_tokens(run: Run, text: str, max_len: int = 256) -> tuple[Any, torch.Tensor]:
    """(model, tokens [1, pos]) for ``text`` the way the corpus was tokenized (BOS / [CLS] … [SEP])."""
    from interp.datasets import tokenize_corpus

    m = common.model(run.model)
    if m.tokenizer is None:
        raise ValueError(f"{run.model} has no tokenizer, so it cannot read typed text.")
    if not text.strip():
        raise ValueError("the text is empty; type something to run the model on.")
    corpus = tokenize_corpus(m.tokenizer, [text], seq_len=min(int(m.cfg.n_ctx), max_len), max_seqs=1)
    n = int(corpus.attention_mask[0].sum())
    return m, corpus.tokens[:1, :n]


@st.cache_resource(show_spinner="Loading the transcoders…", max_entries=4)
def transcoders(path: str, mtime: tuple[float, float]) -> Any:
    """A ``transcoder`` run's models (interp.transcoders.load_transcoders)."""
    from interp.transcoders import load_transcoders

    return load_transcoders(path)


def feature_on_text(run: Run, text: str, layer: int | None = None) -> tuple[list[str], np.ndarray]:
    """Token strings [pos] and every latent on every token [pos, d_sae] of ``text``, for an ``sae`` run, or for
    ``layer``'s latents of a ``transcoder`` run (read from that layer's MLP input)."""
    from interp.hooks import capture

    if run.kind == "transcoder":
        from interp.transcoders.features import TranscoderLatents

        latents = TranscoderLatents(transcoders(str(run.path), common.stamp(run, "transcoders")), int(layer))
        hook = latents.cfg.hook
        if not hook:
            raise ValueError(f"run {run.name}'s layer {layer} transcoder names no input hook, so its input is unknown.")
        m, tokens = encode_tokens(run, text)
        acts = capture(m, tokens, [hook], progress=False).acts[hook].float()  # [pos, d_in]
        with torch.no_grad():
            z = latents.encode(acts.to(next(latents.parameters()).device))  # [pos, d_sae]
        return common.token_strings(m.tokenizer, tokens[0].tolist()), z.float().cpu().numpy()
    hook = run.config.get("hook")
    if not hook:
        raise ValueError(f"run {run.name} has no 'hook' in its config, so the SAE's input is unknown.")
    model_sae = sae(str(run.artifact("sae")), common.stamp(run, "sae"))  # first: fail before loading the model
    m, tokens = encode_tokens(run, text)
    acts = capture(m, tokens, [hook], progress=False).acts[hook].float()  # [pos, d_in]
    device = next(model_sae.parameters()).device
    with torch.no_grad():
        z = model_sae.encode(acts.to(device))  # [pos, d_sae]
    return common.token_strings(m.tokenizer, tokens[0].tolist()), z.float().cpu().numpy()


@st.cache_data(show_spinner="Running the model…", max_entries=32)
def patterns(spec: str, tokens: tuple[int, ...]) -> np.ndarray:
    """Every head's attention pattern on one sequence: [layer, head, query_pos, key_pos]."""
    from interp.circuits.head_scores import attention_patterns

    m = common.model(spec)
    p = attention_patterns(m, torch.tensor([tokens], dtype=torch.long))  # [layer, 1, head, q, k]
    return p[:, 0].float().cpu().numpy()


@st.cache_data(show_spinner=False)
def corpus_texts() -> list[str]:
    """The default corpus's documents (for picking an example prompt)."""
    from interp.datasets import load_texts

    return load_texts()
