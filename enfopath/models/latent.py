"""The SD-VAE latent space of latent flow models (diffusers' AutoencoderKL).

Images in [-1, 1], shape (B, 3, H, W), map to latents (B, 4, H/8, W/8) multiplied by the scale
factor (0.18215 for the SD VAEs); the flow runs, and the KPE is measured, in that scaled latent.
Only the endpoints x(1) are decoded. Encoding uses the posterior mean (deterministic), which is
what the reference set's latent features need.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

SD_VAE_SCALE = 0.18215
VAE_FILES = ["config.json", "diffusion_pytorch_model.safetensors"]
"""What a diffusers AutoencoderKL directory (sd-vae-ft-ema / -mse) must hold."""

VAE_BATCH = 64
"""Images per batch a VAE encodes when none is configured (``vae.batch_size``'s default)."""


@dataclass(frozen=True)
class VaeSetup:
    """Which SD-VAE and how it is used: its local ``directory`` (config.json + safetensors, as
    the download rule leaves it), the latent ``scale`` factor (``vae.scale``) and the images
    per encoding batch (``vae.batch_size``)."""

    directory: str
    scale: float = SD_VAE_SCALE
    batch_size: int = VAE_BATCH

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"vae.scale must be positive, got {self.scale}")
        if self.batch_size < 1:
            raise ValueError(f"vae.batch_size must be at least 1, got {self.batch_size}")


def load_vae(directory: str | os.PathLike[str], device: torch.device | str = "cpu") -> nn.Module:
    """An AutoencoderKL from a local directory (config.json + safetensors weights), eval mode."""
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(str(directory), local_files_only=True)
    return vae.to(device).eval()


@torch.no_grad()
def encode(vae: nn.Module, images: torch.Tensor, scale: float = SD_VAE_SCALE) -> torch.Tensor:
    """Scaled latent mean of images in [-1, 1]: (B, 3, H, W) → (B, 4, H/8, W/8)."""
    return vae.encode(images).latent_dist.mean * scale


@torch.no_grad()
def decode(vae: nn.Module, latents: torch.Tensor, scale: float = SD_VAE_SCALE) -> torch.Tensor:
    """Images from scaled latents, (B, 4, h, w) → (B, 3, 8h, 8w), nominally in [-1, 1] and not
    clamped (the share of values outside is recorded; see
    :func:`enfopath.measures.images.shard_images`)."""
    return vae.decode(latents / scale).sample
