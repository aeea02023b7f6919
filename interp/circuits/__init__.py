"""Circuits: finding and testing the mechanisms inside a model.

* :mod:`~interp.circuits.head_scores`: previous-token and induction head scores (Olsson et al. 2022).
* :mod:`~interp.circuits.metrics`: clean/corrupt tasks and continuous metrics, normalised 1 = clean, 0 = corrupt.
* :mod:`~interp.circuits.ablation`: zero / mean / resample ablation of heads, MLPs, neurons and SAE latents (fwd_hooks).
* :mod:`~interp.circuits.patching`: activation patching sweeps (denoising and noising) -> ``patching`` runs.
* :mod:`~interp.circuits.graph`: the edge graph (q/k/v-separate head inputs) and a forward pass that cuts edges.
* :mod:`~interp.circuits.attribution`: EAP and EAP-IG edge scores.
* :mod:`~interp.circuits.discovery`: ACDC pruning and top-n circuits; :mod:`~interp.circuits.faithfulness` curves;
  :mod:`~interp.circuits.adversarial` per-input worst cases; :mod:`~interp.circuits.circuit_run` -> ``circuit`` runs.
* :mod:`~interp.circuits.fourier`: the modular-addition algorithm's key frequencies and restricted/excluded losses
  (Nanda et al. 2023) -> ``fourier`` runs.

Everything is checked against the shipped ``toy:induction`` model, whose circuit is known.
"""

from interp.circuits.ablation import (
    Ablation,
    head_ablation_hooks,
    mlp_ablation_hooks,
    neuron_ablation_hooks,
    sae_latent_ablation_hooks,
)
from interp.circuits.adversarial import adversarial_eval
from interp.circuits.attribution import edge_attribution, task_attribution
from interp.circuits.circuit_run import save_circuit_run
from interp.circuits.discovery import Circuit, acdc, top_n_circuit
from interp.circuits.faithfulness import CircuitEval, faithfulness_curve
from interp.circuits.fourier import (
    FourierResult,
    embedding_frequency_norms,
    excluded_logits,
    fourier_analysis,
    fourier_basis,
    key_frequencies,
    restricted_logits,
    write_fourier_run,
)
from interp.circuits.graph import EdgeGraph, EdgeRun, node_activations
from interp.circuits.head_scores import induction_score, previous_token_score
from interp.circuits.metrics import Task, induction_task, metric_per_input, normalise
from interp.circuits.patching import patching_sweep, save_patching_run

__all__ = [
    "Ablation", "Circuit", "CircuitEval", "EdgeGraph", "EdgeRun", "Task", "acdc", "adversarial_eval",
    "edge_attribution", "faithfulness_curve", "head_ablation_hooks", "induction_score", "induction_task",
    "metric_per_input", "mlp_ablation_hooks", "neuron_ablation_hooks", "node_activations", "normalise",
    "patching_sweep", "previous_token_score", "sae_latent_ablation_hooks", "save_circuit_run", "save_patching_run",
    "task_attribution", "top_n_circuit",
    "FourierResult", "embedding_frequency_norms", "excluded_logits", "fourier_analysis", "fourier_basis",
    "key_frequencies", "restricted_logits", "write_fourier_run",
]
