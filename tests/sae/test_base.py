"""The architecture registry: each architecture's own config class, old flat configs, CLI options."""

from __future__ import annotations

import dataclasses

import pytest

from interp.sae import SAEConfig, arch_class, arch_options, architectures, make_sae
from interp.sae.base import parse_options

# SAEConfig.to_json() as every architecture wrote it before each had its own config class
OLD_FLAT = {"d_in": 8, "d_sae": 32, "k": 4, "l1_coeff": 3.0, "l0_coeff": 0.5, "k_aux": 6, "aux_coeff": 0.1,
            "jumprelu_threshold": 0.02, "jumprelu_bandwidth": 0.04, "input_scale": 1.5, "hook": "blocks.0.hook_resid_post",
            "model": "toy:toylm", "extra": {}}


def test_each_architecture_has_its_own_config_class():
    assert architectures() == ["batchtopk", "jumprelu", "matryoshka", "relu_l1", "topk"]
    for arch in architectures():
        cfg = SAEConfig(arch=arch, d_in=8, d_sae=32, k=4)
        assert type(cfg) is arch_class(arch).Config and isinstance(cfg, SAEConfig)
        assert set(arch_options(arch)) <= {f.name for f in dataclasses.fields(cfg)}
        assert type(dataclasses.replace(cfg, hook="h")) is type(cfg)
        assert make_sae(cfg).cfg is cfg
    assert arch_options("relu_l1") == {"l1_coeff": 5.0}
    assert set(arch_options("matryoshka")) == {"k_aux", "aux_coeff", "prefixes"}
    with pytest.raises(TypeError, match="l1_coeff"):
        SAEConfig(arch="topk", d_in=8, d_sae=32, k=4, l1_coeff=1.0)  # not a TopK option
    with pytest.raises(ValueError, match="configured by"):
        arch_class("topk").Config(arch="relu_l1", d_in=8, d_sae=32)
    assert type(SAEConfig(arch="unregistered", d_in=1, d_sae=1)) is SAEConfig  # make_sae names the known archs
    with pytest.raises(ValueError, match="Unknown SAE architecture"):
        make_sae(SAEConfig(arch="unregistered", d_in=1, d_sae=1))


@pytest.mark.parametrize("arch", ["relu_l1", "topk", "batchtopk", "jumprelu", "matryoshka"])
def test_old_flat_configs_still_load(arch):
    cfg = SAEConfig.from_json({"arch": arch, **OLD_FLAT})
    assert type(cfg) is arch_class(arch).Config
    assert (cfg.d_in, cfg.d_sae, cfg.k, cfg.input_scale, cfg.hook) == (8, 32, 4, 1.5, "blocks.0.hook_resid_post")
    for name in arch_options(arch):  # its own options keep their saved values
        assert getattr(cfg, name) == OLD_FLAT.get(name), name
    assert SAEConfig.from_json(cfg.to_json()) == cfg
    make_sae(cfg)


def test_old_extra_becomes_fields_and_unknown_keys_are_refused():
    cfg = SAEConfig.from_json({"arch": "matryoshka", **OLD_FLAT, "extra": {"prefixes": [8, 32]}})
    assert cfg.prefixes == [8, 32] and make_sae(cfg).prefixes == [8, 32]
    with pytest.raises(ValueError, match="Unknown SAE config keys.*prefixes"):
        SAEConfig.from_json({"arch": "topk", **OLD_FLAT, "extra": {"prefixes": [8, 32]}})
    with pytest.raises(ValueError, match="Unknown SAE config keys.*colour"):
        SAEConfig.from_json({"arch": "topk", **OLD_FLAT, "colour": "red"})


def test_cli_options_are_typed_by_the_architecture():
    assert parse_options("relu_l1", ["l1_coeff=2"]) == {"l1_coeff": 2.0}
    assert isinstance(parse_options("relu_l1", ["l1_coeff=2"])["l1_coeff"], float)
    assert parse_options("matryoshka", ["prefixes=[4, 32]", "k_aux=null"]) == {"prefixes": [4, 32], "k_aux": None}
    with pytest.raises(ValueError, match="l1_coeff.*topk|one of"):
        parse_options("topk", ["l1_coeff=2"])
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_options("relu_l1", ["l1_coeff"])
    with pytest.raises(ValueError, match="JSON"):
        parse_options("relu_l1", ["l1_coeff=big"])
