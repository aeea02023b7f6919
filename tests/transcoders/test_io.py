"""Saving and loading transcoders: cfg.json + weights.safetensors per model, named errors for bad folders."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from interp.transcoders import (CLTConfig, CrossLayerTranscoder, TranscoderIOError, load_transcoder, load_transcoders,
                                save_transcoders)
from tests.transcoders.test_base import make as make_plt
from tests.transcoders.test_clt import make as make_clt


def plts():
    out = []
    for layer in (1, 0):  # saved out of order, loaded in layer order
        tc = make_plt("jumprelu" if layer else "topk", skip=True, k=None if layer else 4, seed=layer)
        tc.cfg.layer, tc.cfg.hook_in, tc.cfg.hook_out = layer, f"blocks.{layer}.hook_mlp_in", f"blocks.{layer}.hook_mlp_out"
        out.append(tc)
    return out


def test_per_layer_transcoders_round_trip(tmp_path):
    models = plts()
    save_transcoders(models, tmp_path / "tc")
    assert sorted(p.name for p in (tmp_path / "tc").iterdir()) == ["L0", "L1"]
    meta = json.loads((tmp_path / "tc" / "L1" / "cfg.json").read_text())
    assert meta["format"] == "interp-transcoder" and meta["kind"] == "transcoder" and meta["config"]["layer"] == 1
    assert set(load_file(str(tmp_path / "tc" / "L1" / "weights.safetensors"))) == {"W_enc", "b_enc", "W_dec", "b_dec",
                                                                                  "W_skip", "threshold"}
    loaded = load_transcoders(tmp_path / "tc")
    assert [m.cfg.layer for m in loaded] == [0, 1] and not loaded[0].training
    x = torch.randn(5, 12)
    for m in models:
        twin = loaded[m.cfg.layer]
        assert twin.cfg == m.cfg
        torch.testing.assert_close(twin(x), m(x))
    assert [m.cfg.layer for m in load_transcoders(tmp_path / "tc" / "L1")] == [1]  # one model's folder


def test_a_clt_round_trips(tmp_path):
    clt = make_clt(skip=True)
    save_transcoders(clt, tmp_path / "tc")
    loaded = load_transcoders(tmp_path / "tc")
    assert isinstance(loaded, CrossLayerTranscoder) and loaded.cfg == clt.cfg
    xs = [torch.randn(4, 8) for _ in range(3)]
    for a, b in zip(loaded(xs), clt(xs)):
        torch.testing.assert_close(a, b)
    assert isinstance(load_transcoder(tmp_path / "tc" / "clt"), CrossLayerTranscoder)


def test_bad_folders_are_named_errors(tmp_path):
    with pytest.raises(TranscoderIOError, match="not a folder"):
        load_transcoders(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TranscoderIOError, match="holds no transcoder"):
        load_transcoders(tmp_path / "empty")
    save_transcoders(plts(), tmp_path / "tc")
    (tmp_path / "tc" / "L0" / "weights.safetensors").unlink()
    with pytest.raises(TranscoderIOError, match="has a config but no weights"):
        load_transcoders(tmp_path / "tc")
    (tmp_path / "tc" / "L1" / "cfg.json").write_text("{not json")
    with pytest.raises(TranscoderIOError, match="not valid JSON"):
        load_transcoder(tmp_path / "tc" / "L1")
    other = tmp_path / "other"
    save_transcoders(CrossLayerTranscoder(CLTConfig(n_layers=2, d_in=4, d_out=4, d_sae=8, k=2)), other)
    cfg = json.loads((other / "clt" / "cfg.json").read_text())
    cfg["config"]["d_sae"] = 16  # weights of another shape
    (other / "clt" / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(TranscoderIOError, match="does not hold this transcoder's weights"):
        load_transcoders(other)
    cfg["format"] = "something-else"
    (other / "clt" / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(TranscoderIOError, match="not an interp transcoder config"):
        load_transcoders(other / "clt")
