"""Compiled models compute their programs exactly, and their ground-truth edges are exactly the ones that matter."""

from __future__ import annotations

import pytest
import torch

from interp.circuits.compiled_task import compiled_task, edge_effects, truth_mask
from interp.circuits.graph import EdgeGraph
from interp.hooks.hooked import forward
from interp.models import load_model
from interp.models.compiled import build_compiled, compiled_names
from interp.models.compiled.programs import histogram_reference, induction_reference, sum_prev_reference

NAMES = ["induction", "histogram", "sum_prev"]


@pytest.fixture(scope="module")
def models():
    return {name: build_compiled(name) for name in NAMES}


def test_programs_listed():
    assert compiled_names() == sorted(NAMES)


def test_references_on_hand_examples():
    # BOS, then tokens; -1 = undefined.
    assert histogram_reference(torch.tensor([[0, 1, 2, 1, 1, 2]])).tolist() == [[-1, 1, 1, 2, 3, 2]]
    # (x_t - 1 + x_{t-1} - 1) mod 5 from position 2 on.
    assert sum_prev_reference(torch.tensor([[0, 1, 5, 3, 4]]), 5).tolist() == [[-1, -1, 4, 1, 0]]
    # t=4 (token 3): earlier 3 at position 1, followed by 4 at position 2 -> 4. t=5 (token 4): 4 at 2 -> x_3 = 5.
    # t=3 (token 5): no earlier 5 -> undefined. t=6 (token 3 again): keys with prev 3 are 2 and 5 -> undefined.
    assert induction_reference(torch.tensor([[0, 3, 4, 5, 3, 4, 3]])).tolist() == [[-1, -1, -1, -1, 4, 5, -1]]


@pytest.mark.parametrize("name", NAMES)
def test_computes_program_exactly(models, name):
    model = models[name]
    prog = model.compiled
    gen = torch.Generator().manual_seed(123)
    for length in (prog.n_ctx, 7):
        tokens = prog.sample(256, gen, length)
        want = prog.outputs(tokens)
        defined = want >= 0
        assert defined.sum() > 100  # the test sees many defined positions
        logits = forward(model, tokens).logits  # [batch, pos, vocab_out]
        assert torch.equal(logits.argmax(-1)[defined], want[defined])
        top2 = logits[defined].topk(2, dim=-1).values
        assert (top2[:, 0] - top2[:, 1]).min() > 9.0  # a clear margin, not a near tie


@pytest.mark.parametrize("name", NAMES)
def test_ground_truth_is_exactly_the_edges_that_matter(models, name):
    model = models[name]
    graph = EdgeGraph.from_model(model)
    truth = truth_mask(graph, model.compiled.edges)
    tokens = model.compiled.sample(48, torch.Generator().manual_seed(5))
    eff = edge_effects(model, graph, tokens, "zero")
    valid = graph.valid
    assert torch.equal(eff["breaks"] & valid, truth)  # cutting a true edge breaks the program ...
    assert eff["max_logit_change"][valid & ~truth].max() < 1e-5  # ... cutting any other edge changes no logit
    assert eff["max_logit_change"][truth].min() > 1.0


def test_induction_needs_k_composition(models):
    assert "L0H0->L1H0.k" in models["induction"].compiled.edges
    assert any(e.endswith("MLP0") for e in models["histogram"].compiled.edges)


def test_load_model_spec_and_errors():
    model = load_model("toy:compiled-sum_prev", device="cpu")
    assert model.compiled.name == "sum_prev" and model.interp_spec == "toy:compiled-sum_prev"
    with pytest.raises(ValueError, match="toy:compiled-histogram"):
        load_model("toy:compiled-nope", device="cpu")


def test_compiled_task_pairs(models):
    model = models["histogram"]
    task = compiled_task(model, 12, seed=3)
    y_clean, y_corrupt = model.compiled.outputs(task.clean), model.compiled.outputs(task.corrupt)
    assert len(task) == 12 and task.positions.any(1).all()
    assert torch.equal(task.answer[task.positions], y_clean[task.positions])
    assert torch.equal(task.wrong[task.positions], y_corrupt[task.positions])
    assert (task.answer != task.wrong)[task.positions].all()
    assert torch.equal(compiled_task(model, 12, seed=3).clean, task.clean)  # seeded


def test_truth_mask_rejects_unknown_edges(models):
    graph = EdgeGraph.from_model(models["sum_prev"])
    with pytest.raises(ValueError, match="not edges of this graph"):
        truth_mask(graph, ["L5H0->logits"])
