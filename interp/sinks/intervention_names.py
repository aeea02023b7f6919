"""The sink interventions by name, in a module of their own so that ``interp sinks --help`` needs no torch."""

INTERVENTIONS = ("clean", "mask_sink", "ablate_sink_values", "drop_first", "replace_first", "prepend_token")
# Trains a vector (seconds to minutes), so it is asked for by name rather than run by default.
ALL_INTERVENTIONS = (*INTERVENTIONS, "learned_sink")
