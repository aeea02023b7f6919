"""6x6 Othello: the rules, as a legal-move generator over bitboards.

OthelloGPT (Li et al. 2023; Nanda et al. 2023) is the field's clearest case of a
sequence model with a known world model: trained only on move sequences, it comes to
hold the board in its residual stream, linearly, in "mine/theirs" terms. This module
is the ground truth that claim is checked against: the board after every move, who is
to move, and which moves are legal. 6x6 instead of 8x8 keeps the model and its
training small enough for CPU.

The rules are the standard ones: black moves first from the four centre discs
(``C3``/``D4`` white, ``C4``/``D3`` black); a move must flank at least one line of the
opponent's discs between the new disc and one of the mover's own, and flips every
such line; a player with no legal move passes; the game ends when neither can move.

Squares are numbered ``r * 6 + c`` (row ``r`` = letter ``A``..``F``, column ``c`` =
digit ``1``..``6``), so ``C4`` is square 15. A position is two 36-bit Python ints
(``own``, ``opp``) from the mover's side: legal moves take ~8 shifts per direction,
fast enough to generate a hundred thousand games in pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZE = 6
N_SQUARES = SIZE * SIZE
FULL = (1 << N_SQUARES) - 1
BLACK, WHITE, EMPTY = 1, -1, 0
_NOT_COL0 = sum(1 << (r * SIZE) for r in range(SIZE)) ^ FULL  # every square but column 1
_NOT_COL5 = sum(1 << (r * SIZE + SIZE - 1) for r in range(SIZE)) ^ FULL  # every square but column 6
# (shift, mask applied after the shift): a positive shift moves towards higher squares.
# The mask removes discs that wrapped around a row edge.
DIRECTIONS = (
    (1, _NOT_COL0),  # east: column + 1
    (-1, _NOT_COL5),  # west
    (SIZE, FULL),  # south: row + 1
    (-SIZE, FULL),  # north
    (SIZE + 1, _NOT_COL0),  # south-east
    (SIZE - 1, _NOT_COL5),  # south-west
    (-SIZE + 1, _NOT_COL0),  # north-east
    (-SIZE - 1, _NOT_COL5),  # north-west
)
CENTRE = (14, 15, 20, 21)  # C3 C4 D3 D4
PLAYABLE = tuple(s for s in range(N_SQUARES) if s not in CENTRE)  # the 32 squares a move can be on


def square_name(sq: int) -> str:
    """``15 -> "C4"``."""
    return "ABCDEF"[sq // SIZE] + str(sq % SIZE + 1)


def square_index(name: str) -> int:
    """``"C4" -> 15``; a clear error for anything that is not a 6x6 square."""
    if len(name) != 2 or name[0].upper() not in "ABCDEF" or name[1] not in "123456":
        raise ValueError(f"{name!r} is not a 6x6 Othello square; use a row letter A-F and a column 1-6, e.g. 'C4'.")
    return "ABCDEF".index(name[0].upper()) * SIZE + int(name[1]) - 1


def _shift(bits: int, shift: int, mask: int) -> int:
    return ((bits << shift) if shift > 0 else (bits >> -shift)) & mask


def legal_bits(own: int, opp: int) -> int:
    """Bitmask of the squares where the side owning ``own`` may move."""
    empty = FULL & ~(own | opp)
    moves = 0
    for shift, mask in DIRECTIONS:
        run = _shift(own, shift, mask) & opp  # opponent discs next to one of ours
        for _ in range(SIZE - 3):  # a line holds at most SIZE - 2 opponent discs
            run |= _shift(run, shift, mask) & opp
        moves |= _shift(run, shift, mask) & empty
    return moves


def flip_bits(own: int, opp: int, sq: int) -> int:
    """Bitmask of the opponent discs that a move on ``sq`` flips (0: the move is illegal)."""
    move = 1 << sq
    flips = 0
    for shift, mask in DIRECTIONS:
        line, x = 0, _shift(move, shift, mask)
        while x & opp:
            line |= x
            x = _shift(x, shift, mask)
        if x & own:
            flips |= line
    return flips


def bits_to_squares(bits: int) -> list[int]:
    return [s for s in range(N_SQUARES) if bits >> s & 1]


@dataclass(frozen=True)
class Position:
    """A board and the side to move. ``black``/``white`` are 36-bit disc masks."""

    black: int
    white: int
    to_move: int = BLACK  # BLACK or WHITE

    @classmethod
    def start(cls) -> "Position":
        return cls(black=(1 << 15) | (1 << 20), white=(1 << 14) | (1 << 21), to_move=BLACK)

    @classmethod
    def from_array(cls, board: np.ndarray, to_move: int = BLACK) -> "Position":
        """From a ``[6, 6]`` array of ``BLACK`` (1) / ``WHITE`` (-1) / ``EMPTY`` (0)."""
        flat = np.asarray(board).reshape(-1)
        if flat.shape != (N_SQUARES,) or not np.isin(flat, (BLACK, WHITE, EMPTY)).all():
            raise ValueError("A board is a 6x6 array of 1 (black), -1 (white) and 0 (empty).")
        black = sum(1 << int(s) for s in np.flatnonzero(flat == BLACK))
        white = sum(1 << int(s) for s in np.flatnonzero(flat == WHITE))
        return cls(black, white, to_move)

    @property
    def own_opp(self) -> tuple[int, int]:
        return (self.black, self.white) if self.to_move == BLACK else (self.white, self.black)

    def array(self) -> np.ndarray:
        """``[6, 6]`` int8: 1 black, -1 white, 0 empty."""
        out = np.zeros(N_SQUARES, dtype=np.int8)
        out[bits_to_squares(self.black)] = BLACK
        out[bits_to_squares(self.white)] = WHITE
        return out.reshape(SIZE, SIZE)

    def legal_moves(self) -> list[int]:
        """Squares the side to move may play (empty list: it must pass)."""
        return bits_to_squares(legal_bits(*self.own_opp))

    def is_over(self) -> bool:
        own, opp = self.own_opp
        return not legal_bits(own, opp) and not legal_bits(opp, own)

    def play(self, sq: int) -> "Position":
        """The position after the side to move plays ``sq``; a ValueError if that is illegal."""
        own, opp = self.own_opp
        flips = flip_bits(own, opp, sq) if not (own | opp) >> sq & 1 else 0
        if not flips:
            raise ValueError(f"{square_name(sq)} is not a legal move for {'black' if self.to_move == BLACK else 'white'}.")
        own, opp = own | flips | (1 << sq), opp & ~flips
        black, white = (own, opp) if self.to_move == BLACK else (opp, own)
        return Position(black, white, -self.to_move)

    def pass_turn(self) -> "Position":
        """The position after a pass; only allowed when the side to move has no legal move."""
        if self.legal_moves():
            raise ValueError("A player may pass only when it has no legal move.")
        return Position(self.black, self.white, -self.to_move)

    def __str__(self) -> str:
        chars = {BLACK: "x", WHITE: "o", EMPTY: "."}
        rows = ["  " + " ".join(str(c + 1) for c in range(SIZE))]
        rows += ["ABCDEF"[r] + " " + " ".join(chars[int(v)] for v in row) for r, row in enumerate(self.array())]
        return "\n".join(rows)
