"""load_model: every kind of spec comes back as a TransformerBridge; unknown specs explain what works."""

from __future__ import annotations

import torch
import pytest

from interp.models import UnknownModelError, available_specs, load_model, save_toy
from interp.models.toy import native_state_dict


def _tiny_gpt2_dir(path):
    """A GPT-2-architecture checkpoint + tokenizer saved with transformers, as a hub download would be."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["the quick brown fox jumps over the lazy dog"] * 10, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=len(fast), n_positions=64,
                                    bos_token_id=0, eos_token_id=0)).eval()
    hf.save_pretrained(path)
    fast.save_pretrained(path)
    return hf, fast


def test_local_hf_checkpoint_matches_transformers(tmp_path):
    hf, fast = _tiny_gpt2_dir(tmp_path / "gpt2-tiny")
    bridge = load_model(str(tmp_path / "gpt2-tiny"), device="cpu")
    tokens = torch.tensor([fast("the lazy fox")["input_ids"]])
    torch.testing.assert_close(bridge(tokens), hf(tokens).logits, rtol=1e-4, atol=1e-4)
    assert "blocks.1.hook_resid_post" in bridge.hook_dict and bridge.cfg.n_layers == 2


def test_minilm_loads_offline():
    model = load_model("minilm", device="cpu")
    assert model.cfg.n_layers == 6 and model.cfg.d_model == 384
    enc = model.tokenizer(["hello world"], return_tensors="pt")
    _, cache = model.run_with_cache(enc["input_ids"], names_filter="blocks.5.hook_resid_post")
    assert cache["blocks.5.hook_resid_post"].shape == (1, 4, 384)


def test_toy_spec_by_path_round_trips(tiny_model, tmp_path):
    from conftest import tiny_config

    save_toy(tiny_model, tiny_config(), tmp_path / "ck")
    again = load_model(f"toy:{tmp_path / 'ck'}", device="cpu")
    also = load_model(str(tmp_path / "ck"), device="cpu")
    tokens = torch.randint(0, 50, (2, 9))
    assert torch.equal(again(tokens), tiny_model(tokens)) and torch.equal(also(tokens), tiny_model(tokens))
    for a, b in zip(native_state_dict(again).values(), native_state_dict(tiny_model).values()):
        assert torch.equal(a, b)


def test_corrupt_toy_weights_name_the_file(tiny_model, tmp_path):
    from conftest import tiny_config

    save_toy(tiny_model, tiny_config(), tmp_path / "ck")
    (tmp_path / "ck" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="model.safetensors"):
        load_model(f"toy:{tmp_path / 'ck'}")


@pytest.mark.parametrize("spec", ["toy:nope", "/no/such/folder", "surely-not-a-real-model-xyz", ""])
def test_unknown_spec_lists_working_specs(spec):
    with pytest.raises((UnknownModelError, FileNotFoundError)) as err:
        load_model(spec, device="cpu")
    msg = str(err.value)
    assert "minilm" in msg or "Shipped toy models" in msg


def test_available_specs_lists_shipped_models():
    specs = available_specs()
    assert "minilm" in specs
    assert {"toy:induction", "toy:modadd", "toy:toylm"} <= set(specs)


def test_default_device_is_cpu_without_cuda(tiny_model):
    from interp.models import default_device

    assert default_device() == ("cuda" if torch.cuda.is_available() else "cpu")
