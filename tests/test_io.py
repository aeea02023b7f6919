"""``interp.io``: the config-key check every ``from_json`` of a training config shares."""

from __future__ import annotations

import pytest

from interp.sae.base import SAEConfig
from interp.sae.trainer import TrainConfig
from interp.transcoders.base import TranscoderConfig
from interp.transcoders.train import TranscoderTrainConfig


@pytest.mark.parametrize("cfg", [
    TrainConfig(sae=SAEConfig(arch="topk", d_in=4, d_sae=8, k=2)),
    TranscoderTrainConfig(transcoder=TranscoderConfig(d_in=4, d_out=4, d_sae=8)),
    TranscoderConfig(d_in=4, d_out=4, d_sae=8),
], ids=lambda c: type(c).__name__)
def test_configs_round_trip_and_refuse_unknown_keys_by_name(cfg):
    cls = type(cfg)
    assert cls.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match=rf"Unknown {cls.__name__} keys \['lr_typo'\]; known keys are .*'seed'"
                       if cls is not TranscoderConfig else r"Unknown TranscoderConfig keys \['lr_typo'\]"):
        cls.from_json({**cfg.to_json(), "lr_typo": 1})
