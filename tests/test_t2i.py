"""Text-to-image flows (SD3, FLUX.1) in the project's conventions, held to diffusers itself: the
project's Euler on the pipeline's own σ schedule against the loop of the pipeline's
``__call__`` over diffusers' ``FlowMatchEulerDiscreteScheduler.step``, on tiny random-weight
transformers built from configs (no weights, no network)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from enfopath.energy import sample_with_energy
from enfopath.grids import explicit_grid
from enfopath.models import tiny_t2i
from enfopath.models.t2i import (
    FAMILIES,
    Prompts,
    T2IFamily,
    T2IVelocity,
    family_of,
    latent_shape,
    pack,
    pipeline_grid,
    pipeline_sigmas,
    unpack,
)
from enfopath.velocity import TimeConvention

diffusers = pytest.importorskip("diffusers")

TOKENS = 5
"""The tiny prompts' tokens (their widths: the tiny transformers', enfopath.models.tiny_t2i)."""


def tiny_sd3() -> torch.nn.Module:
    torch.manual_seed(0)
    return tiny_t2i.sd3_transformer()


def tiny_flux(guidance_embeds: bool = True) -> torch.nn.Module:
    torch.manual_seed(0)
    return tiny_t2i.flux_transformer(guidance_embeds)


sd3_scheduler, flux_scheduler = tiny_t2i.sd3_scheduler, tiny_t2i.flux_scheduler


def prompts(transformer, batch: int, negative: bool = False) -> Prompts:
    """Random prompt embeddings of the widths ``transformer`` takes."""
    g = torch.Generator().manual_seed(1)
    config = transformer.config
    embeds = torch.randn(batch, TOKENS, config.joint_attention_dim, generator=g)
    pooled = torch.randn(batch, config.pooled_projection_dim, generator=g)
    if not negative:
        return Prompts(embeds, pooled)
    return Prompts(embeds, pooled, torch.zeros_like(embeds), torch.zeros_like(pooled))


@torch.no_grad()
def sd3_pipeline_loop(transformer, scheduler, p: Prompts, latents, steps, scale):
    """The denoising loop of ``StableDiffusion3Pipeline.__call__`` (diffusers 0.42), as the
    pipeline writes it, and ½Σ‖u_i‖²(σ_i − σ_{i+1}) along it (hooked on ``scheduler.step``)."""
    scheduler.set_timesteps(steps)  # retrieve_timesteps(scheduler, steps), no dynamic shift
    cfg = scale > 1
    embeds = torch.cat([p.negative, p.embeds]) if cfg else p.embeds
    pooled = torch.cat([p.negative_pooled, p.pooled]) if cfg else p.pooled
    energy = torch.zeros(latents.shape[0], dtype=torch.float64)
    for i, t in enumerate(scheduler.timesteps):
        model_input = torch.cat([latents] * 2) if cfg else latents
        u = transformer(
            hidden_states=model_input,
            timestep=t.expand(model_input.shape[0]),
            encoder_hidden_states=embeds,
            pooled_projections=pooled,
            return_dict=False,
        )[0]
        if cfg:
            uncond, text = u.chunk(2)
            u = uncond + scale * (text - uncond)
        dsigma = float(scheduler.sigmas[i] - scheduler.sigmas[i + 1])
        energy += 0.5 * u.double().pow(2).flatten(1).sum(1) * dsigma
        latents = scheduler.step(u, t, latents, return_dict=False)[0]
    return latents, energy


@torch.no_grad()
def flux_pipeline_loop(transformer, scheduler, p: Prompts, latents, steps, guidance):
    """The denoising loop of ``FluxPipeline.__call__`` (diffusers 0.42) on packed latents, as
    the pipeline writes it (its pack / ids written out: ``FluxPipeline`` imports transformers),
    and ½Σ‖u_i‖²(σ_i − σ_{i+1}) along it."""
    b, c, h, w = latents.shape
    packed = latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    packed = packed.reshape(b, (h // 2) * (w // 2), c * 4)
    ids = torch.zeros(h // 2, w // 2, 3)
    ids[..., 1] = ids[..., 1] + torch.arange(h // 2)[:, None]
    ids[..., 2] = ids[..., 2] + torch.arange(w // 2)[None, :]
    ids = ids.reshape(-1, 3)
    embedded = transformer.config.guidance_embeds
    g = torch.full([1], guidance, dtype=torch.float32).expand(b) if embedded else None
    c_ = scheduler.config  # the pipeline's calculate_shift of the packed token count
    m = (c_.max_shift - c_.base_shift) / (c_.max_image_seq_len - c_.base_image_seq_len)
    mu = packed.shape[1] * m + c_.base_shift - m * c_.base_image_seq_len
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
    energy = torch.zeros(b, dtype=torch.float64)
    for i, t in enumerate(scheduler.timesteps):
        timestep = t.expand(b).to(packed.dtype)
        u = transformer(
            hidden_states=packed,
            timestep=timestep / 1000,
            guidance=g,
            pooled_projections=p.pooled,
            encoder_hidden_states=p.embeds,
            txt_ids=torch.zeros(p.embeds.shape[1], 3),
            img_ids=ids,
            return_dict=False,
        )[0]
        dsigma = float(scheduler.sigmas[i] - scheduler.sigmas[i + 1])
        energy += 0.5 * u.double().pow(2).flatten(1).sum(1) * dsigma
        packed = scheduler.step(u, t, packed, return_dict=False)[0]
    out = packed.view(b, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return out.reshape(b, c, h, w), energy


def project_run(transformer, scheduler, p, x0, steps, guidance):
    sigmas = pipeline_sigmas(scheduler, transformer, steps, tuple(x0.shape[1:]))
    velocity = T2IVelocity(transformer, p, guidance=guidance)
    return sample_with_energy(
        velocity, x0, solver="euler", steps=steps, grid=pipeline_grid(sigmas), profile_points=3
    )


@pytest.mark.parametrize("scale", [1.0, 4.5])
def test_sd3_euler_on_the_pipelines_schedule_is_the_pipelines_own_run(scale):
    transformer, batch, steps = tiny_sd3(), 2, 6
    shape = latent_shape(transformer, 64, 64)
    assert shape == (4, 8, 8)
    x0 = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(2))
    p = prompts(transformer, batch, negative=scale > 1)
    want, want_energy = sd3_pipeline_loop(transformer, sd3_scheduler(), p, x0.clone(), steps, scale)
    got = project_run(transformer, sd3_scheduler(), p, x0, steps, scale)
    torch.testing.assert_close(got.x1, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got.kpe.double(), want_energy, rtol=1e-5, atol=0)
    torch.testing.assert_close(got.kpe_left_riemann.double(), want_energy, rtol=1e-5, atol=0)
    assert not torch.equal(got.x1, x0)


@pytest.mark.parametrize("embedded", [True, False])
def test_flux_euler_on_the_pipelines_schedule_is_the_pipelines_own_run(embedded):
    """FLUX.1-dev (the guidance value embedded) and FLUX.1-schnell (no guidance embedding)."""
    transformer, batch, steps = tiny_flux(embedded), 2, 5
    shape = latent_shape(transformer, 64, 64)
    assert shape == (4, 8, 8)
    x0 = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(3))
    p = prompts(transformer, batch)
    want, want_energy = flux_pipeline_loop(transformer, flux_scheduler(), p, x0.clone(), steps, 3.5)
    got = project_run(transformer, flux_scheduler(), p, x0, steps, 3.5)
    torch.testing.assert_close(got.x1, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got.kpe.double(), want_energy, rtol=1e-5, atol=0)
    other = project_run(transformer, flux_scheduler(), p, x0, steps, 1.0)
    assert torch.equal(other.x1, got.x1) != embedded  # the guidance value matters to dev only


def test_the_schedules_are_the_pipelines_shifted_sigmas():
    """SD3's static shift σ' = 3σ / (1 + 2σ) of the scheduler's own spacing; FLUX's μ of its
    token count on σ = linspace(1, 1/N, N): exp(μ) / (exp(μ) + 1/σ − 1)."""
    import math

    sd3 = pipeline_sigmas(sd3_scheduler(), tiny_sd3(), 4, (4, 8, 8))
    lowest = 3.0 * 1e-3 / (1 + 2.0 * 1e-3)  # the shifted σ of training step 1 of 1000
    base = torch.linspace(1.0, lowest, 4, dtype=torch.float64)
    torch.testing.assert_close(sd3[:-1].double(), 3 * base / (1 + 2 * base), rtol=1e-6, atol=0)
    flux = pipeline_sigmas(flux_scheduler(), tiny_flux(), 4, (4, 8, 8))
    mu = 0.5 + (1.15 - 0.5) / (4096 - 256) * (16 - 256)  # 16 tokens of 2 × 2
    base = torch.linspace(1.0, 0.25, 4, dtype=torch.float64)
    want = math.exp(mu) / (math.exp(mu) + 1 / base - 1)
    torch.testing.assert_close(flux[:-1].double(), want, rtol=1e-6, atol=0)
    for sigmas in (sd3, flux):
        assert float(sigmas[0]) == 1.0 and float(sigmas[-1]) == 0.0
        grid = pipeline_grid(sigmas)
        assert torch.equal(explicit_grid(grid), grid) and float(grid[-1]) == 1.0


def test_packing_is_a_permutation_of_the_latent():
    x = torch.randn(3, 4, 6, 8)
    tokens = pack(x)
    assert tokens.shape == (3, 12, 16)
    assert torch.equal(unpack(tokens, 6, 8), x)
    assert torch.equal(tokens.flatten(1).sort(dim=1).values, x.flatten(1).sort(dim=1).values)


class Dressed(torch.nn.Module):
    """The closed-form field v(x, t) = −(1 + t) x dressed as a family's transformer: it takes
    the family's timestep (σ · scale) and returns its prediction u(x, σ) = −v(x, 1 − σ)
    = (2 − σ) x, on the family's tokens."""

    def __init__(self, family: T2IFamily) -> None:
        super().__init__()
        self.family = family
        self.config = type("Config", (), {"guidance_embeds": False})()

    def forward(self, hidden_states, timestep, **kwargs):
        sigma = timestep / self.family.time.scale
        x = hidden_states
        if self.family.packing > 1:
            assert x.dim() == 3 and kwargs["img_ids"].shape == (x.shape[1], 3)
        return ((2.0 - sigma).reshape(-1, *[1] * (x.dim() - 1)) * x,)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_a_closed_form_flow_dressed_in_each_familys_convention_keeps_its_path_and_energy(
    name, monkeypatch
):
    """Under the family's timestep scale, its time reversal, the sign of its prediction and its
    packing, the velocity integrated is the closed form's: dopri5 and RK4 give the plain
    field's path and energy, and x(1) = x0 e^{−3/2}."""
    import enfopath.models.t2i as t2i

    family = FAMILIES[name]
    monkeypatch.setitem(t2i.FAMILIES, "Dressed", family)
    x0 = torch.randn(2, 4, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    velocity = T2IVelocity(Dressed(family), Prompts(torch.zeros(2, 1, 1), torch.zeros(2, 1)))
    for solver in ("dopri5", "rk4"):
        options = {"solver": solver, "steps": 200, "rtol": 1e-9, "atol": 1e-9}
        got = sample_with_energy(velocity, x0, **options)
        plain = sample_with_energy(lambda t, x: -(1.0 + t) * x, x0, **options)
        torch.testing.assert_close(got.x1, plain.x1, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(got.kpe, plain.kpe, rtol=1e-12, atol=0)
        torch.testing.assert_close(got.x1, x0 * torch.exp(torch.tensor(-1.5)).double())


def test_the_family_of_a_transformer_is_its_class_and_unknown_ones_are_refused():
    assert family_of(tiny_sd3()).name == "sd3" and family_of(tiny_flux()).name == "flux"
    with pytest.raises(ValueError, match=r"no text-to-image family for a Linear; known: \["):
        family_of(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"multiples of 16, got 72 × 64"):
        latent_shape(tiny_sd3(), 72, 64)
    with pytest.raises(ValueError, match=r"a diffusers flow runs from data to noise"):
        dataclasses.replace(FAMILIES["SD3Transformer2DModel"], time=TimeConvention())


def test_classifier_free_guidance_needs_the_negative_prompt():
    with pytest.raises(ValueError, match=r"sd3: guidance 4\.5 > 1 is classifier-free and needs"):
        T2IVelocity(tiny_sd3(), prompts(tiny_sd3(), 1), guidance=4.5)
    T2IVelocity(
        tiny_flux(), prompts(tiny_flux(), 1), guidance=4.5
    )  # FLUX embeds it: no negative prompt


def test_an_explicit_grid_is_checked_and_its_steps_must_agree():
    with pytest.raises(ValueError, match=r"a grid runs from 0 to 1"):
        explicit_grid([0.0, 0.5, 0.9])
    with pytest.raises(ValueError, match=r"node 2 \(0\.4\) is not above node 1 \(0\.5\)"):
        explicit_grid([0.0, 0.5, 0.4, 1.0])
    x0 = torch.randn(2, 3)
    with pytest.raises(ValueError, match=r"a grid of 3 nodes has 2 steps, not 100"):
        sample_with_energy(lambda t, x: -x, x0, solver="euler", grid=[0.0, 0.5, 1.0])
    uniform = sample_with_energy(lambda t, x: -x, x0, solver="heun", steps=4)
    given = sample_with_energy(
        lambda t, x: -x, x0, solver="heun", steps=4, grid=[0.0, 0.25, 0.5, 0.75, 1.0]
    )
    assert torch.equal(uniform.x1, given.x1) and torch.equal(uniform.kpe, given.kpe)
