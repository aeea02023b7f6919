"""Circuits: finding and testing the mechanisms inside a model.

* :mod:`~interp.circuits.head_scores`: previous-token and induction head scores (Olsson et al. 2022).
* :mod:`~interp.circuits.metrics`: clean/corrupt tasks and continuous metrics, normalised 1 = clean, 0 = corrupt.
* :mod:`~interp.circuits.ablation`: zero / mean / resample ablation of heads, MLPs, neurons and SAE latents (fwd_hooks).
* :mod:`~interp.circuits.patching`: activation patching sweeps (denoising and noising).
* :mod:`~interp.circuits.graph`: the edge graph (q/k/v-separate head inputs) and a forward pass that cuts edges.
* :mod:`~interp.circuits.attribution`: EAP and EAP-IG edge scores.
* :mod:`~interp.circuits.discovery`: ACDC pruning and top-n circuits; :mod:`~interp.circuits.faithfulness` curves;
  :mod:`~interp.circuits.adversarial` per-input worst cases.
* :mod:`~interp.circuits.feature_circuits`: sparse feature circuits (Marks et al. 2024): SAE latents and error
  nodes at several hooks, attribution patching / integrated gradients, faithfulness against random nodes;
  :mod:`~interp.circuits.feature_pipeline`: the ``feature-circuit`` run and its pipeline.
* :mod:`~interp.circuits.fourier`: the modular-addition algorithm's key frequencies and restricted/excluded losses
  (Nanda et al. 2023).
* :mod:`~interp.circuits.induction_circuit`: the induction known answer, every method above on ``toy:induction``.
* :mod:`~interp.circuits.compiled_task`, :mod:`~interp.circuits.recovery`: tasks and ground truth on compiled
  models (``toy:compiled-<name>``), and EAP / EAP-IG / ACDC scored against it (edge ROC-AUC, precision,
  recall, random baseline); :mod:`~interp.circuits.recovery_pipeline`: the ``circuit-recovery`` run.
* :mod:`~interp.circuits.writers`: ``patching``, ``circuit`` and ``fourier`` runs
  (``write_<kind>_run(result, *, spec, config, root=None, slug=None)``).
* :mod:`~interp.circuits.pipeline`: model spec + config -> runs (what the CLI, experiments and demo call).

Everything is checked against the shipped ``toy:induction`` model, whose circuit is known.
"""

from interp._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, globals(), {
    "interp.circuits.ablation": ["Ablation", "head_ablation_hooks", "mlp_ablation_hooks", "neuron_ablation_hooks", "sae_latent_ablation_hooks"],
    "interp.circuits.adversarial": ["adversarial_eval"],
    "interp.circuits.attribution": ["edge_attribution", "task_attribution"],
    "interp.circuits.discovery": ["Circuit", "acdc", "top_n_circuit"],
    "interp.circuits.faithfulness": ["CircuitEval", "faithfulness_curve"],
    "interp.circuits.feature_circuits": ["NodeScores", "node_attribution", "node_patching"],
    "interp.circuits.feature_pipeline": ["FeatureCircuitConfig", "FeatureCircuitResult", "feature_circuit",
                                         "run_feature_circuit", "write_feature_circuit_run"],
    "interp.circuits.fourier": ["FourierResult", "embedding_frequency_norms", "excluded_logits", "fourier_analysis", "fourier_basis", "key_frequencies", "restricted_logits"],
    "interp.circuits.graph": ["EdgeGraph", "EdgeRun", "node_activations"],
    "interp.circuits.head_scores": ["induction_score", "previous_token_score"],
    "interp.circuits.metrics": ["Task", "induction_task", "metric_per_input", "normalise"],
    "interp.circuits.patching": ["PatchingResult", "patching_sweep"],
    "interp.circuits.pipeline": ["FourierConfig", "InductionCircuitConfig", "run_fourier", "run_induction_circuit"],
    "interp.circuits.writers": ["CircuitResult", "write_circuit_run", "write_fourier_run", "write_patching_run"],
})

__all__ = [
    "Ablation", "Circuit", "CircuitEval", "CircuitResult", "EdgeGraph", "EdgeRun", "PatchingResult", "Task", "acdc",
    "adversarial_eval", "edge_attribution", "faithfulness_curve", "head_ablation_hooks", "induction_score",
    "induction_task", "metric_per_input", "mlp_ablation_hooks", "neuron_ablation_hooks", "node_activations",
    "normalise", "patching_sweep", "previous_token_score", "sae_latent_ablation_hooks", "task_attribution",
    "top_n_circuit", "write_circuit_run", "write_patching_run",
    "FourierResult", "embedding_frequency_norms", "excluded_logits", "fourier_analysis", "fourier_basis",
    "key_frequencies", "restricted_logits", "write_fourier_run",
    "FourierConfig", "InductionCircuitConfig", "run_fourier", "run_induction_circuit",
    "NodeScores", "node_attribution", "node_patching", "FeatureCircuitConfig", "FeatureCircuitResult",
    "feature_circuit", "run_feature_circuit", "write_feature_circuit_run",
]
