"""6x6 Othello for ``toy:othello``: the rules (:mod:`.game`) and random games as tokens (:mod:`.data`).

The ground truth that the model's world model is checked against; pure Python and
numpy, no analysis code (models never import an analysis package).
"""

from interp.models.othello.data import BOS, PAD, PASS, GameBatch, game_batch, legal_classes, random_game
from interp.models.othello.game import Position, square_index, square_name

__all__ = ["BOS", "PAD", "PASS", "GameBatch", "Position", "game_batch", "legal_classes", "random_game",
           "square_index", "square_name"]
