"""Toy-model recipes: the shipped toy:modadd has grokked, and recipes are reproducible per seed."""

from __future__ import annotations

import json

import pytest
import torch

from interp.datasets.synthetic import modadd_dataset
from interp.models import load_model
from interp.models.toy import ToyConfig, build_native
from interp.models.training import train_toy
from interp.models.training.induction import train_induction
from interp.models.training.modadd import (
    ModaddRecipe,
    last_position_logits,
    modadd_config,
    train_modadd,
)


def test_shipped_modadd_generalises_on_its_held_out_split():
    """Known answer (Nanda et al. 2023): after grokking, >= 99 % accuracy on pairs never trained on."""
    model = load_model("toy:modadd", device="cpu")
    extra = model.toy_config.extra
    train_x, train_y, test_x, test_y = modadd_dataset(extra["p"], extra["frac_train"], extra["split_seed"])
    with torch.no_grad():
        test_acc = (model(test_x)[:, -1].argmax(-1) == test_y).float().mean().item()
        train_acc = (model(train_x)[:, -1].argmax(-1) == train_y).float().mean().item()
    assert test_acc >= 0.99 and train_acc >= 0.99, (test_acc, train_acc)
    assert test_x.shape[0] == extra["p"] ** 2 - int(extra["frac_train"] * extra["p"] ** 2)


def test_last_position_logits_equal_the_full_forward():
    cfg = modadd_config(ModaddRecipe(p=17), seed=3, split_seed=0)
    model = build_native(cfg)
    tokens = modadd_dataset(p=17)[0]
    torch.testing.assert_close(last_position_logits(model, tokens), model(tokens)[:, -1])
    two_layer = build_native(ToyConfig("x", {**cfg.bridge_config, "n_layers": 2}, seed=1))
    torch.testing.assert_close(last_position_logits(two_layer, tokens), two_layer(tokens)[:, -1])


@pytest.mark.parametrize(
    "train, overrides",
    [(train_induction, {"steps": 5, "batch_size": 8, "eval_batch": 8, "prune_steps": 3}),
     (train_modadd, {"steps": 5, "p": 31})],
    ids=["induction", "modadd"],
)
def test_recipes_are_reproducible_per_seed(tmp_path, train, overrides):
    a = train(tmp_path / "a", seed=0, **overrides)
    b = train(tmp_path / "b", seed=0, **overrides)
    c = train(tmp_path / "c", seed=1, **overrides)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
    training = json.loads((a / "training.json").read_text())
    assert training["final"]["steps_run"] == 5 + overrides.get("prune_steps", 0) and training["curve"]
    assert json.loads((c / "config.json").read_text())["seed"] == 1
    with pytest.raises(TypeError, match="Unknown"):  # train_toy checks every recipe's options before any work
        train_toy(train.__name__.removeprefix("train_"), tmp_path / "d", seed=0, not_an_option=1)
    assert not (tmp_path / "d").exists()


def test_modadd_checkpoint_records_its_split(tmp_path):
    out = train_modadd(tmp_path / "m", seed=2, steps=1, p=11, frac_train=0.5)
    extra = json.loads((out / "config.json").read_text())["extra"]
    assert extra == {"p": 11, "frac_train": 0.5, "split_seed": 2, "eq_token": 11}
    model = load_model(f"toy:{out}", device="cpu")
    assert model.cfg.d_vocab == 12 and model.toy_config.extra["split_seed"] == 2


def test_head_ov_norms_price_each_head_separately():
    """The pruning penalty's per-head norms: a head whose output weights are zeroed costs nothing."""
    from interp.models.toy import build_native
    from interp.models.training.induction import InductionRecipe, head_ov_norms, induction_config

    recipe = InductionRecipe(n_heads=4, d_head=8)
    model = build_native(induction_config(recipe, seed=0))
    before = head_ov_norms(model, 4).detach()  # [layer, head]
    assert before.shape == (2, 4) and bool((before > 0).all())
    with torch.no_grad():
        model.layers[1].attn.o.weight[:, 8:16] = 0  # head 1 of layer 1
    after = head_ov_norms(model, 4).detach()
    assert float(after[1, 1]) == 0.0
    mask = torch.ones(2, 4, dtype=torch.bool)
    mask[1, 1] = False
    torch.testing.assert_close(after[mask], before[mask])
    # Exactly the Frobenius norm of W_O^h W_V^h, computed head by head.
    w_v = model.layers[0].attn.v.weight[16:24]  # head 2: [d_head, d_model]
    w_o = model.layers[0].attn.o.weight[:, 16:24]  # [d_model, d_head]
    torch.testing.assert_close(before[0, 2], torch.linalg.matrix_norm(w_o @ w_v))


def test_train_toy_lists_each_recipes_options_for_an_unknown_one(tmp_path):
    from interp.models.training import RecipeError, recipe_options

    for name, expected in [("induction", "prune_steps"), ("modadd", "frac_train"), ("toylm", "max_docs")]:
        assert expected in recipe_options(name)
        with pytest.raises(RecipeError, match=f"Unknown {name} recipe options \\['nope'\\].*{expected}"):
            train_toy(name, tmp_path / name, nope=1)
