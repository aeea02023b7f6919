"""Every analysis on the architectures researchers load from the hub, built tiny here (interp.models.tiny).

Each family is saved with ``transformers`` (random weights, a BPE tokenizer) and loaded with
``load_model(folder)``, the path a hub download takes. Grouped-query attention (Llama, Gemma,
Qwen, Mistral), parallel blocks (Pythia), rotary embeddings and gated MLPs all pass through.
"""

from __future__ import annotations

import pytest
import torch

from interp.models import load_model
from interp.models.tiny import FAMILIES, TEXT, build_tiny

pytestmark = pytest.mark.parametrize("family", list(FAMILIES))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    cache: dict[str, tuple] = {}

    def get(family: str):
        if family not in cache:
            path = build_tiny(family, tmp_path_factory.mktemp(family))
            cache[family] = (path, load_model(str(path), device="cpu"))
        return cache[family]

    return get


def _tokens(model, batch: int = 3, pos: int = 12) -> torch.Tensor:
    return torch.randint(2, int(model.cfg.d_vocab), (batch, pos), generator=torch.Generator().manual_seed(0))


def test_loads_like_a_hub_model_and_lists_its_hooks(family, models, capsys):
    from transformers import AutoModelForCausalLM

    from interp.cli import main

    path, model = models(family)
    tokens = _tokens(model)
    hf = AutoModelForCausalLM.from_pretrained(path).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(tokens), hf(tokens).logits, atol=1e-4, rtol=1e-4)
    assert main(["models", "--hooks", str(path)]) == 0
    names = capsys.readouterr().out.split()
    assert {"blocks.1.hook_resid_post", "blocks.0.attn.hook_pattern", "blocks.0.hook_mlp_out"} <= set(names)


def test_capture_equals_run_with_cache(family, models):
    from interp.hooks import capture

    _, model = models(family)
    hooks = ["blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern", "blocks.0.hook_mlp_out", "blocks.1.attn.hook_z"]
    tokens = _tokens(model)
    got = capture(model, tokens, hooks, batch_size=2, progress=False)
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n in hooks)
    for h in hooks:
        ref = cache[h].permute(0, 2, 1, 3) if h.endswith("hook_pattern") else cache[h]
        assert torch.equal(got[h], ref.reshape(got[h].shape)), h


def test_sae_splice_scores_the_models_own_loss(family, models):
    from interp.hooks import capture
    from interp.sae import SAEConfig, TrainConfig, train_sae
    from interp.sae.evaluation import splice_metrics

    _, model = models(family)
    hook = "blocks.0.hook_resid_post"
    tokens = model.tokenizer([TEXT] * 4, return_tensors="pt")["input_ids"][:, :24]
    acts = capture(model, tokens, [hook], progress=False)[hook]
    sae = train_sae(TrainConfig(sae=SAEConfig(arch="topk", d_in=0, d_sae=128, k=8), total_tokens=40 * 64,
                                batch_size=64, seed=0), acts).sae.eval()
    m = splice_metrics(sae, model, hook, tokens)
    with torch.no_grad():
        logits = model(tokens)
    own = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten()).item()
    assert m["ce_loss_clean"] == pytest.approx(own, rel=1e-4)  # the clean pass is the model's own
    assert all(torch.isfinite(torch.tensor(v)) for v in m.values()) and m["ce_loss_sae"] != m["ce_loss_clean"]


def test_patching_restores_exactly_where_clean_and_corrupt_differ(family, models):
    from interp.circuits.metrics import Task
    from interp.circuits.patching import patching_sweep

    _, model = models(family)
    clean = _tokens(model, 4, 8)
    corrupt = clean.clone()
    corrupt[:, 3] = (clean[:, 3] + 7) % (int(model.cfg.d_vocab) - 2) + 2  # one position differs
    pos = torch.zeros(4, 8, dtype=torch.bool)
    pos[:, 6] = True
    with torch.no_grad():
        answer = model(clean).argmax(-1)
    task = Task(clean, corrupt, pos, answer, (answer + 1) % int(model.cfg.d_vocab))
    res = patching_sweep(model, task, "logit_diff", "denoising", progress=False)
    rp = res.sweeps["resid_pre"]  # [layer, pos]
    assert rp[0, 3].item() == pytest.approx(1.0, abs=1e-3)  # the only difference before layer 0
    torch.testing.assert_close(rp[0, [0, 1, 2, 4, 5, 6, 7]], torch.zeros(7), atol=1e-3, rtol=0)
    assert res.sweeps["heads"].shape == (2, 4)


def test_sinks_and_every_intervention_run(family, models):
    from interp.datasets import tokenize_corpus
    from interp.sinks.interventions import INTERVENTIONS, run_interventions
    from interp.sinks.measure import SinkConfig, measure_sinks

    _, model = models(family)
    corpus = tokenize_corpus(model.tokenizer, [TEXT] * 4, 16)
    report = measure_sinks(model, corpus, SinkConfig(progress=False))
    assert report.mass.shape[:2] == (2, 4) and report.v_norm.shape[:2] == (2, 4)  # query heads, GQA or not
    assert torch.allclose(report.mass.sum(-1), torch.ones(2, 4), atol=1e-4)  # attention mass sums to one
    results = run_interventions(model, corpus, INTERVENTIONS, SinkConfig(progress=False))
    assert [r.name for r in results] == list(INTERVENTIONS)


def test_a_probe_reads_token_identity_from_the_residual_stream(family, models):
    from interp.hooks import capture
    from interp.probes import LogisticProbe

    _, model = models(family)
    tokens = _tokens(model, 16, 16)
    acts = capture(model, tokens, ["blocks.0.hook_resid_pre"], progress=False)["blocks.0.hook_resid_pre"]
    labels = (tokens.reshape(-1) % 2).long()  # a property of the token: in the embedding, linearly
    probe = LogisticProbe(max_epochs=60, seed=0).fit(acts, labels)
    majority = max(float(labels.float().mean()), 1 - float(labels.float().mean()))
    assert probe.scores_["train"] > majority + 0.1
