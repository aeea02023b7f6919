"""LinearProbe / LogisticProbe: fitting, regularisation, early stopping, streaming from a store, save/load, errors."""

from __future__ import annotations

import pytest
import torch

from interp.probes import LinearProbe, LogisticProbe, ProbeDataError, load_probe, make_split


def _data(n=3000, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    scale = torch.logspace(-1, 2, d)  # channels on very different scales, as in real residual streams
    x = torch.randn(n, d, generator=g) * scale
    w = torch.randn(d, generator=g) / scale
    return x, w, g


def test_logistic_binary_and_multiclass():
    x, w, g = _data()
    y = (x @ w > 0).long()
    probe = LogisticProbe().fit(x, y)
    assert set(probe.scores_) == {"train", "val", "test"}
    assert probe.binary and probe.directions().shape == (1, 16)
    assert probe.scores_["test"] > 0.95
    classes = (x[:, :4] / x[:, :4].std(0)).argmax(1) * 10 + 3  # labels 3, 13, 23, 33 (not 0..k-1)
    multi = LogisticProbe().fit(x, classes)
    assert multi.classes_.tolist() == [3, 13, 23, 33] and multi.directions().shape == (4, 16)
    assert multi.scores_["test"] > 0.9
    assert set(multi.predict(x[:50]).tolist()) <= {3, 13, 23, 33}
    proba = multi.predict_proba(x[:50])
    assert proba.shape == (50, 4) and torch.allclose(proba.sum(1), torch.ones(50))
    random_labels = torch.randint(0, 2, (3000,), generator=g)
    assert abs(LogisticProbe().fit(x, random_labels).scores_["test"] - 0.5) < 0.06  # nothing to find


def test_linear_regression_scalar_and_vector_targets():
    x, w, g = _data()
    y = x @ w + 0.05 * torch.randn(3000, generator=g)
    probe = LinearProbe().fit(x, y)
    assert probe.scores_["test"] > 0.99 and probe.predict(x).shape == (3000,)
    vec = LinearProbe().fit(x, torch.stack([y, -3 * y + 7], dim=1))
    assert vec.scores_["test"] > 0.99 and vec.predict(x).shape == (3000, 2)
    assert LinearProbe().fit(x, torch.randn(3000, generator=g)).scores_["test"] < 0.02  # R² ~ 0 on noise


def test_l1_concentrates_weight_on_the_relevant_features():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2000, 20, generator=g)
    y = x[:, 0] + 0.5 * x[:, 1]
    dense = LinearProbe(l2=0.0).fit(x, y)
    sparse = LinearProbe(l1=0.02).fit(x, y)
    def off_mass(p):
        return float(p.W.detach()[2:].abs().sum() / p.W.detach().abs().sum())
    assert off_mass(sparse) < 0.5 * off_mass(dense)
    assert sparse.scores_["test"] > 0.9


def test_l2_shrinks_the_weights():
    x, w, _ = _data()
    y = (x @ w > 0).long()
    weak, strong = LogisticProbe(l2=0.0).fit(x, y), LogisticProbe(l2=0.1).fit(x, y)
    assert strong.W.detach().norm() < 0.5 * weak.W.detach().norm()


def test_early_stopping_restores_the_best_epoch():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(300, 200, generator=g)  # more features than it takes to overfit
    y = (x[:, 0] + torch.randn(300, generator=g) > 0).long()
    probe = LogisticProbe(l2=0.0, lr=0.05, max_epochs=200, patience=3, batch_size=64).fit(x, y)
    vals = [h["val_loss"] for h in probe.history_]
    assert len(vals) < 200  # stopped early
    assert vals.index(min(vals)) == len(vals) - 1 - 3  # stopped `patience` epochs after the best
    split = probe.split_
    restored = torch.nn.functional.binary_cross_entropy_with_logits(probe(x[split == 1])[:, 0], y[split == 1].float())
    assert float(restored.detach()) == pytest.approx(min(vals), rel=1e-4)


def test_split_is_seeded_and_keeps_groups_together():
    a, b = make_split(1000, 0.2, 0.2, seed=3), make_split(1000, 0.2, 0.2, seed=3)
    assert torch.equal(a, b) and abs(float((a == 2).float().mean()) - 0.2) < 0.01
    groups = torch.arange(1000) // 10
    s = make_split(1000, 0.2, 0.2, seed=0, groups=groups)
    assert all(len(set(s[groups == k].tolist())) == 1 for k in range(100))


def test_fit_on_a_store_streams_chunks_and_matches_in_memory(tiny_model, tmp_path):
    from interp.hooks import ActivationStore, capture

    tokens = torch.randint(0, 50, (24, 20), generator=torch.Generator().manual_seed(0))
    hook = "blocks.1.hook_resid_post"
    store = capture(tiny_model, tokens, [hook], out=tmp_path / "store", tokens_per_shard=100, progress=False)
    assert isinstance(store, ActivationStore) and len(store.shards) > 1
    labels = (store.meta()["token_id"] < 25).long()
    reads = []
    original = store.rows
    store.rows = lambda h, start, stop: (reads.append(stop - start), original(h, start, stop))[1]
    from_store = LogisticProbe(chunk_rows=64, max_epochs=40, lr=0.05).fit(store, labels, hook=hook)
    assert max(reads) <= 64 and len(reads) > len(from_store.history_) * (len(store) // 64)  # chunks, every epoch
    in_memory = LogisticProbe(chunk_rows=64, max_epochs=40, lr=0.05).fit(original(hook, 0, len(store)), labels)
    assert torch.allclose(from_store.W, in_memory.W, atol=1e-5)
    assert from_store.scores_ == pytest.approx(in_memory.scores_)
    assert from_store.scores_["test"] > 0.6  # token identity survives a random model (chance 0.5)
    assert from_store.predict(store).shape == (len(store),)


def test_save_and_load_round_trip(tmp_path):
    x, w, g = _data(n=800)
    for probe, y in ((LogisticProbe(), (x @ w > 0).long() * 5), (LinearProbe(), torch.stack([x @ w, x[:, 0]], 1))):
        probe.fit(x, y)
        probe.hook = "blocks.0.hook_resid_post"
        path = probe.save(tmp_path / probe.kind)
        assert {f.name for f in path.iterdir()} == {"probe.safetensors", "probe.json"}
        back = load_probe(path)
        assert type(back) is type(probe) and back.hook == probe.hook and back.scores_ == probe.scores_
        assert torch.equal(back.predict(x), probe.predict(x))
        assert back.score(x, y) == pytest.approx(probe.score(x, y))


def test_bad_input_gives_clear_errors(tmp_path):
    x = torch.randn(100, 8)
    y = torch.randint(0, 2, (100,))
    with pytest.raises(ProbeDataError, match="99 labels for 100 activation rows"):
        LogisticProbe().fit(x, y[:99])
    bad = x.clone()
    bad[17, 3] = float("nan")
    with pytest.raises(ProbeDataError, match="NaN or inf.*row 17"):
        LogisticProbe().fit(bad, y)
    with pytest.raises(ProbeDataError, match=r"Labels contain NaN.*row 4"):
        LinearProbe().fit(x, torch.where(torch.arange(100) == 4, float("nan"), 1.0))
    with pytest.raises(ProbeDataError, match=r"must be \[rows, d\].*reshape"):
        LogisticProbe().fit(torch.randn(10, 10, 8), y[:10])
    with pytest.raises(ProbeDataError, match="at least two classes"):
        LogisticProbe().fit(x, torch.zeros(100))
    with pytest.raises(ProbeDataError, match="integer class labels.*LinearProbe"):
        LogisticProbe().fit(x, torch.rand(100))
    with pytest.raises(TypeError, match="Unknown probe options"):
        LogisticProbe(l3=1.0)
    with pytest.raises(ValueError, match="l1=-1"):
        LinearProbe(l1=-1)
    with pytest.raises(RuntimeError, match="not fitted"):
        LogisticProbe().predict(x)
    probe = LogisticProbe(max_epochs=2).fit(x, y)
    with pytest.raises(ProbeDataError, match="width 8"):
        probe.predict(torch.randn(5, 9))
    with pytest.raises(ProbeDataError, match="not seen in fit"):
        probe.score(x, y + 5)
    with pytest.raises(ProbeDataError, match="Cannot fit a probe on list"):
        LogisticProbe().fit([[1.0, 2.0]], [0])
    with pytest.raises(ProbeDataError, match="not a saved probe"):
        load_probe(tmp_path)
