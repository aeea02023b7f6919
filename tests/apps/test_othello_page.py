"""The Probes page's "othello world model" section on a real (small) ``othello`` run of the shipped model."""

from __future__ import annotations

import base64
import json

import numpy as np

from app_fixtures import app  # noqa: F401 (pytest fixture)
from interp.probes.othello import BoardProbeConfig
from interp.probes.othello_run import OthelloConfig, othello_world_model
from interp.runs import runs_root
from interp.models.othello.game import PLAYABLE


def _arr(x) -> np.ndarray:
    """A plotly JSON array: a list, or numpy's binary encoding {"dtype", "bdata", "shape"}."""
    if isinstance(x, dict) and "bdata" in x:
        a = np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"])
        return a.reshape([int(n) for n in str(x["shape"]).split(",")]) if "shape" in x else a
    return np.asarray(x, dtype=float)


def test_the_page_draws_board_probe_reading_and_moves(app):
    cfg = OthelloConfig(n_games=40, layers=[2, 3], n_trials=10, probe=BoardProbeConfig(max_epochs=3))
    result, run = othello_world_model("toy:othello", cfg, root=runs_root())
    at = app("views/probes.py", run=f"othello/{run.name}")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    ex = run.read_json("results")["example"]
    (chart,) = [json.loads(e.proto.spec) for e in at.get("plotly_chart")]
    board, probe, moves, legal = chart["data"]
    assert np.array_equal(_arr(board["z"]).reshape(-1), ex["mine"])  # the real state, as recorded
    probs = np.array(ex["probe_probs"])
    assert np.allclose(_arr(probe["z"]).reshape(-1), probs[:, 2] - probs[:, 0])
    drawn = _arr(moves["z"]).reshape(-1)
    assert np.allclose(drawn[list(PLAYABLE)], ex["move_probs"][:32]) and (drawn[[14, 15, 20, 21]] == 0).all()
    assert len(_arr(legal["x"]) if isinstance(legal["x"], dict) else legal["x"]) == sum(ex["legal"][:32])  # one outline per legal square
    assert at.dataframe[0].value["layer"].tolist() == [2, 3]
    assert [m.value for m in at.metric][0] == f"{run.metrics['legal_top1']:.4g}"
