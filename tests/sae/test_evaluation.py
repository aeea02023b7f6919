"""SAE evaluation: metric definitions against direct formulas, and splicing known answers."""

from __future__ import annotations

import pytest
import torch
from .sae_helpers import identity_sae, make

from interp.hooks import capture
from interp.sae import evaluate, reconstruction_metrics, splice_metrics
from interp.sae.evaluation import is_causal_lm

HOOK = "blocks.1.hook_resid_post"


def test_reconstruction_metrics_match_their_definitions():
    torch.manual_seed(0)
    x = torch.randn(300, 8) * torch.linspace(0.5, 3, 8) + 2.0  # offset mean: FVU must centre it
    sae = make("relu_l1", 8, 20, seed=1)
    with torch.no_grad():
        sae.b_enc[0] = 100.0  # latent 0 always fires -> dense
        sae.b_enc[1] = -100.0  # latent 1 never fires -> dead
    m, density = reconstruction_metrics(sae, x.split(64))
    with torch.no_grad():
        z, x_hat = sae.encode(x), sae(x)
    xd, hd = x.double(), x_hat.double()
    fvu = ((xd - hd) ** 2).sum() / ((xd - xd.mean(0)) ** 2).sum()
    assert m["fvu"] == pytest.approx(float(fvu), rel=1e-6)
    assert m["explained_variance"] == pytest.approx(1 - float(fvu), rel=1e-6)
    assert m["mse"] == pytest.approx(float(((xd - hd) ** 2).sum(1).mean()), rel=1e-6)
    assert m["l0"] == pytest.approx(float((z > 0).sum(1).float().mean()), rel=1e-6)
    assert m["cos_sim"] == pytest.approx(float(torch.cosine_similarity(xd, hd, dim=1).mean()), rel=1e-6)
    assert m["l2_ratio"] == pytest.approx(float((hd.norm(dim=1) / xd.norm(dim=1)).mean()), rel=1e-6)
    torch.testing.assert_close(density, (z > 0).float().mean(0))
    assert density[0] == 1 and density[1] == 0
    assert m["dead_frac"] == pytest.approx(float((density == 0).float().mean()))
    assert m["dense_frac"] == pytest.approx(float((density > 0.1).float().mean()))
    assert m["n_tokens"] == 300


def test_identity_sae_reconstructs_perfectly_and_scores_one(tiny_model):
    assert is_causal_lm(tiny_model)
    sae = identity_sae(32)
    tokens = torch.randint(0, 50, (6, 12), generator=torch.Generator().manual_seed(0))
    res = evaluate(sae, None, tiny_model, hook=HOOK, tokens=tokens)
    m = res.metrics
    assert m["fvu"] < 1e-10 and m["cos_sim"] == pytest.approx(1.0) and m["l2_ratio"] == pytest.approx(1.0)
    assert m["ce_loss_sae"] == pytest.approx(m["ce_loss_clean"], abs=1e-5)
    assert m["ce_loss_score"] == pytest.approx(1.0, abs=1e-4) and m["kl"] == pytest.approx(0.0, abs=1e-6)
    assert abs(m["ce_loss_zero"] - m["ce_loss_clean"]) > 0.05  # zero-ablation changes the (random) model


def test_zero_sae_scores_zero_and_a_partial_sae_in_between(tiny_model):
    tokens = torch.randint(0, 50, (4, 10), generator=torch.Generator().manual_seed(1))
    zero = identity_sae(32)
    with torch.no_grad():
        zero.W_dec.zero_()
    m = splice_metrics(zero, tiny_model, HOOK, tokens)
    assert m["ce_loss_score"] == pytest.approx(0.0, abs=1e-6) and m["ce_loss_sae"] == pytest.approx(m["ce_loss_zero"])
    half = identity_sae(32)
    with torch.no_grad():
        half.W_dec[16:32].zero_()  # keep 16 positive halves of 32 dims: a lossy SAE
        half.W_dec[48:].zero_()
    m = splice_metrics(half, tiny_model, HOOK, tokens)
    assert 0 < m["kl"] and m["ce_loss_sae"] != pytest.approx(m["ce_loss_clean"])


def test_splice_replaces_only_real_positions_after_the_prefix():
    from interp.sae.evaluation import _replace_hook, _splice_mask

    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    where = _splice_mask(mask, n_prefix=1)
    t = torch.randn(2, 6, 4)
    out = _replace_hook(lambda rows: torch.zeros_like(rows), where)(t)
    assert torch.equal(out[~where], t[~where]) and bool((out[where] == 0).all())
    assert where.sum() == 3 + 5 and not bool(where[:, 0].any()) and not bool(where[0, 4:].any())


def test_evaluate_on_a_store_uses_held_out_sequences(tiny_model, tmp_path):
    tokens = torch.randint(0, 50, (10, 12), generator=torch.Generator().manual_seed(3))
    store = capture(tiny_model, tokens, [HOOK], out=tmp_path / "store", tokens_per_shard=25, progress=False)
    start = store.split_sequences(0.2)[1].row_range[0]
    meta = store.meta(start, len(store))
    assert set(meta["seq_id"].tolist()) == {8, 9} and start == 8 * 12
    res = evaluate(identity_sae(32), store, tiny_model, held_out=0.2)
    assert res.metrics["n_tokens"] == 24 and res.metrics["splice_seqs"] == 2
    assert res.metrics["ce_loss_score"] == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="width"):
        evaluate(identity_sae(16), store)


def test_encoder_downstream_effect(minilm):
    assert not is_causal_lm(minilm)
    tokens = torch.tensor([[101, 2023, 2003, 1037, 3231, 102], [101, 2178, 6251, 2182, 1012, 102]])
    ident = splice_metrics(identity_sae(384), minilm, "blocks.3.hook_resid_post", tokens, n_prefix=1)
    assert ident["downstream_cos"] == pytest.approx(1.0, abs=1e-5) and ident["downstream_score"] == pytest.approx(1.0, abs=1e-4)
    zero = identity_sae(384)
    with torch.no_grad():
        zero.W_dec.zero_()
    z = splice_metrics(zero, minilm, "blocks.3.hook_resid_post", tokens, n_prefix=1)
    assert z["downstream_score"] == pytest.approx(0.0, abs=1e-6) and z["downstream_cos"] < 0.99


def test_topk_sae_on_the_toy_lm_keeps_most_of_its_loss(tmp_path):
    """Known answer on the shipped toy LM: a 1024-latent, k=16 TopK SAE on the last residual stream,
    trained on ~14k tokens, recovers >= 80 % of the CE loss on held-out text (the demo's recipe)."""
    from interp.datasets import load_texts, tokenize_corpus
    from interp.models import load_model
    from interp.sae import SAEConfig, TrainConfig
    from interp.sae.pipeline import SAERunConfig, train_sae_run

    model = load_model("toy:toylm", device="cpu")
    corpus = tokenize_corpus(model.tokenizer, load_texts(), 128, max_seqs=128)
    store = capture(model, corpus, [HOOK], out=tmp_path / "store", progress=False)
    cfg = SAEConfig(arch="topk", d_in=0, d_sae=1024, k=16, hook=HOOK)
    run = train_sae_run(store, TrainConfig(sae=cfg, total_tokens=4 * len(store), batch_size=512, lr=2e-3, progress=False),
                        SAERunConfig(features=False), model=model, root=tmp_path / "runs")
    m = run.metrics
    assert m["l0"] <= 16 and m["fvu"] < 0.35 and m["ce_loss_score"] >= 0.8, m
    assert m["ce_loss_clean"] < m["ce_loss_sae"] < m["ce_loss_zero"]
