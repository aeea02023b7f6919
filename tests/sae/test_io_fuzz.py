"""Malformed SAE ``cfg.json`` files: load_sae loads them or raises SAEFormatError naming the file, nothing else.

A cfg.json comes from downloads and hand edits as often as from save_sae, and the
dashboard loads one live; a TypeError from deep inside loading names neither the
file nor the field, so every variant here must end as a usable SAE or a named error.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from interp.sae import load_sae, save_sae
from interp.sae.io import CFG_FILE, SAEFormatError

from .sae_helpers import make

from conftest import json_with

ODD = [None, True, 0, -3, 1.5, 10**30, "text", "", [], [1, 2], {}, {"a": 1}, float("nan")]
D_IN, D_SAE = 6, 16


def _keys(obj: dict, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a nested dict (("metadata", "interp", "config", "k"), ...)."""
    out = []
    for k, v in obj.items():
        out.append((*prefix, k))
        if isinstance(v, dict):
            out += _keys(v, (*prefix, k))
    return out


def _variants(good: dict) -> list[bytes]:
    native = json_with(good, ("metadata",), {k: v for k, v in good["metadata"].items() if k != "interp"})
    out: list[bytes] = []
    for cfg in (good, native):  # interp-written, and as SAELens would have written it
        for path in _keys(cfg):
            out += [json.dumps(json_with(cfg, path, v)).encode() for v in ODD]
            out.append(json.dumps(json_with(cfg, path[:-1], {k: v for k, v in _get(cfg, path[:-1]).items()
                                                         if k != path[-1]}) if path[:-1] else
                                  {k: v for k, v in cfg.items() if k != path[0]}).encode())  # the key removed
    text = json.dumps(good).encode()
    out += [text[:n] for n in range(0, len(text), 23)]  # truncations
    out += [b"[" * 100_000 + b"]" * 100_000, b'{"metadata": ' + b"{\"a\": " * 50_000 + b"1" + b"}" * 50_001]
    rng = random.Random(0)
    out += [bytes(rng.randrange(256) for _ in range(300)) for _ in range(10)]  # binary
    out += [b"null", b"[]", b"[1, 2]", b"42", b'"topk"', b"\xff\xfe{", b""]
    return out


def _get(obj: dict, path: tuple):
    for k in path:
        obj = obj[k]
    return obj


@pytest.fixture(scope="module")
def sae_folder(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("sae") / "sae"
    save_sae(make("topk", D_IN, D_SAE, k=4, hook="blocks.0.hook_resid_post", model="toy:toylm"), folder)
    return folder, json.loads((folder / CFG_FILE).read_text())


def test_each_malformed_cfg_json_loads_or_is_a_named_error(sae_folder):
    folder, good = sae_folder
    variants = _variants(good)
    assert len(variants) > 300
    outcomes = {"loaded": 0, "refused": 0}
    for data in variants:
        (folder / CFG_FILE).write_bytes(data)
        try:
            sae = load_sae(folder)
        except SAEFormatError as exc:
            assert str(folder / CFG_FILE) in str(exc), (data[:200], exc)
            outcomes["refused"] += 1
            continue
        # what loads must work: the right sizes, and it encodes
        assert (sae.cfg.d_in, sae.cfg.d_sae) == (D_IN, D_SAE)
        assert sae.encode(torch.randn(3, D_IN)).shape == (3, D_SAE)
        outcomes["loaded"] += 1
    assert outcomes["loaded"] > 20 and outcomes["refused"] > 200, outcomes  # both paths exercised


@pytest.mark.parametrize("cfg, says", [
    ([1, 2], "holds a JSON list, not an object"),
    ({"architecture": "topk", "d_in": "6", "d_sae": 16, "k": 4}, "d_in is str"),
    ({"architecture": "topk", "d_in": 6, "d_sae": 16, "k": 4, "metadata": "x"}, "metadata is str"),
    ({"architecture": "topk", "d_in": 6, "d_sae": 16, "k": 99}, "needs 0 < k <= d_sae"),
    ({"architecture": "topk", "d_in": 6, "d_sae": 16, "k": 4, "metadata": {"interp": {"config": []}}},
     "metadata.interp.config is list"),
])
def test_the_error_names_the_field(sae_folder, cfg, says):
    folder, _ = sae_folder
    (folder / CFG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(SAEFormatError, match=says):
        load_sae(folder)
