"""Tiny random-weight checkpoints of the architectures researchers load from the hub.

GPT-2, Pythia (GPT-NeoX), Llama, Gemma 2/3, Qwen 2/3 and Mistral cannot be
downloaded here, but ``transformers`` builds each at toy size from its config
class, and :func:`build_tiny` saves it with a byte-level BPE tokenizer exactly as a
hub download would be laid out. ``load_model(folder)`` then goes through the real
loading path (``TransformerBridge.boot_transformers``), so every analysis can be
checked against each family's real layout: grouped-query attention (Llama, Gemma,
Qwen, Mistral), parallel attention/MLP (Pythia), rotary embeddings, gated MLPs,
RMSNorm, Gemma's extra norms. ``tests/models/test_architectures.py`` and
``experiments/arch_matrix.py`` use it; so can a user who wants to try a tool on an
architecture in seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# family -> (transformers config class, model class, config keywords): 2 layers, d_model 64, 4 heads,
# and 2 key/value heads where the family uses grouped-query attention.
_GQA = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=128, max_position_embeddings=64)
FAMILIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", dict(n_layer=2, n_embd=64, n_head=4, n_positions=64)),
    "pythia": ("GPTNeoXConfig", "GPTNeoXForCausalLM", dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4,
                                                           intermediate_size=128, max_position_embeddings=64)),
    "llama": ("LlamaConfig", "LlamaForCausalLM", _GQA),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", {**_GQA, "head_dim": 16}),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM", {**_GQA, "head_dim": 16}),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", _GQA),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", {**_GQA, "head_dim": 16}),
    "mistral": ("MistralConfig", "MistralForCausalLM", _GQA),
}
TEXT = "the quick brown fox jumps over the lazy dog. a stitch in time saves nine; the early bird catches the worm."


def tiny_tokenizer(vocab_size: int = 300) -> Any:
    """A byte-level BPE tokenizer (``<|endoftext|>`` = BOS/EOS id 0, ``<pad>`` id 1), trained in milliseconds."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([TEXT] * 10, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<pad>")


def build_tiny(family: str, path: str | Path, seed: int = 0) -> Path:
    """Save a tiny random-weight ``family`` model + tokenizer under ``path`` (a hub-style folder); return it."""
    import torch
    import transformers

    if family not in FAMILIES:
        raise ValueError(f"Unknown architecture family {family!r}; choose one of {', '.join(FAMILIES)}.")
    config_name, model_name, kwargs = FAMILIES[family]
    tok = tiny_tokenizer()
    config = getattr(transformers, config_name)(vocab_size=len(tok), bos_token_id=0, eos_token_id=0, pad_token_id=1,
                                                **kwargs)
    torch.manual_seed(seed)
    model = getattr(transformers, model_name)(config).eval()
    path = Path(path)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
