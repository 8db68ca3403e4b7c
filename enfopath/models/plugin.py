"""The user's own flow model in the study: a factory named by its import path, its calling and
time conventions, its state shape, and its checkpoint (config section ``flow.plugin``).

A factory is ``package.module:function`` (or a network class): called with
``flow.plugin.kwargs``, it returns the network (an ``nn.Module``). A study file naming a factory
runs that code, as a Snakefile does; what it may name is the policy of
:mod:`enfopath.user_code`, enforced before anything named is called (never the standard
library, a class only if it is an ``nn.Module``, a function only from the user's own code or a
package named in ``flow.plugin.trusted_packages``). The config's own checks (the form of the
import path, that its module can be found and is not the standard library, what the convention
needs) run when the DAG is built, in :mod:`enfopath.study.config`, without importing the user's
code. How the network is called and what its time means are config keys
(:mod:`enfopath.velocity`, ``docs/science.md`` §1); :func:`check_network` calls it once on a
small batch of noise before anything is sampled, so that an import error, a missing attribute,
a wrong output shape, dtype or device, a state or image shape that is not the data set's, or a
wrong convention is an error naming the key, raised by the job that builds the study's
checkpoint (before any sampling job).

This module imports torch only: the user's module is imported when its network is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from enfopath.io import CorruptFileError, ExplainedError, file_digest
from enfopath.user_code import check_factory, check_module_name
from enfopath.velocity import CALLS, FlowSpec, OutputError, TimeConvention


class PluginError(ExplainedError, ValueError):
    """The user's model cannot be built or called as its config says; the message names the
    ``flow.plugin`` key."""


class PluginFileError(PluginError, CorruptFileError):
    """The checkpoint file itself is unreadable as a weights-only torch file (not the config's
    fault): a download of it with no published checksum is deleted, to be fetched again."""


@dataclass(frozen=True)
class PluginSpec:
    """The ``flow.plugin`` section (validated): everything needed to rebuild and call the
    network, stored in the study's checkpoint so that every job calls it the same way."""

    factory: str
    shape: tuple[int, ...]
    convention: str = "t_x"
    kwargs: dict[str, Any] = field(default_factory=dict)
    num_classes: int | None = None
    direction: str = "noise_to_data"
    time_scale: float = 1.0
    decoder: str | None = None
    decoder_kwargs: dict[str, Any] = field(default_factory=dict)
    trusted_packages: tuple[str, ...] = ()
    """Installed packages whose functions may be called as factories (:mod:`enfopath.user_code`)."""
    sources: dict[str, str] = field(default_factory=dict)
    """sha256 of the file of the factory's and the decoder's module when the study's checkpoint
    was built (:func:`module_sources`), checked at every later build; empty in the config."""

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> PluginSpec:
        """From a validated config's ``flow.plugin`` section (or a checkpoint's arch)."""
        time = section.get("time") or {}
        return cls(
            factory=section["factory"],
            shape=tuple(int(s) for s in section["shape"]),
            convention=section.get("convention", "t_x"),
            kwargs=dict(section.get("kwargs") or {}),
            num_classes=section.get("num_classes"),
            direction=time.get("direction", "noise_to_data"),
            time_scale=float(time.get("scale", 1.0)),
            decoder=section.get("decoder"),
            decoder_kwargs=dict(section.get("decoder_kwargs") or {}),
            trusted_packages=tuple(section.get("trusted_packages") or ()),
            sources=dict(section.get("sources") or {}),
        )

    def to_config(self) -> dict[str, Any]:
        """The section again (JSON-able): the arch recorded in the study's checkpoint."""
        return {
            "factory": self.factory,
            "shape": list(self.shape),
            "convention": self.convention,
            "kwargs": self.kwargs,
            "num_classes": self.num_classes,
            "time": {"direction": self.direction, "scale": self.time_scale},
            "decoder": self.decoder,
            "decoder_kwargs": self.decoder_kwargs,
            "trusted_packages": list(self.trusted_packages),
            "sources": self.sources,
        }

    @property
    def time(self) -> TimeConvention:
        return TimeConvention(self.direction, self.time_scale)

    @property
    def conditional(self) -> bool:
        return self.convention == "x_t_y"

    @property
    def flow_spec(self) -> FlowSpec:
        """What the solver needs of this flow (its state, call, time and classes)."""
        return FlowSpec(self.shape, self.convention, self.time, self.num_classes)


def import_object(
    path: str, key: str, trusted: tuple[str, ...] = (), sources: dict[str, str] | None = None
) -> Any:
    """The factory at ``package.module:attribute`` (``key`` names the config key in errors),
    after the policy of :mod:`enfopath.user_code` let a study file call it: the module is
    refused by name before it is imported, the object after import, before any call. With
    ``sources`` (:attr:`PluginSpec.sources`), the module's file must be the one the study's
    checkpoint was built with."""
    module_name, _, attribute = path.partition(":")
    check_module_name(path, key)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise PluginError(f"{key}: importing {module_name!r} failed: {err}") from err
    recorded = (sources or {}).get(module_name)
    if recorded is not None and _source_digest(module) != recorded:
        raise PluginError(
            f"{key}: {module.__file__} changed since the study's checkpoint was built from it "
            f"(sha256 {recorded[:12]}…, now {_source_digest(module)[:12]}…): the network or its "
            "weights may no longer be the ones checked; rebuild the checkpoint and what was "
            "sampled from it with: snakemake --cores all --forcerun plugin_flow (add the "
            "--configfile of this study)"
        )
    obj: Any = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"{key}: module {module_name!r} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    check_factory(obj, path, key, nn.Module, trusted)
    return obj


def _source_digest(module: Any) -> str:
    file = getattr(module, "__file__", None)
    return file_digest(file, "sha256") if file else "no file"


def module_sources(spec: PluginSpec) -> dict[str, str]:
    """sha256 of the (imported) files of the factory's and the decoder's modules: what
    :attr:`PluginSpec.sources` records when the study's checkpoint is built."""
    names = [p.partition(":")[0] for p in (spec.factory, spec.decoder) if p is not None]
    return {name: _source_digest(importlib.import_module(name)) for name in names}


def _build(
    path: str,
    kwargs: dict[str, Any],
    key: str,
    kwargs_key: str,
    trusted: tuple[str, ...],
    sources: dict[str, str],
) -> nn.Module:
    factory: Callable[..., Any] = import_object(path, key, trusted, sources)
    try:
        network = factory(**kwargs)
    except Exception as err:
        raise PluginError(f"{key}: calling {path}(**{kwargs_key}) failed: {err!r}") from err
    if not isinstance(network, nn.Module):
        raise PluginError(f"{key}: {path} returned {type(network).__name__}, not a torch nn.Module")
    return network


def build_network(spec: PluginSpec) -> nn.Module:
    """The user's network from its factory (fresh weights, before a checkpoint is loaded)."""
    return _build(
        spec.factory,
        spec.kwargs,
        "flow.plugin.factory",
        "flow.plugin.kwargs",
        spec.trusted_packages,
        spec.sources,
    )


def network_from_arch(**arch: Any) -> nn.Module:
    """The network of a study checkpoint whose arch is a ``flow.plugin`` section (the entry
    ``plugin`` of :data:`enfopath.models.networks.MODELS`)."""
    return build_network(PluginSpec.from_config(arch))


def build_decoder(spec: PluginSpec) -> nn.Module | None:
    """The user's decoder (state → images in [−1, 1]), None without one."""
    if spec.decoder is None:
        return None
    return _build(
        spec.decoder,
        spec.decoder_kwargs,
        "flow.plugin.decoder",
        "flow.plugin.decoder_kwargs",
        spec.trusted_packages,
        spec.sources,
    )


def load_weights(network: nn.Module, path: str, key: str | None) -> None:
    """Load a state dict (``weights_only``: no code runs from the file) into ``network``, from
    the checkpoint's entry ``key`` if given; a mismatch names the keys. An unreadable file is a
    :class:`PluginFileError`; a missing entry or weights that do not fit the network are the
    config's (a :class:`PluginError`: the file is kept)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise PluginFileError(
            f"flow.plugin.checkpoint: {path} is not a weights-only torch checkpoint: {err}"
        ) from err
    if key is not None:
        if not isinstance(state, dict) or key not in state:
            found = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise PluginError(f"flow.plugin.key: {path} has no entry {key!r} (it has {found})")
        state = state[key]
    try:
        network.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise PluginError(
            f"flow.plugin.checkpoint: the weights of {path} do not fit the network of "
            f"flow.plugin.factory: {err}"
        ) from err


@torch.no_grad()
def check_network(
    spec: PluginSpec,
    network: nn.Module,
    decoder: nn.Module | None,
    device: torch.device,
    image_shape: tuple[int, ...] | None = None,
) -> None:
    """Call the network once as the config says, on 2 samples of noise at t = 0.5 (and labels
    0 and 1 modulo num_classes for a class-conditional model: each a class of the model's),
    and the decoder on the state: the velocity must be a finite floating tensor of the state's
    shape on its device, and the images (the decoder's output, or the state itself without a
    decoder) of the data set's ``image_shape`` (C, H, W) when given. Raises
    :class:`PluginError` naming the key."""
    x = torch.randn((2, *spec.shape), generator=torch.Generator().manual_seed(0)).to(device)
    t = torch.tensor(0.5, device=device)
    call = CALLS[spec.convention]
    labels = torch.arange(2, device=device) % spec.num_classes if spec.conditional else None
    velocity = spec.flow_spec.velocity(network, labels)
    try:
        v = velocity(t, x)
    except OutputError as err:
        key = "flow.plugin.shape" if err.what == "shape" else "flow.plugin.factory"
        raise PluginError(
            f"{key}: the network called as {call} on x of shape {tuple(x.shape)} on {device} "
            f"(flow.plugin.shape {list(spec.shape)}): {err} (check flow.plugin.shape and "
            "flow.plugin.convention)"
        ) from err
    except Exception as err:
        raise PluginError(
            f"flow.plugin.convention: calling the network as {call} on x of "
            f"shape {tuple(x.shape)} (flow.plugin.shape {list(spec.shape)}) failed: {err!r}"
        ) from err
    if not bool(torch.isfinite(v).all()):
        raise PluginError(
            f"flow.plugin.factory: the network called as {call} returned a non-finite velocity "
            "on noise at t = 0.5"
        )
    images = x if decoder is None else _decoded(decoder, x)
    if image_shape is not None and tuple(images.shape[1:]) != tuple(image_shape):
        what = (
            f"flow.plugin.decoder: the decoder's images have shape {list(images.shape[1:])}"
            if decoder is not None
            else f"flow.plugin.shape: the state {list(spec.shape)} is the image (no decoder)"
        )
        raise PluginError(
            f"{what}, but the data set's images have shape {list(image_shape)}: the generated "
            "images are scored and compared with the data set's (check flow.plugin.shape, "
            "flow.plugin.decoder and data.dataset)"
        )


def _decoded(decoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The decoder's images of the states ``x`` (B, ...), checked: a finite floating tensor
    (B, C, H, W) on x's device; raises :class:`PluginError` naming flow.plugin.decoder."""
    try:
        images = decoder(x)
    except Exception as err:
        raise PluginError(f"flow.plugin.decoder: decoding a state failed: {err!r}") from err
    if (
        not isinstance(images, torch.Tensor)
        or images.dim() != 4
        or len(images) != len(x)
        or not images.is_floating_point()
        or images.device != x.device
    ):
        got = (
            f"{images.dtype} {tuple(images.shape)} on {images.device}"
            if isinstance(images, torch.Tensor)
            else type(images).__name__
        )
        raise PluginError(
            f"flow.plugin.decoder: expected floating images (B, C, H, W) on {x.device} for "
            f"{len(x)} states, got {got}"
        )
    if not bool(torch.isfinite(images).all()):
        raise PluginError("flow.plugin.decoder: the decoder's images of noise are not finite")
    return images
