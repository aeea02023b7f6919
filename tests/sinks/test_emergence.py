"""The emergence study: known-answer sink metrics on a native model, and the curve structure of a tiny run."""

from __future__ import annotations

import pytest
import torch

from interp.models.toy import build_native
from interp.sinks.emergence import Backcopy, EmergenceConfig, model_config, sink_metrics, train_with_sinks
from interp.sinks.metrics import uniform_alpha0


@pytest.mark.parametrize("seq_len, rate", [(4, 1.0), (32, 0.0)])
def test_uniform_attention_gives_the_harmonic_floor(seq_len, rate):
    """Zero query weights -> all scores equal -> uniform causal attention: alpha_0 = H_T / T exactly."""
    model = build_native(model_config(EmergenceConfig(seq_len=seq_len, d_model=32, n_heads=2, d_mlp=64), 50))
    with torch.no_grad():
        for layer in model.layers:
            layer.attn.q.weight.zero_()
            if layer.attn.q.bias is not None:
                layer.attn.q.bias.zero_()
    tokens = torch.randint(0, 50, (3, seq_len))
    m = sink_metrics(model, tokens, torch.ones_like(tokens), epsilon=0.3)
    assert m["alpha0"] == pytest.approx(uniform_alpha0(seq_len), abs=1e-5)
    assert m["first_mass"] == pytest.approx(uniform_alpha0(seq_len), abs=1e-5)  # same average for position 0
    assert m["sink_rate"] == rate  # H_4/4 = 0.52 > 0.3; H_32/32 = 0.13 < 0.3


def test_backcopy_sequences_copy_after_triggers():
    task = Backcopy(vocab=20, n_triggers=3, seed=1)
    x = task.sample(16, 24, bos=True, g=torch.Generator().manual_seed(0))
    assert x.shape == (16, 24) and (x[:, 0] == 0).all() and (x[:, 1:] > 0).all()
    body = x[:, 1:]
    trig = task.is_trigger[body[:, 1:-1]]  # token t is a trigger (t >= 1 within the body)
    assert trig.any()
    assert torch.equal(body[:, 2:][trig], body[:, :-2][trig])  # next token = the one before the trigger


def tiny(bos: bool) -> dict:
    return train_with_sinks(EmergenceConfig(task="text", bos=bos, seq_len=32, steps=12, eval_every=4, eval_seqs=6,
                                            batch_size=8, d_model=32, n_heads=2, d_mlp=64, max_docs=40,
                                            warmup_steps=2, lr=3e-3))


def test_tiny_text_runs_curve_structure_learning_and_bos_pull():
    e, nobos = tiny(True), tiny(False)
    assert e["steps"] == [0, 1, 5, 9, 12]  # before training, then after steps 1, 5, 9 and the last
    for key in ("sink_rate", "alpha0", "first_mass", "loss"):
        assert len(e[key]) == len(e["steps"])
    assert all(0.0 <= r <= 1.0 for r in e["sink_rate"])
    assert e["bos"] is True and nobos["bos"] is False
    assert e["seq_len"] == 32 and e["lr"] == 3e-3 and e["weight_decay"] == 0.1
    # an untrained model attends almost uniformly: alpha_0 sits on the harmonic floor
    assert e["alpha0"][0] == pytest.approx(e["uniform_alpha0"], rel=0.1)
    assert e["loss"][-1] < e["loss"][0] - 0.5  # it learnt something
    # the early pull towards the first token (docs/sinks.md) needs a BOS: with one, alpha_0 rises
    # clearly within 12 steps; with a content token first, it barely moves
    rise, rise_nobos = e["alpha0"][-1] - e["alpha0"][0], nobos["alpha0"][-1] - nobos["alpha0"][0]
    assert rise > 0.005 and rise > 2 * rise_nobos
    with pytest.raises(ValueError, match="task"):
        train_with_sinks(EmergenceConfig(task="nope", steps=1))
