"""Time grids on [0, 1] for fixed-step ODE solvers and for coarse speed profiles.

Convention (docs/science.md §1): t = 0 is noise, t = 1 is data; every grid starts at 0 and ends
at 1.
"""

from __future__ import annotations

import math

import torch

GRIDS = ("uniform", "cosine")


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
