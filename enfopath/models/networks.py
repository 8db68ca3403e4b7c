"""Small networks for the embedded study (8×8 digit images in [-1, 1]).

The velocity network follows torchcfm's calling convention ``model(t, x)`` (t a 0-d tensor or a
(B,) tensor, x of shape (B, *shape)), so it is a ``velocity`` for
:func:`enfopath.energy.sample_with_energy` as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from enfopath.velocity import FlowSpec


def sinusoidal_embedding(t: torch.Tensor, features: int) -> torch.Tensor:
    """Sinusoidal features of times t ∈ [0, 1], shape (B,) → (B, features) (features even).

    Frequencies are geometric from 0.5 to 32 cycles per unit time: smooth enough in t that an
    adaptive solver is not forced into tiny steps by the embedding itself.
    """
    half = features // 2
    cycles = torch.logspace(math.log10(0.5), math.log10(32.0), half, device=t.device)
    arg = 2.0 * math.pi * t.float()[:, None] * cycles[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


class _TimeBlock(nn.Module):
    """Pre-norm residual MLP block with an additive time embedding."""

    def __init__(self, hidden: int, time_features: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, hidden)
        self.time = nn.Linear(time_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        z = self.fc1(nn.functional.silu(self.norm(h))) + self.time(emb)
        return h + self.fc2(nn.functional.silu(z))


class VelocityMLP(nn.Module):
    """Residual MLP velocity field v(x, t) for small images, called as ``model(t, x)``."""

    def __init__(
        self, shape: list[int], hidden: int = 256, depth: int = 3, time_features: int = 64
    ) -> None:
        super().__init__()
        self.shape = tuple(shape)
        dim = math.prod(self.shape)
        self.time_features = time_features
        self.inp = nn.Linear(dim, hidden)
        self.t_inp = nn.Linear(time_features, hidden)
        self.blocks = nn.ModuleList(_TimeBlock(hidden, time_features) for _ in range(depth))
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, dim)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        t = t.reshape(-1).expand(batch) if t.numel() == 1 else t.reshape(batch)
        emb = sinusoidal_embedding(t, self.time_features).to(x.dtype)
        h = self.inp(x.flatten(1)) + self.t_inp(emb)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(nn.functional.silu(self.norm(h))).reshape(x.shape)


class ClassifierMLP(nn.Module):
    """MLP classifier; ``features(x)`` is its penultimate layer, shape (B, hidden[-1])."""

    def __init__(
        self, shape: list[int], classes: int, hidden: list[int], dropout: float = 0.1
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = math.prod(shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.SiLU(), nn.Dropout(dropout)]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _torchcfm_unet() -> type[nn.Module]:
    from torchcfm.models.unet.unet import UNetModelWrapper

    return UNetModelWrapper


def _sit() -> type[nn.Module]:
    from enfopath.models.sit import SiT

    return SiT


def _empirical() -> type[nn.Module]:
    from enfopath.models.empirical import EmpiricalFlow

    return EmpiricalFlow


def _plugin() -> Callable[..., nn.Module]:
    from enfopath.models.plugin import network_from_arch

    return network_from_arch


MODELS: dict[str, Callable[[], Callable[..., nn.Module]]] = {
    "velocity_mlp": lambda: VelocityMLP,
    "classifier_mlp": lambda: ClassifierMLP,
    # torchcfm's image UNet (its CIFAR-10 release: dim [3, 32, 32], num_channels 128,
    # num_res_blocks 2, channel_mult [1, 2, 2, 2], attention_resolutions "16", num_heads 4,
    # num_head_channels 64, dropout 0.1); called as model(t, x) with t in [0, 1], noise at 0
    "torchcfm_unet": _torchcfm_unet,
    # SiT / DiT latent transformer, called as model(x, t, y) (see enfopath.models.sit)
    "sit": _sit,
    # the empirical flow of a training set (config flow.model empirical), model(t, x)
    "empirical": _empirical,
    # the user's own network (config flow.plugin): its arch is the flow.plugin section
    "plugin": _plugin,
}
"""Registered models by name: each entry returns the class (or factory) when called, importing
its library (torchcfm, timm, the user's module) only then, so a job that builds an MLP never
loads them."""


def _sit_spec(arch: dict[str, Any]) -> FlowSpec:
    size = arch.get("input_size", 32)
    return FlowSpec(
        (arch.get("in_channels", 4), size, size), "x_t_y", num_classes=arch.get("num_classes", 1000)
    )


def _plugin_spec(arch: dict[str, Any]) -> FlowSpec:
    from enfopath.models.plugin import PluginSpec

    return PluginSpec.from_config(arch).flow_spec


REGISTERED: dict[str, Callable[[dict[str, Any]], FlowSpec]] = {
    "velocity_mlp": lambda arch: FlowSpec(tuple(arch["shape"])),
    "torchcfm_unet": lambda arch: FlowSpec(tuple(arch["dim"])),  # model(t, x), t in [0, 1]
    "empirical": lambda arch: FlowSpec(tuple(arch["shape"])),
    "sit": _sit_spec,  # model(x, t, y) in the SD-VAE latent, null class = num_classes
    "plugin": _plugin_spec,  # what the user's flow.plugin section states
}
"""The flow models that generate samples, by registered name: the :class:`FlowSpec` (state
shape, call, time, classes) of a checkpoint's arch. A new family is one entry here (and its
class in :data:`MODELS`)."""


def flow_spec(name: str, arch: dict[str, Any]) -> FlowSpec:
    """The :class:`FlowSpec` of the registered model ``name`` with architecture ``arch``."""
    if name not in REGISTERED:
        raise ValueError(f"model {name!r} generates no samples; flows: {sorted(REGISTERED)}")
    return REGISTERED[name](arch)


def build_model(name: str, arch: dict[str, Any], seed: int | None = None) -> nn.Module:
    """Instantiate a registered model from its architecture keyword arguments.

    With ``seed``, its initial weights come from that seed (the global generator is left as
    it was); without, from the global generator (e.g. before loading a checkpoint).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    cls = MODELS[name]()
    if seed is None:
        return cls(**arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(**arch)


def pick_device(prefer: str = "auto") -> torch.device:
    """CUDA when present (``auto``), else CPU; ``cpu`` / ``cuda`` force one."""
    if prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(prefer)
