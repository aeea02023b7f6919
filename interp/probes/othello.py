"""Linear probes for the board of ``toy:othello``: is the world model there, and in whose terms?

Li et al. (2023) found OthelloGPT's board non-linearly decodable; Nanda et al. (2023)
showed it is *linear* once each square is labelled from the side to move's point of
view ("mine / theirs / empty") instead of by colour ("black / white / empty"): the
model plays both sides, so "mine" is the natural variable. This module fits one
:class:`~interp.probes.LogisticProbe` per square (36 of them) on the residual stream
of every position of held-out games, in both labellings, per layer, and reads the
fitted probes back as a board (:func:`read_board`).

Rows are grouped by game for the train/val/test split (positions of one game are
strongly correlated, so a random row split would leak). The controls are those of
:mod:`interp.probes.controls`: the same probes on a randomly initialised model, and a
control task (random labels per input token) via :func:`~interp.probes.probe_report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from interp.hooks.hooked import forward
from interp.models.othello.data import GameBatch
from interp.models.othello.game import N_SQUARES
from interp.probes.data import make_split
from interp.probes.logistic import LogisticProbe

STATE_NAMES = {"mine": ("theirs", "empty", "mine"), "colour": ("white", "empty", "black")}  # label -1 / 0 / 1


@dataclass
class BoardProbeConfig:
    """How the per-square probes are fitted (a smaller budget than a probe run's defaults: 36 probes a layer)."""

    l2: float = 1e-4
    lr: float = 3e-2
    batch_size: int = 2048
    max_epochs: int = 10
    patience: int = 2
    seed: int = 0

    def probe(self) -> LogisticProbe:
        return LogisticProbe(l2=self.l2, lr=self.lr, batch_size=self.batch_size, max_epochs=self.max_epochs,
                             patience=self.patience, seed=self.seed)


def layer_hook(layer: int) -> str:
    """Residual stream after ``layer`` blocks: 0 is the embeddings (``blocks.0.hook_resid_pre``)."""
    return "blocks.0.hook_resid_pre" if layer == 0 else f"blocks.{layer - 1}.hook_resid_post"


@dataclass
class BoardRows:
    """Every position of a :class:`GameBatch` that has a board, flattened to rows."""

    acts: dict[str, torch.Tensor]  # hook -> [rows, d_model]
    mine: torch.Tensor  # [rows, 36] 1 mine / -1 theirs / 0 empty (side to move's view)
    colour: torch.Tensor  # [rows, 36] 1 black / -1 white / 0 empty
    tokens: torch.Tensor  # [rows] the input token at the row's position (the control task's type)
    game: torch.Tensor  # [rows] game index (the split's groups)
    pos: torch.Tensor  # [rows] position in the game

    def split(self, seed: int = 0) -> torch.Tensor:
        """Train/val/test (70/15/15) by whole games."""
        return make_split(len(self.game), 0.15, 0.15, seed, groups=self.game)


@torch.no_grad()
def board_rows(model: Any, batch: GameBatch, hooks: Sequence[str], batch_games: int = 200) -> BoardRows:
    """Capture ``hooks`` on every game of ``batch`` and keep the positions inside each game."""
    n_games, n_ctx = batch.tokens.shape
    inside = torch.from_numpy(np.arange(n_ctx)[None] < batch.lengths[:, None])  # [games, pos]
    caches: dict[str, list[torch.Tensor]] = {h: [] for h in hooks}
    for start in tqdm(range(0, n_games, batch_games), desc="othello activations", leave=False):
        sl = slice(start, start + batch_games)
        res = forward(model, torch.from_numpy(batch.tokens[sl]), names_filter=list(hooks), stop_after=True)
        for h in hooks:
            caches[h].append(res.cache[h].float().cpu()[inside[sl]])  # [rows, d_model]
    game, pos = torch.nonzero(inside, as_tuple=True)
    return BoardRows(
        acts={h: torch.cat(v) for h, v in caches.items()},
        mine=torch.from_numpy(batch.mine_theirs()).long()[inside],
        colour=torch.from_numpy(batch.boards).long()[inside],
        tokens=torch.from_numpy(batch.tokens)[inside],
        game=game,
        pos=pos,
    )


@dataclass
class BoardProbes:
    """One probe per square at one hook, for one labelling, with its test accuracy."""

    hook: str
    labelling: str  # "mine" | "colour"
    probes: list[LogisticProbe]
    accuracy: np.ndarray  # [36] test accuracy per square

    @property
    def mean(self) -> float:
        return float(self.accuracy.mean())


def fit_board_probes(acts: torch.Tensor, labels: torch.Tensor, split: torch.Tensor, *, hook: str, labelling: str,
                     config: BoardProbeConfig | None = None) -> BoardProbes:
    """Fit 36 probes (square ``s`` reads ``labels[:, s]``) on ``acts`` [rows, d] with a shared ``split``."""
    config = config or BoardProbeConfig()
    probes = [config.probe().fit(acts, labels[:, s].contiguous(), split=split, hook=hook) for s in range(N_SQUARES)]
    return BoardProbes(hook, labelling, probes, np.array([p.scores_["test"] for p in probes]))


@torch.no_grad()
def read_board(probes: Sequence[LogisticProbe], x: torch.Tensor) -> torch.Tensor:
    """The probes' reading of activations ``x`` [n, d]: [n, 36, 3] probabilities of labels -1 / 0 / 1.

    A centre square is never empty, so its probe is binary; its "empty" column is 0.
    """
    out = torch.zeros(x.shape[0], len(probes), 3)
    for s, probe in enumerate(probes):
        proba = probe.predict_proba(x)  # [n, n_classes] in classes_ order
        out[:, s, (probe.classes_ + 1).long()] = proba
    return out


def layer_sweep(rows: BoardRows, layers: Sequence[int], split: torch.Tensor, labelling: str = "mine",
                config: BoardProbeConfig | None = None) -> list[BoardProbes]:
    """Mine/theirs (or colour) probes at every layer in ``layers``."""
    labels = rows.mine if labelling == "mine" else rows.colour
    return [fit_board_probes(rows.acts[layer_hook(layer)], labels, split, hook=layer_hook(layer),
                             labelling=labelling, config=config)
            for layer in tqdm(layers, desc=f"{labelling} probes by layer", leave=False)]
