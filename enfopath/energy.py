"""Sampling a flow ODE with its kinetic path energy carried in the state.

Convention (docs/science.md §1–2): x(0) = x0 is noise, dx/dt = v(x, t) is integrated from t = 0 to
t = 1, and the kinetic path energy of one sample is E = ½ ∫₀¹ ‖v(x(t), t)‖² dt, the squared norm
summed over all coordinates. E is integrated exactly under any solver by augmenting the state:

    d/dt [x, E, L] = [v, ½‖v‖², ‖v‖]        (L: path length)

so it costs no extra model evaluation, and an adaptive solver never counts its off-path trial
points. The state is one tensor of shape (B, D + 2): the flattened x, then E, then L.

Solvers: ``dopri5`` (adaptive, torchdiffeq) and the fixed-grid explicit Runge–Kutta methods
``euler``, ``midpoint``, ``heun`` and ``rk4`` on a uniform or cosine grid, or on given nodes
(a text-to-image family's shifted σ schedule, t = 1 − σ). The fixed-grid
methods are written here from their Butcher tableaux. torchdiffeq has fixed-grid euler,
midpoint and Heun (``heun2``: the same tableau as ``heun`` here; the tests check all three
against it on one grid), and an ``rk4`` that is Kutta's 3/8 rule, not the classic RK4 used here;
but it exposes neither the first-stage velocity v(x_i, t_i), which gives the authors'
left-Riemann energy Σ_i ½‖v(x_i, t_i)‖² Δt_i for free, nor a side step from a node to an
intermediate time.

Intermediate times (the early/late split τ and the speed-profile grid) never move the solver's
grid: dopri5 reads them from its dense output; a fixed-grid solver takes one side step of the
same method from the grid node just below (its own order of accuracy, the main path untouched).

dopri5's step control (the documented choice): the error norm is the maximum over the batch of
each sample's RMS error over its coordinates x, so every sample's trajectory is held to the
tolerances on its own (a batch only ever takes smaller steps than its hardest sample would
alone); E and L are left out of the norm, so the energy never steers the steps and its error
follows the error of the path it is the quadrature of. A sample that meets a non-finite velocity
(or one whose squared norm would overflow the state) is frozen from then on (velocity 0),
flagged, and left out of the norm, so it neither stops the batch nor shrinks the others' steps.

User code never touches the solver's state: ``velocity(t, x)`` is handed a copy of x (and of t),
so a field that edits its input in place (``x.clamp_(-1, 1)``) is the field of what it computes,
never a corruption of the trajectory it is integrated along (the copy costs one read and write
of x per evaluation: ``make bench`` prints it beside the energy's own cost). The state's dtype is
x0's and must be float32 or float64: in half precision the energy itself would be accumulated at
three significant digits (the network may still run in bf16 through autocast,
:func:`enfopath.velocity.network_precision`). dopri5's tolerances are bounded below by
:data:`MIN_TOLERANCE`: a tolerance under about 1 % of the state's machine epsilon asks for more
than the state can hold, and the step size shrinks toward underflow instead (float32,
rtol = atol = 1e-13: 217,328 evaluations for one batch of a closed-form field).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torchdiffeq import odeint

from enfopath.columns import PER_SAMPLE
from enfopath.grids import GRIDS, explicit_grid, profile_times, time_grid
from enfopath.per_sample import energy_columns
from enfopath.velocity import check_output

if TYPE_CHECKING:
    import pandas as pd

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``velocity(t, x)``: t a 0-d tensor, x a batch of shape (B, ...); returns dx/dt, shape of x."""


@dataclass(frozen=True)
class Tableau:
    """Butcher tableau of an explicit Runge–Kutta method (a: strictly lower rows, b, c)."""

    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]
    c: tuple[float, ...]
    order: int

    @property
    def stages(self) -> int:
        return len(self.b)


FIXED_SOLVERS: dict[str, Tableau] = {
    "euler": Tableau(a=((),), b=(1.0,), c=(0.0,), order=1),
    "midpoint": Tableau(a=((), (0.5,)), b=(0.0, 1.0), c=(0.0, 0.5), order=2),
    "heun": Tableau(a=((), (1.0,)), b=(0.5, 0.5), c=(0.0, 1.0), order=2),
    "rk4": Tableau(
        a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
        b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
        c=(0.0, 0.5, 0.5, 1.0),
        order=4,
    ),
}
ADAPTIVE_SOLVERS = ("dopri5",)
SOLVERS = (*FIXED_SOLVERS, *ADAPTIVE_SOLVERS)
STATE_DTYPES = (torch.float32, torch.float64)
"""The dtypes the state (x, E, L) may have: x0's, which sets it."""
MIN_TOLERANCE = {torch.float32: 1e-9, torch.float64: 1e-18}
"""The smallest rtol and atol of dopri5 per state dtype (about 1 % of its machine epsilon; see the
module docstring). The study's state is float32: the config schema's floor is the float32 one."""


@dataclass(frozen=True)
class EnergyResult:
    """Per-sample results of :func:`sample_with_energy` for a batch of B samples.

    Energies are in squared state units (pixels in [-1, 1], or latent units) integrated over
    unit time; per-sample tensors have shape (B,), the speed profile (B, P).
    """

    x0: torch.Tensor
    """Initial noise x(0), shape (B, ...)."""
    x1: torch.Tensor
    """Endpoint x(1), shape (B, ...)."""
    kpe: torch.Tensor
    """E = ½ ∫₀¹ ‖v‖² dt."""
    kpe_early: torch.Tensor
    """½ ∫₀^τ ‖v‖² dt."""
    kpe_late: torch.Tensor
    """½ ∫_τ^1 ‖v‖² dt (= kpe − kpe_early)."""
    path_length: torch.Tensor
    """L = ∫₀¹ ‖v‖ dt; L² ≤ 2E."""
    kpe_left_riemann: torch.Tensor
    """Σ_i ½‖v(x_i, t_i)‖² (t_{i+1} − t_i) on the solver grid (fixed grids; NaN for dopri5)."""
    speed_sq: torch.Tensor
    """‖v(x(t_j), t_j)‖² at the profile times, shape (B, P)."""
    kpe_profile: torch.Tensor
    """The partial energy E(t_j) = ½ ∫₀^{t_j} ‖v‖² dt at the profile times, shape (B, P), read
    from the state at no cost (E(0) = 0, E(1) = kpe)."""
    nfe_profile: torch.Tensor
    """Model evaluations of the main integration at times ≤ t_j (the compute spent by the time
    the integration passes t_j, shared by the batch; the last entry is ``nfe``), shape (P,),
    int64."""
    profile_t: torch.Tensor
    """The profile times t_j, shape (P,), float64."""
    nonfinite: torch.Tensor
    """True where a non-finite velocity, endpoint or energy was met (the sample is unusable)."""
    nfe: int
    """Model evaluations of the main integration (shared by the whole batch)."""
    nfe_total: int
    """Model evaluations including the τ / profile side steps and the profile itself."""
    t_end: float = 1.0
    """Where the integration stopped: 1, or 1 − ε for a field that diverges at t = 1."""

    @property
    def dim(self) -> int:
        """D, the number of coordinates of one sample."""
        return int(self.x0[0].numel())

    @property
    def kpe_per_dim(self) -> torch.Tensor:
        """E / D, comparable across pixel and latent spaces."""
        return self.kpe / self.dim

    @property
    def chord_energy(self) -> torch.Tensor:
        """½‖x(T) − x(0)‖² / T, the energy of the straight constant-speed path between the same
        end points over the same time T = ``t_end`` (½‖x(1) − x(0)‖² when T = 1)."""
        chord = 0.5 * (self.x1 - self.x0).flatten(1).pow(2).sum(1)
        return chord if self.t_end == 1.0 else chord / self.t_end

    @property
    def straightness(self) -> torch.Tensor:
        """E − chord energy = ½ ∫₀^T ‖v − (x(T) − x(0)) / T‖² dt ≥ 0 (0 for a straight path)."""
        return self.kpe - self.chord_energy

    def to_numpy(self, first_sample: int = 0) -> dict[str, np.ndarray]:
        """The batch's arrays as a study's shard stores them (numpy on the CPU; float32 unless
        stated): ``sample`` (B,) int64, the global indices ``first_sample`` … ``first_sample`` +
        B − 1; ``x0``, ``x1`` (B, ...); each field of :data:`enfopath.columns.PER_SAMPLE` (B,);
        ``speed_sq`` (B, P); ``kpe_profile`` (B, P) float64; ``nfe_profile`` (B, P) int64;
        ``profile_t`` (P,) float64; ``nonfinite`` (B,) bool; ``nfe``, ``nfe_total`` (B,) int64
        (the batch's, on every row)."""

        def cpu(t: torch.Tensor) -> np.ndarray:
            return t.detach().float().cpu().numpy()

        n = len(self.kpe)
        arrays = {
            "sample": np.arange(first_sample, first_sample + n, dtype=np.int64),
            "x0": cpu(self.x0),
            "x1": cpu(self.x1),
            "speed_sq": cpu(self.speed_sq),
            "kpe_profile": self.kpe_profile.detach().double().cpu().numpy(),
            "nfe_profile": np.tile(self.nfe_profile.numpy(), (n, 1)),
            "profile_t": self.profile_t.numpy(),
            "nonfinite": self.nonfinite.cpu().numpy(),
            "nfe": np.full(n, self.nfe, dtype=np.int64),
            "nfe_total": np.full(n, self.nfe_total, dtype=np.int64),
        }
        arrays.update({k: cpu(getattr(self, k)) for k in PER_SAMPLE})
        return arrays

    def to_dataframe(self, first_sample: int = 0) -> pd.DataFrame:
        """One row per sample with the per-sample energy columns of a study's
        ``samples.parquet``, named as there (:func:`enfopath.per_sample.energy_columns`:
        ``sample`` from ``first_sample`` on, ``kpe``, ``kpe_per_dim``, ``kpe_early``,
        ``kpe_late``, ``chord_energy``, ``straightness``, ``path_length``,
        ``kpe_left_riemann``, ``x0_norm_sq``, ``x1_norm_sq``, ``nfe``, ``nfe_total``,
        ``nonfinite`` and the profiles ``speed_sq_t<s>``, ``kpe_t<s>``, ``nfe_t<s>``). Needs
        pandas (the study's stack; the light core does not install it)."""
        try:
            import pandas as pd
        except ImportError as err:  # the light core: pip install . installs no pandas
            raise ImportError(
                "EnergyResult.to_dataframe needs pandas: pip install pandas (or the study's "
                "extra, pip install '.[study]')"
            ) from err
        return pd.DataFrame(energy_columns(self.to_numpy(first_sample)))


class _Augmented:
    """The augmented field d/dt [x, E, L] = [v, ½‖v‖², ‖v‖] on a flat state (B, D + 2).

    A sample whose x0 or velocity is non-finite, or whose ‖v‖² exceeds ``limit`` (beyond it a
    Runge–Kutta combination of stages could overflow the state), is frozen from then on (its
    velocity set to 0) and flagged in ``frozen``, so that one diverging sample neither crashes
    the batch nor changes the others' values. The velocity is called on copies of t and x
    (:meth:`user_input`), and every output is checked: a floating tensor of x's exact shape on
    x's device (:func:`enfopath.velocity.check_output`).
    """

    def __init__(self, velocity: Velocity, x0: torch.Tensor) -> None:
        self.velocity = velocity
        self.shape = x0.shape
        self.dim = int(torch.Size(x0.shape[1:]).numel())
        self.calls = 0
        self.times: list[float] = []
        self.frozen = ~torch.isfinite(x0.reshape(x0.shape[0], self.dim)).all(dim=1)
        self.limit = torch.finfo(x0.dtype).max / 64

    def user_input(self, state: torch.Tensor) -> torch.Tensor:
        """x as the velocity sees it: a contiguous copy of the state's x part, shape of x0, so
        that nothing the user's code does to its input reaches the state."""
        return state[:, : self.dim].reshape(self.shape).clone(memory_format=torch.contiguous_format)

    def __call__(self, t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.times.append(float(t))
        x = self.user_input(state)
        v = self.velocity(t.clone(), x)
        check_output(v, x, "velocity(t, x)")
        v = v.reshape(state.shape[0], self.dim).to(state.dtype)
        sq = v.pow(2).sum(dim=1, keepdim=True)
        self.frozen = self.frozen.to(sq.device) | ~(sq[:, 0] <= self.limit)  # NaN fails too
        if bool(self.frozen.any()):
            v = torch.where(self.frozen[:, None], torch.zeros_like(v), v)
            sq = torch.where(self.frozen[:, None], torch.zeros_like(sq), sq)
        return torch.cat([v, 0.5 * sq, sq.sqrt()], dim=1)


def _rk_step(
    f: _Augmented,
    t: float,
    h: float,
    y: torch.Tensor,
    tab: Tableau,
    k1: torch.Tensor,
) -> torch.Tensor:
    """One explicit Runge–Kutta step of size h from (t, y), given the first stage k1 = f(t, y)."""
    ks = [k1]
    for a_row, c in zip(tab.a[1:], tab.c[1:], strict=True):
        yi = y + h * sum((a * k for a, k in zip(a_row, ks, strict=False) if a != 0.0), 0.0)
        ks.append(f(_time(t + c * h, y), yi))
    return y + h * sum((b * k for b, k in zip(tab.b, ks, strict=True) if b != 0.0), 0.0)


def _time(t: float, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(t, dtype=like.dtype, device=like.device)


def _integrate_fixed(
    f: _Augmented, y0: torch.Tensor, grid: Sequence[float], tab: Tableau, probes: Sequence[float]
) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, dict[float, torch.Tensor]]:
    """Integrate on ``grid``; return the final state, the states at the sorted ``probes``, the
    left-Riemann energy Σ_i ½‖k1_i‖² Δt_i, shape (B,), and the first stage k1 = f(t_i, y_i) at
    each probe that is a node t_i of the grid (below its end): the augmented velocity there,
    which a speed profile would otherwise evaluate again."""
    y = y0
    at_probes: list[torch.Tensor] = []
    at_nodes: dict[float, torch.Tensor] = {}
    left = torch.zeros(y0.shape[0], dtype=y0.dtype, device=y0.device)
    j = 0
    for t0, t1 in itertools.pairwise(grid):
        k1 = f(_time(t0, y), y)
        while j < len(probes) and probes[j] < t1:
            p = probes[j]
            if p == t0:
                at_probes.append(y)
                at_nodes[p] = k1
            else:
                at_probes.append(_rk_step(f, t0, p - t0, y, tab, k1))
            j += 1
        left = left + (t1 - t0) * k1[:, f.dim]
        y = _rk_step(f, t0, t1 - t0, y, tab, k1)
    at_probes.extend(y for _ in probes[j:])
    return y, at_probes, left, at_nodes


def _integrate_dopri5(
    f: _Augmented,
    y0: torch.Tensor,
    probes: Sequence[float],
    rtol: float,
    atol: float,
    t_end: float = 1.0,
    t_start: float = 0.0,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Adaptive Dormand–Prince 5(4) with per-sample error control (see the module docstring)
    from ``t_start`` to ``t_end``: the norm is the maximum over unfrozen samples of the RMS
    over x (E, L excluded)."""
    dim = f.dim

    def norm(s: torch.Tensor) -> torch.Tensor:
        rms = s[:, :dim].pow(2).mean(dim=1).sqrt()
        active = rms[~f.frozen.to(rms.device)]
        return active.max() if active.numel() else rms.new_zeros(())

    times = sorted({t_start, *probes, t_end})
    t = torch.tensor(times, dtype=y0.dtype, device=y0.device)
    try:
        sol = odeint(f, y0, t, rtol=rtol, atol=atol, method="dopri5", options={"norm": norm})
    except AssertionError as err:  # torchdiffeq's only failure of the step control
        raise ValueError(
            f"dopri5 could not meet rtol = {rtol:g}, atol = {atol:g} ({err}): the step size "
            "underflowed; loosen rtol / atol, or check that the velocity is smooth and finite"
        ) from err
    return sol[-1], [sol[times.index(p)] for p in probes]


def _speed_stage(
    f: _Augmented, t: float, y: torch.Tensor, at_nodes: dict[float, torch.Tensor]
) -> torch.Tensor:
    """½‖v(x(t), t)‖² of each sample (B,) at state y: the solver's own first stage where t is a
    node (the same call on the same state, so the same bits), else one evaluation more. Either
    way zero for a sample frozen by the end of the path, as an evaluation after it would give."""
    if t not in at_nodes:
        return f(_time(t, y), y)[:, f.dim]
    half_sq = at_nodes[t][:, f.dim]
    frozen = f.frozen.to(half_sq.device)
    return torch.where(frozen, torch.zeros_like(half_sq), half_sq) if frozen.any() else half_sq


def _fixed_nfe_profile(grid: Sequence[float], tab: Tableau, times: Sequence[float]) -> torch.Tensor:
    """Stage evaluations t_i + c_k h_i ≤ s of a fixed-grid method, for each s of ``times``."""
    stages = [t0 + c * (t1 - t0) for t0, t1 in itertools.pairwise(grid) for c in tab.c]
    return torch.tensor([sum(x <= s for x in stages) for s in times], dtype=torch.int64)


def _check_arguments(
    x0: object,
    solver: str,
    steps: object,
    rtol: object,
    atol: object,
    grid: str | Sequence[float] | torch.Tensor,
    tau: object,
    profile_points: object,
) -> None:
    """Raise ValueError naming the first invalid argument of :func:`sample_with_energy`."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; expected one of {SOLVERS}")
    if isinstance(grid, str) and grid not in GRIDS:
        raise ValueError(f"unknown grid {grid!r}; expected one of {GRIDS} or the nodes")
    if not isinstance(grid, str):
        nodes = explicit_grid(grid)
        if solver != "dopri5" and len(nodes) - 1 != steps:
            raise ValueError(
                f"a grid of {len(nodes)} nodes has {len(nodes) - 1} steps, not {steps}"
            )
    if not isinstance(x0, torch.Tensor) or x0.dim() < 2:
        shape = tuple(x0.shape) if isinstance(x0, torch.Tensor) else type(x0).__name__
        raise ValueError(f"x0 must be a tensor batch of shape (B, ...), got {shape}")
    if x0.dtype not in STATE_DTYPES:
        hint = (
            " (pass x0.float(); the network may still run in bf16)"
            if x0.is_floating_point()
            else ""
        )
        raise ValueError(
            f"x0 has dtype {x0.dtype}; it sets the dtype of the state and of the energy "
            f"accumulated in it, which must be float32 or float64{hint}"
        )
    if torch.Size(x0.shape[1:]).numel() == 0:
        raise ValueError(f"x0 of shape {tuple(x0.shape)} has no coordinates per sample")
    for name, value, low in (("steps", steps, 1), ("profile_points", profile_points, 2)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}")
    floor = MIN_TOLERANCE[x0.dtype]
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not _real(value) or not value >= floor:
            raise ValueError(
                f"{name} must be a finite number ≥ {floor:g} for a {x0.dtype} state (below it "
                f"the tolerance is finer than the state's round-off), got {value!r}"
            )
    if not _real(tau) or not 0.0 < tau < 1.0:
        raise ValueError(f"tau must lie strictly between 0 and 1, got {tau!r}")


def _real(value: object) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def sample_with_energy(
    velocity: Velocity,
    x0: torch.Tensor,
    *,
    solver: str = "dopri5",
    steps: int = 100,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    grid: str | Sequence[float] | torch.Tensor = "uniform",
    tau: float = 0.6,
    profile_points: int = 11,
    t_end: float = 1.0,
) -> EnergyResult:
    """Integrate dx/dt = velocity(t, x) from x(0) = x0 over t ∈ [0, 1] and measure its energy.

    Args:
        velocity: ``velocity(t, x)`` in torchdiffeq's convention (t a 0-d tensor of x's dtype,
            x a batch of shape (B, ...)); returns a tensor of x's shape.
        x0: initial noise, shape (B, ...) with at least one coordinate per sample. Its dtype,
            float32 or float64, is the dtype of the whole state (:data:`STATE_DTYPES`).
        solver: ``dopri5`` (adaptive) or a fixed-grid method: euler, midpoint, heun, rk4.
        steps: number of steps of a fixed-grid solver (an integer ≥ 1; unused by dopri5).
        rtol, atol: tolerances of dopri5, finite and ≥ :data:`MIN_TOLERANCE` of the state's
            dtype (unused by fixed-grid solvers).
        grid: ``uniform`` or ``cosine`` nodes for a fixed-grid solver, or the nodes themselves
            (``steps`` + 1 of them, strictly increasing from 0 to 1: :func:`explicit_grid`).
        tau: the early/late split time, 0 < τ < 1.
        profile_points: number of uniform times in [0, 1] for the speed profile ‖v‖².
        t_end: where the integration stops, 0 < t_end ≤ 1: 1 − ε for a field that diverges
            at t = 1 (the empirical flow). The solver's grid, the profile times and E cover
            [0, t_end] (x1 is x(t_end)); τ must lie below it. 1 leaves every number as it is.

    Returns:
        An :class:`EnergyResult`; no gradients are kept. A sample with a non-finite x0 or
        velocity is frozen and flagged in ``nonfinite`` (its values are not usable); an empty
        batch (B = 0) gives empty results without calling ``velocity``.

    Raises:
        ValueError: naming the argument that is invalid, the velocity output that is not a
            floating tensor of x's exact shape on x's device, or tolerances dopri5 cannot meet.
    """
    _check_arguments(x0, solver, steps, rtol, atol, grid, tau, profile_points)
    if not _real(t_end) or not tau < t_end <= 1.0:
        raise ValueError(f"t_end must lie in (tau, 1] = ({tau}, 1], got {t_end!r}")
    f = _Augmented(velocity, x0)
    batch = x0.shape[0]
    # frozen samples start from a finite state (torchdiffeq refuses non-finite states)
    flat = torch.where(f.frozen[:, None], 0.0, x0.reshape(batch, f.dim))
    y0 = torch.cat([flat, x0.new_zeros(batch, 2)], dim=1)
    prof_t = _scaled(profile_times(profile_points), t_end)
    probes = sorted({tau, *prof_t.tolist()})
    with torch.no_grad():
        at_nodes: dict[float, torch.Tensor] = {}  # f at profile times the solver evaluated
        if batch == 0:
            y1, at_probes = y0, [y0 for _ in probes]
            left = x0.new_zeros(0)
            nfe = 0
            nfe_profile = torch.zeros(len(prof_t), dtype=torch.int64)
        elif solver == "dopri5":
            y1, at_probes = _integrate_dopri5(f, y0, probes, rtol, atol, t_end)
            nfe = f.calls
            nfe_profile = torch.tensor(
                [sum(x <= s for x in f.times) for s in prof_t.tolist()], dtype=torch.int64
            )
            nfe_profile[-1] = nfe  # the last step may evaluate past t = 1 (dense output)
            left = torch.full((batch,), float("nan"), dtype=x0.dtype, device=x0.device)
        else:
            tab = FIXED_SOLVERS[solver]
            nodes = solver_nodes(steps, grid, t_end)
            y1, at_probes, left, at_nodes = _integrate_fixed(f, y0, nodes, tab, probes)
            nfe = steps * tab.stages
            nfe_profile = _fixed_nfe_profile(nodes, tab, prof_t.tolist())
        state = dict(zip(probes, at_probes, strict=True))
        speed_sq = (
            torch.stack([2.0 * _speed_stage(f, t, state[t], at_nodes) for t in prof_t.tolist()], 1)
            if batch
            else x0.new_zeros(0, len(prof_t))
        )
    kpe = y1[:, f.dim]
    kpe_early = state[tau][:, f.dim]
    kpe_profile = torch.stack([state[t][:, f.dim] for t in prof_t.tolist()], dim=1)
    kpe_profile[:, -1] = kpe  # E(1) is the final energy exactly
    x1 = y1[:, : f.dim].reshape(x0.shape)
    nonfinite = (
        f.frozen.to(x0.device)
        | ~torch.isfinite(y1).all(dim=1)
        | ~torch.isfinite(speed_sq).all(dim=1)
    )
    return EnergyResult(
        x0=x0,
        x1=x1,
        kpe=kpe,
        kpe_early=kpe_early,
        kpe_late=kpe - kpe_early,
        path_length=y1[:, f.dim + 1],
        kpe_left_riemann=left,
        speed_sq=speed_sq,
        kpe_profile=kpe_profile,
        nfe_profile=nfe_profile,
        profile_t=prof_t,
        nonfinite=nonfinite,
        nfe=nfe,
        nfe_total=f.calls,
        t_end=t_end,
    )


def solver_nodes(
    steps: int, grid: str | Sequence[float] | torch.Tensor = "uniform", t_end: float = 1.0
) -> list[float]:
    """The nodes t_0 = 0 < … < t_steps = ``t_end`` on which :func:`sample_with_energy`'s
    fixed-grid solvers step: a ``uniform`` or ``cosine`` grid of ``steps`` steps, or the given
    nodes (:func:`enfopath.grids.explicit_grid`), mapped onto [0, t_end]."""
    base = time_grid(steps, grid) if isinstance(grid, str) else explicit_grid(grid)
    return _scaled(base, t_end).tolist()


def _scaled(times: torch.Tensor, t_end: float) -> torch.Tensor:
    """Times on [0, 1] mapped onto [0, t_end] (untouched, bit for bit, when t_end = 1)."""
    return times if t_end == 1.0 else times * t_end


@dataclass(frozen=True)
class PathState:
    """A batch of B samples part-way along their paths: the augmented state at time ``t``.

    What an integration stopped at t hands on to the next (:func:`advance_with_energy`), so
    that a sampler can stop, inspect and continue its samples (early rejection). Per-sample
    tensors have shape (B,), in the state's dtype (float32 or float64).
    """

    t: float
    """The time the state is at, in [0, 1]."""
    x: torch.Tensor
    """x(t), shape (B, ...)."""
    kpe: torch.Tensor
    """The partial energy E(t) = ½ ∫₀ᵗ ‖v‖² dt."""
    path_length: torch.Tensor
    """L(t) = ∫₀ᵗ ‖v‖ dt."""
    nonfinite: torch.Tensor
    """True (bool) where a non-finite value was met on the way (the sample is frozen)."""

    @classmethod
    def noise(cls, x0: torch.Tensor) -> PathState:
        """The start of the paths: x(0) = ``x0``, E = L = 0, at t = 0."""
        zero = x0.new_zeros(x0.shape[0])
        finite = torch.isfinite(x0.reshape(x0.shape[0], -1)).all(dim=1)
        return cls(0.0, x0, zero, zero.clone(), ~finite)

    def rows(self, keep: torch.Tensor) -> PathState:
        """The samples ``keep`` (a bool mask (B,) or indices) of the batch, at the same t."""
        return PathState(
            self.t, self.x[keep], self.kpe[keep], self.path_length[keep], self.nonfinite[keep]
        )


def advance_with_energy(
    velocity: Velocity,
    start: PathState,
    t1: float,
    *,
    solver: str = "dopri5",
    nodes: Sequence[float] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
) -> tuple[PathState, int]:
    """Integrate dx/dt = velocity(t, x) with its energy from ``start`` (time t₀ = start.t) to
    ``t1``, continuing E and L: the same augmented field, per-sample freezing and step control
    as :func:`sample_with_energy`, with no τ or profile side steps.

    A fixed-grid ``solver`` steps on ``nodes``, strictly increasing from exactly t₀ to exactly
    ``t1`` (a stretch of :func:`solver_nodes`: from noise to t_end on all of them it is
    :func:`sample_with_energy`'s path, bit for bit; stopped at a node and continued, the same
    path again). dopri5 starts afresh at t₀ with rtol / atol (a path stopped and continued
    takes other steps than one integrated through, within the tolerances).

    Returns the state at ``t1`` and the model evaluations spent (shared by the batch: each
    evaluates every sample of it). An empty batch returns ``start`` moved to ``t1`` at no cost.
    """
    x0 = start.x
    _check_arguments(x0, solver, 1, rtol, atol, "uniform", 0.5, 2)
    if not 0.0 <= start.t < t1 <= 1.0:
        raise ValueError(f"cannot integrate from t = {start.t!r} to t = {t1!r} within [0, 1]")
    fixed = solver in FIXED_SOLVERS
    if fixed:
        if nodes is None or len(nodes) < 2:
            raise ValueError(f"{solver} needs the nodes of its steps from {start.t} to {t1}")
        if (
            nodes[0] != start.t
            or nodes[-1] != t1
            or any(b <= a for a, b in itertools.pairwise(nodes))
        ):
            raise ValueError(
                f"the nodes must increase strictly from t = {start.t!r} to t = {t1!r}, got "
                f"{nodes[0]!r} … {nodes[-1]!r} ({len(nodes)} nodes)"
            )
    batch = x0.shape[0]
    if batch == 0:
        return replace(start, t=t1), 0
    f = _Augmented(velocity, x0)
    f.frozen = f.frozen.to(x0.device) | start.nonfinite.to(x0.device)
    flat = torch.where(f.frozen[:, None], 0.0, x0.reshape(batch, f.dim))
    y0 = torch.cat([flat, start.kpe[:, None], start.path_length[:, None]], dim=1).to(x0.dtype)
    with torch.no_grad():
        if fixed:
            y1, _, _, _ = _integrate_fixed(f, y0, list(nodes), FIXED_SOLVERS[solver], [])
        else:
            y1, _ = _integrate_dopri5(f, y0, [], rtol, atol, t_end=t1, t_start=start.t)
    nonfinite = f.frozen.to(x0.device) | ~torch.isfinite(y1).all(dim=1)
    end = PathState(t1, y1[:, : f.dim].reshape(x0.shape), y1[:, f.dim], y1[:, f.dim + 1], nonfinite)
    return end, f.calls
