"""A flow model ready to sample: its network, calling convention, guidance and decoder.

Unconditional pixel models (our MLP, torchcfm's UNet) integrate in image space; a latent
class-conditional model (SiT) integrates in the scaled SD-VAE latent with classifier-free
guidance, and only its endpoints are decoded to images. Either way the velocity handed to the
solver is ``velocity(t, x)`` in the state space where the KPE is measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from enfopath.checkpoint import load_checkpoint
from enfopath.energy import Velocity
from enfopath.latent import SD_VAE_SCALE, decode, load_vae
from enfopath.models import CONDITIONAL, state_shape
from enfopath.velocity import GuidedVelocity, TimeFirstVelocity


@dataclass
class Flow:
    """A loaded flow model (eval mode, on its device)."""

    model: nn.Module
    shape: tuple[int, ...]
    """Shape of one sample's state (C, H, W): pixels, or the latent of a latent model."""
    num_classes: int | None = None
    """Classes of a class-conditional model (its null class is this index); None: unconditional."""
    guidance_scale: float = 1.0
    guided_channels: int | None = None
    precision: str = "fp32"
    vae: nn.Module | None = None
    vae_scale: float = SD_VAE_SCALE

    @classmethod
    def from_checkpoint(
        cls, model: nn.Module, name: str, arch: dict[str, Any], **options: Any
    ) -> Flow:
        """Wrap a registered model rebuilt from its checkpoint (name, arch)."""
        num_classes = arch.get("num_classes", 1000) if name in CONDITIONAL else None
        return cls(model=model, shape=state_shape(name, arch), num_classes=num_classes, **options)

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def velocity(self, labels: torch.Tensor | None) -> Velocity:
        """The velocity integrated for a batch (its class labels for a conditional model)."""
        if not self.conditional:
            return TimeFirstVelocity(self.model, self.precision)
        if labels is None:
            raise ValueError("a class-conditional flow needs the labels of the batch")
        return GuidedVelocity(
            self.model,
            labels,
            self.guidance_scale,
            null_class=int(self.num_classes),  # type: ignore[arg-type]
            guided_channels=self.guided_channels,
            precision=self.precision,
        )

    @torch.no_grad()
    def images(self, x1: torch.Tensor) -> torch.Tensor | None:
        """Decoded images of latent endpoints, not clamped (None for a pixel model)."""
        if self.vae is None:
            return None
        x1 = torch.nan_to_num(x1, nan=0.0, posinf=0.0, neginf=0.0)
        with torch.autocast(x1.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            return decode(self.vae, x1, self.vae_scale).float()


def load_flow(
    checkpoint: str, device: torch.device, cfg: dict[str, Any], vae: str | None = None
) -> tuple[Flow, dict[str, Any]]:
    """The flow of a study's checkpoint file (verified), ready to sample, and the checkpoint's
    info (model name, arch). ``cfg`` is a job's config slice: ``sampling.precision``, and for a
    class-conditional flow ``guidance`` (scale, guided_channels) and ``vae.scale``; ``vae``:
    the directory of the SD-VAE that decodes a latent flow's endpoints (None: not decoded)."""
    model, info = load_checkpoint(checkpoint, device)
    options: dict[str, Any] = {"precision": cfg["sampling"]["precision"]}
    if "guidance" in cfg:  # in the config slice of a class-conditional (SiT) flow only
        options.update(
            guidance_scale=cfg["guidance"]["scale"],
            guided_channels=cfg["guidance"]["guided_channels"],
        )
    if vae is not None:
        options.update(vae=load_vae(vae, device), vae_scale=cfg["vae"]["scale"])
    return Flow.from_checkpoint(model, info["model"], info["arch"], **options), info
