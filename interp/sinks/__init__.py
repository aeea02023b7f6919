"""Attention sinks: metrics (sink score/rate, category mass, massive activations), interventions, emergence.

Compute (:mod:`~interp.sinks.metrics`, :mod:`~interp.sinks.measure`, :mod:`~interp.sinks.interventions`,
:mod:`~interp.sinks.emergence`) -> results and run writers (:mod:`~interp.sinks.run`) -> pipelines
(:mod:`~interp.sinks.pipeline`, what the CLI, the demo and the experiments call) -> ``interp sinks``
(:mod:`~interp.sinks.cli`). See ``docs/sinks.md`` for the method notes and the results compared with
the papers.
"""

from interp._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, globals(), {
    "interp.sinks.emergence": ["EmergenceConfig", "train_with_sinks"],
    "interp.sinks.interventions": ["ALL_INTERVENTIONS", "INTERVENTIONS", "learn_sink_vector", "sink_vector_hooks", "edit_tokens", "mask_key", "output_effect", "run_interventions", "value_ablation_hooks"],
    "interp.sinks.massive": ["MassiveActivations"],
    "interp.sinks.measure": ["SinkConfig", "SinkReport", "is_causal", "measure_sinks"],
    "interp.sinks.metrics": ["TokenCategories", "category_mass", "sink_rate", "sink_scores", "uniform_alpha0", "visible"],
    "interp.sinks.pipeline": ["EmergenceStudyConfig", "SinksRunConfig", "emergence_pipeline", "sinks_pipeline"],
    "interp.sinks.run": ["EmergenceResult", "SinksResult", "summary_lines", "write_emergence_run", "write_sinks_run"],
})

__all__ = [
    "ALL_INTERVENTIONS",
    "INTERVENTIONS",
    "learn_sink_vector",
    "sink_vector_hooks",
    "EmergenceConfig",
    "EmergenceResult",
    "EmergenceStudyConfig",
    "edit_tokens",
    "emergence_pipeline",
    "mask_key",
    "output_effect",
    "run_interventions",
    "train_with_sinks",
    "value_ablation_hooks",
    "MassiveActivations",
    "SinkConfig",
    "SinkReport",
    "SinksResult",
    "SinksRunConfig",
    "TokenCategories",
    "category_mass",
    "is_causal",
    "measure_sinks",
    "sink_rate",
    "sink_scores",
    "sinks_pipeline",
    "summary_lines",
    "uniform_alpha0",
    "visible",
    "write_emergence_run",
    "write_sinks_run",
]
