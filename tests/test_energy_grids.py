"""Energy-informed time grids: the quantile grid of a density is its exact inverse CDF, the
population profiles of the Gaussian flow are their closed forms, and the grid they give beats
the uniform one where the velocity changes fast."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.optimize import brentq

from enfopath.analytic import gaussian_trajectory, gaussian_velocity
from enfopath.energy import sample_with_energy
from enfopath.grids import energy_grid, quantile_grid, time_grid
from enfopath.profiles import profile_sums


def test_the_quantile_grid_of_a_piecewise_linear_density_is_its_exact_inverse_cdf():
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    q = np.arange(9) / 8
    # density t: CDF t², nodes √q; density 1 + t: CDF (t + t² / 2) / 1.5, nodes √(1 + 3q) − 1
    np.testing.assert_allclose(quantile_grid(t, t, 8).numpy(), np.sqrt(q), rtol=0, atol=1e-15)
    np.testing.assert_allclose(
        quantile_grid(t, 1 + t, 8).numpy(), np.sqrt(1 + 3 * q) - 1, rtol=0, atol=1e-15
    )
    # a tent, 0 → 2 → 0 on two segments: CDF 2t² below ½, nodes √(q / 2) there
    tent = quantile_grid(torch.tensor([0.0, 0.5, 1.0]), torch.tensor([0.0, 2.0, 0.0]), 4)
    np.testing.assert_allclose(tent[:3].numpy(), np.sqrt(np.array([0, 0.25, 0.5]) / 2), atol=1e-15)
    np.testing.assert_allclose(tent[3].item(), 1 - math.sqrt(0.25 / 2), atol=1e-15)


def test_a_constant_density_and_gamma_zero_are_the_uniform_grid_bit_for_bit():
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    assert torch.equal(quantile_grid(t, torch.full((11,), 3.0), 7), time_grid(7, "uniform"))
    profile = torch.rand(11, dtype=torch.float64) + 0.1
    assert torch.equal(energy_grid(t, profile, 12, gamma=0.0), time_grid(12, "uniform"))
    assert not torch.equal(energy_grid(t, profile, 12, gamma=1.0), time_grid(12, "uniform"))


def test_bad_densities_name_the_problem():
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    with pytest.raises(ValueError, match="non-negative"):
        quantile_grid(t, torch.tensor([1.0, -1.0, 1.0, 1.0, 1.0]), 4)
    with pytest.raises(ValueError, match="increase from 0 to 1"):
        quantile_grid(t * 0.5, torch.ones(5), 4)
    empty_start = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0])  # nothing at all on [0, ½]
    bare = quantile_grid(t, empty_start, 8)
    assert bare[1] > 0.5  # one step across it
    floored = energy_grid(t, empty_start, 8, 1.0, floor=0.5)
    assert floored[1] < 0.5 and (torch.diff(floored) > 0).all()  # the floor's share of steps


S, MU = 0.05, torch.tensor([1.5, -0.5, 0.25])
"""A narrow Gaussian: the velocity turns fast near t = 1."""


def sigma(t: float) -> float:
    return math.sqrt((1 - t) ** 2 + (t * S) ** 2)


def dsigma(t: float) -> float:
    return (t * S * S - (1 - t)) / sigma(t)


def ddsigma(t: float) -> float:
    return ((S * S + 1) - dsigma(t) ** 2) / sigma(t)


def test_the_gaussian_flows_profiles_are_their_closed_forms():
    """Along x(t) = tμ + σ_t x0: v = μ + σ_t' x0 and dv/dt = σ_t'' x0."""
    x0 = torch.randn(64, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sums = profile_sums(gaussian_velocity(MU.double(), S), x0, nodes=400)
    means = sums.means()
    assert sums.n == 64 and len(sums.t) == 401
    for i in (0, 100, 200, 390, 400):
        t = float(sums.t[i])
        v = MU.double() + dsigma(t) * x0
        assert means["speed"][i] == pytest.approx(v.norm(dim=1).mean().item(), rel=1e-6)
        assert means["energy_rate"][i] == pytest.approx(
            0.5 * v.pow(2).sum(1).mean().item(), rel=1e-6
        )
        want = abs(ddsigma(t)) * x0.norm(dim=1).mean().item()
        assert means["acceleration"][i] == pytest.approx(want, rel=5e-3)  # differences, O(h²)
    half = profile_sums(gaussian_velocity(MU.double(), S), x0[:32], 400)
    both = half + profile_sums(gaussian_velocity(MU.double(), S), x0[32:], 400)
    torch.testing.assert_close(both.means()["speed"], means["speed"], rtol=1e-12, atol=0)


def test_the_energy_grid_of_the_closed_form_profile_is_the_analytic_inverse_cdf_grid():
    """Density ‖dv/dt‖^½ of the mean path (x0 = the unit vector e₁): |σ''|^½ ‖e₁‖^½."""
    t = torch.linspace(0, 1, 4001, dtype=torch.float64)
    profile = torch.tensor([abs(ddsigma(float(s))) for s in t], dtype=torch.float64)
    nodes = energy_grid(t, profile, 8, gamma=0.5)
    total = quad(lambda s: abs(ddsigma(s)) ** 0.5, 0, 1, epsabs=0, epsrel=1e-12, limit=200)[0]
    for i in range(1, 8):
        want = brentq(
            lambda u, q=i / 8: (
                quad(lambda s: abs(ddsigma(s)) ** 0.5, 0, u, limit=200)[0] - q * total
            ),
            0,
            1,
            xtol=1e-14,
        )
        assert nodes[i].item() == pytest.approx(want, abs=2e-6)
    assert nodes[-2] > 0.9  # the steps crowd where the narrow Gaussian turns the paths


def test_eulers_endpoint_error_falls_on_the_acceleration_grid_at_the_same_steps():
    x0 = torch.randn(256, 3, generator=torch.Generator().manual_seed(1))
    velocity = gaussian_velocity(MU, S)
    sums = profile_sums(velocity, x0, nodes=200)
    exact = gaussian_trajectory(x0.double(), MU.double(), S, 1.0)
    errors = {}
    for name, grid in (
        ("uniform", "uniform"),
        ("energy", energy_grid(sums.t, sums.means()["acceleration"], 8, gamma=0.5)),
    ):
        res = sample_with_energy(velocity, x0, solver="euler", steps=8, grid=grid)
        errors[name] = (res.x1.double() - exact).pow(2).mean().sqrt().item()
    assert errors["energy"] < 0.5 * errors["uniform"], errors
