"""StoreWriter writes shards on a background thread: same bytes as safetensors, errors surface, bounded memory."""

from __future__ import annotations

import json
import os

import pytest
import torch
import xxhash
from safetensors.torch import load_file, save_file

import interp.hooks.shards as shards
import interp.hooks.writer as writer
from interp.hooks.store import ActivationStore, StoreError, StoreWriter

HOOKS = ["blocks.1.hook_z", "blocks.0.hook_resid_post"]  # not in file order: safetensors sorts by name
D = {"blocks.1.hook_z": 24, "blocks.0.hook_resid_post": 40}


def _rows(n: int, dtype: torch.dtype, seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    acts = {h: torch.randn(n, d, generator=g).to(dtype) for h, d in D.items()}
    meta = {"__seq_id": torch.arange(n) // 7, "__seq_pos": torch.arange(n) % 7, "__token_id": torch.randint(0, 99, (n,), generator=g)}
    return acts, meta


def _writer(path, dtype, n: int, per_shard: int) -> StoreWriter:
    return StoreWriter(path, {"model": "synthetic"}, HOOKS, D, {h: [d] for h, d in D.items()}, dtype, per_shard, n)


@pytest.mark.parametrize("hash_in_caller", [True, False], ids=["hash_in_caller", "hash_on_writer"])
@pytest.mark.parametrize("direct", [True, False], ids=["o_direct", "buffered"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_shards_are_byte_identical_to_safetensors_save_file(tmp_path, monkeypatch, dtype, direct, hash_in_caller):
    monkeypatch.setattr(writer, "DIRECT_IO", direct)
    monkeypatch.setattr(writer, "HASH_IN_CALLER", hash_in_caller)
    monkeypatch.setattr(writer, "WRITE_CHUNK", 8192)  # wake the writer every few batches: writes before the commit
    n, per_shard = 1030, 250  # 4 full shards (of 8-40 KB per tensor: several aligned blocks) and a short last one
    acts, meta = _rows(n, dtype)
    w = _writer(tmp_path / "s", dtype, n, per_shard)
    for a in range(0, n, 70):  # batches that straddle shard and block boundaries
        w.append({h: v[a : a + 70] for h, v in acts.items()}, {k: v[a : a + 70] for k, v in meta.items()})
    w.close()
    assert w._direct == direct or direct  # buffered when asked; O_DIRECT may be refused by the filesystem
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert [s["rows"] for s in manifest["shards"]] == [250, 250, 250, 250, 30] and manifest["complete"]
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["manifest.json"] + [s["file"] for s in manifest["shards"]]
    for i, s in enumerate(manifest["shards"]):
        sl = slice(i * per_shard, i * per_shard + s["rows"])
        ref = tmp_path / f"ref{i}.safetensors"
        save_file({**{h: v[sl].contiguous() for h, v in acts.items()}, **{k: v[sl].int() for k, v in meta.items()}},
                  str(ref), metadata={"format": shards.STORE_FORMAT})
        ours = (tmp_path / "s" / s["file"]).read_bytes()
        assert ours == ref.read_bytes(), s["file"]
        assert s["checksum"] == "xxh3_128:" + xxhash.xxh3_128(ours).hexdigest() and s["bytes"] == len(ours)
    assert manifest["version"] == 2
    store = ActivationStore(tmp_path / "s", verify="checksum")
    for h in HOOKS:
        assert torch.equal(store.rows(h), acts[h])


def test_closing_early_writes_the_short_shard_with_its_real_size(tmp_path):
    acts, meta = _rows(40, torch.float32)
    w = _writer(tmp_path / "s", torch.float32, 60, 25)  # 60 rows planned, only 40 come
    w.append(acts, meta)
    w.close()
    store = ActivationStore(tmp_path / "s", verify="checksum")
    assert [s.rows for s in store.shards] == [25, 15]
    assert torch.equal(load_file(str(tmp_path / "s" / "shard_00001.safetensors"))[HOOKS[0]], acts[HOOKS[0]][25:])


def test_an_error_in_the_writer_thread_surfaces_and_leaves_only_complete_shards(tmp_path, monkeypatch):
    acts, meta = _rows(100, torch.float32)
    real_open, real_write, third = StoreWriter._open_file, writer.pwrite_all, []

    def open_file(self, sh):
        real_open(self, sh)
        if sh.index == 2:
            third.append(sh.fd)

    def write(fd, data, offset):  # the disk fills up while the third shard is written
        if fd in third:
            raise OSError(28, "No space left on device")
        real_write(fd, data, offset)

    monkeypatch.setattr(StoreWriter, "_open_file", open_file)
    monkeypatch.setattr(writer, "pwrite_all", write)
    w = _writer(tmp_path / "s", torch.float32, 100, 20)
    with pytest.raises(OSError, match="No space left"):
        for a in range(0, 100, 5):
            w.append({h: v[a : a + 5] for h, v in acts.items()}, {k: v[a : a + 5] for k, v in meta.items()})
        w.close()
    w.abort()  # what capture does on the way out: must not hang, nor raise the error a second time
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert not manifest["complete"] and [s["file"] for s in manifest["shards"]] == ["shard_00000.safetensors",
                                                                                   "shard_00001.safetensors"]
    assert sorted(p.name for p in (tmp_path / "s").glob("shard_*")) == ["shard_00000.safetensors", "shard_00001.safetensors"]


def test_at_most_two_shard_buffers_while_the_disk_is_slow(tmp_path, monkeypatch):
    import time

    real = writer.pwrite_all
    monkeypatch.setattr(writer, "pwrite_all", lambda fd, data, offset: (time.sleep(0.002), real(fd, data, offset)))
    acts, meta = _rows(200, torch.float32)
    w = _writer(tmp_path / "s", torch.float32, 200, 20)
    for a in range(0, 200, 10):
        w.append({h: v[a : a + 10] for h, v in acts.items()}, {k: v[a : a + 10] for k, v in meta.items()})
    w.close()
    assert w._images == 2  # the filling shard and the one being committed, not one per pending shard
    assert torch.equal(ActivationStore(tmp_path / "s", verify="checksum").rows(HOOKS[1]), acts[HOOKS[1]])


def test_a_second_writer_is_refused_while_the_first_lives(tmp_path):
    acts, meta = _rows(40, torch.float32)
    first = _writer(tmp_path / "s", torch.float32, 40, 25)
    first.append({h: v[:30] for h, v in acts.items()}, {k: v[:30] for k, v in meta.items()})
    with pytest.raises(StoreError, match=rf"being written by pid {os.getpid()}.*delete .*\.writer\.lock"):
        _writer(tmp_path / "s", torch.float32, 40, 25)
    assert json.loads((tmp_path / "s" / ".writer.lock").read_text())["pid"] == os.getpid()  # still the first's
    first.append({h: v[30:] for h, v in acts.items()}, {k: v[30:] for k, v in meta.items()})
    first.close()
    assert [s["rows"] for s in json.loads((tmp_path / "s" / "manifest.json").read_text())["shards"]] == [25, 15]
    assert not (tmp_path / "s" / ".writer.lock").exists()
    _writer(tmp_path / "s", torch.float32, 40, 25).abort()  # released: a new writer may open it
    assert torch.equal(ActivationStore(tmp_path / "s").rows(HOOKS[0]), acts[HOOKS[0]])


def test_a_dead_writers_lock_is_taken_over(tmp_path):
    import socket
    import subprocess
    import sys

    import psutil

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(child.pid).create_time()
    child.wait()
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / ".writer.lock").write_text(json.dumps({"pid": child.pid, "host": socket.gethostname(), "pid_started": started}))
    w = _writer(tmp_path / "s", torch.float32, 10, 25)  # the holder is gone: no error
    acts, meta = _rows(10, torch.float32)
    w.append(acts, meta)
    w.close()
    assert json.loads((tmp_path / "s" / "manifest.json").read_text())["complete"]
    (tmp_path / "s" / ".writer.lock").write_text(json.dumps({"pid": 1, "host": "another-host", "pid_started": 0}))
    with pytest.raises(StoreError, match="being written by pid 1 on another-host"):  # never guessed dead elsewhere
        _writer(tmp_path / "s", torch.float32, 10, 25)
