"""The shipped ``toy:othello`` plays legal moves (known answer (a)), and its recipe runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from interp.models.othello.data import N_MOVE_CLASSES, game_batch, legal_top1
from interp.models.specs import TOY_DIR


def test_shipped_model_predicts_legal_moves_on_heldout_games() -> None:
    from interp.models import load_model
    from interp.hooks.hooked import forward

    model = load_model("toy:othello")
    batch = game_batch(400, model.cfg.n_ctx, np.random.default_rng([123, 20_000]))  # not the training stream
    logits = forward(model, torch.from_numpy(batch.tokens)).logits  # [games, pos, 33]
    assert logits.shape[-1] == N_MOVE_CLASSES
    rate = legal_top1(logits, batch)
    print(f"top-1 legal {rate:.4f} over {int(batch.valid.sum())} positions")
    # The bar. The shipped checkpoint (18000 steps + the 3000-step polish) reaches 99.13 % here and 99.23 %
    # on the experiment's games; the 18000-step one before the polish (98.95 % here) fails, as does the 5000-step one.
    assert rate >= 0.99
    # and the model is no bag of move frequencies: the best move ignoring the game is far from legal
    prior = logits.mean((0, 1)).expand_as(logits)
    assert legal_top1(prior, batch) < 0.5


def test_checkpoint_is_small_and_records_its_training() -> None:
    folder = TOY_DIR / "othello"
    assert (folder / "model.safetensors").stat().st_size < 10 * 2**20
    training = json.loads((folder / "training.json").read_text())
    assert training["final"]["legal_top1"] >= 0.99 and training["recipe"]["n_layers"] >= 4
    assert training["final"]["steps_run"] == training["recipe"]["steps"] + training["recipe"]["polish_steps"]


def test_recipe_smoke_run(tmp_path) -> None:
    from interp.models import load_model
    from interp.models.training import RecipeError, train_toy

    out = train_toy("othello", tmp_path / "othello", steps=3, eval_every=2, eval_games=8, n_layers=1, batch_size=4,
                    polish_steps=2, polish_batch_size=3)
    model = load_model(str(out))
    assert model.cfg.n_layers == 1 and model.cfg.d_vocab == 35
    training = json.loads((out / "training.json").read_text())
    rows = training["curve"]
    assert [r["step"] for r in rows] == [0, 2, 3, 4] and all(0 <= r["legal_top1"] <= 1 for r in rows)  # polish: 3, 4
    assert training["final"]["steps_run"] == 5 and training["final"]["games_seen"] == 3 * 4 + 2 * 3
    with pytest.raises(RecipeError, match="n_layers"):
        train_toy("othello", tmp_path / "x", n_layer=2)


def test_legal_top1_counts_only_positions_with_a_move() -> None:
    batch = game_batch(5, 40, np.random.default_rng(0))
    legal = torch.from_numpy(batch.legal).float()
    assert legal_top1(legal, batch) == 1.0  # argmax of the legal mask is always legal
    assert legal_top1(-legal, batch) < 0.2  # argmax of its negation is the first illegal class


def test_legal_set_loss_is_the_entropy_of_the_legal_moves_at_its_optimum() -> None:
    from interp.models.training.othello import batch_tensors, legal_set_loss

    tokens, legal, valid = batch_tensors(game_batch(6, 40, np.random.default_rng(2)))
    best = torch.where(legal > 0, 0.0, -1e4)  # uniform over the legal moves
    want = legal[valid].sum(-1).log().mean()  # mean log(number of legal moves)
    assert torch.isclose(legal_set_loss(best, legal, valid), want, atol=1e-4)
    worse = best + torch.randn(best.shape, generator=torch.Generator().manual_seed(0))
    assert legal_set_loss(worse, legal, valid) > want


def test_legal_mass_term_is_zero_inside_the_legal_set_and_prices_illegal_mass() -> None:
    from interp.models.training.othello import batch_tensors, legal_mass_loss, legal_set_loss

    tokens, legal, valid = batch_tensors(game_batch(6, 40, np.random.default_rng(2)))
    inside = torch.where(legal > 0, torch.randn(legal.shape, generator=torch.Generator().manual_seed(1)), -1e4)
    assert torch.isclose(legal_mass_loss(inside, legal, valid, 1.0), legal_set_loss(inside, legal, valid), atol=1e-4)
    leaky = torch.where(legal > 0, 0.0, -1.0)  # some of the mass on illegal moves
    extra = legal_mass_loss(leaky, legal, valid, 2.0) - legal_set_loss(leaky, legal, valid)
    p_legal = (leaky.softmax(-1) * legal).sum(-1)[valid]  # [n]
    assert torch.isclose(extra, -2.0 * p_legal.log().mean(), atol=1e-4) and extra > 0.1
