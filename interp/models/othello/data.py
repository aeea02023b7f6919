"""Random legal 6x6 Othello games as token sequences, with the ground truth of every prefix.

Token convention (what ``toy:othello`` reads and predicts):

* ``0`` is BOS; ``1..32`` are the 32 playable squares in row-major order
  (:data:`~interp.models.othello.game.PLAYABLE`; the four centre squares are never
  played); ``33`` is PASS; ``34`` is PAD (after the game's end; never predicted).
* A player with no legal move while the game goes on plays an explicit PASS token, so
  the side to move is always the parity of the position: black after BOS and every
  even number of tokens. The game ends when neither side can move; nothing marks the
  end (the last position has no legal next token and is left out of losses/metrics).
* The model's output classes are ``token - 1``: ``0..31`` squares, ``32`` PASS.

At position ``i`` (after ``tokens[:i + 1]``) a :class:`GameBatch` holds the board
(black/white/empty), the side to move and the set of legal next tokens; a model that
has learned the rules puts its top-1 prediction inside that set, and probes read the
board from its residual stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from interp.models.othello.game import BLACK, N_SQUARES, PLAYABLE, Position, bits_to_squares, legal_bits

BOS, PASS, PAD = 0, 33, 34
N_MOVE_CLASSES = 33  # output classes: 32 squares + PASS
D_VOCAB = 35  # input tokens: BOS, 32 squares, PASS, PAD
SQUARE_TO_TOKEN = {sq: i + 1 for i, sq in enumerate(PLAYABLE)}
TOKEN_TO_SQUARE = {t: sq for sq, t in SQUARE_TO_TOKEN.items()}


def random_game(rng: np.random.Generator) -> tuple[list[int], list[Position]]:
    """One game of uniformly random legal moves: ``(tokens after BOS, position after each prefix)``.

    ``positions[0]`` is the start; ``positions[i]`` follows ``tokens[:i]``.
    """
    pos = Position.start()
    tokens: list[int] = []
    positions = [pos]
    while True:
        own, opp = pos.own_opp
        moves = legal_bits(own, opp)
        if moves:
            squares = bits_to_squares(moves)
            sq = squares[int(rng.integers(len(squares)))]
            pos = pos.play(sq)
            tokens.append(SQUARE_TO_TOKEN[sq])
        elif legal_bits(opp, own):
            pos = pos.pass_turn()
            tokens.append(PASS)
        else:
            return tokens, positions
        positions.append(pos)


def legal_classes(pos: Position) -> np.ndarray:
    """``[33]`` bool: the legal next output classes (squares, or PASS alone; none once the game is over)."""
    out = np.zeros(N_MOVE_CLASSES, dtype=bool)
    own, opp = pos.own_opp
    moves = legal_bits(own, opp)
    if moves:
        out[[SQUARE_TO_TOKEN[s] - 1 for s in bits_to_squares(moves)]] = True
    elif legal_bits(opp, own):
        out[PASS - 1] = True
    return out


@dataclass
class GameBatch:
    """Padded games and their ground truth, position by position.

    ``tokens[b, i]`` is the i-th token (``tokens[:, 0]`` is BOS); every field below
    describes the state after ``tokens[b, :i + 1]``.
    """

    tokens: np.ndarray  # [batch, pos] int64
    legal: np.ndarray  # [batch, pos, 33] bool: legal next classes (all False at the end and on padding)
    boards: np.ndarray  # [batch, pos, 36] int8: 1 black, -1 white, 0 empty
    to_move: np.ndarray  # [batch, pos] int8: BLACK or WHITE (from the parity of i)
    lengths: np.ndarray  # [batch] tokens in the game, BOS included

    @property
    def valid(self) -> np.ndarray:
        """``[batch, pos]`` bool: positions with a next move to predict."""
        return self.legal.any(-1)

    def mine_theirs(self) -> np.ndarray:
        """``[batch, pos, 36]`` int8 board from the side to move: 1 mine, -1 theirs, 0 empty."""
        return self.boards * self.to_move[..., None]


def game_batch(n_games: int, n_ctx: int, rng: np.random.Generator) -> GameBatch:
    """``n_games`` random games padded (PAD) to ``n_ctx`` tokens.

    A game longer than ``n_ctx`` (passes can push one past 33 tokens) is cut: its
    later positions are simply absent, the earlier ones stay correct.
    """
    tokens = np.full((n_games, n_ctx), PAD, dtype=np.int64)
    legal = np.zeros((n_games, n_ctx, N_MOVE_CLASSES), dtype=bool)
    boards = np.zeros((n_games, n_ctx, N_SQUARES), dtype=np.int8)
    to_move = np.where(np.arange(n_ctx) % 2 == 0, BLACK, -BLACK).astype(np.int8)[None].repeat(n_games, 0)
    lengths = np.zeros(n_games, dtype=np.int64)
    for b in range(n_games):
        moves, positions = random_game(rng)
        seq = [BOS, *moves][:n_ctx]
        tokens[b, : len(seq)] = seq
        lengths[b] = len(seq)
        for i in range(len(seq)):
            pos = positions[i]
            legal[b, i] = legal_classes(pos)
            boards[b, i] = pos.array().reshape(-1)
    return GameBatch(tokens, legal, boards, to_move, lengths)


def legal_top1(logits: torch.Tensor, batch: GameBatch) -> float:
    """Fraction of positions with a next move whose top-1 class is legal (logits: [games, pos, 33])."""
    n = logits.shape[1]
    top1 = logits.argmax(-1).cpu().numpy()  # [games, pos]
    hit = np.take_along_axis(batch.legal[:, :n], top1[..., None], -1)[..., 0]
    valid = batch.valid[:, :n]
    return float(hit[valid].mean())
