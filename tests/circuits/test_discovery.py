"""ACDC, top-n, faithfulness curves and adversarial evaluation on the tiny model: their limiting cases."""

from __future__ import annotations

import pytest
import torch

from interp.circuits.adversarial import adversarial_eval
from interp.circuits.discovery import acdc, top_n_circuit
from interp.circuits.faithfulness import CircuitEval, auc, faithfulness_curve, top_k_mask
from interp.circuits.graph import EdgeGraph
from interp.circuits.metrics import Task
from circuit_threads import one_thread  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def ev(tiny_model):
    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(1, 50, (6, 8), generator=gen)
    corrupt = torch.randint(1, 50, (6, 8), generator=gen)
    pos = torch.zeros(6, 8, dtype=torch.bool)
    pos[:, 4:] = True
    with torch.no_grad():
        answer = tiny_model(clean).argmax(-1)  # the model's own prediction: a large clean logit diff
    wrong = torch.roll(answer, 1, dims=0)
    wrong = torch.where(wrong == answer, (answer + 1) % 50, wrong)
    task = Task(clean, corrupt, pos, answer, wrong)
    return CircuitEval.prepare(tiny_model, EdgeGraph.from_model(tiny_model), task, "logit_diff", "corrupt")


def test_acdc_threshold_zero_keeps_everything_and_infinity_nothing(ev):
    full = acdc(ev, 0.0, progress=False)
    assert full.edges_kept == ev.graph.n_edges
    assert ev.recovered(full.keep) == pytest.approx(1.0, abs=1e-4)
    empty = acdc(ev, float("inf"), progress=False)
    assert empty.edges_kept == 0
    assert ev.recovered(empty.keep) == pytest.approx(0.0, abs=1e-4)
    with pytest.raises(ValueError, match="threshold"):
        acdc(ev, -1.0)


def test_acdc_intermediate_threshold_prunes_and_scores(ev):
    c = acdc(ev, 0.02, objective="logit_diff", progress=False)
    assert 0 < c.edges_kept < ev.graph.n_edges
    assert (c.scores[c.keep] >= 0.02).all()  # every kept edge cost at least tau when cut
    assert not c.keep[~ev.graph.valid].any()


def test_top_n_and_faithfulness_curve_endpoints(ev):
    g = ev.graph
    scores = torch.randn(g.valid.shape, generator=torch.Generator().manual_seed(3)) * g.valid
    c = top_n_circuit(g, scores, 10, "eap")
    assert c.edges_kept == 10
    assert scores.abs()[c.keep].min() >= scores.abs()[g.valid & ~c.keep].max()
    assert torch.equal(top_k_mask(g, scores.abs(), 10), c.keep)
    curve = faithfulness_curve(ev, scores.abs(), [0, 10, g.n_edges])
    assert curve["edges_kept"] == [0, 10, g.n_edges]
    assert curve["metric_recovered"][0] == pytest.approx(0.0, abs=1e-4)
    assert curve["metric_recovered"][-1] == pytest.approx(1.0, abs=1e-4)
    assert curve["fraction_kept"][-1] == 1.0
    assert auc([0, 0.5, 1], [0, 1, 1]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="top_n"):
        top_n_circuit(g, scores, g.n_edges + 1, "eap")


def test_adversarial_evaluation(ev):
    g = ev.graph
    full = adversarial_eval(ev, g.valid.clone(), n_worst=3)
    assert max(full["kl"]) < 1e-4 and len(full["kl"]) == 6
    empty = adversarial_eval(ev, torch.zeros_like(g.valid), n_worst=3)
    kl = torch.tensor(empty["kl"])
    assert [w["kl"] for w in empty["worst"]] == sorted(kl.tolist(), reverse=True)[:3]
    assert empty["worst"][0]["input"] == " ".join(str(t) for t in ev.task.clean[empty["worst"][0]["index"]].tolist())
    p = empty["percentiles"]
    assert set(p) == {"50", "90", "99"} and p["50"] <= p["90"] <= p["99"] <= kl.max().item() + 1e-6
