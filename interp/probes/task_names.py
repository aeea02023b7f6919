"""The token-label task names, in a module of their own so that ``interp probes --help`` needs no torch."""

TASKS = ("word_start", "in_quotes", "in_parens", "pos_parity")
