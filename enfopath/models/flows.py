"""A flow model ready to sample: its network, calling convention, guidance and decoder.

Unconditional pixel models (our MLP, torchcfm's UNet) integrate in image space; a latent
class-conditional model (SiT) integrates in the scaled SD-VAE latent with classifier-free
guidance, and only its endpoints are decoded to images; the user's own model (``flow.plugin``,
:mod:`enfopath.models.plugin`) brings its conventions and, optionally, its decoder. Either way
the velocity handed to the solver is ``velocity(t, x)`` in the state space where the KPE is
measured.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from enfopath.energy import Velocity
from enfopath.models.checkpoint import load_checkpoint
from enfopath.models.latent import VaeSetup, decode, load_vae
from enfopath.models.networks import flow_spec
from enfopath.models.plugin import PluginSpec, build_decoder
from enfopath.seeding import sample_labels
from enfopath.velocity import FlowSpec

Decoder = Callable[[torch.Tensor], torch.Tensor]
"""States (B, *shape) → images (B, C, H, W), nominally in [−1, 1] and not clamped."""


@dataclass
class Flow:
    """A loaded flow model (eval mode, on its device)."""

    model: nn.Module
    spec: FlowSpec
    """How the network is called, its time, its state shape and classes."""
    guidance_scale: float = 1.0
    guided_channels: int | None = None
    precision: str = "fp32"
    decoder: Decoder | None = None
    """Decodes the endpoints of a latent flow into images; None for a pixel flow."""

    @classmethod
    def from_checkpoint(
        cls, model: nn.Module, name: str, arch: dict[str, Any], **options: Any
    ) -> Flow:
        """Wrap a registered (or the user's) model rebuilt from its checkpoint (name, arch):
        its spec is the family's (:func:`enfopath.models.networks.flow_spec`)."""
        return cls(model, flow_spec(name, arch), **options)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample's state (C, H, W): pixels, or the latent of a latent model."""
        return self.spec.shape

    @property
    def num_classes(self) -> int | None:
        """Classes of a class-conditional model (its null class is this index); None:
        unconditional."""
        return self.spec.num_classes

    @property
    def conditional(self) -> bool:
        return self.spec.conditional

    def labels(self, seed: int, batch: range) -> np.ndarray:
        """The conditioning class of each sample of ``batch`` (N,) int64, −1 for an
        unconditional flow; sample i's label comes from its own seed."""
        if not self.conditional:
            return np.full(len(batch), -1, dtype=np.int64)
        return sample_labels(seed, batch, int(self.num_classes)).numpy()  # type: ignore[arg-type]

    def schedule_grid(self, steps: int) -> torch.Tensor:
        """A flow's own time grid (``sampling.grid: shifted``): only a text-to-image pipeline
        has one (:meth:`enfopath.models.t2i_pipeline.T2IFlow.schedule_grid`)."""
        raise ValueError(
            f"sampling.grid shifted is a text-to-image pipeline's own σ schedule; the "
            f"{self.spec.call} flow here has none (use uniform or cosine for {steps} steps)"
        )

    def velocity(self, labels: torch.Tensor | None) -> Velocity:
        """The velocity integrated for a batch (its class labels for a conditional model)."""
        return self.spec.velocity(
            self.model, labels, self.guidance_scale, self.guided_channels, self.precision
        )

    @torch.no_grad()
    def images(self, x1: torch.Tensor) -> torch.Tensor | None:
        """Decoded images of latent endpoints, not clamped (None for a pixel model)."""
        if self.decoder is None:
            return None
        x1 = torch.nan_to_num(x1, nan=0.0, posinf=0.0, neginf=0.0)
        with torch.autocast(x1.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            return self.decoder(x1).float()


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance of a class-conditional flow: the ``scale`` w
    (v = v_null + w (v_class − v_null); 1 is the class-conditional velocity unguided) and how
    many state channels it guides (``guided_channels``: the first ones; the rest keep the
    conditional velocity; None: all)."""

    scale: float = 1.0
    guided_channels: int | None = None

    def __post_init__(self) -> None:
        if self.guided_channels is not None and self.guided_channels < 1:
            raise ValueError(
                f"guidance.guided_channels must be at least 1 or null, got {self.guided_channels}"
            )


def load_flow(
    checkpoint: str,
    device: torch.device,
    *,
    precision: str = "fp32",
    guidance: Guidance | None = None,
    vae: VaeSetup | None = None,
) -> tuple[Flow, dict[str, Any]]:
    """The flow of a study's checkpoint file (verified), ready to sample, and the checkpoint's
    info (model name, arch): the network run in ``precision``, a class-conditional flow with
    its ``guidance`` (required for one, refused for an unconditional flow), and ``vae``: the
    SD-VAE that decodes a latent flow's endpoints (None: not decoded). The user's model brings
    its own decoder (``flow.plugin.decoder``)."""
    model, info = load_checkpoint(checkpoint, device)
    spec = flow_spec(info["model"], info["arch"])
    if spec.conditional != (guidance is not None):
        kind = "class-conditional" if spec.conditional else "unconditional"
        need = "needs its guidance" if spec.conditional else "takes no guidance"
        raise ValueError(f"the flow of {checkpoint} ({info['model']}) is {kind}: it {need}")
    options: dict[str, Any] = {"precision": precision}
    if guidance is not None:
        options.update(guidance_scale=guidance.scale, guided_channels=guidance.guided_channels)
    if vae is not None:
        options["decoder"] = functools.partial(
            decode, load_vae(vae.directory, device), scale=vae.scale
        )
    elif info["model"] == "plugin":
        decoder = build_decoder(PluginSpec.from_config(info["arch"]))
        options["decoder"] = None if decoder is None else decoder.to(device).eval()
    return Flow(model, spec, **options), info  # spec: Flow.from_checkpoint's, read once
