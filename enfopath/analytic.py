"""Closed-form flows for checking KPE integrators (docs/science.md §6).

Gaussian data N(μ, s² I) in D dimensions under the linear interpolant x_t = (1 − t) x0 + t x1:
x_t ~ N(t μ, σ_t² I) with σ_t² = (1 − t)² + t² s², the marginal velocity is
v(x, t) = μ + (σ_t' / σ_t)(x − t μ) with σ_t' = (t s² − (1 − t)) / σ_t, and the trajectory from
x(0) = x0 is exactly x(t) = t μ + σ_t x0, so v(x(t), t) = μ + σ_t' x0.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.integrate import quad

from enfopath.energy import Velocity


def _sigma(t: float, s: float) -> float:
    return math.sqrt((1.0 - t) ** 2 + (t * s) ** 2)


def _dsigma(t: float, s: float) -> float:
    return (t * s * s - (1.0 - t)) / _sigma(t, s)


def gaussian_velocity(mu: torch.Tensor, s: float) -> Velocity:
    """Marginal velocity field of N(0, I) → N(μ, s² I); μ has the shape of one sample."""

    def velocity(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        var = (1.0 - t) ** 2 + (t * s) ** 2
        return mu + ((t * s * s - (1.0 - t)) / var) * (x - t * mu)

    return velocity


def gaussian_trajectory(x0: torch.Tensor, mu: torch.Tensor, s: float, t: float) -> torch.Tensor:
    """Exact state x(t) = t μ + σ_t x0 of the Gaussian flow, shape of x0."""
    return t * mu + _sigma(t, s) * x0


def gaussian_energy(
    x0: torch.Tensor, mu: torch.Tensor, s: float, t0: float = 0.0, t1: float = 1.0
) -> torch.Tensor:
    """Exact ½ ∫_{t0}^{t1} ‖v(x(t), t)‖² dt per sample, shape (B,), float64.

    = ½ ((t1 − t0)‖μ‖² + 2 (σ_{t1} − σ_{t0}) μ·x0 + ‖x0‖² ∫ σ_t'² dt), the last integral by
    adaptive quadrature to machine precision.
    """
    x = x0.double().flatten(1)
    m = mu.double().flatten()
    integral, _ = quad(lambda t: _dsigma(t, s) ** 2, t0, t1, epsabs=0.0, epsrel=1e-13, limit=200)
    return 0.5 * (
        (t1 - t0) * m.dot(m)
        + 2.0 * (_sigma(t1, s) - _sigma(t0, s)) * (x @ m)
        + x.pow(2).sum(1) * integral
    )


def gaussian_path_length(x0: torch.Tensor, mu: torch.Tensor, s: float) -> torch.Tensor:
    """Exact L = ∫₀¹ ‖μ + σ_t' x0‖ dt per sample by quadrature, shape (B,), float64."""
    m = mu.double().flatten().numpy()
    out = []
    for row in x0.double().flatten(1).numpy():
        val, _ = quad(
            lambda t, r=row: float(np.linalg.norm(m + _dsigma(t, s) * r)),
            0.0,
            1.0,
            epsabs=0.0,
            epsrel=1e-12,
            limit=200,
        )
        out.append(val)
    return torch.tensor(out, dtype=torch.float64)
