"""SAE-latent ablation with a real trained SAE: an ``sae`` run on toy:toylm, spliced by its folder.

The stand-in SAEs of test_ablation.py pin the splice arithmetic; here the SAE is what
``interp sae train`` writes (TopK, input scaling, SAELens folder), loaded from the run
folder, and the checks are causal: the splice with nothing ablated is the model,
an inactive latent changes nothing, and ablating an active latent in the last
residual stream moves the logits along that latent's own logit effect.
"""

from __future__ import annotations

import pytest
import torch

from interp.circuits.ablation import Ablation, sae_latent_ablation_hooks
from interp.datasets import load_texts, tokenize_corpus
from interp.hooks import capture
from interp.models import load_model
from interp.sae import SAEConfig, TrainConfig, load_sae
from interp.sae.pipeline import SAERunConfig, train_sae_run
from interp.sae.features import unembedding

HOOK = "blocks.1.hook_resid_post"  # the last residual stream: its effect on the logits is direct


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("sae-ablation")
    model = load_model("toy:toylm")
    corpus = tokenize_corpus(model.tokenizer, load_texts(max_docs=20), 64, max_seqs=96)
    store = capture(model, corpus, [HOOK], out=root / "store", progress=False)
    cfg = SAEConfig(arch="topk", d_in=0, d_sae=256, k=8)
    train = TrainConfig(sae=cfg, total_tokens=40 * 512, batch_size=512, lr=3e-3, seed=0, progress=False)
    run = train_sae_run(store, train, SAERunConfig(evaluate=False, features=False), hook=HOOK, model=model,
                        root=root / "runs")
    tokens = corpus.tokens[-8:]  # [8, 64]
    with torch.no_grad():
        clean = model(tokens)  # [8, 64, vocab]
    return model, run, tokens, clean


def _logits(model, tokens, hooks):
    with torch.no_grad(), model.hooks(fwd_hooks=hooks):
        return model(tokens)


def test_the_splice_of_a_trained_sae_run_is_the_model(trained):
    model, run, tokens, clean = trained
    hooks = sae_latent_ablation_hooks(model, run.path, None, [], Ablation("zero"))  # hook read from the SAE
    assert hooks[0][0] == HOOK
    torch.testing.assert_close(_logits(model, tokens, hooks), clean, atol=1e-4, rtol=1e-4)


def test_ablating_an_active_latent_moves_the_logits_along_its_logit_effect(trained):
    model, run, tokens, clean = trained
    sae = load_sae(run.artifact("sae"))
    acts = {}
    with torch.no_grad(), model.hooks(fwd_hooks=[(HOOK, lambda a, hook: acts.setdefault("x", a))]):
        model(tokens)
    z = sae.encode(acts["x"].reshape(-1, sae.d_in)).reshape(*tokens.shape, -1)  # [batch, pos, d_sae]
    fired = (z > 0).sum((0, 1))
    assert (fired == 0).any(), "every latent fires on these tokens; pick fewer tokens"
    silent = int((fired == 0).nonzero()[0])
    torch.testing.assert_close(
        _logits(model, tokens, sae_latent_ablation_hooks(model, run.path, HOOK, [silent], Ablation("zero"))),
        clean, atol=1e-4, rtol=1e-4)
    # A latent that fires often but not everywhere; its decoder row through W_U is its direct logit effect.
    sometimes = (fired > 20) & (fired < 0.5 * tokens.numel())
    latent = int(torch.where(sometimes, z.sum((0, 1)), 0).argmax())
    at = z[..., latent] > 0  # [batch, pos]
    ablated = _logits(model, tokens, sae_latent_ablation_hooks(model, run.path, HOOK, [latent], Ablation("zero")))
    delta = (ablated - clean)[at]  # [n_fired, vocab]
    assert delta.abs().max() > 0.1, "ablating an active latent must change the logits"
    torch.testing.assert_close((ablated - clean)[~at], torch.zeros_like((ablated - clean)[~at]), atol=1e-4, rtol=0)
    effect = (sae.W_dec[latent].detach() / sae.cfg.input_scale) @ unembedding(model, sae.d_in).float()  # [vocab]
    centred = delta - delta.mean(-1, keepdim=True)
    corr = torch.corrcoef(torch.stack([centred.mean(0), -(effect - effect.mean())]))[0, 1]
    assert corr > 0.8, f"logit change should follow -(W_dec W_U) of latent {latent}: corr {corr:.3f}"
    # Its most promoted token loses more logit than the average token.
    top = int(effect.argmax())
    assert float(centred[:, top].mean()) < 0


def test_a_trained_sae_refuses_the_wrong_hook(trained):
    model, run, *_ = trained
    with pytest.raises(ValueError, match="trained on 'blocks.1.hook_resid_post'"):
        sae_latent_ablation_hooks(model, run.path, "blocks.0.hook_resid_post", [0], Ablation("zero"))
    with pytest.raises(ValueError, match="latent 999"):
        sae_latent_ablation_hooks(model, run.path, None, [999], Ablation("zero"))
