"""Kinetic Trajectory Shaping: off is bit-identical, on is the shaped energy along the shaped
trajectory (checked against an independent quadrature on the closed-form Gaussian flow)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from conftest import TINY
from scipy.integrate import quad, solve_ivp

from enfopath import sample_with_energy
from enfopath.analytic import gaussian_velocity
from enfopath.models.networks import VelocityMLP
from enfopath.study.config import ConfigError, validate_config
from enfopath.study.shards import SamplingConfig, generate_shard
from enfopath.study.summary import kpe_definition
from enfopath.velocity import NO_SHAPING, KineticShaping

MU = np.array([1.0, -0.5, 2.0])
S = 0.7
SHAPING = KineticShaping(alpha0=0.3, beta0=0.02, tau=0.6, k=3.0)


def eta(t: float) -> float:
    """η(t) from its definition (docs/science.md §7), in plain floats."""
    s = SHAPING
    if t < s.tau:
        return 1.0 + s.alpha0 * (1.0 - t / s.tau)
    return 1.0 - s.beta0 * (math.exp(s.k * (t - s.tau) / (1.0 - s.tau)) - 1.0)


def v(t: float, x: np.ndarray) -> np.ndarray:
    var = (1.0 - t) ** 2 + (t * S) ** 2
    return MU + ((t * S * S - (1.0 - t)) / var) * (x - t * MU)


def shaped_energy(x0: np.ndarray) -> float:
    """½∫₀¹ η²‖v‖² along dx/dt = η v: scipy's DOP853 trajectory, then adaptive quadrature."""
    sol = solve_ivp(
        lambda t, x: eta(t) * v(t, x),
        (0.0, 1.0),
        x0,
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
        dense_output=True,
    )
    integrand = lambda t: 0.5 * eta(t) ** 2 * float(np.sum(v(t, sol.sol(t)) ** 2))  # noqa: E731
    head, _ = quad(integrand, 0.0, SHAPING.tau, epsabs=0.0, epsrel=1e-11, limit=200)
    tail, _ = quad(integrand, SHAPING.tau, 1.0, epsabs=0.0, epsrel=1e-11, limit=200)
    return head + tail


def test_the_shaped_energy_is_the_quadrature_along_the_shaped_trajectory():
    x0 = np.random.default_rng(0).normal(size=(4, 3))
    exact = np.array([shaped_energy(row) for row in x0])
    velocity = SHAPING.shape(gaussian_velocity(torch.tensor(MU), S))
    x0t = torch.tensor(x0)
    tight = sample_with_energy(velocity, x0t, solver="dopri5", rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(tight.kpe.numpy(), exact, rtol=1e-7)
    rk4 = sample_with_energy(velocity, x0t, solver="rk4", steps=400)
    np.testing.assert_allclose(rk4.kpe.numpy(), exact, rtol=1e-5)
    plain = sample_with_energy(gaussian_velocity(torch.tensor(MU), S), x0t, rtol=1e-10, atol=1e-10)
    assert np.abs(plain.kpe.numpy() / exact - 1).min() > 1e-3  # shaping changes the energy


def test_eta_launches_and_lands():
    t = torch.tensor([0.0, 0.3, 0.6, 1.0], dtype=torch.float64)
    expected = [eta(x) for x in t.tolist()]
    torch.testing.assert_close(SHAPING.eta(t), torch.tensor(expected, dtype=torch.float64))
    assert SHAPING.eta(t)[0] == pytest.approx(1.3) and SHAPING.eta(t)[2] == pytest.approx(1.0)


def test_off_is_bit_identical():
    """α₀ = β₀ = 0: the velocity is not wrapped, and a shard is the same bits."""
    velocity = gaussian_velocity(torch.tensor(MU), S)
    assert KineticShaping(tau=0.3, k=5.0).shape(velocity) is velocity
    from enfopath.models.flows import Flow

    flow = Flow(VelocityMLP([1, 4, 4], hidden=16, depth=1, time_features=8).eval(), (1, 4, 4))
    base = {
        "solver": "dopri5",
        "steps": 10,
        "grid": "uniform",
        "rtol": 1e-5,
        "atol": 1e-5,
        "tau": 0.6,
        "profile_points": 5,
        "batch_size": 8,
        "t_end": 1.0,
    }
    plain = generate_shard(
        flow, 0, range(16), SamplingConfig.from_config(base), torch.device("cpu")
    )
    kts_off = {**base, "kts": {"alpha0": 0.0, "beta0": 0.0, "tau": 0.4, "k": 2.0}}
    off = generate_shard(
        flow, 0, range(16), SamplingConfig.from_config(kts_off), torch.device("cpu")
    )
    for key in plain:
        assert np.array_equal(plain[key], off[key], equal_nan=True), key
    kts_on = {**base, "kts": {"alpha0": 0.2, "beta0": 0.01, "tau": 0.6, "k": 3.0}}
    on = generate_shard(flow, 0, range(16), SamplingConfig.from_config(kts_on), torch.device("cpu"))
    assert not np.array_equal(plain["kpe"], on["kpe"])
    assert (
        SamplingConfig.from_config(base).kts is NO_SHAPING
        or SamplingConfig.from_config(base).kts.off
    )


def test_the_config_refuses_a_landing_that_reverses_the_flow_and_the_summary_labels_kpe():
    cfg = copy.deepcopy(TINY)
    cfg["sampling"] = {**cfg["sampling"], "kts": {"beta0": 0.06}}  # (e³ − 1) 0.06 > 1
    with pytest.raises(ConfigError, match=r"sampling\.kts\.beta0"):
        validate_config(cfg)
    cfg["sampling"]["kts"] = {"alpha0": 0.01, "beta0": 0.01}
    sampling = validate_config(cfg)["sampling"]
    assert kpe_definition(sampling).startswith("shaped E = ½∫η²‖v‖²dt (KTS α₀ = 0.01")
    assert "no trajectory shaping" in kpe_definition(
        validate_config(copy.deepcopy(TINY))["sampling"]
    )
