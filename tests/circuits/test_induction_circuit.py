"""Known answer on the shipped toy:induction: every circuits method finds the induction circuit.

One small end-to-end run (module-scoped) is checked against what the model is known
to do (Olsson et al. 2022): head scores name a previous-token head in layer 0 and
induction heads in layer 1; ablating the induction heads removes the in-context loss
drop; ACDC and EAP-IG circuits contain the previous-token -> induction head *key*
edges (K-composition) and, with at most 5 % of the 257 edges (2 layers x 8 heads,
q/k/v separate), recover at least 90 % of the clean logit difference; EAP-IG ranks
edges more faithfully than EAP (saturated attention).

The same bars hold on prompt seeds that tuned nothing (EAP-IG at a fixed 12-edge
budget, so ">= 0.9" is not a given), and on ``toy:induction-dense``, the same recipe
trained without the head-sparsity penalty (redundant heads, no small circuit), exact
patching and ACDC still rank the previous-token -> induction key edges in their top 10,
EAP-IG in its top 10 composition edges.
"""

from __future__ import annotations

import re

import pytest
import torch

from interp.circuits.attribution import edge_patching, task_attribution
from interp.circuits.discovery import acdc, top_n_circuit
from interp.circuits.faithfulness import CircuitEval
from interp.circuits.graph import EdgeGraph
from interp.circuits.induction_circuit import find_heads
from interp.circuits.metrics import induction_task
from interp.circuits.pipeline import InductionCircuitConfig, run_induction_circuit, torch_threads
from interp.runs import list_runs


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    from interp.models import load_model

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("runs")
        cfg = InductionCircuitConfig(n_prompts=16, n_adversarial=32, ig_steps=10)
        out = run_induction_circuit(cfg, root=root, model=load_model("toy:induction", device="cpu"), progress=False)
    finally:
        torch.set_num_threads(before)
    return out, root


def test_heads_and_ablation_effect(result):
    out, _ = result
    assert out["prev_token_head"].startswith("L0") and out["induction_head"].startswith("L1")
    assert out["induction_head"] in out["induction_heads"]
    # The recipe's head-sparsity penalty leaves 1-3 induction heads; the rest of layer 1 is silent.
    assert 1 <= len(out["induction_heads"]) <= 3 and out["prev_token_head"] not in out["silent_heads"]
    losses = out["losses"]
    clean = losses["clean"]
    assert clean["repeat"] < 0.2 * clean["first_half"]  # the in-context loss drop
    for kind in ("zero", "mean", "resample"):
        ablated = losses[f"induction_heads/{kind}"]
        assert ablated["repeat"] > 0.9 * ablated["first_half"], (kind, ablated)  # drop destroyed
        # The first half barely depends on the induction heads (there is nothing to copy yet).
        assert ablated["first_half"] == pytest.approx(clean["first_half"], rel=0.15)
    # The top induction head alone carries much of it: ablating it at least doubles the repeat's loss.
    for kind in ("zero", "mean", "resample"):
        assert losses[f"top_induction_head/{kind}"]["repeat"] > 2 * clean["repeat"], kind
    # ... and the previous-token head is as necessary as all the induction heads together.
    assert losses["prev_token_head/mean"]["repeat"] > 0.9 * losses["prev_token_head/mean"]["first_half"]


def test_discovered_circuits_contain_the_k_composition_edge(result):
    out, _ = result
    top_key_edge = f"{out['prev_token_head']}->{out['induction_head']}.k"
    for method in ("acdc", "eap-ig"):
        c = out["circuits"][method]
        assert top_key_edge in c["kept"], (method, c["kept"])
        # The known-answer bar: <= 5 % of the edges recover >= 90 % of the clean logit difference.
        assert c["fraction_kept"] <= 0.05 and c["metric_recovered"] >= 0.9, (method, c)
        assert c["recovered_at_budget"] >= 0.9, (method, c)
        # The circuit's layer-1 heads are exactly the induction heads, each reached through its key from
        # the previous-token head (K-composition), and no silent (pruned) head is in it.
        assert {n for n in c["nodes"] if n.startswith("L1")} == set(out["induction_heads"]), c["nodes"]
        for ih in out["induction_heads"]:
            assert f"{out['prev_token_head']}->{ih}.k" in c["kept"], (method, ih)
        assert not set(c["nodes"]) & set(out["silent_heads"]), c["nodes"]
        assert f"{out['induction_head']}->logits" in c["kept"]
        assert {"input", out["prev_token_head"], out["induction_head"], "logits"} <= set(c["nodes"])
    assert out["circuits"]["eap-ig"]["faithfulness_auc"] > out["circuits"]["eap"]["faithfulness_auc"]
    auc = out["ranking_auc"]  # rankings of all 257 edges (not circuits): EAP-IG's edges path ~ exact patching
    assert auc["eap"] < auc["eap-ig (edges path)"]
    assert auc["eap-ig (edges path)"] > auc["edge patching (exact)"] - 0.05, auc
    assert out["edges_total"] == 257 and out["budget_edges"] == 12


def test_runs_are_written_per_contract(result):
    out, root = result
    runs = {r.config.get("method") or r.config["direction"]: r for r in list_runs(root)}
    assert set(runs) == {"eap", "eap-ig", "acdc", "denoising", "noising"}
    acdc_run = runs["acdc"]
    assert acdc_run.kind == "circuit"
    for key in ("edges_kept", "edges_total", "fraction_kept", "metric_recovered"):
        assert key in acdc_run.metrics
    graph = acdc_run.read_json("graph")
    names = {n["name"] for n in graph["nodes"]}
    assert {"input", "L0H0", "L1H3", "logits"} <= names and len(graph["edges"]) == 257
    assert all(e["src"] in names and e["dst"] in names for e in graph["edges"])
    assert sum(e["in_circuit"] for e in graph["edges"]) == acdc_run.metrics["edges_kept"]
    faith = acdc_run.read_json("faithfulness")
    assert len(faith["edges_kept"]) == len(faith["fraction_kept"]) == len(faith["metric_recovered"])
    adv = acdc_run.read_json("adversarial")
    assert len(adv["kl"]) == 32 and set(adv["percentiles"]) == {"50", "90", "99"}
    heads = runs["noising"].read_tensors("results")["heads"]
    assert heads.shape == (2, 8)
    # Noising (clean run, one head from the corrupt run): the previous-token head is necessary; the
    # top induction head costs more than any non-induction head of layer 1 (those change nothing).
    prev, top = int(out["prev_token_head"][-1]), int(out["induction_head"][-1])
    assert heads[0, prev] < 0.5
    assert heads[1, top] < 0.9
    silent = [int(h[-1]) for h in out["silent_heads"] if h.startswith("L1")]
    assert len(silent) >= 4 and bool((heads[1, silent] > 0.95).all())  # silent heads do not matter


# --- The same bars on prompts that tuned nothing -----------------------------------------------------------
# ACDC's tau and the bars above were set on the pipeline's default prompt seed (1). Seeds 2-4 draw fresh
# prompts; heads are found again from their head scores, nothing is carried over. Measured (16 prompts):
# EAP-IG's top 12 edges recover 0.971 / 0.969 / 0.981 of the logit difference, ACDC keeps 10 edges and
# recovers 0.969 / 0.970 / 0.977; both keep L0H4 -> L1H2.k and L0H4 -> L1H5.k on every seed.
HELD_OUT_SEEDS = (2, 3, 4)


@pytest.fixture(scope="module")
def shipped():
    from interp.models import load_model

    return load_model("toy:induction", device="cpu")


def _prepare(model, seed: int, n_prompts: int = 16):
    """Fresh induction prompts (``seed``), the heads their head scores name, the edge graph and its evaluator."""
    seg = int(model.toy_config.extra["eval_segment"])
    task = induction_task(n_prompts, seg, model.cfg.d_vocab, seed=seed)
    heads = find_heads(model, task.clean, seg)
    graph = EdgeGraph.from_model(model)
    return task, heads, graph, CircuitEval.prepare(model, graph, task, "logit_diff", "corrupt")


def _eap_ig(model, graph, task):
    return task_attribution(model, graph, task, "logit_diff", "eap-ig", steps=10, ablation="corrupt", progress=False)


@pytest.mark.parametrize("seed", HELD_OUT_SEEDS)
def test_circuit_bars_hold_on_held_out_prompt_seeds(shipped, seed):
    with torch_threads(1):
        task, heads, graph, ev = _prepare(shipped, seed)
        prev, ihs = heads["prev_token_head"], heads["induction_heads"]
        assert prev[0] == 0 and float(heads["prev_scores"][prev]) > 0.9, heads["prev_scores"][0]
        assert ihs and all(layer == 1 and float(heads["induction_scores"][layer, h]) > 0.5 for layer, h in ihs)
        key_edges = {f"L{prev[0]}H{prev[1]}->L{layer}H{h}.k" for layer, h in ihs}
        budget = int(0.05 * graph.n_edges)  # 12 of 257
        # EAP-IG at a fixed budget (not the size at which it reaches 0.9, which would make ">= 0.9" a given).
        top = top_n_circuit(graph, _eap_ig(shipped, graph, task), budget, "eap-ig")
        assert ev.recovered(top.keep) >= 0.9, (seed, top.kept_edges())
        assert key_edges <= set(top.kept_edges()), (seed, top.kept_edges())
        circuit = acdc(ev, InductionCircuitConfig().acdc_threshold, "kl", progress=False)
        assert circuit.edges_kept <= budget and ev.recovered(circuit.keep) >= 0.9, (seed, circuit.kept_edges())
        assert key_edges <= set(circuit.kept_edges()), (seed, circuit.kept_edges())


# --- Without the head-sparsity penalty ------------------------------------------------------------------------
# data/toy/induction-dense is toy:induction's recipe with no penalty on heads, trained the full 4000 steps:
#   interp train-toy induction --set head_sparsity=0 --set prune_steps=0 --set stop_prev=2 \
#       --out data/toy/induction-dense   (stop_prev=2 switches the early stop off; ~20 min on 2 busy cores)
# Every layer-1 head attends like an induction head and two layer-0 heads like previous-token heads, so the work
# is shared and no small circuit exists (90 % of the logit difference takes 80 edges ranked by exact patching,
# 112 by EAP-IG; prompt seed 2); K-composition is still the mechanism. Measured on prompt seeds 1-5
# (16 prompts), the rank of the previous-token heads' key edges into the induction head that writes most (L1H2)
# among all 257 edges: exact edge patching 5-8, ACDC 4-7, EAP-IG 23-27 (it puts the eight induction heads'
# edges to the logits and input -> value edges first), EAP 40-98; among the 192 head -> head (composition)
# edges: EAP-IG 2-6, EAP 19-60.
COMPOSITION = re.compile(r"^L\d+H\d+->L\d+H\d+\.[qkv]$")


@pytest.fixture(scope="module")
def dense():
    from interp.models import load_model

    with torch_threads(1):
        model = load_model("toy:induction-dense", device="cpu")
        task, heads, graph, ev = _prepare(model, seed=2)
        rankings = {"exact": edge_patching(ev, progress=False), "eap-ig": _eap_ig(model, graph, task),
                    "eap": task_attribution(model, graph, task, "logit_diff", "eap", ablation="corrupt",
                                            progress=False),
                    "acdc": acdc(ev, InductionCircuitConfig().acdc_threshold, "kl", progress=False).ranking()}
    return heads, graph, {name: _ranked(graph, scores) for name, scores in rankings.items()}


def _ranked(graph: EdgeGraph, scores: torch.Tensor) -> list[str]:
    """Edge names by decreasing |score|."""
    valid = graph.valid.nonzero().tolist()
    order = scores.abs()[graph.valid].argsort(descending=True).tolist()
    return [graph.edge_name(*valid[k]) for k in order]


def test_dense_model_heads_are_redundant(dense):
    heads, _, _ = dense
    # The unpenalised recipe's known shape: every head alive, the induction work spread over layer 1.
    assert not heads["silent_heads"] and len(heads["induction_heads"]) >= 4, heads["induction_heads"]
    assert heads["prev_token_head"][0] == 0 and heads["induction_head"][0] == 1


def test_dense_model_k_composition_edges_rank_high(dense):
    heads, _, ranked = dense
    prev_heads = [h for h, score in enumerate(heads["prev_scores"][0].tolist()) if score >= 0.5]
    assert heads["prev_token_head"][1] in prev_heads and len(prev_heads) >= 2, heads["prev_scores"][0]
    # Eight heads attend alike (induction scores 0.79-0.96), so the one that matters is the one that writes most.
    top_ih = "L{}H{}".format(*max(heads["induction_heads"], key=lambda lh: float(heads["output_norms"][lh].detach())))
    key_edges = {f"L0H{h}->{top_ih}.k" for h in prev_heads}
    # Exact edge patching (the reference) and ACDC put every previous-token head's key edge into the top
    # induction head among their top 10 of all edges.
    for method in ("exact", "acdc"):
        assert key_edges <= set(ranked[method][:10]), (method, ranked[method][:10])
    # EAP-IG ranks them in its top 10 composition edges; over all edges its linear attribution puts them lower.
    composition = [e for e in ranked["eap-ig"] if COMPOSITION.match(e)]
    assert key_edges <= set(composition[:10]), composition[:10]
    # ... and well above EAP, which saturated attention blinds (it ranks value edges first).
    first_key = {m: min(ranked[m].index(e) for e in key_edges) for m in ("eap-ig", "eap")}
    assert first_key["eap-ig"] + 10 < first_key["eap"], first_key
