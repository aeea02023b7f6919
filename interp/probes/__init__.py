"""Probes: is a property linearly readable from a layer's activations, and does it matter?

``LinearProbe`` (regression, R²) and ``LogisticProbe`` (binary/multiclass, accuracy)
fit in torch on tensors or on an :class:`~interp.hooks.ActivationStore` streamed in
chunks, with L1/L2 penalties, a seeded train/val/test split and early stopping;
``save``/``load_probe`` use safetensors + json. :func:`probe_report` fits a probe
together with its controls (control task, selectivity, random-model baseline;
Hewitt & Liang 2019); a :class:`ProbeResult` (one task, a report per hook) is
recorded by :func:`write_probe_run`, and the pipelines of :mod:`interp.probes.pipeline`
go from a model spec to those runs (``interp probes``). :func:`ablation_hooks` /
:func:`steering_hooks` put a probe's direction back into the model as ``fwd_hooks``
for :func:`interp.hooks.hooked.forward`.

    from interp.probes import LogisticProbe
    probe = LogisticProbe(l2=1e-3).fit(acts, labels)      # acts [rows, d], labels [rows]
    probe.scores_   # {"train": .., "val": .., "test": ..}
"""

from interp._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, globals(), {
    "interp.probes.base": ["Probe", "ProbeConfig", "load_probe"],
    "interp.probes.controls": ["control_labels", "random_model", "selectivity"],
    "interp.probes.data": ["ProbeDataError", "make_split"],
    "interp.probes.linear": ["LinearProbe", "r2_score"],
    "interp.probes.logistic": ["LogisticProbe"],
    "interp.probes.report": ["ProbeReport", "chance_level", "hook_layer", "probe_hooks", "probe_report"],
    "interp.probes.run": ["ProbeResult", "write_probe_run"],
    "interp.probes.steering": ["ablation_hooks", "ablation_losses", "project_out", "steering_hooks"],
})

__all__ = [
    "LinearProbe",
    "LogisticProbe",
    "Probe",
    "ProbeConfig",
    "ProbeDataError",
    "ProbeReport",
    "ProbeResult",
    "ablation_hooks",
    "ablation_losses",
    "chance_level",
    "control_labels",
    "hook_layer",
    "load_probe",
    "make_split",
    "probe_hooks",
    "probe_report",
    "project_out",
    "r2_score",
    "random_model",
    "selectivity",
    "steering_hooks",
    "write_probe_run",
]
