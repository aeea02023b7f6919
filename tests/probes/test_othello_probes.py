"""``toy:othello``'s world model: linear mine/theirs probes (b) and edits along them (c).

The known-answer tests load the shipped checkpoint (no training here) and probe one
layer: ``BEST_LAYER``, a best middle layer of ``experiments/othello_world_model.py``'s
sweep over all layers picks (``best_layer`` in its run).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.models.othello.data import game_batch
from interp.probes import LogisticProbe
from interp.probes.othello import BoardProbeConfig, board_rows, fit_board_probes, layer_hook, read_board
from interp.probes.othello_intervention import flip_vector, pick_trials, run_interventions

BEST_LAYER = 5  # the sweep (600 games): L5 0.962, L6 0.961, L4 0.960, L3 0.944
EDIT_LAYER, EDIT_SCALE = 3, 4.0  # OthelloConfig's defaults (chosen on other games than these)


def test_flip_vector_makes_the_probe_read_the_other_owner() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3000, 16, generator=gen)
    w = torch.randn(16, 3, generator=gen)
    ternary = LogisticProbe(max_epochs=30).fit(x, (x @ w).argmax(-1) - 1)  # labels -1 / 0 / 1
    binary = LogisticProbe(max_epochs=30).fit(x, torch.where(x[:, 0] > 0, 1, -1))
    for probe in (ternary, binary):
        pred = probe.predict(x[:200])
        for k in np.flatnonzero(pred.numpy() != 0)[:40]:
            src = int(pred[k])
            edited = x[k] + flip_vector(probe, src, x[k], scale=1.0)
            assert int(probe.predict(edited[None])[0]) == -src
            out, out_edit = probe(x[k][None])[0], probe(edited[None])[0]
            # a mirror image: the margin of the new owner over the old one flips sign, keeps its size
            if probe.binary:
                assert torch.allclose(out_edit, -out, atol=1e-3)
            else:
                new, old = -src + 1, src + 1  # classes_ are -1 / 0 / 1
                assert torch.isclose(out_edit[new] - out_edit[old], -(out[new] - out[old]), atol=1e-3)


@pytest.fixture(scope="module")
def othello():
    from interp.models import load_model

    torch.manual_seed(0)
    return load_model("toy:othello"), game_batch(300, 40, np.random.default_rng([7, 20_000]))


def test_mine_theirs_probes_read_the_board_colour_probes_and_a_random_model_do_not(othello) -> None:
    from interp.probes.controls import random_model

    model, batch = othello
    hook = layer_hook(BEST_LAYER)
    rows = board_rows(model, batch, [hook])
    split = rows.split(0)
    cfg = BoardProbeConfig()
    mine = fit_board_probes(rows.acts[hook], rows.mine, split, hook=hook, labelling="mine", config=cfg)
    colour = fit_board_probes(rows.acts[hook], rows.colour, split, hook=hook, labelling="colour", config=cfg)
    rand = board_rows(random_model(model, seed=1), batch, [hook])
    rand_mine = fit_board_probes(rand.acts[hook], rand.mine, split, hook=hook, labelling="mine", config=cfg)
    print(f"mine {mine.mean:.4f} colour {colour.mean:.4f} random model {rand_mine.mean:.4f}")
    # The bar: 95 %. The shipped model is read at 96.4 % on the experiment's 600 games (95.8 % on these
    # 300); the 5000-step checkpoint before it read 93 % and fails here.
    assert mine.mean >= 0.95
    assert mine.mean - colour.mean >= 0.15
    assert mine.mean - rand_mine.mean >= 0.25
    # read_board agrees with the probes' own predictions and puts "empty" at 0 for the centre squares
    reading = read_board(mine.probes, rows.acts[hook][:50])
    assert torch.allclose(reading.sum(-1), torch.ones(50, 36), atol=1e-5)
    assert (reading[:, [14, 15, 20, 21], 1] == 0).all()
    assert (reading[:, 0].argmax(-1) - 1 == mine.probes[0].predict(rows.acts[hook][:50])).all()


def test_editing_along_probe_directions_changes_the_predicted_moves(othello) -> None:
    model, batch = othello
    hook = layer_hook(EDIT_LAYER)
    rows = board_rows(model, batch, [hook])
    mine = fit_board_probes(rows.acts[hook], rows.mine, rows.split(0), hook=hook, labelling="mine")
    trials = pick_trials(batch, 300, seed=0)
    res = run_interventions(model, batch, [(hook, mine.probes)], trials, scale=EDIT_SCALE)
    print(res.row())
    assert res.n_trials >= 100
    # The issue asks for a majority: the shipped model gives 0.65 here (0.71 on the experiment's games), and
    # the edit must beat every control by a wide margin.
    assert res.success > 0.5
    assert res.success - max(res.null, res.random_direction) >= 0.3  # unedited / random edit of the same size
    assert res.success >= 4 * res.chance
