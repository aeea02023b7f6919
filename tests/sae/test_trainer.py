"""train_sae: sources, schedules, dead latents, multi-hook, bad input, non-finite guard."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from interp.hooks import StoreError
from interp.hooks.store import ActivationStore, StoreWriter
from interp.hooks.rows import RowSource
from interp.sae import SAEConfig, SourceError, TrainConfig, TrainingDiverged, train_sae, train_saes
from interp.sae.checkpoint import load_checkpoint
from interp.sae.data import open_source
from interp.sae.archs.topk import TopKSAE

HOOKS = ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]


def _cfg(**kw) -> TrainConfig:
    sae = SAEConfig(arch=kw.pop("arch", "topk"), d_in=0, d_sae=kw.pop("d_sae", 64), k=4)
    base = dict(total_tokens=256 * 20, batch_size=256, lr=3e-3, warmup_steps=3, progress=False, log_every=2)
    base.update(kw)
    return TrainConfig(sae=sae, **base)


def make_store(path, x: dict[str, torch.Tensor], rows_per_shard: int = 512) -> ActivationStore:
    n = next(iter(x.values())).shape[0]
    w = StoreWriter(path, {"model": "synthetic"}, list(x), {h: v.shape[1] for h, v in x.items()},
                    {h: [v.shape[1]] for h, v in x.items()}, torch.float32, rows_per_shard, n)
    w.append(x, {"__seq_id": torch.arange(n) // 16, "__seq_pos": torch.arange(n) % 16, "__token_id": torch.zeros(n, dtype=torch.long)})
    w.close()
    return ActivationStore(path)


def test_tensor_npy_and_safetensors_sources_agree(toy_data, tmp_path):
    _, x = toy_data
    np.save(tmp_path / "x.npy", x.numpy())
    save_file({"acts": x.contiguous(), "other": x[:10].clone()}, str(tmp_path / "x.safetensors"))
    a = train_sae(_cfg(), x)
    b = train_sae(_cfg(), tmp_path / "x.npy")
    c = train_sae(_cfg(), tmp_path / "x.safetensors", hook="acts")
    for r in (b, c):
        assert torch.equal(a.sae.W_dec, r.sae.W_dec) and torch.equal(a.sae.b_dec, r.sae.b_dec)
    assert a.sae.cfg.d_in == 32 and a.steps == 20 and a.tokens == 20 * 256
    assert [h["step"] for h in a.history] == list(range(2, 21, 2))
    with pytest.raises(SourceError, match="name the one"):
        train_sae(_cfg(), tmp_path / "x.safetensors")


def test_store_source_and_multi_hook_share_batches(toy_data, tmp_path):
    _, x = toy_data
    store = make_store(tmp_path / "store", {HOOKS[0]: x[:4096], HOOKS[1]: 2 * x[4096:]})
    both = train_saes({h: _cfg() for h in HOOKS}, store)
    assert set(both) == set(HOOKS)
    for h in HOOKS:  # multi-hook = the single-hook run on the same minibatches
        one = train_sae(_cfg(), store, hook=h)
        assert torch.equal(one.sae.W_enc, both[h].sae.W_enc)
        assert one.sae.cfg.hook == h
    assert not torch.equal(both[HOOKS[0]].sae.W_enc, both[HOOKS[1]].sae.W_enc)
    with pytest.raises(SourceError, match="say which"):
        train_sae(_cfg(), store)
    with pytest.raises(StoreError, match="not in"):
        train_sae(_cfg(), store, hook="blocks.9.hook_resid_post")


def test_bad_inputs_are_named(toy_data):
    _, x = toy_data
    with pytest.raises(SourceError, match="2-D"):
        train_sae(_cfg(), x[0])
    with pytest.raises(SourceError, match="d_in=16"):
        train_sae(TrainConfig(sae=SAEConfig(arch="topk", d_in=16, d_sae=32, k=2), progress=False), x)
    with pytest.raises(SourceError, match="fewer than one batch"):
        train_sae(_cfg(batch_size=10_000), x)
    with pytest.raises(ValueError, match="Unknown SAE architecture"):
        train_sae(_cfg(arch="nope"), x)


def test_lr_and_sparsity_schedules(toy_data):
    _, x = toy_data
    lrs = []
    train_sae(_cfg(arch="relu_l1", total_tokens=256 * 20, warmup_steps=4, decay_frac=0.5, log_every=1),
              x, callback=lambda step, m: lrs.append(m["lr"]))
    assert lrs[:4] == pytest.approx([3e-3 * i / 4 for i in (1, 2, 3, 4)])
    assert lrs[4:10] == pytest.approx([3e-3] * 6)
    assert lrs[10:] == pytest.approx([3e-3 * (20 - s) / 10 for s in range(10, 20)])


def test_dead_latents_are_tracked_and_revived_by_auxk(toy_data):
    _, x = toy_data
    # 1024 latents, k=4 and a 2-batch window: most latents are "dead", AuxK is active
    r = train_sae(_cfg(d_sae=1024, dead_tokens=512, total_tokens=256 * 10, log_every=1), x)
    assert r.history[-1]["dead_frac"] > 0.1
    assert all(h["aux"] > 0 for h in r.history[3:])
    live = train_sae(_cfg(d_sae=1024, total_tokens=256 * 10, log_every=1), x)  # 1M-token window: none dead yet
    assert live.history[-1]["dead_frac"] == 0 and live.history[-1]["aux"] == 0


def test_non_finite_weights_stop_training_and_keep_last_good_checkpoint(toy_data, tmp_path, monkeypatch):
    _, x = toy_data
    calls = {"n": 0}
    orig = TopKSAE.after_optimizer_step

    def poisoned(self):
        orig(self)
        calls["n"] += 1
        if calls["n"] == 7:
            with torch.no_grad():
                self.W_dec[3, 0] = float("nan")

    monkeypatch.setattr(TopKSAE, "after_optimizer_step", poisoned)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(TrainingDiverged, match=r"step 6: a weight became non-finite.*ckpt \(step 5\)"):
        train_sae(_cfg(checkpoint_dir=str(ckpt), checkpoint_every=5), x)
    meta, tensors = load_checkpoint(ckpt)
    assert meta["step"] == 5 and all(bool(t.float().isfinite().all()) for t in tensors.values())
    monkeypatch.setattr(TopKSAE, "after_optimizer_step", orig)  # the fault is gone: resume finishes
    r = train_sae(_cfg(checkpoint_dir=str(ckpt), checkpoint_every=5, resume=True), x)
    assert r.steps == 20 and bool(r.sae.W_dec.isfinite().all())


class _InfAt(RowSource):
    """``base``'s rows, with one value of the minibatch of step ``at`` (epoch 0) set to +inf: finite at scaling time."""

    def __init__(self, base: RowSource, at: int) -> None:
        self.base, self.at = base, at
        self.names, self.d, self.error = base.names, base.d, base.error

    def __len__(self) -> int:
        return len(self.base)

    def rows(self, name, start, stop):
        return self.base.rows(name, start, stop)

    def sample(self, n):
        return self.base.sample(n)

    def epoch(self, epoch, batch_size, seed, start=0, rank=0, world_size=1):
        for b, batch in enumerate(self.base.epoch(epoch, batch_size, seed, start, rank, world_size), start):
            if epoch == 0 and b == self.at:
                batch = {k: v.clone() for k, v in batch.items()}
                batch[self.names[0]][3, 0] = float("inf")
            yield batch


def test_non_finite_loss_is_caught_before_the_step(toy_data, tmp_path, monkeypatch):
    _, x = toy_data
    steps = {"n": 0}
    orig = TopKSAE.after_optimizer_step

    def counted(self):  # one call per optimiser step taken
        steps["n"] += 1
        orig(self)

    monkeypatch.setattr(TopKSAE, "after_optimizer_step", counted)
    ckpt = tmp_path / "ckpt"
    source = _InfAt(open_source(x), at=6)
    assert bool(source.sample(32768)["x"].isfinite().all())  # the inputs scale fine: the bad row comes later
    with pytest.raises(TrainingDiverged, match=r"step 6: the loss is (nan|inf) \(non-finite\).*ckpt \(step 5\)"):
        train_sae(_cfg(checkpoint_dir=str(ckpt), checkpoint_every=5), source)
    assert steps["n"] == 6  # steps 0-5 were taken; the bad batch never reached the optimiser
    meta, tensors = load_checkpoint(ckpt)
    assert meta["step"] == 5 and all(bool(t.float().isfinite().all()) for t in tensors.values())
    r = train_sae(_cfg(checkpoint_dir=str(ckpt), checkpoint_every=5, resume=True), x)  # clean data: resume finishes
    assert r.steps == 20 and bool(r.sae.W_dec.isfinite().all())


def test_multi_hook_run_checkpoints_and_resumes_each_sae(toy_data, tmp_path):
    _, x = toy_data
    store = make_store(tmp_path / "store", {HOOKS[0]: x[:4096], HOOKS[1]: 2 * x[4096:]})

    def cfgs(ckpt: bool, resume: bool = False):
        return {h: _cfg(checkpoint_dir=str(tmp_path / f"ckpt{i}") if ckpt else None, checkpoint_every=5, resume=resume)
                for i, h in enumerate(HOOKS)}

    def crash(step, metrics):
        if step == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_saes(cfgs(True), store, callback=crash)
    assert all(load_checkpoint(tmp_path / f"ckpt{i}")[0]["step"] == 5 for i in range(2))
    ran = []
    resumed = train_saes(cfgs(True, resume=True), store, callback=lambda step, m: ran.append(step))
    assert ran == list(range(6, 21))  # continued after step 5
    straight = train_saes(cfgs(False), store)
    for h in HOOKS:
        assert torch.allclose(resumed[h].sae.W_dec, straight[h].sae.W_dec, atol=1e-6)
