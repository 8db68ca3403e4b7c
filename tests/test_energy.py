"""KPE integration against closed forms (docs/science.md §2, §6)."""

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
from enfopath.energy import FIXED_SOLVERS, MIN_TOLERANCE, sample_with_energy
from enfopath.grids import time_grid

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
def test_a_profile_time_on_a_node_reads_the_solvers_own_evaluation_there(solver):
    """Euler on 20 steps: the profile times 0, 0.1, …, 0.9 are nodes, where the solver's first
    stage already evaluated v(x(t), t); only t = 1 costs an evaluation more. The speed there is
    that evaluation's (a velocity that logs its calls), and zero for a sample frozen later."""
    calls: list[tuple[float, torch.Tensor]] = []

    def logged(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        v = torch.stack([-x[:, 1], x[:, 0]], 1) * (1.0 + t) + 0.3 * x.pow(2)
        v[x.abs().amax(1) > 4.0] = float("nan")
        calls.append((float(t), v.clone()))
        return v

    x0 = torch.tensor([[1.0, 0.5], [-0.4, 0.2], [2.2, 2.0]], dtype=torch.float64)
    r = sample_with_energy(logged, x0, solver=solver, steps=20, profile_points=11)
    stages = FIXED_SOLVERS[solver].stages
    assert r.nfe == 20 * stages and r.nfe_total == r.nfe + 1 == len(calls)
    assert r.nonfinite.tolist() == [False, False, True]
    for j, t in enumerate(r.profile_t.tolist()[:-1]):
        time, first_stage = calls[round(t * 20) * stages]  # step i's first stage
        assert time == t
        want = first_stage.pow(2).sum(1)
        want[2] = 0.0  # frozen by the end: no usable speed
        assert torch.equal(r.speed_sq[:, j], want), t
    assert calls[-1][0] == 1.0 and torch.equal(r.speed_sq[:2, -1], calls[-1][1][:2].pow(2).sum(1))


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


def _rotation(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Rotation of the plane at angular speed ω = ‖x‖²: ‖x‖ is conserved, so
    E = ½ ω² ‖x0‖² = ½ ‖x0‖⁶ exactly; samples far out turn fast (hard), near 0 slowly."""
    return x.pow(2).sum(1, keepdim=True) * torch.stack([-x[:, 1], x[:, 0]], 1)


def _rotation_error(x0: torch.Tensor, tol: float) -> torch.Tensor:
    exact = 0.5 * x0.pow(2).sum(1).pow(3)
    r = sample_with_energy(_rotation, x0, rtol=tol, atol=tol)
    return ((r.kpe - exact) / exact).abs()


def test_dopri5_controls_every_sample_of_a_batch():
    """Per-sample error control: in a batch of 256 of unequal difficulty, no sample's KPE is
    less accurate than when it is integrated alone (a batch-wide RMS would let the hardest
    samples' errors grow with the batch)."""
    x0 = torch.randn(256, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    in_batch = _rotation_error(x0, 1e-5)
    alone = torch.cat([_rotation_error(x0[i : i + 1], 1e-5) for i in range(len(x0))])
    assert (in_batch <= 1.1 * alone).all(), float((in_batch / alone).max())


def test_dopri5_isolates_a_sample_that_diverges():
    """One sample's velocity becomes infinite at t > 0.3: it is frozen and flagged, the shard
    goes on, the others' results and the NFE stay those of the same batch without it."""
    mu, s = torch.zeros(DIM, dtype=torch.float64), 0.4
    x0 = torch.randn(8, DIM, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    field = gaussian_velocity(mu, s)

    def diverging(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        v = field(t, x)
        if t > 0.3:
            v[3] = float("inf")
        return v

    kw = {"rtol": 1e-7, "atol": 1e-7}
    r = sample_with_energy(diverging, x0, **kw)
    others = [i for i in range(8) if i != 3]
    ref = sample_with_energy(field, x0[others], **kw)
    assert r.nonfinite.tolist() == [i == 3 for i in range(8)]
    assert _rel(r.kpe[others], gaussian_energy(x0[others], mu, s)) < 1e-6
    torch.testing.assert_close(r.kpe[others], ref.kpe, rtol=1e-7, atol=0)
    assert r.nfe <= ref.nfe + 2 * 6  # at most two rejected steps at the divergence


@pytest.mark.parametrize("solver", ["dopri5", "rk4"])
def test_non_finite_x0_is_flagged_and_the_rest_integrated(solver):
    mu, s = torch.ones(DIM, dtype=torch.float64), 0.4
    x0 = torch.randn(4, DIM, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x0[2, 5] = float("nan")
    r = sample_with_energy(gaussian_velocity(mu, s), x0, solver=solver, steps=50)
    assert r.nonfinite.tolist() == [False, False, True, False]
    ok = [0, 1, 3]
    assert _rel(r.kpe[ok], gaussian_energy(x0[ok], mu, s)) < 1e-4


@pytest.mark.parametrize("solver", ["dopri5", "heun"])
def test_an_empty_batch_gives_empty_results(solver):
    def never(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the velocity of an empty batch must not be called")

    r = sample_with_energy(never, torch.zeros(0, 3), solver=solver, profile_points=4)
    assert r.kpe.shape == (0,) and r.speed_sq.shape == (0, 4) and r.nonfinite.shape == (0,)
    assert r.nfe == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"solver": "rk45"}, "unknown solver"),
        ({"grid": "log"}, "unknown grid"),
        ({"tau": 1.0}, "tau"),
        ({"tau": float("nan")}, "tau"),
        ({"solver": "euler", "steps": 0}, "steps"),
        ({"solver": "euler", "steps": 2.5}, "steps"),
        ({"steps": True}, "steps"),
        ({"rtol": -1e-5}, "rtol"),
        ({"atol": 0.0}, "atol"),
        ({"rtol": 0.0, "atol": 0.0}, "rtol"),
        ({"atol": float("inf")}, "atol"),
        ({"profile_points": 1}, "profile_points"),
        ({"x0": torch.zeros(2, 3, dtype=torch.int64)}, "dtype torch.int64.*float32 or float64"),
        ({"x0": torch.zeros(2, 3, dtype=torch.bfloat16)}, r"bfloat16.*x0\.float\(\)"),
        ({"x0": torch.zeros(2, 3, dtype=torch.float16)}, r"float16.*x0\.float\(\)"),
        ({"x0": torch.zeros(3)}, "x0 must be a tensor batch"),
        ({"x0": [[0.0, 1.0]]}, "x0 must be a tensor batch"),
        ({"x0": torch.zeros(4, 0)}, r"shape \(4, 0\) has no coordinates"),
        ({"x0": torch.zeros(0, 2, 0)}, r"shape \(0, 2, 0\) has no coordinates"),
        ({"rtol": 1e-300, "atol": 1e-300}, r"rtol must be .* ≥ 1e-09 for a torch\.float32"),
        ({"atol": 9e-10}, r"atol must be .* ≥ 1e-09"),
        ({"x0": torch.zeros(2, 3, dtype=torch.float64), "rtol": 1e-19}, "≥ 1e-18"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    x0 = kwargs.pop("x0", torch.zeros(2, 3))
    with pytest.raises(ValueError, match=match):
        sample_with_energy(lambda t, x: x, x0, **kwargs)


def test_the_tolerance_floor_itself_is_accepted():
    for dtype, floor in MIN_TOLERANCE.items():
        r = sample_with_energy(
            lambda t, x: -x, torch.ones(2, 3, dtype=dtype), rtol=floor, atol=floor
        )
        assert r.x1.dtype == dtype and not r.nonfinite.any()


def test_a_step_size_underflow_names_the_tolerances():
    """A jump of 1e15 at t = 0.5: no step straddling it meets any tolerance, and torchdiffeq's
    bare AssertionError becomes an error that names rtol and atol."""

    def jump(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.where(t < 0.5, 0.0, 1e15) * torch.ones_like(x)

    with pytest.raises(ValueError, match=r"could not meet rtol = 1e-05, atol = 1e-05 .*underflow"):
        sample_with_energy(jump, torch.zeros(4, 3), solver="dopri5")


@pytest.mark.parametrize("solver", ["euler", "rk4", "dopri5"])
def test_a_velocity_that_edits_its_input_never_touches_the_state(gaussian, solver):
    """``x.clamp_()`` (and ``t.mul_()``) in user code act on copies: the trajectory and its KPE
    are exactly those of the field the code computes, v(t, clamp(x)), bit for bit."""
    mu, s, x0 = gaussian
    field = gaussian_velocity(mu, s)

    def editing(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        x.clamp_(-0.5, 0.5)
        v = field(t.clone(), x)
        t.mul_(0.0)
        return v

    def pure(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return field(t, x.clamp(-0.5, 0.5))

    kw = {"steps": 16} if solver != "dopri5" else {}
    edited = sample_with_energy(editing, x0, solver=solver, **kw)
    clean = sample_with_energy(pure, x0, solver=solver, **kw)
    for name in ("x1", "kpe", "kpe_early", "path_length", "speed_sq", "kpe_profile"):
        assert torch.equal(getattr(edited, name), getattr(clean, name)), name
    assert edited.nfe == clean.nfe


@pytest.mark.parametrize("batch", [1, 5])
def test_the_velocity_gets_a_contiguous_copy_of_x(batch):
    """B = 1 makes the state's x part contiguous already: it is copied all the same."""
    seen = []

    def v(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        seen.append(x)
        return -x

    sample_with_energy(v, torch.ones(batch, 2, 3), solver="euler", steps=2)
    assert all(x.is_contiguous() for x in seen)
    assert len({x.untyped_storage().data_ptr() for x in seen}) == len(seen)


@pytest.mark.parametrize("solver", ["dopri5", "euler"])
@pytest.mark.parametrize(
    ("velocity", "match"),
    [
        (lambda t, x: x.reshape(x.shape[1], x.shape[0]), r"shape \(3, 2\), expected"),
        (lambda t, x: x.flatten(), r"shape \(6,\), expected"),
        (lambda t, x: x.sum(), r"shape \(\), expected"),
        (lambda t, x: None, "got NoneType"),
        (lambda t, x: x.numpy(), "got ndarray"),
        (lambda t, x: x.to(torch.int32), "floating dtype"),
        (lambda t, x: torch.empty(x.shape, device="meta"), "on meta; x is on cpu"),
    ],
)
def test_bad_velocity_outputs_are_named(solver, velocity, match):
    """A (D, B) result has the right number of elements but would give a wrong KPE."""
    with pytest.raises(ValueError, match=match):
        sample_with_energy(velocity, torch.ones(2, 3), solver=solver, steps=4)


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

    def per_sample(err: torch.Tensor) -> torch.Tensor:  # the documented norm, on x alone
        return err.pow(2).mean(1).sqrt().max()

    times = torch.tensor([0.0, 0.25, 0.5, 0.6, 0.75, 1.0], dtype=x0.dtype)
    options = {"norm": per_sample}
    plain = odeint(counted, x0, times, rtol=1e-6, atol=1e-6, method="dopri5", options=options)
    r = sample_with_energy(v, x0, rtol=1e-6, atol=1e-6, profile_points=5)
    assert r.nfe == calls
    torch.testing.assert_close(r.x1, plain[-1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("solver", ["dopri5", "rk4"])
def test_partial_energy_at_every_profile_time_matches_the_closed_form(gaussian, solver):
    """E(s) = ½∫₀^s‖v‖²dt, read from the state at the profile times (no extra evaluation)."""
    mu, s, x0 = gaussian
    kw = {"rtol": 1e-10, "atol": 1e-10} if solver == "dopri5" else {"steps": 200}
    r = sample_with_energy(gaussian_velocity(mu, s), x0, solver=solver, profile_points=6, **kw)
    for j, t in enumerate(r.profile_t.tolist()):
        exact = gaussian_energy(x0, mu, s, 0.0, t) if t > 0 else torch.zeros(len(x0))
        torch.testing.assert_close(r.kpe_profile[:, j], exact.to(r.kpe.dtype), rtol=1e-6, atol=1e-9)
    assert torch.equal(r.kpe_profile[:, -1], r.kpe)
    nfe = r.nfe_profile.tolist()
    assert nfe == sorted(nfe) and nfe[-1] == r.nfe
    if solver == "rk4":  # stages at t_i + c h ≤ s: at s = 0 only the first step's first stage
        assert nfe[0] == 1 and abs(nfe[3] / r.nfe - 0.6) < 0.01


@pytest.mark.parametrize(
    ("solver", "theirs"), [("euler", "euler"), ("midpoint", "midpoint"), ("heun", "heun2")]
)
def test_fixed_grid_methods_match_torchdiffeq_on_the_same_grid(gaussian, solver, theirs):
    """Our tableaux are torchdiffeq's fixed-grid methods (its Heun is ``heun2``)."""
    from torchdiffeq import odeint

    mu, s, x0 = gaussian
    v = gaussian_velocity(mu, s)
    grid = time_grid(12, "cosine").to(x0.dtype)
    ours = sample_with_energy(v, x0, solver=solver, steps=12, grid="cosine")
    x1 = odeint(v, x0, grid, method=theirs)[-1]
    torch.testing.assert_close(ours.x1, x1, rtol=0, atol=1e-12)
