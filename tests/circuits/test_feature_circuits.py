"""Sparse feature circuits on ``toy:induction``: known answers with SAEs trained here in seconds.

The SAEs (TopK, d_sae 512, k 4, on both layers' ``hook_attn_out``) are trained on fresh induction
sequences (seed 123, the SAEs seeded 0) and the task's prompts are drawn apart (seed 1). Checks:

* the model with every SAE spliced in *with its error term* is the model (logits to 1e-4, the
  metric to 1e-5), and without the error terms it is not;
* every node ablated to its corrupt value is the corrupted run (the two hooks carry every path
  from the corrupted positions to the metric);
* the top 5 % of (hook, position, latent) nodes by IG recover >= 0.8 of the logit difference,
  random 5 % sets <= 0.05, the error nodes alone <= 0.1 (measured: ~0.95, ~0.000, ~0.003);
* IG scores of a hook sum to the effect of patching the whole hook (completeness, within 10 %),
  attribution patching's layer-0 sum misses most of it (the induction heads read layer 0 through
  a saturated softmax);
* on layer-0 latents IG is closer than attribution patching to the effect of patching each node alone;
* attribution-patching scores of a hook sum exactly to ``grad · (x_corrupt - x_clean)``.
"""

from __future__ import annotations

import pytest
import torch

from interp.circuits import feature_circuits as fc
from interp.circuits.feature_pipeline import FeatureCircuitConfig, build_task, train_task_saes
from interp.circuits.metrics import metric_per_input
from interp.hooks.hooked import cache_hooks, forward
from interp.models import load_model

HOOKS = ["blocks.0.hook_attn_out", "blocks.1.hook_attn_out"]


@pytest.fixture(scope="module")
def setup():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    model = load_model("toy:induction", device="cpu")
    cfg = FeatureCircuitConfig()
    saes = train_task_saes(model, cfg, HOOKS)
    task, _ = build_task(model, cfg)
    ig = fc.node_attribution(model, saes, task, steps=10, per_position=True, progress=False)
    atp = fc.node_attribution(model, saes, task, steps=1, per_position=True, progress=False)
    yield model, saes, task, ig, atp
    torch.set_num_threads(n)


def test_the_splice_with_error_terms_is_the_model_and_without_them_is_not(setup):
    model, saes, task, _, _ = setup
    hooks = [(h, fc.splice_hook(sae)) for h, sae in saes.items()]
    plain, spliced = forward(model, task.clean).logits, forward(model, task.clean, fwd_hooks=hooks).logits
    torch.testing.assert_close(spliced, plain, atol=1e-4, rtol=0)
    clean = fc.metric_mean(model, task)
    assert abs(fc.circuit_metric(model, saes, task, [None])[0] - clean) < 1e-5
    no_err = fc.circuit_metric(model, saes, task, [None], errors=False)[0]
    assert abs(no_err - clean) > 0.5, "the SAEs alone should miss part of the behaviour (else this test is moot)"


def test_every_node_ablated_is_the_corrupted_run(setup):
    model, saes, task, ig, _ = setup
    none = fc.keep_masks(ig, torch.zeros(ig.n_nodes, dtype=torch.bool))
    assert abs(fc.circuit_metric(model, saes, task, [none])[0] - fc.metric_mean(model, task, tokens="corrupt")) < 1e-4


def test_every_node_mean_ablated_is_the_model_on_mean_activations_in_any_batch_size(setup):
    model, saes, task, ig, _ = setup
    none = fc.keep_masks(ig, torch.zeros(ig.n_nodes, dtype=torch.bool))
    means = {h: a.mean(0, keepdim=True) for h, a in cache_hooks(model, task.clean, HOOKS).items()}  # [1, pos, d]
    hooks = [(h, lambda a, hook, m=m: m.expand_as(a)) for h, m in means.items()]
    expected = float(metric_per_input("logit_diff", forward(model, task.clean, fwd_hooks=hooks).logits, task).mean())
    for bs in (32, 5):
        got = fc.circuit_metric(model, saes, task, [none], ablation="mean", batch_size=bs)[0]
        assert abs(got - expected) < 1e-4, (bs, got, expected)


def test_the_top_five_percent_of_nodes_recover_the_metric_and_random_nodes_do_not(setup):
    model, saes, task, ig, _ = setup
    budget = int(0.05 * ig.n_nodes)
    f = fc.faithfulness(model, saes, task, ig, [budget], n_random=3, progress=False)
    assert abs(f.full_value - fc.metric_mean(model, task)) < 1e-5
    assert f.recovered[-1] >= 0.8, f.recovered
    assert f.random_mean[-1] <= 0.05 and f.random_max[-1] <= 0.1, (f.random_mean, f.random_max)
    assert f.errors_only <= 0.1, "the error nodes alone should not carry the task: the latents do"


def test_ig_sums_to_the_patched_effect_of_each_hook_and_attribution_patching_does_not(setup):
    model, saes, task, ig, atp = setup
    clean = fc.metric_mean(model, task)
    for h in HOOKS:
        keep = {g: torch.ones_like(s, dtype=torch.bool) for g, s in ig.scores.items()}
        keep[h] = torch.zeros_like(keep[h])
        effect = fc.circuit_metric(model, saes, task, [keep])[0] - clean
        assert effect < -3.0  # patching either hook removes most of the logit difference (7.3)
        assert abs(float(ig.scores[h].sum()) - effect) <= 0.1 * abs(effect), (h, float(ig.scores[h].sum()), effect)
    effect0 = fc.circuit_metric(model, saes, task, [{HOOKS[0]: torch.zeros_like(ig.scores[HOOKS[0]], dtype=torch.bool),
                                                     HOOKS[1]: torch.ones_like(ig.scores[HOOKS[1]], dtype=torch.bool)}])
    assert abs(float(atp.scores[HOOKS[0]].sum()) - (effect0[0] - clean)) > 0.5 * abs(effect0[0] - clean)


def test_ig_is_closer_than_attribution_patching_to_patching_single_layer0_nodes(setup):
    model, saes, task, ig, atp = setup
    n0 = ig.scores[HOOKS[0]].numel()  # layer 0's nodes come first in the flat order
    nodes = sorted(set(ig.flat()[:n0].abs().argsort(descending=True)[:10].tolist())
                   | set(atp.flat()[:n0].abs().argsort(descending=True)[:10].tolist()))
    exact = fc.node_patching(model, saes, task, ig, nodes)
    err_ig = (ig.flat()[nodes] - exact).abs().mean()
    err_atp = (atp.flat()[nodes] - exact).abs().mean()
    assert exact.abs().max() > 0.1  # the nodes matter
    assert err_ig < err_atp, (float(err_ig), float(err_atp))


def test_attribution_patching_scores_of_a_hook_sum_to_grad_dot_delta(setup):
    model, saes, task, _, atp = setup
    sub = task.subset(slice(0, 8))
    scores = fc.node_attribution(model, saes, sub, steps=1, per_position=False, progress=False)
    acts = {name: fc.hook_values(model, saes, toks) for name, toks in (("clean", sub.clean), ("corrupt", sub.corrupt))}
    for h, sae in saes.items():
        with torch.no_grad():
            x = {k: fc.decode(sae, v[h][0]) + v[h][1] for k, v in acts.items()}  # = the activations (exact splice)
        probe = x["clean"].clone().requires_grad_(True)
        logits = forward(model, sub.clean, fwd_hooks=[(h, lambda a, hook: probe)], grad=True).logits
        (g,) = torch.autograd.grad(metric_per_input("logit_diff", logits, sub).mean(), [probe])
        expected = float((g * (x["corrupt"] - x["clean"])).sum())
        assert scores.scores[h].shape == (1, sae.cfg.d_sae + 1)
        assert abs(float(scores.scores[h].sum()) - expected) < 1e-3 * max(1.0, abs(expected)), (h, expected)


def test_per_position_scores_sum_to_the_position_summed_scores(setup):
    model, saes, task, ig, _ = setup
    summed = fc.node_attribution(model, saes, task, steps=10, per_position=False, progress=False)
    for h in HOOKS:
        torch.testing.assert_close(ig.scores[h].sum(0, keepdim=True), summed.scores[h], atol=1e-4, rtol=1e-4)
    assert ig.labels()[ig.scores[HOOKS[0]].shape[1] - 1] == f"{HOOKS[0]}:err@0"
    assert summed.labels()[:2] == [f"{HOOKS[0]}:0", f"{HOOKS[0]}:1"] and len(summed.labels()) == summed.n_nodes


def test_bad_inputs_name_the_problem(setup):
    model, saes, task, _, _ = setup
    from interp.hooks.capturing import HookNameError

    with pytest.raises(HookNameError):
        fc.node_attribution(model, {"blocks.0.hook_atn_out": saes[HOOKS[0]]}, task, progress=False)
    with pytest.raises(ValueError, match="width"):
        fc.check_saes(model, {"blocks.0.attn.hook_q": saes[HOOKS[0]]})
    with pytest.raises(ValueError, match="at least one SAE"):
        fc.check_saes(model, {})
    with pytest.raises(ValueError, match="ablation"):
        fc.circuit_metric(model, saes, task, [None], ablation="zero")
    with pytest.raises(ValueError, match="steps"):
        fc.node_attribution(model, saes, task, steps=0, progress=False)
