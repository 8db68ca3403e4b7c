"""The user's own flow model in the study: a factory named by its import path, its calling and
time conventions, its state shape, and its checkpoint (config section ``flow.plugin``).

A factory is ``package.module:function``: called with ``flow.plugin.kwargs``, it returns the
network (an ``nn.Module``). The config's own checks (the form of the import path, that its
module can be found, what the convention needs) run when the DAG is built, in
:mod:`enfopath.study.config`, without importing the user's code. How the network is called
and what its time means are config keys (:mod:`enfopath.velocity`, ``docs/science.md`` §1);
:func:`check_network` calls it once on a small batch of noise before anything is sampled, so
that an import error, a missing attribute, a wrong output shape or a wrong convention is an
error naming the key, raised by the job that builds the study's checkpoint (before any
sampling job).

This module imports torch only: the user's module is imported when its network is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from enfopath.io import ExplainedError
from enfopath.velocity import (
    GuidedVelocity,
    NetworkVelocity,
    TimeConvention,
)

if TYPE_CHECKING:
    from enfopath.energy import Velocity


class PluginError(ExplainedError, ValueError):
    """The user's model cannot be built or called as its config says; the message names the
    ``flow.plugin`` key."""


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
        }

    @property
    def time(self) -> TimeConvention:
        return TimeConvention(self.direction, self.time_scale)

    @property
    def conditional(self) -> bool:
        return self.convention == "x_t_y"


def import_object(path: str, key: str) -> Any:
    """The object at ``package.module:attribute`` (``key`` names the config key in errors)."""
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise PluginError(f"{key}: importing {module_name!r} failed: {err}") from err
    obj: Any = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise PluginError(f"{key}: module {module_name!r} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise PluginError(f"{key}: {path} is not callable")
    return obj


def _build(path: str, kwargs: dict[str, Any], key: str, kwargs_key: str) -> nn.Module:
    factory: Callable[..., Any] = import_object(path, key)
    try:
        network = factory(**kwargs)
    except Exception as err:
        raise PluginError(f"{key}: calling {path}(**{kwargs_key}) failed: {err!r}") from err
    if not isinstance(network, nn.Module):
        raise PluginError(f"{key}: {path} returned {type(network).__name__}, not a torch nn.Module")
    return network


def build_network(spec: PluginSpec) -> nn.Module:
    """The user's network from its factory (fresh weights, before a checkpoint is loaded)."""
    return _build(spec.factory, spec.kwargs, "flow.plugin.factory", "flow.plugin.kwargs")


def network_from_arch(**arch: Any) -> nn.Module:
    """The network of a study checkpoint whose arch is a ``flow.plugin`` section (the entry
    ``plugin`` of :data:`enfopath.models.networks.MODELS`)."""
    return build_network(PluginSpec.from_config(arch))


def build_decoder(spec: PluginSpec) -> nn.Module | None:
    """The user's decoder (state → images in [−1, 1]), None without one."""
    if spec.decoder is None:
        return None
    return _build(
        spec.decoder, spec.decoder_kwargs, "flow.plugin.decoder", "flow.plugin.decoder_kwargs"
    )


def load_weights(network: nn.Module, path: str, key: str | None) -> None:
    """Load a state dict (``weights_only``: no code runs from the file) into ``network``, from
    the checkpoint's entry ``key`` if given; a mismatch names the keys."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise PluginError(
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
    spec: PluginSpec, network: nn.Module, decoder: nn.Module | None, device: torch.device
) -> None:
    """Call the network once as the config says, on 2 samples of noise at t = 0.5 (and labels
    0 and 1 for a class-conditional model), and the decoder on the result: each must return a
    finite floating tensor of the right shape. Raises :class:`PluginError` naming the key."""
    x = torch.randn((2, *spec.shape), generator=torch.Generator().manual_seed(0)).to(device)
    t = torch.tensor(0.5, device=device)
    call = {"t_x": "model(t, x)", "x_t": "model(x, t)", "x_t_y": "model(x, t, y)"}
    velocity = plugin_velocity(spec, network, torch.tensor([0, 1], device=device) % 2)
    try:
        v = velocity(t, x)
    except Exception as err:
        raise PluginError(
            f"flow.plugin.convention: calling the network as {call[spec.convention]} on x of "
            f"shape {tuple(x.shape)} (flow.plugin.shape {list(spec.shape)}) failed: {err!r}"
        ) from err
    if not isinstance(v, torch.Tensor) or v.shape != x.shape:
        got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
        raise PluginError(
            f"flow.plugin.shape: the network called as {call[spec.convention]} returned {got} "
            f"for x of shape {tuple(x.shape)}; a velocity has x's shape (check flow.plugin.shape "
            "and flow.plugin.convention)"
        )
    if not v.is_floating_point() or not torch.isfinite(v).all():
        raise PluginError("flow.plugin.factory: the network's velocity is not finite floating")
    if decoder is not None:
        try:
            images = decoder(x)
        except Exception as err:
            raise PluginError(f"flow.plugin.decoder: decoding a state failed: {err!r}") from err
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or len(images) != 2:
            raise PluginError("flow.plugin.decoder: expected images (B, C, H, W) for B states")


def plugin_velocity(
    spec: PluginSpec,
    network: nn.Module,
    labels: torch.Tensor | None = None,
    guidance_scale: float = 1.0,
    guided_channels: int | None = None,
    precision: str = "fp32",
) -> Velocity:
    """The user's network as ``velocity(t, x)`` in our conventions; a class-conditional one
    (``x_t_y``) for the batch's ``labels``, guided with the null class ``num_classes``."""
    if not spec.conditional:
        return NetworkVelocity(network, precision, spec.convention, spec.time)
    if labels is None:
        raise ValueError("a class-conditional flow needs the labels of the batch")
    return GuidedVelocity(
        network,
        labels,
        guidance_scale,
        null_class=int(spec.num_classes),  # type: ignore[arg-type]
        guided_channels=guided_channels,
        precision=precision,
        time=spec.time,
    )
