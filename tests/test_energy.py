"""KPE integration against closed forms (SCIENCE.md §2, §6)."""

from __future__ import annotations

import math

import pytest
import torch

from enfopath.analytic import (
    gaussian_energy,
    gaussian_path_length,
    gaussian_trajectory,
    gaussian_velocity,
)
from enfopath.energy import FIXED_SOLVERS, sample_with_energy

DIM = 12


@pytest.fixture(scope="module")
def gaussian() -> tuple[torch.Tensor, float, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(DIM, generator=g, dtype=torch.float64)
    x0 = torch.randn(6, DIM, generator=g, dtype=torch.float64)
    return mu, 0.4, x0


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b) / b).abs().max())


def test_dopri5_matches_exact_gaussian_energy(gaussian):
    mu, s, x0 = gaussian
    r = sample_with_energy(gaussian_velocity(mu, s), x0, rtol=1e-10, atol=1e-10, tau=0.6)
    assert _rel(r.kpe, gaussian_energy(x0, mu, s)) < 1e-6
    assert _rel(r.kpe_early, gaussian_energy(x0, mu, s, 0.0, 0.6)) < 1e-6
    assert _rel(r.kpe_late, gaussian_energy(x0, mu, s, 0.6, 1.0)) < 1e-6
    assert _rel(r.path_length, gaussian_path_length(x0, mu, s)) < 1e-6
    torch.testing.assert_close(r.x1, gaussian_trajectory(x0, mu, s, 1.0), rtol=1e-7, atol=1e-7)
    assert torch.isnan(r.kpe_left_riemann).all()
    assert not r.nonfinite.any()


def test_speed_profile_is_pointwise_speed(gaussian):
    mu, s, x0 = gaussian
    v = gaussian_velocity(mu, s)
    for solver in ("dopri5", "rk4"):
        r = sample_with_energy(v, x0, solver=solver, steps=200, rtol=1e-10, atol=1e-10)
        for j, t in enumerate(r.profile_t.tolist()):
            exact = v(torch.tensor(t, dtype=x0.dtype), gaussian_trajectory(x0, mu, s, t))
            torch.testing.assert_close(r.speed_sq[:, j], exact.pow(2).sum(1), rtol=1e-6, atol=0)


@pytest.mark.parametrize("solver", sorted(FIXED_SOLVERS))
@pytest.mark.parametrize("grid", ["uniform", "cosine"])
def test_fixed_step_solvers_converge_at_their_order(gaussian, solver, grid):
    mu, s, x0 = gaussian
    v = gaussian_velocity(mu, s)
    exact = gaussian_energy(x0, mu, s)
    exact_early = gaussian_energy(x0, mu, s, 0.0, 0.6)
    order = FIXED_SOLVERS[solver].order
    errs, errs_early = [], []
    for n in (20, 40, 80):
        r = sample_with_energy(v, x0, solver=solver, steps=n, grid=grid)
        assert r.nfe == n * FIXED_SOLVERS[solver].stages
        errs.append(_rel(r.kpe, exact))
        errs_early.append(_rel(r.kpe_early, exact_early))
    for e in (errs, errs_early):
        rates = [math.log2(e[i] / e[i + 1]) for i in range(2)]
        assert min(rates) > order - 0.4, (solver, grid, e, rates)


@pytest.mark.parametrize("grid", ["uniform", "cosine"])
def test_left_riemann_converges_to_the_same_energy(gaussian, grid):
    mu, s, x0 = gaussian
    exact = gaussian_energy(x0, mu, s)
    errs = []
    for n in (50, 100, 200):
        r = sample_with_energy(gaussian_velocity(mu, s), x0, solver="euler", steps=n, grid=grid)
        errs.append(_rel(r.kpe_left_riemann, exact))
    assert errs[0] > errs[1] > errs[2]
    assert errs[1] / errs[2] == pytest.approx(2.0, rel=0.1)


@pytest.mark.parametrize("solver", ["dopri5", *sorted(FIXED_SOLVERS)])
def test_constant_field_energy_is_half_speed_squared(solver):
    c = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=torch.float64)
    x0 = torch.randn(3, 2, 2, dtype=torch.float64)
    r = sample_with_energy(lambda t, x: c.expand_as(x), x0, solver=solver, steps=7, tau=0.3)
    half_sq = 0.5 * float(c.pow(2).sum())
    torch.testing.assert_close(r.kpe, torch.full((3,), half_sq, dtype=torch.float64))
    torch.testing.assert_close(r.kpe_early, torch.full((3,), 0.3 * half_sq, dtype=torch.float64))
    torch.testing.assert_close(
        r.path_length, torch.full((3,), float(c.norm()), dtype=torch.float64)
    )
    torch.testing.assert_close(r.x1, x0 + c)
    torch.testing.assert_close(r.chord_energy, r.kpe)
    assert r.straightness.abs().max() < 1e-12
    torch.testing.assert_close(r.speed_sq, torch.full_like(r.speed_sq, 2 * half_sq))
    assert r.dim == 4
    torch.testing.assert_close(r.kpe_per_dim, r.kpe / 4)


def test_energy_identities_on_a_curved_flow(gaussian):
    mu, s, x0 = gaussian
    r = sample_with_energy(gaussian_velocity(mu, s), x0, rtol=1e-9, atol=1e-9)
    assert (r.straightness > 0).all()  # the Gaussian flow is curved for s != 1
    assert (r.path_length.pow(2) <= 2 * r.kpe + 1e-9).all()
    torch.testing.assert_close(r.kpe_early + r.kpe_late, r.kpe)


@pytest.mark.parametrize("solver", ["dopri5", "euler"])
def test_non_finite_samples_are_flagged_not_fatal(solver):
    x0 = torch.randn(4, 3, dtype=torch.float64)
    x0[1] = 50.0

    def exploding(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        v = -x.clone()
        v[x.abs().amax(1) > 10] = float("nan")
        return v

    r = sample_with_energy(exploding, x0, solver=solver, steps=10)
    assert r.nonfinite.tolist() == [False, True, False, False]
    assert torch.isfinite(r.kpe[[0, 2, 3]]).all()
    if solver == "euler":  # fixed grid: the others are untouched by the flagged sample
        alone = sample_with_energy(exploding, x0[[0, 2, 3]], solver=solver, steps=10)
        torch.testing.assert_close(r.kpe[[0, 2, 3]], alone.kpe, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"solver": "rk45"}, "unknown solver"),
        ({"grid": "log"}, "unknown grid"),
        ({"tau": 1.0}, "tau"),
        ({"solver": "euler", "steps": 0}, "steps"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample_with_energy(lambda t, x: x, torch.zeros(2, 3), **kwargs)


def test_energy_does_not_steer_dopri5_step_sizes(gaussian):
    """The augmented run takes exactly the steps of a plain run on x alone."""
    from torchdiffeq import odeint

    mu, s, x0 = gaussian
    v = gaussian_velocity(mu, s)
    calls = 0

    def counted(t, x):
        nonlocal calls
        calls += 1
        return v(t, x)

    times = torch.tensor([0.0, 0.25, 0.5, 0.6, 0.75, 1.0], dtype=x0.dtype)
    plain = odeint(counted, x0, times, rtol=1e-6, atol=1e-6, method="dopri5")
    r = sample_with_energy(v, x0, rtol=1e-6, atol=1e-6, profile_points=5)
    assert r.nfe == calls
    torch.testing.assert_close(r.x1, plain[-1], rtol=0, atol=1e-12)
