"""Known answer on the shipped toy:induction: every circuits method finds the induction circuit.

One small end-to-end run (module-scoped) is checked against what the model is known
to do (Olsson et al. 2022): head scores name a previous-token head in layer 0 and
induction heads in layer 1; ablating the induction heads removes the in-context loss
drop; ACDC and EAP-IG circuits contain the previous-token -> induction head *key*
edges (K-composition) and, with at most 5 % of the 257 edges (2 layers x 8 heads,
q/k/v separate), recover at least 90 % of the clean logit difference; EAP-IG ranks
edges more faithfully than EAP (saturated attention).
"""

from __future__ import annotations

import pytest
import torch

from interp.circuits.pipeline import InductionCircuitConfig, run_induction_circuit
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
