"""Adapters from networks with other calling conventions to ``velocity(t, x)``.

:func:`enfopath.energy.sample_with_energy` integrates ``velocity(t, x)`` with t a 0-d tensor in
[0, 1] (noise at 0, data at 1) and x of shape (B, ...). torchcfm's UNet and our MLP are called
as ``model(t, x)`` already; SiT-style transformers as ``model(x, t, y)`` with t of shape (B,)
and class labels y. This module is the one place where that is translated, where
classifier-free guidance is applied, and where the network may run under bf16 autocast while
the state (hence the energy) stays float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16")


@contextlib.contextmanager
def network_precision(device: torch.device, precision: str) -> Iterator[None]:
    """Run the enclosed network call in ``precision`` (``fp32``, or ``bf16`` autocast)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        yield


@dataclass
class TimeFirstVelocity:
    """``model(t, x)`` (torchcfm convention), the output cast back to the state's dtype."""

    model: nn.Module
    precision: str = "fp32"

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with network_precision(x.device, self.precision):
            v = self.model(t, x)
        return v.to(x.dtype)


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

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        tt = t.reshape(-1).expand(batch) if t.numel() == 1 else t.reshape(batch)
        with network_precision(x.device, self.precision):
            if self.scale == 1.0:
                return self.model(x, tt, self.labels).to(x.dtype)
            null = torch.full_like(self.labels, self.null_class)
            both = self.model(
                torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([self.labels, null])
            )
        cond, uncond = both.to(x.dtype).chunk(2)
        guided = uncond + self.scale * (cond - uncond)
        c = self.guided_channels
        if c is None or c >= x.shape[1]:
            return guided
        return torch.cat([guided[:, :c], cond[:, c:]], dim=1)
