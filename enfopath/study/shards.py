"""Generating one shard of trajectories with per-sample energies.

Shard s holds the global sample indices s·S … s·S + S − 1 and is cut into batches aligned to the
global index (batch b holds b·B … b·B + B − 1), so a sample meets the same batch-mates, hence
the same dopri5 step sizes, whatever the shard size; its noise comes from its own seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from enfopath.energy import sample_with_energy
from enfopath.seeding import initial_noise
from enfopath.study.energy_grid import ENERGY, EnergyGrid
from enfopath.velocity import NO_SHAPING, KineticShaping

if TYPE_CHECKING:
    from enfopath.models.flows import Flow


SHIFTED = "shifted"
"""``sampling.grid`` naming a text-to-image flow's own σ schedule (its pipeline's shift)."""


@dataclass(frozen=True)
class SamplingConfig:
    """How to integrate (mirrors the ``sampling`` section of the config)."""

    solver: str
    steps: int
    grid: str
    rtol: float
    atol: float
    tau: float
    profile_points: int
    batch_size: int
    t_end: float = 1.0
    kts: KineticShaping = NO_SHAPING
    """Kinetic Trajectory Shaping of the velocity (off by default)."""
    energy: EnergyGrid | None = field(default=None, repr=False)
    """How grid :data:`enfopath.study.energy_grid.ENERGY` is built (the study's calibration);
    None where no job of the study calibrates one."""

    @classmethod
    def from_config(
        cls, sampling: dict[str, Any], energy: EnergyGrid | None = None
    ) -> SamplingConfig:
        """Take the fields from a validated config's ``sampling`` section (and the energy
        grid's calibration, where the job reads one)."""
        own = {f.name for f in fields(cls)} - {"kts", "energy"}
        plain = {name: sampling[name] for name in own}
        return cls(**plain, kts=KineticShaping.from_config(sampling["kts"]), energy=energy)

    def solver_kwargs(self) -> dict[str, object]:
        """The arguments of :func:`sample_with_energy` (all but the batch size, shaping and
        energy grid): grid ``energy`` becomes its nodes at ``steps`` (dopri5 ignores it)."""
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("batch_size", "kts", "energy"):
            kw.pop(name)
        if self.grid == ENERGY:
            if self.energy is None:
                raise ValueError(
                    "sampling.grid energy needs the study's calibration (grids/calibration.npz, "
                    "rule calibrate_grid) in this job"
                )
            kw["grid"] = "uniform" if self.solver == "dopri5" else self.energy.nodes(self.steps)
        return kw

    def flow_kwargs(self, flow: Flow) -> dict[str, object]:
        """:meth:`solver_kwargs` for ``flow``: grid :data:`SHIFTED` becomes the flow's own
        nodes (a text-to-image pipeline's σ schedule, ``flow.schedule_grid``); dopri5, which
        has no grid, ignores it."""
        kw = self.solver_kwargs()
        if self.grid == SHIFTED:
            kw["grid"] = "uniform" if self.solver == "dopri5" else flow.schedule_grid(self.steps)
        return kw


def shard_indices(shard: int, shard_size: int) -> range:
    """Global sample indices of shard ``shard``."""
    return range(shard * shard_size, (shard + 1) * shard_size)


def batches(indices: range, batch_size: int) -> list[range]:
    """Cut ``indices`` into batches aligned to multiples of ``batch_size`` of the global index.

    Only the last batch may be shorter; ``indices`` must start on a batch boundary.
    """
    if indices.start % batch_size:
        raise ValueError(
            f"samples {indices.start}…{indices.stop - 1} do not start on a batch boundary of "
            f"{batch_size}: the shard size must be a multiple of the batch size"
        )
    return [
        range(s, min(s + batch_size, indices.stop))
        for s in range(indices.start, indices.stop, batch_size)
    ]


def batch_labels(flow: Flow, seed: int, batch: range) -> np.ndarray:
    """The label of each sample of ``batch`` (N,) int64: its class (from its own seed) for a
    class-conditional flow, its prompt for a text-to-image flow, −1 for an unconditional
    one (``flow.labels``)."""
    return flow.labels(seed, batch)


def batch_velocity(
    flow: Flow, seed: int, batch: range, device: torch.device
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The flow's own (unshaped) velocity for the samples of ``batch``: conditioned on each
    sample's own label for a class-conditional flow."""
    return labels_velocity(flow, batch_labels(flow, seed, batch), device)


def labels_velocity(
    flow: Flow, labels: np.ndarray, device: torch.device
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The flow's own (unshaped) velocity for samples of ``labels`` (N,) (:func:`batch_labels`,
    any samples in any order): conditioned on them for a class-conditional flow."""
    return flow.velocity(torch.from_numpy(labels).to(device) if flow.conditional else None)


def batch_problem(
    flow: Flow,
    seed: int,
    batch: range,
    device: torch.device,
    shaping: KineticShaping = NO_SHAPING,
) -> tuple[torch.Tensor, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """What integrating the samples of ``batch`` (global indices) starts from: their noise x0
    (N, *flow.shape) on ``device``, each from its own seed, and the velocity of the batch
    (:func:`batch_velocity`) under ``shaping`` (KTS; off by default)."""
    x0 = initial_noise(seed, batch, flow.shape).to(device)
    return x0, shaping.shape(batch_velocity(flow, seed, batch, device))


@torch.no_grad()
def projected_endpoint(
    velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    t: float,
) -> torch.Tensor:
    """x̂₁ = x + (1 − t) v(x, t): where the flow is heading from x at time t, same shape as x.

    For the linear interpolant x_t = (1 − t) x0 + t x1 the marginal velocity is
    v = (E[x1 | x_t] − x_t) / (1 − t), so x̂₁ is the flow's estimate of E[x1 | x_t]; for the
    empirical flow it is the weighted training mean Σⱼ wⱼ x⁽ʲ⁾ the velocity points at. One
    model evaluation of the flow's own (unshaped) velocity; at t = 1 it is x itself, bit for
    bit, and nothing is evaluated.
    """
    if t == 1.0:
        return x
    tt = torch.tensor(t, dtype=x.dtype, device=x.device)
    v = velocity(tt, x.clone(memory_format=torch.contiguous_format))
    return x + (1.0 - t) * v.reshape(x.shape).to(x.dtype)


def generate_shard(
    flow: Flow,
    seed: int,
    indices: range,
    cfg: SamplingConfig,
    device: torch.device,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Sample ``indices`` and return the shard's arrays (numpy, float32 unless stated).

    Arrays: ``sample`` (N,) int64 global index; ``label`` (N,) int64 conditioning class (−1
    for an unconditional flow); ``x0``, ``x1`` (N, *flow.shape) in the state space, never
    clamped (the KPE is the state's); each field of :data:`enfopath.columns.PER_SAMPLE` (N,);
    ``speed_sq`` (N, P); ``kpe_profile`` (N, P) float64, the partial energy E(t_j);
    ``nfe_profile`` (N, P) int64, the batch's model evaluations up to t_j; ``profile_t`` (P,)
    float64; ``nonfinite`` (N,) bool (a non-finite trajectory, or a non-finite decoded image
    of a latent flow); ``nfe``, ``nfe_total`` (N,) int64 (per batch); ``out_of_range`` (N,), the
    share of the image's values outside [-1, 1] (x1 of a pixel flow, the decoded image of a
    latent flow); ``batch_size`` () int64;
    and, for a latent flow, ``image`` (N, 3, H, W) uint8, the decoded endpoints clamped.
    A study stopped at t_end < 1 also holds ``x1_projected`` (N, *flow.shape), the endpoint
    projected to where the flow is heading (:func:`projected_endpoint`, one more model
    evaluation per batch, not counted in ``nfe``), and for a latent flow its decoded
    ``image_projected``.
    ``progress(n, nfe)`` is called after each batch with its size and NFE.
    """
    parts: list[dict[str, np.ndarray]] = []
    for batch in batches(indices, cfg.batch_size):
        x0, velocity = batch_problem(flow, seed, batch, device, cfg.kts)
        res = sample_with_energy(velocity, x0, **cfg.flow_kwargs(flow))
        arrays = res.to_numpy(batch.start)
        arrays["label"] = batch_labels(flow, seed, batch)
        images = flow.images(res.x1)
        arrays["out_of_range"] = out_of_range(res.x1 if images is None else images)
        if images is not None:  # a non-finite image is as unusable as a non-finite trajectory
            arrays["nonfinite"] |= ~torch.isfinite(images.flatten(1)).all(dim=1).cpu().numpy()
            arrays["image"] = to_uint8(images)
        if cfg.t_end < 1.0:
            projected = projected_endpoint(
                batch_velocity(flow, seed, batch, device), res.x1, cfg.t_end
            )
            arrays["x1_projected"] = projected.detach().float().cpu().numpy()
            if images is not None:
                arrays["image_projected"] = to_uint8(flow.images(projected))
        parts.append(arrays)
        if progress is not None:
            progress(len(batch), res.nfe)
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "profile_t"}
    out["profile_t"] = parts[0]["profile_t"]
    out["batch_size"] = np.array(cfg.batch_size, dtype=np.int64)
    return out


def out_of_range(images: torch.Tensor) -> np.ndarray:
    """Share of each image's finite values outside [-1, 1], (N, ...) → (N,) float32 in [0, 1]."""
    flat = images.detach().float().flatten(1)
    outside = (flat.abs() > 1.0) & torch.isfinite(flat)
    return outside.float().mean(dim=1).cpu().numpy()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1] as uint8 (rounded), same shape; a non-finite value becomes 0 (its
    sample is flagged ``nonfinite`` by :func:`generate_shard`, never analysed)."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
