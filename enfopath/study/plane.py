"""What a 2-D study can show that an image study cannot: its trajectories and its velocity field
in the plane (for drawing; the KPE itself is the study's, from its own integration).

The paths are the study's first samples, with their own noise (and labels), integrated again
by torchdiffeq's dopri5 to read their positions at many times; the field is the velocity the
study integrates (trajectory shaping included) on a grid, at a few times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torchdiffeq import odeint

from enfopath.study.shards import batch_problem
from enfopath.velocity import NO_SHAPING, KineticShaping

if TYPE_CHECKING:
    from enfopath.models.flows import Flow


@torch.no_grad()
def plane_paths(
    flow: Flow,
    seed: int,
    n: int,
    t_end: float,
    device: torch.device,
    shaping: KineticShaping = NO_SHAPING,
    points: int = 41,
) -> dict[str, np.ndarray]:
    """Positions of samples 0 … n − 1 at ``points`` uniform times of [0, t_end]: ``sample``
    (n,), ``t`` (T,), ``x`` (n, T, 2)."""
    x0, velocity = batch_problem(flow, seed, range(n), device, shaping)
    t = torch.linspace(0.0, t_end, points, dtype=x0.dtype, device=device)
    x = odeint(velocity, x0, t, rtol=1e-6, atol=1e-6, method="dopri5")
    return {
        "sample": np.arange(n, dtype=np.int64),
        "t": t.cpu().double().numpy(),
        "x": x.transpose(0, 1).cpu().float().numpy(),
    }


def field_times(t_end: float, n: int = 5) -> list[float]:
    """The ``n`` times of [0, t_end] at which the figures draw the field: 0, t_end/4, …, t_end."""
    return [t_end * k / (n - 1) for k in range(n)]


@torch.no_grad()
def plane_field(
    flow: Flow,
    times: list[float],
    device: torch.device,
    shaping: KineticShaping = NO_SHAPING,
    extent: float = 1.25,
    points: int = 21,
) -> dict[str, np.ndarray]:
    """The integrated velocity on a ``points`` × ``points`` grid of [−extent, extent]² at each
    of ``times``: ``t`` (T,), ``grid`` (points,), ``v`` (T, points, points, 2) with
    v[k, i, j] at (grid[j], grid[i])."""
    if flow.conditional:
        raise ValueError("the field of a class-conditional flow depends on the class")
    axis = torch.linspace(-extent, extent, points, device=device)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    where = torch.stack([xx.flatten(), yy.flatten()], dim=1)
    velocity = shaping.shape(flow.velocity(None))
    v = [velocity(torch.tensor(t, device=device), where).reshape(points, points, 2) for t in times]
    return {
        "t": np.asarray(times, dtype=np.float64),
        "grid": axis.cpu().double().numpy(),
        "v": torch.stack(v).cpu().float().numpy(),
    }
