"""Feature analysis on a planted store: we choose every latent's activations, so every answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from .sae_helpers import make

from interp.datasets import TokenizedCorpus
from interp.hooks.store import TOKENS_FILE, ActivationStore, StoreWriter
from interp.sae import FeatureConfig, compute_features, save_features
from interp.sae.base import SAEConfig, make_sae

N_SEQ, SEQ = 12, 20
D = 4


def planted_store(path, acts, tokens, mask=None, tokens_per_shard=37):
    """A store whose rows are ``acts`` [N_SEQ * SEQ, D] in sequence order (positions=all)."""
    mask = torch.ones_like(tokens) if mask is None else mask
    corpus = TokenizedCorpus(tokens, mask, torch.arange(N_SEQ), torch.zeros(N_SEQ, dtype=torch.long), n_prefix=0)
    keep = mask.bool()
    seq, pos = keep.nonzero(as_tuple=True)
    w = StoreWriter(path, {"model": "planted"}, ["h"], {"h": D}, {"h": [D]}, torch.float32, tokens_per_shard, len(seq))
    corpus.save(path / TOKENS_FILE)
    w.append({"h": acts[keep.view(-1)]}, {"__seq_id": seq.int(), "__seq_pos": pos.int(), "__token_id": tokens[keep].int()})
    w.close()
    return ActivationStore(path)


def identity(d):
    """latent j = relu(x_j): the store's values are the latents."""
    sae = make_sae(SAEConfig(arch="relu_l1", d_in=d, d_sae=d))
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(d))
        sae.W_dec.copy_(torch.eye(d))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval()


@pytest.fixture
def planted(tmp_path):
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 100, (N_SEQ, SEQ), generator=g)
    acts = torch.zeros(N_SEQ, SEQ, D)
    # latent 0: fires at three known places with known values (and weakly next to one of them)
    acts[3, 10, 0], acts[7, 0, 0], acts[11, 19, 0] = 9.0, 7.0, 5.0
    acts[3, 11, 0] = 2.0
    # latent 1: 200 distinct values spread over the store (for intervals / histogram)
    vals = torch.randperm(N_SEQ * SEQ, generator=g)[:200]
    acts.view(-1, D)[vals, 1] = torch.rand(200, generator=g) * 10 + 0.01
    # latent 2: never fires; latent 3: fires everywhere
    acts[..., 3] = 1.0 + torch.rand(N_SEQ, SEQ, generator=g)
    store = planted_store(tmp_path / "store", acts.view(-1, D), tokens)
    return store, acts, tokens


def test_density_max_mean_and_top_contexts_are_exact(planted):
    store, acts, tokens = planted
    cfg = FeatureConfig(n_top=4, ctx_left=2, ctx_right=1, batch_size=29, n_bins=8)
    f = compute_features(identity(D), store, cfg=cfg, progress=False).tensors
    n = N_SEQ * SEQ
    assert f["density"].tolist() == pytest.approx([4 / n, 200 / n, 0.0, 1.0])
    assert f["max_act"][0] == 9.0 and f["mean_act"][0] == pytest.approx((9 + 7 + 5 + 2) / 4)
    assert f["top_value"][0].tolist() == [9.0, 7.0, 5.0, 2.0]
    # windows: [-2, -1, 0, +1] around (3,10), (7,0), (11,19); -1 off the sequence
    assert f["top_tokens"][0, 0].tolist() == tokens[3, 8:12].tolist()
    assert f["top_acts"][0, 0].tolist() == [0.0, 0.0, 9.0, 2.0]
    assert f["top_tokens"][0, 1].tolist() == [-1, -1, *tokens[7, 0:2].tolist()]
    assert f["top_tokens"][0, 2].tolist() == [*tokens[11, 17:20].tolist(), -1]
    assert f["top_acts"][0, 3].tolist() == [0.0, 9.0, 2.0, 0.0]  # the weak one at (3, 11)
    # latent 2 never fires: empty slots
    assert f["top_value"][2].eq(0).all() and f["top_tokens"][2].eq(-1).all() and f["hist_counts"][2].sum() == 0
    # latent 1's top 4 are its 4 largest values
    v1 = acts[..., 1].reshape(-1)
    assert f["top_value"][1].tolist() == v1.topk(4).values.tolist()


def test_histogram_survives_range_doubling_exactly(planted):
    store, acts, _ = planted
    cfg = FeatureConfig(batch_size=16, n_bins=8)  # small batches: the grid's range doubles several times
    f = compute_features(identity(D), store, cfg=cfg, progress=False).tensors
    for j in (1, 3):
        v = acts[..., j].reshape(-1)
        v = v[v > 0].double().numpy()
        edges = f["hist_edges"][j].double().numpy()
        assert edges[0] == 0 and edges[-1] >= v.max() and edges[-1] < 2 * v.max()
        counts, _ = np.histogram(v, bins=edges)
        assert f["hist_counts"][j].tolist() == counts.tolist()


def test_quantile_intervals_hold_equal_counts_and_their_examples(planted):
    store, acts, tokens = planted
    cfg = FeatureConfig(n_quantiles=4, n_per_quantile=3, n_bins=64, batch_size=50, ctx_left=1, ctx_right=1)
    f = compute_features(identity(D), store, cfg=cfg, progress=False).tensors
    v = acts[..., 1].reshape(-1)
    fired = v[v > 0]
    edges = f["quantile_edges"][1]
    width = float(f["hist_edges"][1, 1] - f["hist_edges"][1, 0]) / 2  # fine-bin width
    true_q = torch.quantile(fired, torch.tensor([0.25, 0.5, 0.75]))
    assert (edges[1:4] - true_q).abs().max() <= width + 1e-5  # quantiles to the fine-grid resolution
    seen = set()
    for q in range(4):
        vals = f["quantile_value"][1, q]
        assert (vals > 0).all()  # 50 values per interval: every slot filled
        assert ((vals >= edges[q]) & (vals <= edges[q + 1])).all()
        assert vals.tolist() == sorted(vals.tolist(), reverse=True)
        for k in range(3):  # the centre of each window is the example, with its token
            assert f["quantile_acts"][1, q, k, 1] == vals[k]
            row = int((v == vals[k]).nonzero()[0, 0])
            assert f["quantile_tokens"][1, q, k, 1] == tokens.view(-1)[row]
            seen.add(row)
    assert len(seen) == 12  # distinct examples
    # latent 0 has 4 firing tokens: intervals of one token each
    assert sorted(f["quantile_value"][0, :, 0].tolist()) == [2.0, 5.0, 7.0, 9.0]


def test_neighbours_logits_and_saved_artifacts(planted, tmp_path, tiny_model):
    store, _, _ = planted
    sae = identity(D)
    with torch.no_grad():
        sae.W_dec[1] = torch.tensor([1.0, 0.0, 0.1, 0.0])  # closest to latent 0's direction
    cfg = FeatureConfig(n_top=3, n_neighbours=2, n_logit=5, ctx_left=3, ctx_right=2)
    feats = compute_features(sae, store, cfg=cfg, progress=False)
    t = feats.tensors
    assert t["neighbour_ids"][0, 0] == 1 and t["neighbour_cos"][0, 0] == pytest.approx(1 / 1.01**0.5)
    assert "logit_pos_ids" not in t and feats.meta["has_logits"] is False
    files = save_features(feats, tmp_path / "run")
    assert files == {"features": "features.safetensors", "features_meta": "features.json"}
    meta = feats.meta
    for key in ("model", "hook", "d_sae", "n_top", "ctx_left", "ctx_right", "n_quantiles", "n_tokens", "has_logits"):
        assert key in meta
    shapes = {k: tuple(v.shape) for k, v in t.items()}
    assert shapes["top_tokens"] == (D, 3, 6) and shapes["quantile_tokens"] == (D, 5, 4, 6)
    assert shapes["hist_counts"] == (D, 32) and shapes["hist_edges"] == (D, 33) and shapes["quantile_edges"] == (D, 6)


def test_logit_effects_are_decoder_times_unembedding(tiny_model, tmp_path):
    from interp.hooks import capture

    tokens = torch.randint(0, 50, (4, 10), generator=torch.Generator().manual_seed(0))
    store = capture(tiny_model, tokens, ["blocks.2.hook_resid_post"], out=tmp_path / "s", progress=False)
    sae = make("topk", 32, 16, k=4, input_scale=2.0)
    feats = compute_features(sae, store, model=tiny_model, cfg=FeatureConfig(n_logit=3), progress=False)
    t = feats.tensors
    eff = (sae.W_dec.detach() / 2.0) @ tiny_model.W_U.detach()
    v, i = eff.topk(3, dim=1)
    assert torch.equal(t["logit_pos_ids"], i) and torch.allclose(t["logit_pos_vals"], v)
    assert torch.allclose(t["logit_neg_vals"], eff.topk(3, dim=1, largest=False).values)
    assert feats.meta["has_logits"] and feats.vocab == [str(i) for i in range(50)]  # no tokenizer: ids
    assert (t["top_tokens"][t["top_value"] > 0][:, 8] == -1).sum() == 0  # centre token always present
