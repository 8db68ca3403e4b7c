"""Loading and validating a study configuration against ``config.schema.yaml``.

Validation fills in the schema's defaults, then checks what a schema cannot express (sizes
that must divide one another). Every error names the offending config key.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_FILE = "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


def schema() -> dict[str, Any]:
    """The configuration's JSON schema (a dict)."""
    return yaml.safe_load(resources.files("enfopath").joinpath(SCHEMA_FILE).read_text())


def _with_defaults(cls: type[jsonschema.protocols.Validator]) -> Any:
    validate_properties = cls.VALIDATORS["properties"]

    def set_defaults(
        validator: Any, properties: dict[str, Any], instance: Any, sch: dict[str, Any]
    ) -> Iterator[jsonschema.ValidationError]:
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, sch)

    return jsonschema.validators.extend(cls, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft7Validator)


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` in place (defaults filled in) and return it.

    Raises :class:`ConfigError` naming the first offending key.
    """
    error = jsonschema.exceptions.best_match(_Validator(schema()).iter_errors(config))
    if error is not None:
        path = [str(p) for p in error.absolute_path]
        if error.validator == "additionalProperties":
            known = set(error.schema.get("properties", {}))
            unknown = sorted(k for k in error.instance if k not in known)
            keys = ", ".join(f"'{'.'.join([*path, k])}'" for k in unknown)
            raise ConfigError(f"unknown config key {keys}; allowed here: {sorted(known)}")
        key = ".".join(path) or "<top level>"
        raise ConfigError(f"invalid config key '{key}': {error.message}")
    s = config["sampling"]
    if s["n_samples"] % s["shard_size"]:
        raise ConfigError(
            f"invalid config key 'sampling.shard_size': {s['shard_size']} does not divide "
            f"sampling.n_samples = {s['n_samples']}"
        )
    if s["shard_size"] % s["batch_size"]:
        raise ConfigError(
            f"invalid config key 'sampling.batch_size': {s['batch_size']} does not divide "
            f"sampling.shard_size = {s['shard_size']}"
        )
    _check_sources(config)
    config["density"]["k"] = sorted(config["density"]["k"])
    return config


def _fail(key: str, message: str) -> None:
    raise ConfigError(f"invalid config key '{key}': {message}")


def _check_asset(asset: dict[str, Any], key: str) -> None:
    if ("url" in asset) == ("path" in asset):
        _fail(key, "give exactly one of url and path")


def _check_sources(config: dict[str, Any]) -> None:
    """What the schema cannot say: which sections a dataset / model / space needs."""
    data, pretrained = config["data"], config["flow"]["pretrained"]
    spaces, method = config["density"]["spaces"], config["semantics"]["method"]
    if data["dataset"] == "cifar10":
        if "source" not in data:
            _fail("data.source", "dataset cifar10 needs the tarball's url (or path) and md5")
        _check_asset(data["source"], "data.source")
    if data["dataset"] != "cifar10" and "source" in data:
        _fail("data.source", f"only dataset cifar10 is downloaded, not {data['dataset']}")
    if data["dataset"] == "image_folder":
        if "folder" not in data:
            _fail("data.folder", "dataset image_folder needs the folder of class subfolders")
        if pretrained is None:
            _fail("flow.pretrained", "an image_folder dataset needs a pretrained flow")
        for key, uses in (
            ("semantics.method", method == "classifier"),
            ("density.spaces", "classifier" in spaces),
        ):
            if uses:
                _fail(key, "the classifier is trained on array datasets, not on an image_folder")
    if data["class_names"] == "imagenet" and data["dataset"] != "image_folder":
        _fail("data.class_names", "imagenet names index the classes of an image_folder")
    if pretrained is not None:
        _check_asset(pretrained["checkpoint"], "flow.pretrained.checkpoint")
    if "latent" in spaces and not is_latent(config):
        _fail("density.spaces", "the latent space needs a latent flow (flow.pretrained.model sit)")


def is_latent(config: dict[str, Any]) -> bool:
    """Whether the flow runs in the SD-VAE latent (a SiT model)."""
    pretrained = config["flow"]["pretrained"]
    return pretrained is not None and pretrained["model"] == "sit"


def needed_models(config: dict[str, Any]) -> set[str]:
    """The auxiliary models a validated config needs: classifier, clip, vae."""
    spaces = set(config["density"]["spaces"])
    needs = {"clip"} if "clip" in spaces or config["semantics"]["method"] == "clip" else set()
    if "classifier" in spaces or config["semantics"]["method"] == "classifier":
        needs.add("classifier")
    if is_latent(config):
        needs.add("vae")
    return needs


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read config ({err})") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys")
    return validate_config(raw)


def n_shards(config: dict[str, Any]) -> int:
    """Number of trajectory shards of a validated config."""
    return config["sampling"]["n_samples"] // config["sampling"]["shard_size"]
