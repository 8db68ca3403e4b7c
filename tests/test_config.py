"""The config schema: defaults, and bad input named by its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from enfopath.config import ConfigError, load_config, n_shards, validate_config

ROOT = Path(__file__).resolve().parents[1]


def test_default_config_is_valid_and_complete():
    cfg = load_config(ROOT / "config.yaml")
    assert cfg["sampling"]["n_samples"] >= 4096
    assert n_shards(cfg) * cfg["sampling"]["shard_size"] == cfg["sampling"]["n_samples"]
    filled = validate_config({"experiment": "x"})
    assert filled == {**cfg, "experiment": "x"}  # config.yaml states every default


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"sampling": {"solver": "rk45"}}, "sampling.solver"),
        ({"sampling": {"steps": -5}}, "sampling.steps"),
        ({"sampling": {"shard_size": 1000}}, "sampling.shard_size"),
        (
            {"sampling": {"n_samples": 64, "shard_size": 64, "batch_size": 48}},
            "sampling.batch_size",
        ),
        ({"sampling": {"tau": 1.5}}, "sampling.tau"),
        ({"sampling": {"bogus": 1}}, "sampling.bogus"),
        ({"bogus": 1}, "bogus"),
        ({"density": {"spaces": ["inception"]}}, "density.spaces.0"),
        ({"data": {"dataset": "cifar10"}}, "data.source"),
        ({"data": {"dataset": "cifar10", "source": {"url": "u", "path": "p"}}}, "data.source"),
        ({"data": {"dataset": "cifar10", "source": {"url": "u", "md5": "x"}}}, "data.source.md5"),
        ({"data": {"dataset": "image_folder"}}, "data.folder"),
        ({"data": {"dataset": "image_folder", "folder": "/d"}}, "flow.pretrained"),
        ({"density": {"spaces": ["latent"]}}, "density.spaces"),
        ({"flow": {"pretrained": {"model": "sit", "arch": {}}}}, "flow.pretrained"),
        (
            {"flow": {"pretrained": {"model": "sit", "arch": {}, "checkpoint": {}}}},
            "flow.pretrained.checkpoint",
        ),
        ({"semantics": {"method": "inception"}}, "semantics.method"),
        ({"data": {"class_names": "imagenet"}}, "data.class_names"),
        ({"data": {"source": {"url": "u"}}}, "data.source"),
        ({"clip": {"template": "no placeholder"}}, "clip.template"),
        ({"sampling": {"precision": "fp16"}}, "sampling.precision"),
        ({"experiment": "a/b"}, "experiment"),
    ],
)
def test_bad_config_names_the_key(patch, key):
    cfg = {"experiment": "x"}
    for section, value in patch.items():
        cfg[section] = value
    with pytest.raises(ConfigError, match=f"'{key}'"):
        validate_config(cfg)


def test_unreadable_config_names_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_config(path)
    path.write_text(yaml.safe_dump({"seed": 1}))
    with pytest.raises(ConfigError, match="experiment"):
        load_config(path)
