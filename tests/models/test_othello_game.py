"""The 6x6 Othello rules against hand-checked positions, and against a naive reference scan."""

from __future__ import annotations

import numpy as np
import pytest

from interp.models.othello.data import BOS, PAD, PASS, TOKEN_TO_SQUARE, game_batch, legal_classes, random_game
from interp.models.othello.game import BLACK, PLAYABLE, WHITE, Position, square_index, square_name


def board(rows: list[str]) -> np.ndarray:
    """``x`` black, ``o`` white, ``.`` empty; rows A..F top to bottom."""
    return np.array([[{"x": BLACK, "o": WHITE, ".": 0}[ch] for ch in row.split()] for row in rows])


def names(squares: list[int]) -> set[str]:
    return {square_name(s) for s in squares}


def test_opening_moves_and_first_flip() -> None:
    start = Position.start()
    assert names(start.legal_moves()) == {"B3", "C2", "D5", "E4"}
    after = start.play(square_index("C2"))  # flanks C3 from C4
    assert after.to_move == WHITE
    assert (after.array() == board([
        ". . . . . .",
        ". . . . . .",
        ". x x x . .",
        ". . x o . .",
        ". . . . . .",
        ". . . . . .",
    ])).all()
    # White's only disc D4 flanks C3 (towards B2), C4 (towards B4) and D3 (towards D2).
    assert names(after.legal_moves()) == {"B2", "B4", "D2"}
    with pytest.raises(ValueError, match="not a legal move"):
        after.play(square_index("E5"))


def test_move_flips_every_flanked_line_and_only_those() -> None:
    pos = Position.from_array(board([
        ". . x . o .",
        ". o o o . .",
        "x o . o o x",
        ". x o o . .",
        ". . . . x .",
        ". . . . . .",
    ]), to_move=BLACK)
    assert square_index("C3") in pos.legal_moves()
    after = pos.play(square_index("C3"))
    # north (B3), west (C2), east (C4 C5) and south-east (D4) are flanked; south (D3: open
    # end at E3), north-west (B2: open end at A1) and north-east (B4 A5: off the board) are not.
    assert (after.array() == board([
        ". . x . o .",
        ". o x o . .",
        "x x x x x x",
        ". x o x . .",
        ". . . . x .",
        ". . . . . .",
    ])).all()


def test_lines_do_not_wrap_around_the_board_edge() -> None:
    # Square A6 is followed by B1 in the bit order; a shift without an edge mask would
    # see A6 (black) - B1 (white) - B2 (empty) as a line and call B2 legal.
    pos = Position.from_array(board([
        ". . . . . x",
        "o . . . . .",
        ". . . . . .",
        ". . . . . .",
        ". . . . . .",
        ". . . . . .",
    ]), to_move=BLACK)
    assert pos.legal_moves() == []


def test_pass_when_no_move_and_game_goes_on() -> None:
    pos = Position.from_array(board([
        "o x . . . .",
        ". . . . . .",
        ". . . . . .",
        ". . . . . .",
        ". . . . . .",
        ". . . . . .",
    ]), to_move=BLACK)
    assert pos.legal_moves() == [] and not pos.is_over()
    classes = legal_classes(pos)
    assert classes.sum() == 1 and classes[PASS - 1]
    passed = pos.pass_turn()
    assert passed.to_move == WHITE and names(passed.legal_moves()) == {"A3"}
    with pytest.raises(ValueError, match="only when"):
        passed.pass_turn()


def test_game_end_when_neither_side_can_move() -> None:
    full = Position.from_array(np.where(np.arange(36).reshape(6, 6) % 3 == 0, WHITE, BLACK), to_move=BLACK)
    assert full.is_over() and not legal_classes(full).any()
    one_colour = Position.from_array(board([
        "x x . . . .",
        ". . . . . .",
        ". . . . . .",
        ". . . . . .",
        ". . . . . .",
        ". . . . . .",
    ]), to_move=WHITE)
    assert one_colour.is_over() and not legal_classes(one_colour).any()


def naive_legal(arr: np.ndarray, me: int) -> set[int]:
    """The rules read off a 6x6 array square by square (the reference the bitboards must match)."""
    out = set()
    for r in range(6):
        for c in range(6):
            if arr[r, c]:
                continue
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc, seen = r + dr, c + dc, 0
                    while (dr or dc) and 0 <= rr < 6 and 0 <= cc < 6 and arr[rr, cc] == -me:
                        rr, cc, seen = rr + dr, cc + dc, seen + 1
                    if seen and 0 <= rr < 6 and 0 <= cc < 6 and arr[rr, cc] == me:
                        out.add(r * 6 + c)
    return out


def test_bitboards_match_naive_rules_on_random_games() -> None:
    rng = np.random.default_rng(0)
    for _ in range(150):
        tokens, positions = random_game(rng)
        for pos in positions:
            assert set(pos.legal_moves()) == naive_legal(pos.array(), pos.to_move)
        end = positions[-1]
        assert not naive_legal(end.array(), BLACK) and not naive_legal(end.array(), WHITE)


def test_token_convention_replays_to_the_recorded_boards() -> None:
    batch = game_batch(40, 40, np.random.default_rng(1))
    assert (batch.tokens[:, 0] == BOS).all()
    saw_pass = False
    for b in range(40):
        n = int(batch.lengths[b])
        assert (batch.tokens[b, n:] == PAD).all()
        pos = Position.start()
        for i in range(n):
            assert (batch.boards[b, i] == pos.array().reshape(-1)).all()
            assert batch.to_move[b, i] == pos.to_move  # parity, because passes are explicit
            assert (batch.legal[b, i] == legal_classes(pos)).all()
            if i + 1 < n:
                tok = int(batch.tokens[b, i + 1])
                assert batch.legal[b, i, tok - 1], "every played token is a legal class at the position before it"
                saw_pass |= tok == PASS
                pos = pos.pass_turn() if tok == PASS else pos.play(TOKEN_TO_SQUARE[tok])
        assert not batch.legal[b, n - 1].any() or n == 40  # the game's last position: over
    assert saw_pass, "40 random games should contain at least one pass"
    assert sorted(TOKEN_TO_SQUARE.values()) == list(PLAYABLE) and len(PLAYABLE) == 32


def test_bad_input_errors_name_the_fix() -> None:
    with pytest.raises(ValueError, match="row letter"):
        square_index("G1")
    with pytest.raises(ValueError, match="6x6 array"):
        Position.from_array(np.zeros((5, 5)))
