"""Attention sinks: metrics (sink score/rate, category mass, massive activations), interventions, emergence.

See ``docs/sinks.md`` for the method notes and the results compared with the papers.
"""

from interp.sinks.massive import MassiveActivations
from interp.sinks.measure import SinkConfig, SinkReport, is_causal, measure_sinks, write_sinks_run
from interp.sinks.metrics import (
    TokenCategories,
    category_mass,
    sink_rate,
    sink_scores,
    uniform_alpha0,
    visible,
)

__all__ = [
    "MassiveActivations",
    "SinkConfig",
    "SinkReport",
    "TokenCategories",
    "category_mass",
    "is_causal",
    "measure_sinks",
    "sink_rate",
    "sink_scores",
    "uniform_alpha0",
    "visible",
    "write_sinks_run",
]
