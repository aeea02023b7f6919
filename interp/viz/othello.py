"""One 6x6 Othello position as three boards: the real state, what the probes read, what the model plays.

Draws an ``othello`` run's ``example`` (or any position given as plain arrays), so the
dashboard and a notebook show the same picture:

* **board**: the true state from the side to move's view (mine +1, theirs -1, empty 0);
* **probe reading**: P(mine) - P(theirs) per square from the 36 per-square probes,
  with the probe's most likely state written in the cell; a world model that the
  probes read shows the same board twice;
* **model's moves**: the next-move probability per square (PASS in the title), legal
  moves outlined by a marker, so a prediction off the legal set stands out.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.viz.base import to_numpy

ROWS, COLS = list("ABCDEF"), [str(c) for c in range(1, 7)]
# The 32 playable squares in token order (row-major, centre C3 C4 D3 D4 skipped): output class k is square PLAYABLE[k].
PLAYABLE = [s for s in range(36) if s not in (14, 15, 20, 21)]


def _grid(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=float).reshape(6, 6)


def othello_board_figure(mine: Sequence[int], probe_probs: Any, move_probs: Sequence[float],
                         legal: Sequence[bool] | None = None, title: str | None = None) -> go.Figure:
    """Three heatmaps of one position.

    mine: [36] 1 mine / -1 theirs / 0 empty; probe_probs: [36, 3] probabilities of
    theirs / empty / mine; move_probs: [33] next-move probabilities (32 squares in token
    order, then PASS); legal: [33] bool legal next moves (outlined when given).
    """
    mine = to_numpy(mine).reshape(-1)
    probs = to_numpy(probe_probs)
    moves = to_numpy(move_probs).reshape(-1)
    if mine.shape != (36,) or probs.shape != (36, 3) or moves.shape != (33,):
        raise ValueError(f"Expected mine [36], probe_probs [36, 3], move_probs [33]; got {mine.shape}, "
                         f"{probs.shape}, {moves.shape}.")
    on_board = np.zeros(36)
    on_board[PLAYABLE] = moves[:32]
    reading = probs[:, 2] - probs[:, 0]  # P(mine) - P(theirs)
    guess = np.array(["o", "·", "x"])[probs.argmax(-1)]  # theirs / empty / mine
    truth = np.array(["o", "·", "x"])[(mine + 1).astype(int)]
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, subplot_titles=(
        "board (x mine, o theirs)", "probe reading P(mine) − P(theirs)", f"model's next move (PASS {moves[32]:.2f})"))
    common = dict(x=COLS, y=ROWS, xgap=2, ygap=2, texttemplate="%{text}")
    fig.add_trace(go.Heatmap(z=_grid(mine), text=truth.reshape(6, 6), zmin=-1, zmax=1, colorscale="RdBu",
                             showscale=False, name="board", **common), 1, 1)
    fig.add_trace(go.Heatmap(z=_grid(reading), text=guess.reshape(6, 6), zmin=-1, zmax=1, colorscale="RdBu",
                             showscale=False, name="probe", **common), 1, 2)
    fig.add_trace(go.Heatmap(z=_grid(on_board), text=np.round(_grid(on_board), 2), zmin=0, zmax=max(moves.max(), 1e-6),
                             colorscale="Greens", colorbar=dict(title="p", x=1.02), name="moves", **common), 1, 3)
    if legal is not None:
        legal_sq = [PLAYABLE[k] for k in np.flatnonzero(to_numpy(legal, dtype=bool)[:32])]
        fig.add_trace(go.Scatter(x=[COLS[s % 6] for s in legal_sq], y=[ROWS[s // 6] for s in legal_sq],
                                 mode="markers", marker=dict(symbol="square-open", size=26, color="black", line_width=2),
                                 name="legal", hoverinfo="skip"), 1, 3)
    for c in range(1, 4):
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{'' if c == 1 else c}", row=1, col=c)
    fig.update_layout(title=title, height=360, margin=dict(t=70, l=30, r=30, b=30), showlegend=False)
    return fig
