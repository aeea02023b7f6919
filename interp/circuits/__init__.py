"""Circuits: finding and testing the mechanisms inside a model.

For now: head scores that recognise previous-token and induction heads from
attention patterns (Olsson et al. 2022), checked on the shipped ``toy:induction``.
"""

from interp.circuits.head_scores import induction_score, previous_token_score

__all__ = ["induction_score", "previous_token_score"]
