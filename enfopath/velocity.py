"""Adapters from networks with other calling and time conventions to ``velocity(t, x)``.

:func:`enfopath.energy.sample_with_energy` integrates ``velocity(t, x)`` with t a 0-d tensor in
[0, 1] (noise at 0, data at 1) and x of shape (B, ...). Networks are called in one of
:data:`CONVENTIONS`: ``t_x`` = ``model(t, x)`` (torchcfm's UNet, our MLP, torchdiffeq), ``x_t`` =
``model(x, t)`` with t of shape (B,) (facebookresearch/flow_matching's ``ModelWrapper``, an
unconditional DiT), ``x_t_y`` = ``model(x, t, y)`` with class labels y (SiT / DiT). Their time
may run the other way or on another scale (:class:`TimeConvention`, ``docs/science.md`` §1).
This module is the one place where all that is translated, where classifier-free guidance is
applied, and where the network may run under bf16 autocast while the state (hence the energy)
stays float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from enfopath.shaping import SHAPING_GAINS, mean_gain

PRECISIONS = ("fp32", "bf16")
CALLS = {"t_x": "model(t, x)", "x_t": "model(x, t)", "x_t_y": "model(x, t, y)"}
"""How a network is called in each convention: model(t, x), model(x, t) or model(x, t, y)."""
CONVENTIONS = tuple(CALLS)
DIRECTIONS = ("noise_to_data", "data_to_noise")
"""Which end of the network's own time is noise."""


@dataclass(frozen=True)
class TimeConvention:
    """A network's time, mapped onto ours (t ∈ [0, 1], noise at 0, data at 1).

    ``data_to_noise``: the network's time s = 1 − t runs from data to noise, so its velocity
    u = dx/ds is negated: dx/dt = −u(x, 1 − t). ``scale``: the network takes s · scale (e.g.
    1000) as its time input; its velocity is per unit of s ∈ [0, 1], as such models are trained.
    The identity (``noise_to_data``, scale 1) passes t and v through untouched (bit for bit).
    """

    direction: str = "noise_to_data"
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"time direction {self.direction!r}: expected one of {DIRECTIONS}")
        if not self.scale > 0:
            raise ValueError(f"time scale {self.scale!r}: expected a number > 0")

    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        """The network's time input for our time t."""
        s = 1.0 - t if self.direction == "data_to_noise" else t
        return s if self.scale == 1.0 else s * self.scale

    def velocity(self, v: torch.Tensor) -> torch.Tensor:
        """dx/dt in our time from the network's output."""
        return -v if self.direction == "data_to_noise" else v


@contextlib.contextmanager
def network_precision(device: torch.device, precision: str) -> Iterator[None]:
    """Run the enclosed network call in ``precision`` (``fp32``, or ``bf16`` autocast)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        yield


class OutputError(ValueError):
    """A velocity (or network) output that is not a floating tensor of x's shape on x's device;
    ``what`` says which: ``type``, ``shape``, ``dtype`` or ``device``."""

    def __init__(self, message: str, what: str) -> None:
        super().__init__(message)
        self.what = what


def check_output(v: object, x: torch.Tensor, call: str, batch: int | None = None) -> None:
    """Raise :class:`OutputError` naming ``call`` unless ``v`` is a floating tensor of x's shape
    (with ``batch`` rows instead of x's when given: a guided call on a doubled batch) on x's
    device.

    Checked on the raw output, before any cast: an integer velocity cast to float would pass
    unnoticed. Shape, dtype and device are metadata: the check never synchronises a GPU.
    """
    shape = tuple(x.shape) if batch is None else (batch, *x.shape[1:])
    if not isinstance(v, torch.Tensor):
        raise OutputError(
            f"{call} must return a tensor of shape {shape}, got {type(v).__name__}", "type"
        )
    if tuple(v.shape) != shape:
        raise OutputError(
            f"{call} returned shape {tuple(v.shape)}, expected {shape} (x's shape; a transposed "
            "or flattened result would give a wrong KPE)",
            "shape",
        )
    if not v.is_floating_point():
        raise OutputError(f"{call} returned dtype {v.dtype}; expected a floating dtype", "dtype")
    if v.device != x.device:
        raise OutputError(f"{call} returned a tensor on {v.device}; x is on {x.device}", "device")


def _batch_times(t: torch.Tensor, batch: int) -> torch.Tensor:
    """t as a (batch,) tensor (a 0-d t repeated)."""
    return t.reshape(-1).expand(batch) if t.numel() == 1 else t.reshape(batch)


@dataclass
class NetworkVelocity:
    """An unconditional network as ``velocity(t, x)``: called as ``model(t, x)`` (``t_x``, t as
    given) or ``model(x, t)`` (``x_t``, t of shape (B,)), its time mapped by ``time``, the
    output cast back to the state's dtype."""

    model: nn.Module
    precision: str = "fp32"
    convention: str = "t_x"
    time: TimeConvention = TimeConvention()

    def __post_init__(self) -> None:
        if self.convention not in ("t_x", "x_t"):
            raise ValueError(
                f"convention {self.convention!r}: an unconditional network is called as t_x "
                "or x_t (x_t_y takes labels: GuidedVelocity)"
            )

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        s = self.time.model_time(t)
        with network_precision(x.device, self.precision):
            if self.convention == "t_x":
                v = self.model(s, x)
            else:
                v = self.model(x, _batch_times(s, x.shape[0]))
        check_output(v, x, CALLS[self.convention])
        return self.time.velocity(v.to(x.dtype))


@dataclass
class GuidedVelocity:
    """Class-conditional ``model(x, t, y)`` with classifier-free guidance.

    v = v(x, t, ∅) + scale · (v(x, t, y) − v(x, t, ∅)) on the first ``guided_channels``
    channels; the remaining channels keep the conditional velocity v(x, t, y). SiT's own
    sampler guides 3 of the 4 latent channels this way; ``guided_channels = None`` guides all.
    ``scale = 1`` is the plain conditional velocity (one network call, no null class).
    This guided velocity is the one integrated and the one whose energy is measured.
    """

    model: nn.Module
    labels: torch.Tensor
    """(B,) int64 class of each sample of the batch."""
    scale: float
    null_class: int
    guided_channels: int | None = None
    precision: str = "fp32"
    time: TimeConvention = TimeConvention()

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        tt = _batch_times(self.time.model_time(t), x.shape[0])
        with network_precision(x.device, self.precision):
            if self.scale == 1.0:
                v = self.model(x, tt, self.labels)
                check_output(v, x, CALLS["x_t_y"])
                return self.time.velocity(v.to(x.dtype))
            null = torch.full_like(self.labels, self.null_class)
            both = self.model(
                torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([self.labels, null])
            )
        check_output(both, x, CALLS["x_t_y"], batch=2 * x.shape[0])
        cond, uncond = both.to(x.dtype).chunk(2)
        guided = uncond + self.scale * (cond - uncond)
        c = self.guided_channels
        if c is not None and c < x.shape[1]:
            guided = torch.cat([guided[:, :c], cond[:, c:]], dim=1)
        return self.time.velocity(guided)


@dataclass(frozen=True)
class FlowSpec:
    """What a flow is, to the solver: one sample's state ``shape``, how its network is
    ``call``-ed (:data:`CALLS`), its ``time`` convention, and for a class-conditional flow
    (``x_t_y``) its ``num_classes`` (its null class is this index). Every flow has one: the
    registered models' from :data:`enfopath.models.networks.REGISTERED`, the user's from its
    ``flow.plugin`` section; :meth:`velocity` is the one route from a network to
    ``velocity(t, x)``."""

    shape: tuple[int, ...]
    call: str = "t_x"
    time: TimeConvention = TimeConvention()
    num_classes: int | None = None

    def __post_init__(self) -> None:
        if self.call not in CALLS:
            raise ValueError(f"convention {self.call!r}: expected one of {CONVENTIONS}")
        if (self.call == "x_t_y") != (self.num_classes is not None):
            raise ValueError(
                f"convention {self.call!r} with num_classes {self.num_classes}: a "
                "class-conditional network (x_t_y) has classes, an unconditional one has none"
            )
        if not self.shape or any(int(s) < 1 for s in self.shape):
            raise ValueError(f"state shape {list(self.shape)}: expected sizes ≥ 1")

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def velocity(
        self,
        network: nn.Module,
        labels: torch.Tensor | None = None,
        guidance_scale: float = 1.0,
        guided_channels: int | None = None,
        precision: str = "fp32",
    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``network`` as ``velocity(t, x)`` in our conventions; a class-conditional one for
        the batch's ``labels`` (B,), guided with the null class ``num_classes``."""
        if not self.conditional:
            return NetworkVelocity(network, precision, self.call, self.time)
        if labels is None:
            raise ValueError("a class-conditional flow needs the labels of the batch")
        return GuidedVelocity(
            network,
            labels,
            guidance_scale,
            null_class=int(self.num_classes),  # type: ignore[arg-type]
            guided_channels=guided_channels,
            precision=precision,
            time=self.time,
        )


@dataclass(frozen=True)
class KineticShaping:
    """Kinetic Trajectory Shaping (docs/science.md §7): integrate dx/dt = η(t) v(x, t), the
    model still queried at the nominal t, so the energy carried in the state is the shaped
    ½∫η²‖v‖²dt. η = 1 + α₀ (1 − t/τ) before τ (a linear launch) and
    1 − β₀ (exp(k (t − τ)/(1 − τ)) − 1) from τ on (an exponential soft landing).

    ``gain = "constant"`` is KTS's control: η(t) ≡ c = ∫₀¹η dt (:attr:`mean_eta`), the same
    total gain without the shaping, so what KTS changes beyond a uniformly slower (c < 1) or
    faster integration is what it changes beyond this control. α₀ = β₀ = 0 is off (c = 1
    too): :meth:`shape` then returns the velocity itself (bit-identical)."""

    alpha0: float = 0.0
    beta0: float = 0.0
    switch_time: float = 0.6
    """τ: where the launch ends and the landing starts."""
    landing_sharpness: float = 3.0
    """k: the sharpness of the exponential landing."""
    gain: str = "shaped"

    def __post_init__(self) -> None:
        if self.gain not in SHAPING_GAINS:
            raise ValueError(f"sampling.kts.gain must be one of {SHAPING_GAINS}, not {self.gain!r}")

    @classmethod
    def from_config(cls, section: dict[str, float] | None) -> KineticShaping:
        """From a validated config's ``sampling.kts`` section (None: off)."""
        return cls(**(section or {}))

    @property
    def off(self) -> bool:
        return self.alpha0 == 0.0 and self.beta0 == 0.0

    @property
    def mean_eta(self) -> float:
        """∫₀¹η dt (:func:`enfopath.shaping.mean_gain`)."""
        return mean_gain(self.alpha0, self.beta0, self.switch_time, self.landing_sharpness)

    def eta(self, t: torch.Tensor) -> torch.Tensor:
        """η(t), same shape and dtype as t (the constant :attr:`mean_eta` for the control)."""
        if self.gain == "constant":
            return torch.full_like(t, self.mean_eta)
        tau, k = self.switch_time, self.landing_sharpness
        launch = 1.0 + self.alpha0 * (1.0 - t / tau)
        landing = 1.0 - self.beta0 * (torch.exp(k * (t - tau) / (1.0 - tau)) - 1.0)
        return torch.where(t < tau, launch, landing)

    def shape(self, velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Any:
        """The shaped velocity η(t) v(x, t) (``velocity`` itself when off)."""
        return velocity if self.off else ShapedVelocity(velocity, self)


NO_SHAPING = KineticShaping()
"""KTS off: the velocity as it is."""


@dataclass
class ShapedVelocity:
    """η(t) · velocity(t, x): the velocity integrated (and measured) under KTS."""

    velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    shaping: KineticShaping

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        v = self.velocity(t, x)
        return self.shaping.eta(t).to(v.dtype) * v
