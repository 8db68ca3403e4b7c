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
