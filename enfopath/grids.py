"""Time grids on [0, 1] for fixed-step ODE solvers and for coarse speed profiles.

Convention (docs/science.md §1): t = 0 is noise, t = 1 is data; every grid starts at 0 and ends
at 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

GRIDS = ("uniform", "cosine")
"""The named grids; any other grid is given by its nodes (:func:`explicit_grid`)."""


def time_grid(
    steps: int, kind: str = "uniform", *, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Return the ``steps + 1`` nodes 0 = t_0 < … < t_steps = 1 of a fixed-step grid.

    ``uniform``: t_i = i / n.  ``cosine``: t_i = ½ (1 − cos(π i / n)), denser near both ends.
    Shape ``(steps + 1,)``; the end points are exactly 0.0 and 1.0.
    """
    if steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    i = torch.arange(steps + 1, dtype=torch.float64)
    if kind == "uniform":
        t = i / steps
    elif kind == "cosine":
        t = 0.5 * (1.0 - torch.cos(math.pi * i / steps))
    else:
        raise ValueError(f"unknown grid {kind!r}; expected one of {GRIDS}")
    t[0], t[-1] = 0.0, 1.0
    return t.to(dtype)


def profile_times(points: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Uniform coarse grid of ``points`` times on [0, 1] (speed profile), shape ``(points,)``."""
    if points < 2:
        raise ValueError(f"a speed profile needs at least 2 points, got {points}")
    return time_grid(points - 1, "uniform", dtype=dtype)


def explicit_grid(nodes: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """The nodes of a grid given as such (float64, shape (n + 1,)), checked: at least two,
    finite, strictly increasing, from exactly 0 to exactly 1. A text-to-image family's own
    schedule is one (:func:`enfopath.models.t2i.pipeline_grid`: t = 1 − σ of its scheduler)."""
    t = torch.as_tensor(nodes, dtype=torch.float64).detach().cpu()
    if t.dim() != 1 or len(t) < 2:
        raise ValueError(f"a grid needs at least two nodes in one dimension, got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError("a grid's nodes must be finite")
    if float(t[0]) != 0.0 or float(t[-1]) != 1.0:
        raise ValueError(f"a grid runs from 0 to 1, got {float(t[0])!r} … {float(t[-1])!r}")
    steps = torch.diff(t)
    if not bool((steps > 0).all()):
        i = int(torch.nonzero(steps <= 0)[0])
        raise ValueError(
            f"a grid's nodes must increase: node {i + 1} ({float(t[i + 1])!r}) "
            f"is not above node {i} ({float(t[i])!r})"
        )
    return t


def quantile_grid(
    times: Sequence[float] | torch.Tensor,
    density: Sequence[float] | torch.Tensor,
    steps: int,
) -> torch.Tensor:
    """The ``steps + 1`` nodes 0 = t_0 < … < t_steps = 1 at the quantiles i / steps of a density
    on [0, 1] given by its values at ``times`` (increasing, from 0 to 1; ≥ 0, not all 0) and
    linear between them: steps dense where the density is high. (A study stopped at
    t_end < 1 scales every grid to [0, t_end], so the density's times are t / t_end.)

    The CDF of a piecewise-linear density is piecewise quadratic, so each node is the exact
    root of that segment's quadratic (no interpolation of the CDF): for a profile that is
    linear between its points the grid is the analytic inverse-CDF grid. A constant density
    gives :func:`time_grid`'s uniform nodes bit for bit. Float64, shape ``(steps + 1,)``.
    """
    t = torch.as_tensor(times, dtype=torch.float64).detach().cpu()
    d = torch.as_tensor(density, dtype=torch.float64).detach().cpu()
    if steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps}")
    if t.dim() != 1 or t.shape != d.shape or len(t) < 2:
        raise ValueError(
            "times and density must be two equal 1-D arrays of 2 or more, got "
            f"{tuple(t.shape)} and {tuple(d.shape)}"
        )
    if not (bool(torch.isfinite(d).all()) and bool((d >= 0).all()) and float(d.max()) > 0):
        raise ValueError("a grid density must be finite, non-negative and somewhere positive")
    if float(t[0]) != 0.0 or float(t[-1]) != 1.0 or not bool((torch.diff(t) > 0).all()):
        raise ValueError("the density's times must increase from 0 to 1")
    if bool((d == d[0]).all()):
        return time_grid(steps, "uniform")
    h = torch.diff(t)
    mass = 0.5 * (d[:-1] + d[1:]) * h  # per segment
    cdf = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(mass, 0)])
    targets = torch.arange(1, steps, dtype=torch.float64) / steps * cdf[-1]
    seg = torch.searchsorted(cdf, targets, right=True).clamp(1, len(t) - 1) - 1
    # within segment j: m(u) = d_j u + ½ (d_{j+1} − d_j) u² / h_j, u ∈ [0, h_j], m = target − cdf_j
    a = 0.5 * (d[seg + 1] - d[seg]) / h[seg]
    b, c = d[seg], -(targets - cdf[seg])
    disc = torch.sqrt((b * b - 4 * a * c).clamp(min=0))
    # the root of a u² + b u + c in [0, h]: 2c / (−b − √disc) is stable whether a is 0 or not
    u = torch.where(b + disc > 0, -2 * c / (b + disc), -c / b.clamp(min=1e-300))
    nodes = torch.cat(
        [
            torch.zeros(1, dtype=torch.float64),
            torch.minimum(t[seg] + u.clamp(min=0), t[seg + 1]),
            torch.ones(1, dtype=torch.float64),
        ]
    )
    if not bool((torch.diff(nodes) > 0).all()):  # only round-off could make two nodes meet
        raise ValueError(f"the density's {steps}-step quantile grid has two equal nodes")
    return nodes


def smoothed(values: torch.Tensor, times: torch.Tensor, width: float) -> torch.Tensor:
    """``values`` at ``times`` smoothed by a Gaussian kernel of standard deviation ``width`` (in
    t; 0: unchanged), normalised at each point (so the ends are not pulled down). Float64."""
    v = torch.as_tensor(values, dtype=torch.float64)
    if width <= 0:
        return v.clone()
    t = torch.as_tensor(times, dtype=torch.float64)
    w = torch.exp(-0.5 * ((t[:, None] - t[None, :]) / width) ** 2)
    return (w @ v) / w.sum(1)


def energy_grid(
    times: torch.Tensor,
    profile: torch.Tensor,
    steps: int,
    gamma: float,
    smoothing: float = 0.0,
    floor: float = 0.0,
) -> torch.Tensor:
    """The :func:`quantile_grid` of a population profile (:mod:`enfopath.profiles`, values at
    ``times`` on [0, t_end], non-negative): its density is (1 − floor) p̃^γ / mean(p̃^γ) + floor,
    p̃ the profile smoothed over ``smoothing`` (a Gaussian width, in units of t / t_end), so
    ``floor`` ∈ [0, 1) keeps a share of uniform steps where the profile is near 0. γ = 0 gives
    the uniform grid bit for bit; γ = ½ on the ``acceleration`` profile equidistributes
    Euler's local error ½ h² ‖dv/dt‖. The nodes run from 0 to 1 (a study stopped at t_end < 1
    scales them to [0, t_end], as every grid)."""
    if gamma < 0 or not 0.0 <= floor < 1.0:
        raise ValueError(f"gamma must be ≥ 0 and floor in [0, 1), got {gamma} and {floor}")
    t = torch.as_tensor(times, dtype=torch.float64)
    s = t / t[-1]
    p = smoothed(torch.as_tensor(profile, dtype=torch.float64).clamp(min=0), s, smoothing)
    shaped = p**gamma
    if bool((shaped == shaped[0]).all()):
        return time_grid(steps, "uniform")
    density = (1.0 - floor) * shaped / shaped.mean() + floor
    return quantile_grid(s, density, steps)
