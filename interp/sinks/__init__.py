"""Attention sinks: metrics (sink score/rate, category mass, massive activations), interventions, emergence.

See ``docs/sinks.md`` for the method notes and the results compared with the papers.
"""

from interp.sinks.emergence import EmergenceConfig, train_with_sinks
from interp.sinks.interventions import (
    INTERVENTIONS,
    edit_tokens,
    mask_key,
    output_effect,
    run_interventions,
    value_ablation_hooks,
)
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
    "INTERVENTIONS",
    "EmergenceConfig",
    "edit_tokens",
    "mask_key",
    "output_effect",
    "run_interventions",
    "train_with_sinks",
    "value_ablation_hooks",
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
