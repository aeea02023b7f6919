"""Malformed store ``manifest.json`` files: ActivationStore opens the store or raises StoreError naming the file.

The manifest is the one file of a store that a person edits by hand (to drop a bad
shard before resuming), and the store indexes, sorts and maps what it says; a wrong
type must be a StoreError that names ``manifest.json``, never a TypeError or KeyError
from inside the reader, and a shard ``file`` must never point outside the store.
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import pytest
import torch

from interp.hooks import ActivationStore, StoreError

from conftest import json_with

HOOK = "blocks.0.hook_resid_post"
ODD = [None, True, 0, -1, 1.5, 2**70, "text", "", [], ["x"], [1, 2], {}, {"a": 1}]


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> tuple[Path, dict]:
    """A real two-shard store of the toy LM, and its manifest."""
    import interp.hooks
    from interp.models import load_model

    out = tmp_path_factory.mktemp("store") / "store"
    tokens = torch.randint(1, 50, (4, 8), generator=torch.Generator().manual_seed(0))
    interp.hooks.capture(load_model("toy:toylm", device="cpu"), tokens, [HOOK], out=out, tokens_per_shard=20,
                         progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["shards"]) == 2
    return out, manifest


def _paths(obj, prefix: tuple = ()) -> list[tuple]:
    """Every key / index path in a nested JSON value."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else []
    out = []
    for k, v in items:
        out.append((*prefix, k))
        out += _paths(v, (*prefix, k))
    return out


def _variants(good: dict) -> list[bytes]:
    out = [json.dumps(json_with(good, path, v)).encode() for path in _paths(good) for v in ODD]
    out += [json.dumps({k: v for k, v in good.items() if k != key}).encode() for key in good]  # each key removed
    shard = good["shards"][0]
    out += [json.dumps(json_with(good, ("shards", 0), {k: v for k, v in shard.items() if k != key})).encode()
            for key in shard]
    out += [json.dumps(json_with(good, ("shards", 0, "file"), f)).encode()
            for f in ("../manifest.json", "/etc/passwd", "sub/shard.safetensors", ".", "..", "a\u0000b")]
    out += [json.dumps(json_with(good, ("tokens_file",), f)).encode() for f in ("../x", "/etc/passwd", "..", "")]
    out += [json.dumps(json_with(good, ("d",), {"other": 128})).encode(), json.dumps(json_with(good, ("version",), 99)).encode()]
    text = json.dumps(good).encode()
    out += [text[:n] for n in range(0, len(text), 29)]  # truncations
    out += [b"[" * 100_000 + b"]" * 100_000, b'{"hooks": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"]
    rng = random.Random(0)
    out += [bytes(rng.randrange(256) for _ in range(300)) for _ in range(10)]  # binary
    out += [b"null", b"[]", b"42", b'"interp-activation-store"', b"\xff\xfe{", b""]
    return out


def test_each_malformed_manifest_opens_or_is_a_named_error(store_dir):
    path, good = store_dir
    variants = _variants(good)
    assert len(variants) > 300
    outcomes = {"opened": 0, "refused": 0}
    try:
        for data in variants:
            (path / "manifest.json").write_bytes(data)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "an incomplete capture": a manifest may say so
                    store = ActivationStore(path)
            except StoreError as exc:
                assert str(path / "manifest.json") in str(exc) or str(path) in str(exc), (data[:200], exc)
                outcomes["refused"] += 1
                continue
            # what opens must be readable: every row of its hooks, or a StoreError naming a file of the store
            try:
                for hook in store.hooks:
                    rows = store.rows(hook)  # (an empty store gives a 1-d empty tensor)
                    assert rows.numel() == len(store) * store.d[hook]
                    assert not len(store) or rows.shape[1] == store.d[hook]
            except StoreError as exc:
                assert str(path) in str(exc)
            outcomes["opened"] += 1
    finally:
        (path / "manifest.json").write_text(json.dumps(good))
    assert outcomes["opened"] > 20 and outcomes["refused"] > 200, outcomes  # both paths exercised


@pytest.mark.parametrize("change, says", [
    ({"version": "2"}, "field 'version' is '2', not an integer"),
    ({"hooks": HOOK}, "field 'hooks'"),
    ({"d": {HOOK: "128"}}, "field 'd'"),
    ({"d": {}}, "no width for hooks"),
    ({"dtype": "int8"}, "field 'dtype'"),
    ({"shards": [{"file": "../../x.safetensors", "rows": 1, "bytes": 1, "checksum": "xxh3_128:00"}]},
     "must be a file name inside the store folder"),
    ({"shards": [{"file": "shard_00000.safetensors", "rows": "20", "bytes": 1, "checksum": "xxh3_128:00"}]},
     "'rows' must be a non-negative integer"),
])
def test_the_error_names_the_manifest_and_the_field(store_dir, change, says):
    path, good = store_dir
    (path / "manifest.json").write_text(json.dumps({**good, **change}))
    try:
        with pytest.raises(StoreError, match=says) as err:
            ActivationStore(path)
        assert str(path / "manifest.json") in str(err.value)
    finally:
        (path / "manifest.json").write_text(json.dumps(good))
