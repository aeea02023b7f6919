"""Editing ``toy:othello``'s board: move the residual stream along probe directions, watch the moves change.

A probe that reads a square is correlational; the causal test (Li et al. 2023; Nanda
et al. 2023) is to *write* the square: at one position and layer, push the residual
stream along the difference of the square's mine/theirs probe directions until the
probe reads the other owner, run the rest of the model, and ask whether its predicted
legal moves are now those of the edited board. If the model computes legality from
this representation they are; if the probe only found a correlate they are not.

A trial picks a held-out position and an occupied square whose flip changes the legal
moves of the side to move (otherwise "the prediction matches the edited board" would
hold without any effect). Success: the model's top-``N`` next tokens are exactly the
edited board's ``N`` legal moves. Reported beside it: the same score without the edit
(how often the unedited prediction already fits the edited board), a random
direction of the same length, and the chance of drawing the set at random.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb
from typing import Any, Sequence

import numpy as np
import torch

from interp.hooks.hooked import forward
from interp.models.othello.data import GameBatch, legal_classes
from interp.models.othello.game import BLACK, Position
from interp.probes.logistic import LogisticProbe


@dataclass
class Trial:
    game: int
    pos: int  # position in the game whose residual stream is edited
    square: int
    src: int  # the square's label before the edit (1 mine / -1 theirs)
    edited_legal: np.ndarray  # [33] bool: legal classes of the edited board
    original_legal: np.ndarray  # [33] bool


def pick_trials(batch: GameBatch, n: int, seed: int = 0, min_pos: int = 4) -> list[Trial]:
    """Up to ``n`` trials (one per game while games last) whose flip changes the legal move set."""
    rng = np.random.default_rng(seed)
    trials: list[Trial] = []
    for b in rng.permutation(len(batch.tokens)):
        if len(trials) == n:
            break
        valid = np.flatnonzero(batch.valid[b])
        valid = valid[valid >= min_pos]
        if not len(valid):
            continue
        i = int(rng.choice(valid))
        board, to_move = batch.boards[b, i], int(batch.to_move[b, i])
        original = batch.legal[b, i]
        for s in rng.permutation(np.flatnonzero(board)):
            edited = board.copy()
            edited[s] = -edited[s]
            legal = legal_classes(Position.from_array(edited.reshape(6, 6), to_move))
            if legal.any() and not legal[-1] and (legal != original).any():  # a real change, no pass
                trials.append(Trial(int(b), i, int(s), int(board[s]) * (1 if to_move == BLACK else -1), legal, original))
                break
    return trials


def flip_vector(probe: LogisticProbe, src: int, x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """The edit that makes ``probe`` read ``-src`` instead of ``src`` at activation ``x`` [d].

    The probe's logit margin of the new owner over the old one is linear in ``x`` along
    ``v = D[new] - D[old]`` (raw-space directions); step along ``v`` until that margin is
    ``scale`` times its old value with the sign flipped (a mirror image for ``scale=1``).
    Returns the edit [d] (added to ``x``).
    """
    dirs = probe.directions()  # [n_out, d]
    classes = probe.classes_.tolist()
    with torch.no_grad():
        out = probe(x[None].float())[0]  # [n_out]
    if probe.binary:  # one logit for class classes_[1] (= 1) over classes_[0] (= -1)
        v, margin_new = (dirs[0], out[0]) if src == -1 else (-dirs[0], -out[0])
    else:
        new, old = classes.index(-src), classes.index(src)
        v, margin_new = dirs[new] - dirs[old], out[new] - out[old]
    target = scale * abs(float(margin_new))
    alpha = (target - float(margin_new)) / float(v @ v)
    return alpha * v


@dataclass
class InterventionResult:
    n_trials: int
    success: float  # edited: top-N == edited board's legal moves
    null: float  # unedited: top-N == edited board's legal moves
    random_direction: float  # an edit of the same norm in a random direction
    chance: float  # mean over trials of 1 / C(empty squares, N)
    still_original: float  # edited: top-N' == original legal moves (N' = their count)
    hook: str
    scale: float

    def row(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _topn_matches(logits: torch.Tensor, legal: np.ndarray) -> np.ndarray:
    """[trials] bool: the top-``legal[t].sum()`` classes of ``logits[t]`` are exactly ``legal[t]``."""
    out = []
    for lg, want in zip(logits, legal):
        top = torch.topk(lg, int(want.sum())).indices.numpy()
        out.append(bool(want[top].all()))
    return np.array(out)


@torch.no_grad()
def run_interventions(model: Any, batch: GameBatch, edits: Sequence[tuple[str, Sequence[LogisticProbe]]],
                      trials: Sequence[Trial], scale: float = 1.0, seed: int = 0) -> InterventionResult:
    """Apply each trial's flip at every ``(hook, 36 probes)`` of ``edits`` and score the next-move prediction.

    One hook is the classic single-layer edit; several (consecutive layers, each with its
    own probes) re-apply the flip where later layers would otherwise restore the old
    board. Each edit is computed from the activation as it arrives, after earlier edits.
    """
    if not trials:
        raise ValueError("No intervention trials: pass more games (each gives at most one trial).")
    games = torch.tensor([t.game for t in trials])
    pos = torch.tensor([t.pos for t in trials])
    tokens = torch.from_numpy(batch.tokens)[games]  # [trials, n_ctx]
    rows = torch.arange(len(trials))
    norms: dict[str, torch.Tensor] = {}  # hook -> [trials] length of the real edits, for the random control
    gen = torch.Generator().manual_seed(seed)

    def probe_edit(hook: str, probes: Sequence[LogisticProbe]) -> Any:
        def fn(act: torch.Tensor, hook: Any = None, name: str = hook) -> torch.Tensor:
            x = act[rows, pos].float()  # [trials, d]
            delta = torch.stack([flip_vector(probes[t.square], t.src, x[k], scale) for k, t in enumerate(trials)])
            norms[name] = delta.norm(dim=-1)
            act = act.clone()
            act[rows, pos] += delta.to(act.dtype)
            return act
        return fn

    def random_edit(hook: str) -> Any:
        def fn(act: torch.Tensor, hook: Any = None, name: str = hook) -> torch.Tensor:
            rand = torch.randn(len(trials), act.shape[-1], generator=gen)
            act = act.clone()
            act[rows, pos] += (rand / rand.norm(dim=-1, keepdim=True) * norms[name][:, None]).to(act.dtype)
            return act
        return fn

    def logits_with(hooks: list[Any]) -> torch.Tensor:
        return forward(model, tokens, fwd_hooks=hooks).logits[rows, pos].float()  # [trials, 33]

    clean_logits = logits_with([])
    edited_logits = logits_with([(h, probe_edit(h, probes)) for h, probes in edits])
    random_logits = logits_with([(h, random_edit(h)) for h, _ in edits])
    edited_legal = np.stack([t.edited_legal for t in trials])
    original_legal = np.stack([t.original_legal for t in trials])
    n_empty = np.array([int((batch.boards[t.game, t.pos] == 0).sum()) for t in trials])
    chance = float(np.mean([1 / comb(int(e), int(k.sum())) for e, k in zip(n_empty, edited_legal)]))
    return InterventionResult(
        n_trials=len(trials),
        success=float(_topn_matches(edited_logits, edited_legal).mean()),
        null=float(_topn_matches(clean_logits, edited_legal).mean()),
        random_direction=float(_topn_matches(random_logits, edited_legal).mean()),
        chance=chance,
        still_original=float(_topn_matches(edited_logits, original_legal).mean()),
        hook=" ".join(h for h, _ in edits),
        scale=scale,
    )
