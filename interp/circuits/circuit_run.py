"""Writing a discovered circuit as a ``circuit`` run (the contract in docs/runs.md)."""

from __future__ import annotations

from typing import Any

from interp.circuits.discovery import Circuit
from interp.io import write_json_atomic
from interp.runs import Run, start_run


def save_circuit_run(
    model_spec: str,
    circuit: Circuit,
    faithfulness: dict[str, Any],
    metric: str,
    ablation: str,
    metric_recovered: float,
    adversarial: dict[str, Any] | None = None,
    extra_config: dict[str, Any] | None = None,
    extra_metrics: dict[str, Any] | None = None,
    slug: str | None = None,
    root: Any = None,
) -> Run:
    """Write graph.json, faithfulness.json (and adversarial.json) under a new ``circuit`` run."""
    g = circuit.graph
    config = {"model": model_spec, "method": circuit.method, "threshold": circuit.threshold,
              "top_n": circuit.top_n, "ablation": ablation, "metric": metric,
              "granularity": "edges into q/k/v inputs of each head, MLP inputs and logits", **(extra_config or {})}
    with start_run("circuit", config, model=model_spec, slug=slug or f"{circuit.method}", root=root) as run:
        edges = g.edge_dicts(circuit.scores, circuit.keep)
        graph_json = {"method": circuit.method, "nodes": g.node_dicts(), "edges": edges}
        write_json_atomic(run.path / "graph.json", graph_json)
        run.add_artifact("graph", "graph.json")
        write_json_atomic(run.path / "faithfulness.json", faithfulness)
        run.add_artifact("faithfulness", "faithfulness.json")
        if adversarial is not None:
            write_json_atomic(run.path / "adversarial.json", adversarial)
            run.add_artifact("adversarial", "adversarial.json")
        run.metrics.update({
            "edges_kept": circuit.edges_kept, "edges_total": g.n_edges,
            "fraction_kept": circuit.edges_kept / g.n_edges, "metric_recovered": metric_recovered,
            "faithfulness_auc": faithfulness.get("auc"),
            **({"adversarial_kl_p90": adversarial["percentiles"].get("90")} if adversarial else {}),
            **(extra_metrics or {}),
        })
    return run
