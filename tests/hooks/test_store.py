"""ActivationStore: sharding, atomic resume, verification errors that name the file, shuffled batches."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from interp.hooks import ActivationStore, StoreError, capture

HOOKS = ["blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern"]


def _tokens(n: int = 20, seq: int = 16) -> torch.Tensor:
    return torch.randint(0, 50, (n, seq), generator=torch.Generator().manual_seed(3))


def _files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def record_forwards(model) -> list[torch.Tensor]:
    """Every forward pass's token batch, appended as it runs (a torch pre-hook on the embedding)."""
    seen: list[torch.Tensor] = []
    model.embed.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().cpu().clone()))
    return seen


def seq_ids(batches: list[torch.Tensor], tokens: torch.Tensor) -> list[list[int]]:
    """Each forwarded batch as the indices of its sequences in ``tokens`` (rows must be distinct)."""
    index = {tuple(row.tolist()): i for i, row in enumerate(tokens)}
    assert len(index) == len(tokens)
    return [[index[tuple(row.tolist())] for row in b] for b in batches]


def pending_batches(rows_done: int, rows_per_seq: int, n_seq: int, batch_size: int) -> list[list[int]]:
    """The batches a resume must run: those holding a row not in a committed shard."""
    starts = range(0, n_seq, batch_size)
    return [list(range(s, min(s + batch_size, n_seq))) for s in starts if min(s + batch_size, n_seq) * rows_per_seq > rows_done]


def stamp(path: Path, shards: list[str]) -> dict[str, tuple[int, int]]:
    """Set each shard's mtime to a marker in the past; return {file: (inode, mtime_ns)} to compare after a resume."""
    out = {}
    for name in shards:
        f = path / name
        os.utime(f, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))  # 2001-09-09: no rewrite can produce it
        st = f.stat()
        out[name] = (st.st_ino, st.st_mtime_ns)
    return out


def untouched(path: Path, before: dict[str, tuple[int, int]]) -> None:
    for name, (ino, mtime) in before.items():
        st = (path / name).stat()
        assert (st.st_ino, st.st_mtime_ns) == (ino, mtime), f"{name} was rewritten by the resume"


def test_store_matches_in_memory_capture(tiny_model, tmp_path):
    tokens = _tokens()
    mem = capture(tiny_model, tokens, HOOKS, batch_size=6, progress=False)
    store = capture(tiny_model, tokens, HOOKS, batch_size=6, out=tmp_path / "s", tokens_per_shard=70, progress=False)
    assert len(store) == 320 and [s.rows for s in store.shards] == [70, 70, 70, 70, 40]
    for h in HOOKS:
        assert torch.equal(store.rows(h), mem[h])
    assert torch.equal(store.rows(HOOKS[0], 65, 150), mem[HOOKS[0]][65:150])
    meta = store.meta()
    assert torch.equal(meta["token_id"], tokens.reshape(-1))
    assert torch.equal(store.corpus()["tokens"], tokens)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["total_tokens"] == 320 and manifest["d"][HOOKS[1]] == 4 * 16
    store.verify(checksums=True)


def test_resume_after_partial_capture_is_byte_identical(tiny_model, tmp_path):
    tokens = _tokens()
    capture(tiny_model, tokens, HOOKS, batch_size=6, out=tmp_path / "full", tokens_per_shard=70, progress=False)
    part = capture(tiny_model, tokens, HOOKS, batch_size=6, out=tmp_path / "part", tokens_per_shard=70,
                   progress=False, max_batches=2)  # 192 rows: 2 shards committed, 52 rows lost
    assert len(part.shards) == 2 and not part.manifest["complete"]
    before = stamp(tmp_path / "part", [s.file for s in part.shards])
    seen = record_forwards(tiny_model)
    capture(tiny_model, tokens, HOOKS, batch_size=6, out=tmp_path / "part", tokens_per_shard=70, progress=False)
    # only the batches past the committed rows ran: sequences 6-19 (140 rows = 8.75 sequences done), not 0-5
    ran = seq_ids(seen, tokens)
    assert ran == pending_batches(140, 16, 20, 6) == [list(range(6, 12)), list(range(12, 18)), [18, 19]]
    untouched(tmp_path / "part", before)  # the committed shards were kept, not rewritten
    assert _files(tmp_path / "part") == _files(tmp_path / "full")


def test_different_settings_refuse_to_overwrite(tiny_model, tmp_path):
    tokens = _tokens()
    capture(tiny_model, tokens, HOOKS, out=tmp_path / "s", progress=False)
    with pytest.raises(StoreError, match="different settings"):
        capture(tiny_model, tokens, HOOKS[:1], out=tmp_path / "s", progress=False)


def test_a_capture_stopped_before_its_first_shard_leaves_nothing_to_mix_up(tiny_model, tmp_path):
    """Killed before its first shard: no manifest, so a capture of other data into the folder starts afresh."""
    first, other = _tokens(), (_tokens() + 1) % 50
    capture(tiny_model, first, HOOKS, batch_size=6, out=tmp_path / "s", tokens_per_shard=1000, progress=False,
            max_batches=1)
    (tmp_path / "s" / "manifest.json").unlink()  # as a kill before the first shard leaves it: the corpus, no manifest
    store = capture(tiny_model, other, HOOKS, batch_size=6, out=tmp_path / "s", tokens_per_shard=1000, progress=False)
    assert torch.equal(store.corpus()["tokens"], other)
    assert torch.equal(store.meta()["token_id"], other.reshape(-1))


def test_resume_refuses_a_model_that_changed_shape(tiny_model, tmp_path):
    """Same spec, other row width (a local checkpoint retrained wider): the old shards cannot be continued."""
    tokens = _tokens()
    part = capture(tiny_model, tokens, HOOKS, batch_size=6, out=tmp_path / "s", tokens_per_shard=70,
                   progress=False, max_batches=2)
    m = json.loads((tmp_path / "s" / "manifest.json").read_text())
    m["d"][HOOKS[0]] *= 2
    (tmp_path / "s" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(StoreError, match="changed since the capture began"):
        capture(tiny_model, tokens, HOOKS, batch_size=6, out=tmp_path / "s", tokens_per_shard=70, progress=False)
    assert sorted(p.name for p in (tmp_path / "s").iterdir() if p.name.startswith("shard")) == [s.file for s in part.shards]
    assert not (tmp_path / "s" / ".writer.lock").exists()


KILL_SCRIPT = """
import sys, time, torch
sys.path.insert(0, {tests!r})
from conftest import tiny_config
from interp.models import boot_toy
from interp.hooks import capture
model = boot_toy(tiny_config()).eval()
tokens = torch.randint(0, 50, (40, 16), generator=torch.Generator().manual_seed(3))
index = {{tuple(r.tolist()): i for i, r in enumerate(tokens)}}
log = open({log!r}, "a")
def record(mod, args):  # one line per forward pass: the indices of its sequences
    log.write(" ".join(str(index[tuple(r.tolist())]) for r in args[0].cpu()) + "\\n")
    log.flush()
model.embed.register_forward_pre_hook(record)
slow = [("blocks.0.hook_resid_pre", lambda t, hook: time.sleep({delay}))]  # test-only pacing
with model.hooks(fwd_hooks=slow):
    capture(model, tokens, {hooks!r}, batch_size=4, out={out!r}, tokens_per_shard=50, progress=False)
"""


def _run_capture_subprocess(out: Path, delay: float, log: Path | None = None) -> subprocess.Popen:
    code = KILL_SCRIPT.format(tests=str(Path(__file__).resolve().parents[1]), delay=delay, hooks=HOOKS, out=str(out),
                              log=str(log or os.devnull))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_killed_capture_resumes_byte_identical(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert _run_capture_subprocess(full, 0.0).wait(timeout=120) == 0
    proc = _run_capture_subprocess(killed, 0.15)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until at least 3 shards are committed, then kill -9 mid-capture
        m = killed / "manifest.json"
        if m.exists() and len(json.loads(m.read_text())["shards"]) >= 3:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    manifest = json.loads((killed / "manifest.json").read_text())
    assert not manifest["complete"] and 3 <= len(manifest["shards"]) < 13
    before = stamp(killed, [s["file"] for s in manifest["shards"]])
    log = tmp_path / "forwards.txt"
    assert _run_capture_subprocess(killed, 0.0, log).wait(timeout=120) == 0
    leftovers = {p.name for p in killed.iterdir()} - {p.name for p in full.iterdir()}
    assert not leftovers or all(n.endswith(".tmp") for n in leftovers)
    ran = [[int(i) for i in line.split()] for line in log.read_text().splitlines()]
    done = sum(s["rows"] for s in manifest["shards"])
    assert ran == pending_batches(done, 16, 40, 4) and len(ran) < 10  # only the batches after the committed rows
    untouched(killed, before)  # the shards committed before the kill were kept, not rewritten
    for p in full.iterdir():
        assert (killed / p.name).read_bytes() == p.read_bytes(), p.name


@pytest.fixture
def small_store(tiny_model, tmp_path) -> Path:
    capture(tiny_model, _tokens(), HOOKS, batch_size=8, out=tmp_path / "s", tokens_per_shard=64, progress=False)
    return tmp_path / "s"


def test_truncated_shard_is_named(small_store):
    shard = small_store / "shard_00002.safetensors"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(StoreError, match="shard_00002.safetensors"):
        ActivationStore(small_store)


def test_flipped_bytes_fail_on_first_read_and_resume_rebuilds_the_shard(tiny_model, small_store):
    good = _files(small_store)
    stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in small_store.glob("shard_*")}
    shard = small_store / "shard_00001.safetensors"
    data = bytearray(shard.read_bytes())
    data[-7] ^= 0xFF  # same size: only the checksum can tell
    shard.write_bytes(bytes(data))
    store = ActivationStore(small_store)  # the size check on open passes
    assert torch.equal(store.rows(HOOKS[0], 0, 10), ActivationStore(small_store, verify="none").rows(HOOKS[0], 0, 10))
    with pytest.raises(StoreError, match=r"shard_00001.safetensors fails its xxh3_128 checksum.*capture --resume"):
        store.rows(HOOKS[0])  # the first read of shard 1
    with pytest.raises(StoreError, match="shard_00001.safetensors fails"):
        ActivationStore(small_store, verify="checksum")
    shard.unlink()  # what the error says to do, then resume
    with pytest.warns(UserWarning, match=r"shard_00001.safetensors is missing.*shards 1\.\.4 are captured again"):
        capture(tiny_model, _tokens(), HOOKS, batch_size=8, out=small_store, tokens_per_shard=64, progress=False)
    assert _files(small_store) == good
    assert (small_store / "shard_00000.safetensors").stat().st_ino == stamps["shard_00000.safetensors"][0]
    assert (small_store / "shard_00000.safetensors").stat().st_mtime_ns == stamps["shard_00000.safetensors"][1]


def test_a_shard_checked_in_the_background_never_hands_out_bad_rows(small_store):
    store = ActivationStore(small_store)
    bad = 3
    lo, hi = int(store._offsets[bad]), int(store._offsets[bad + 1])
    bad_rows = {(int(a), int(b)) for a, b in zip(store.seq_ids()[lo:hi], store.seq_positions()[lo:hi])}
    shard = small_store / f"shard_0000{bad}.safetensors"
    data = bytearray(shard.read_bytes())
    data[-40] ^= 0x10
    shard.write_bytes(bytes(data))
    store = ActivationStore(small_store)
    seen = []
    with pytest.raises(StoreError, match=f"shard_0000{bad}.safetensors fails its xxh3_128 checksum"):
        for batch in store.iter_batches(16, hooks=HOOKS[0], shuffle=False, buffer_shards=1, with_meta=True):
            seen += list(zip(batch["seq_id"].tolist(), batch["seq_pos"].tolist()))
    assert len(seen) == lo and not set(seen) & bad_rows  # every row before the bad shard, none from it


def test_every_store_file_has_the_same_mode(small_store):
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in small_store.iterdir()}
    assert len(set(modes.values())) == 1, modes  # the corpus file is not owner-only while the shards are not


def test_version_1_stores_with_sha256_still_verify(small_store):
    import hashlib

    m = json.loads((small_store / "manifest.json").read_text())
    m["version"] = 1
    for s in m["shards"]:
        del s["checksum"]
        s["sha256"] = hashlib.sha256((small_store / s["file"]).read_bytes()).hexdigest()
    (small_store / "manifest.json").write_text(json.dumps(m))
    ActivationStore(small_store, verify="checksum").rows(HOOKS[0])
    shard = small_store / "shard_00002.safetensors"
    data = bytearray(shard.read_bytes())
    data[-3] ^= 0x01
    shard.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="shard_00002.safetensors fails its sha256 checksum"):
        ActivationStore(small_store).rows(HOOKS[0])


def test_mismatched_manifest_is_named(small_store):
    m = json.loads((small_store / "manifest.json").read_text())
    m["d"]["blocks.0.hook_resid_post"] = 31
    (small_store / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(StoreError, match="shard_00000.safetensors.*blocks.0.hook_resid_post"):
        ActivationStore(small_store)
    (small_store / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="manifest.json"):
        ActivationStore(small_store)


def test_missing_store_explains(tmp_path):
    with pytest.raises(StoreError, match="not an activation store"):
        ActivationStore(tmp_path)


def test_shuffled_batches_cover_every_row_once(small_store):
    store = ActivationStore(small_store)
    seen = []
    for batch in store.iter_batches(50, hooks=HOOKS[0], buffer_shards=2, seed=1, with_meta=True):
        assert batch[HOOKS[0]].shape[1] == 32
        seen.append(batch["seq_id"] * 100 + batch["seq_pos"])
    seen = torch.cat(seen)
    assert len(seen) == len(store) and len(set(seen.tolist())) == len(store)
    assert not torch.equal(seen, torch.sort(seen).values)  # actually shuffled
    ranks = [torch.cat([b["seq_id"] * 100 + b["seq_pos"] for b in store.iter_batches(32, rank=r, world_size=2, with_meta=True)])
             for r in range(2)]
    assert not set(ranks[0].tolist()) & set(ranks[1].tolist())
    assert len(ranks[0]) + len(ranks[1]) == len(store)


def test_half_precision_store(tiny_model, tmp_path):
    tokens = _tokens(4)
    mem = capture(tiny_model, tokens, HOOKS[:1], progress=False)
    store = capture(tiny_model, tokens, HOOKS[:1], out=tmp_path / "bf", dtype="bfloat16", progress=False)
    assert store.dtype == torch.bfloat16
    assert torch.equal(store.rows(HOOKS[0]), mem[HOOKS[0]].to(torch.bfloat16))


def test_rows_are_located_in_their_documents(minilm, tmp_path):
    from interp.datasets import tokenize_corpus

    texts = ["Alpha beta gamma delta. " * 12, "One two three.", "Red green blue yellow. " * 9]
    corpus = tokenize_corpus(minilm.tokenizer, texts, seq_len=24)
    store = capture(minilm, corpus, ["blocks.0.hook_resid_post"], out=tmp_path / "s", tokens_per_shard=40, progress=False)
    meta = store.meta()
    doc_tokens = [minilm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    content = meta["doc_pos"] >= 0
    assert int((~content).sum()) == 2 * len(corpus)  # one [CLS] and one [SEP] per sequence
    for tok, doc, pos in zip(meta["token_id"][content], meta["doc_id"][content], meta["doc_pos"][content]):
        assert doc_tokens[int(doc)][int(pos)] == int(tok)
    assert sorted(set(meta["doc_pos"][content & (meta["doc_id"] == 1)].tolist())) == list(range(len(doc_tokens[1])))
