"""Text-to-image rectified flows served by diffusers (SD3 / 3.5, FLUX.1) in the project's
conventions (docs/science.md §1).

diffusers runs these flows in σ from 1 (noise) to 0 (data): x_σ = (1 − σ) x_data + σ ε, the
transformer predicts u = ε − x_data = dx/dσ, and its pipeline steps x ← x + (σ_next − σ) u
(``FlowMatchEulerDiscreteScheduler.step``). The project's time is t = 1 − σ, so

    dx/dt = v(x, t) = −u(x, σ = 1 − t),    ‖v‖² = ‖u‖²,

and the KPE ½∫₀¹‖v‖²dt is measured in the scaled latent the transformer sees. What differs
between families is data, one :class:`T2IFamily` each in :data:`FAMILIES` (keyed by the
transformer's class, which is how a pipeline folder names its family):

- the timestep the transformer takes: σ·1000 (SD3) or σ (FLUX, which scales inside);
- guidance: classifier-free on a doubled batch (SD3: u = u_∅ + w (u_c − u_∅), the negative
  prompt's embeddings as ∅) or a distilled guidance value embedded in one pass (FLUX.1-dev;
  FLUX.1-schnell has none: ``guidance_embeds`` false in its config);
- packing: FLUX takes the latent (B, C, H, W) as 2 × 2 patches, tokens (B, HW/4, 4C) with their
  position ids; a packing is a permutation of the coordinates, so ‖v‖² and the KPE are those of
  the unpacked latent, which is the state here;
- the σ schedule of N steps that its pipeline sets (:class:`Schedule`): SD3 lets the scheduler
  space its σ and shift them statically (``shift``, 3.0 for SD3.5), FLUX passes
  σ = linspace(1, 1/N, N) and shifts them by a resolution-dependent μ (``calculate_shift`` of
  the image's token count). :func:`pipeline_grid` asks the family's own scheduler for them
  (the reference nobody here wrote), so a fixed-grid study at the pipeline's steps samples on
  exactly the pipeline's nodes, t = 1 − σ; dopri5 ignores the schedule.

The guided velocity is the one integrated and measured, as the paper's ImageNet study does.
Tests hold each family to a hand-written loop over diffusers' own scheduler ``step`` (the loop
of the pipeline's ``__call__``) on tiny random-weight transformers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from enfopath.velocity import TimeConvention, check_output, network_precision

GUIDANCE_KINDS = ("cfg", "embedded")
"""Classifier-free guidance on a doubled batch, or a distilled guidance value embedded."""


@dataclass(frozen=True)
class Schedule:
    """How a family's pipeline sets its scheduler's σ for N steps: ``linspace_sigmas`` passes
    σ = linspace(1, 1/N, N) (else the scheduler spaces them from its own σ_max to σ_min);
    ``dynamic``: always a resolution-dependent shift μ (else only when the scheduler's config
    asks for it, ``use_dynamic_shifting``); ``max_shift``: the pipeline's default for μ's
    ``max_shift`` when the scheduler's config has none."""

    linspace_sigmas: bool
    dynamic: bool
    max_shift: float


@dataclass(frozen=True)
class T2IFamily:
    """One family's conventions (the module docstring): its ``name``, the transformer's time
    (always data to noise; ``time.scale`` 1000 or 1), its ``guidance`` kind
    (:data:`GUIDANCE_KINDS`), the latent's ``packing`` into tokens (2: 2 × 2 patches; 1: none),
    its pipeline's σ :class:`Schedule`, the diffusers ``pipeline`` class a folder of the family
    names, its ``long_tokenizer`` (the T5 component, which truncates at ``max_sequence_length``
    tokens, the pipeline's default; the CLIP tokenizers truncate at their own
    ``model_max_length``)."""

    name: str
    time: TimeConvention
    guidance: str
    packing: int
    schedule: Schedule
    pipeline: str
    long_tokenizer: str
    max_sequence_length: int

    def __post_init__(self) -> None:
        if self.time.direction != "data_to_noise":
            raise ValueError(f"family {self.name}: a diffusers flow runs from data to noise")
        if self.guidance not in GUIDANCE_KINDS:
            raise ValueError(
                f"family {self.name}: guidance {self.guidance!r} not in {GUIDANCE_KINDS}"
            )
        if self.packing not in (1, 2):
            raise ValueError(f"family {self.name}: packing {self.packing} is not 1 or 2")


FAMILIES: dict[str, T2IFamily] = {
    "SD3Transformer2DModel": T2IFamily(
        "sd3",
        TimeConvention("data_to_noise", 1000.0),
        guidance="cfg",
        packing=1,
        schedule=Schedule(linspace_sigmas=False, dynamic=False, max_shift=1.16),
        pipeline="StableDiffusion3Pipeline",
        long_tokenizer="tokenizer_3",
        max_sequence_length=256,
    ),
    "FluxTransformer2DModel": T2IFamily(
        "flux",
        TimeConvention("data_to_noise", 1.0),
        guidance="embedded",
        packing=2,
        schedule=Schedule(linspace_sigmas=True, dynamic=True, max_shift=1.15),
        pipeline="FluxPipeline",
        long_tokenizer="tokenizer_2",
        max_sequence_length=512,
    ),
}
"""The families by their transformer's class name. A new family in a known convention is one
entry (Lumina 2 / Z-Image: time noise to data, the prediction negated; SANA: its own scale)."""


def family_of(transformer: nn.Module) -> T2IFamily:
    """The :class:`T2IFamily` of a diffusers transformer, by its class."""
    name = type(transformer).__name__
    if name not in FAMILIES:
        raise ValueError(f"no text-to-image family for a {name}; known: {sorted(FAMILIES)}")
    return FAMILIES[name]


def latent_shape(transformer: nn.Module, height: int, width: int, vae_scale: int = 8) -> tuple:
    """One sample's state (C, H/8, W/8): the unpacked latent of an image of height × width
    pixels (``vae_scale``: the VAE's downsampling, 2 ** (len(block_out_channels) − 1))."""
    family = family_of(transformer)
    channels = transformer.config.in_channels // family.packing**2
    step = vae_scale * family.packing * _patch(transformer, family)
    if height % step or width % step:
        raise ValueError(
            f"{family.name}: height and width must be multiples of {step}, got {height} × {width}"
        )
    return (channels, height // vae_scale, width // vae_scale)


def _patch(transformer: nn.Module, family: T2IFamily) -> int:
    """Latent pixels per token side beyond the packing (SD3's patch embedding; 1 for FLUX)."""
    return 1 if family.packing > 1 else int(transformer.config.patch_size)


def pack(x: torch.Tensor) -> torch.Tensor:
    """FLUX's packing (``FluxPipeline._pack_latents``): (B, C, H, W) → (B, HW/4, 4C), the
    2 × 2 patches as tokens in row order, a permutation of the coordinates."""
    b, c, h, w = x.shape
    return (
        x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, h * w // 4, 4 * c)
    )


def unpack(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The inverse of :func:`pack`: (B, HW/4, 4C) → (B, C, H, W) of a latent height × width."""
    b, _, d = tokens.shape
    x = tokens.view(b, height // 2, width // 2, d // 4, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, d // 4, height, width)


def token_ids(height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """FLUX's position ids of the packed tokens (``_prepare_latent_image_ids``), (HW/4, 3)."""
    ids = torch.zeros(height // 2, width // 2, 3)
    ids[..., 1] += torch.arange(height // 2)[:, None]
    ids[..., 2] += torch.arange(width // 2)[None, :]
    return ids.reshape(-1, 3).to(device=device, dtype=dtype)


def image_tokens(transformer: nn.Module, shape: tuple[int, ...]) -> int:
    """How many image tokens the transformer sees for one latent ``shape`` (C, H, W): what the
    resolution-dependent shift μ is computed from."""
    family = family_of(transformer)
    side = family.packing * _patch(transformer, family)
    return (shape[1] // side) * (shape[2] // side)


def calculate_shift(
    tokens: int, base_seq_len: int, max_seq_len: int, base_shift: float, max_shift: float
) -> float:
    """The resolution-dependent shift μ of diffusers' pipelines: linear in the token count from
    ``base_shift`` at ``base_seq_len`` to ``max_shift`` at ``max_seq_len`` (``calculate_shift``
    of ``pipeline_flux``, importable there only with transformers)."""
    m = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    return tokens * m + base_shift - m * base_seq_len


def pipeline_sigmas(
    scheduler: Any, transformer: nn.Module, steps: int, shape: tuple[int, ...]
) -> torch.Tensor:
    """The N + 1 σ (float32, from 1 down to 0) that the family's pipeline sets on its
    ``scheduler`` (a ``FlowMatchEulerDiscreteScheduler``) for ``steps`` steps and one latent of
    ``shape``: the scheduler computes them, as the pipeline asks it to."""
    rule = family_of(transformer).schedule
    config = scheduler.config
    kwargs: dict[str, Any] = {}
    if rule.linspace_sigmas and not config.get("use_flow_sigmas", False):
        kwargs["sigmas"] = np.linspace(1.0, 1.0 / steps, steps)
    if rule.dynamic or config.get("use_dynamic_shifting", False):
        kwargs["mu"] = calculate_shift(
            image_tokens(transformer, shape),
            config.get("base_image_seq_len", 256),
            config.get("max_image_seq_len", 4096),
            config.get("base_shift", 0.5),
            config.get("max_shift", rule.max_shift),
        )
    scheduler.set_timesteps(None if "sigmas" in kwargs else steps, device="cpu", **kwargs)
    sigmas = scheduler.sigmas.detach().to(torch.float32).cpu()
    if len(sigmas) != steps + 1 or float(sigmas[-1]) != 0.0:
        raise ValueError(
            f"the scheduler set {len(sigmas)} σ ending at {float(sigmas[-1])}, not "
            f"{steps} steps to σ = 0"
        )
    return sigmas


def pipeline_grid(sigmas: torch.Tensor) -> torch.Tensor:
    """The project's grid t = 1 − σ (float64; 0 … 1 exactly) of a pipeline's σ schedule."""
    t = 1.0 - sigmas.to(torch.float64)
    t[0], t[-1] = 0.0, 1.0
    return t


@dataclass
class Prompts:
    """A batch's prompt embeddings, as the pipeline's ``encode_prompt`` returns them:
    ``embeds`` (B, L, D) (the transformer's ``encoder_hidden_states``), ``pooled`` (B, P)
    (``pooled_projections``) and, for classifier-free guidance, the negative prompt's
    ``negative`` and ``negative_pooled`` of the same shapes."""

    embeds: torch.Tensor
    pooled: torch.Tensor
    negative: torch.Tensor | None = None
    negative_pooled: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.embeds.dim() != 3 or self.pooled.dim() != 2:
            raise ValueError(
                f"prompt embeddings (B, L, D) and pooled (B, P), got "
                f"{tuple(self.embeds.shape)} and {tuple(self.pooled.shape)}"
            )
        if (self.negative is None) != (self.negative_pooled is None):
            raise ValueError("a negative prompt needs both its embeddings and its pooled ones")

    def rows(self, index: torch.Tensor | list[int], device: torch.device | str = "cpu") -> Prompts:
        """The prompts of a batch of samples, row ``index[i]`` for sample i, on ``device``; a
        negative prompt stored once (batch 1) is repeated for each sample."""
        index = torch.as_tensor(index, dtype=torch.long)

        def pick(t: torch.Tensor | None, shared: bool) -> torch.Tensor | None:
            if t is None:
                return None
            t = t.expand(len(index), *t.shape[1:]) if shared else t[index]
            return t.to(device)

        shared = self.negative is not None and self.negative.shape[0] == 1
        return Prompts(
            pick(self.embeds, False),  # type: ignore[arg-type]
            pick(self.pooled, False),  # type: ignore[arg-type]
            pick(self.negative, shared),
            pick(self.negative_pooled, shared),
        )


@dataclass
class T2IVelocity:
    """A text-to-image transformer as ``velocity(t, x)`` for one batch of prompts, in the
    project's conventions (the module docstring): x the unpacked latent (B, C, H, W), the
    transformer run in ``precision`` (the state and energy stay in x's dtype), guided by
    ``guidance`` (SD3: the CFG scale w, > 1 on a doubled batch with the negative prompt;
    FLUX.1-dev: the distilled guidance value; ignored by a transformer without a guidance
    embedding, FLUX.1-schnell)."""

    transformer: nn.Module
    prompts: Prompts
    guidance: float = 1.0
    precision: str = "fp32"

    def __post_init__(self) -> None:
        self.family = family_of(self.transformer)
        cfg = self.family.guidance == "cfg" and self.guidance > 1.0
        if cfg and self.prompts.negative is None:
            raise ValueError(
                f"{self.family.name}: guidance {self.guidance} > 1 is classifier-free "
                "and needs the negative prompt's embeddings"
            )
        self.cfg = cfg

    def __call__(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        sigma = self.family.time.model_time(t).reshape(-1).expand(batch)
        with network_precision(x.device, self.precision):
            u = self._flux(sigma, x) if self.family.packing > 1 else self._sd3(sigma, x)
        check_output(u, x, f"{type(self.transformer).__name__}(hidden_states, timestep, ...)")
        return self.family.time.velocity(u.to(x.dtype))

    def _sd3(self, sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        p = self.prompts
        if not self.cfg:
            return self.transformer(
                hidden_states=x,
                timestep=sigma,
                encoder_hidden_states=p.embeds,
                pooled_projections=p.pooled,
                return_dict=False,
            )[0]
        both = self.transformer(
            hidden_states=torch.cat([x, x]),
            timestep=torch.cat([sigma, sigma]),
            encoder_hidden_states=torch.cat([p.negative, p.embeds]),  # type: ignore[list-item]
            pooled_projections=torch.cat([p.negative_pooled, p.pooled]),  # type: ignore[list-item]
            return_dict=False,
        )[0]
        uncond, cond = both.chunk(2)
        return uncond + self.guidance * (cond - uncond)

    def _flux(self, sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        p = self.prompts
        _, _, h, w = x.shape
        embedded = bool(self.transformer.config.guidance_embeds)
        tokens = self.transformer(
            hidden_states=pack(x),
            timestep=sigma,
            guidance=torch.full((x.shape[0],), float(self.guidance), device=x.device)
            if embedded
            else None,
            pooled_projections=p.pooled,
            encoder_hidden_states=p.embeds,
            txt_ids=torch.zeros(p.embeds.shape[1], 3, device=x.device, dtype=x.dtype),
            img_ids=token_ids(h, w, x.device, x.dtype),
            return_dict=False,
        )[0]
        return unpack(tokens, h, w)
