"""KPE as a training monitor: the kinetic path energy of one fixed noise batch, in one call.

A training loop that evaluates every few hundred steps calls :func:`kpe_monitor` with its
current (EMA) velocity and a noise batch drawn once by :func:`monitor_noise`, and gets a
:class:`KpeSummary`: the mean and quantiles of E = ½ ∫₀¹ ‖v‖² dt over the batch, the mean chord
energy ½‖x(1) − x(0)‖², the mean excess energy E − chord (0 for straight paths: how far the
flow is from straight, the quantity that training with an OT coupling lowers), and the model
evaluations spent. Energies are in squared state units (pixels in [-1, 1], or latent units)
per sample, summed over its coordinates.

The noise is the study's: sample i of the batch is the study's sample i
(:func:`enfopath.seeding.initial_noise` with the study's seed), so the monitor of a checkpoint,
run with a study's sampling settings and batch size, gives to float64 round-off of the means
what that study measures on its first n samples (a test holds it to this). The batch is split
into ``batch_size`` rows per solve, aligned to the global index as a study's shards are, so a
dopri5 monitor meets the study's step sizes too when n is a multiple of the batch size (dopri5's
steps depend on a sample's batch-mates).

A sample whose trajectory met a non-finite value (:attr:`EnergyResult.nonfinite`) is counted in
``nonfinite`` and left out of every statistic; with none left the statistics are NaN. Nothing
here draws a random number: calling the monitor inside a training loop leaves every generator,
hence the training run, as it would be without it.

Core, light: torch and :mod:`enfopath.energy` only (no pandas, no models).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from enfopath.energy import Velocity, sample_with_energy
from enfopath.seeding import initial_noise

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
"""The KPE quantiles of a summary (linear interpolation, numpy's and torch's default)."""


@dataclass(frozen=True)
class KpeSummary:
    """The KPE of one noise batch at one point of training (energies per sample, in squared
    state units; means and quantiles over the batch's finite samples)."""

    n: int
    """Samples in the batch."""
    nonfinite: int
    """Samples left out: a non-finite velocity, endpoint or energy was met."""
    kpe_mean: float
    kpe_quantiles: tuple[float, ...]
    """The KPE at each of :data:`QUANTILES`."""
    chord_energy_mean: float
    """Mean of ½‖x(1) − x(0)‖² / T (the straight path's energy between the same end points)."""
    excess_energy_mean: float
    """Mean of E − chord energy ≥ 0 (the study's ``straightness`` column)."""
    nfe: float
    """Model evaluations of the main integration per sample (a fixed grid: steps × stages;
    dopri5: the mean over samples of their batch's count)."""

    def row(self) -> dict[str, float]:
        """The summary as one flat table row: the quantiles as ``kpe_q05`` … ``kpe_q95``."""
        row = asdict(self)
        quantiles = row.pop("kpe_quantiles")
        for q, value in zip(QUANTILES, quantiles, strict=True):
            row[f"kpe_q{round(100 * q):02d}"] = value
        return row


def monitor_noise(
    seed: int, n: int, shape: tuple[int, ...], device: torch.device | str = "cpu"
) -> torch.Tensor:
    """The monitor's fixed noise: the study's samples 0 … n − 1 (each from its own seed derived
    from ``seed``), shape (n, *shape), float32, on ``device``. Draw it once, before training."""
    if n < 1:
        raise ValueError(f"the monitor needs at least one sample, got n = {n}")
    return initial_noise(seed, range(n), tuple(shape)).to(device)


def kpe_monitor(
    velocity: Velocity,
    x0: torch.Tensor,
    *,
    batch_size: int | None = None,
    solver: str = "heun",
    steps: int = 16,
    profile_points: int = 2,
    **solver_options: object,
) -> KpeSummary:
    """Integrate the noise batch x0 (N, ...) along ``velocity(t, x)`` (torchdiffeq's convention,
    as :func:`enfopath.energy.sample_with_energy` takes it) and summarize its KPE.

    ``batch_size``: rows per solve (None: all N at once); ``solver``, ``steps``,
    ``profile_points`` and any other argument of :func:`sample_with_energy` (``grid``,
    ``rtol``, ``atol``, ``tau``, ``t_end``, ...) are passed on. The default, Heun on 16 uniform
    steps, spends 32 evaluations per sample on the path and 35 in all (the speed at t = 0 and
    1 and the side step to τ: the monitor needs no speed profile, so ``profile_points`` is 2);
    it is cheap enough for every evaluation step of a training loop. Its energy is a 2nd-order
    quadrature of the path: compare monitor values with one another, not with a dopri5 study's.
    """
    n = len(x0)
    size = n if batch_size is None else batch_size
    if size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    kpe, chord, excess, bad, nfe = [], [], [], [], []
    for start in range(0, n, size):
        res = sample_with_energy(
            velocity,
            x0[start : start + size],
            solver=solver,
            steps=steps,
            profile_points=profile_points,
            **solver_options,
        )
        kpe.append(res.kpe.detach().double().cpu())
        chord.append(res.chord_energy.detach().double().cpu())
        excess.append(res.straightness.detach().double().cpu())
        bad.append(res.nonfinite.cpu())
        nfe.append(torch.full((len(res.kpe),), float(res.nfe), dtype=torch.float64))
    cat = torch.cat
    return summarize(cat(kpe), cat(chord), cat(excess), cat(bad), cat(nfe))


def summarize(
    kpe: torch.Tensor,
    chord: torch.Tensor,
    excess: torch.Tensor,
    nonfinite: torch.Tensor,
    nfe: torch.Tensor,
) -> KpeSummary:
    """The :class:`KpeSummary` of per-sample KPE, chord and excess energy (in the state's dtype,
    as a study's columns hold them, then float64), non-finite flags and NFE, each (N,).
    Non-finite samples are counted and left out."""
    keep = ~nonfinite
    e, c = kpe[keep], chord[keep]
    if len(e):
        quantiles = torch.quantile(e, torch.tensor(QUANTILES, dtype=e.dtype)).tolist()
    else:
        quantiles = [float("nan")] * len(QUANTILES)
    return KpeSummary(
        n=len(kpe),
        nonfinite=int(nonfinite.sum()),
        kpe_mean=float(e.mean()),
        kpe_quantiles=tuple(quantiles),
        chord_energy_mean=float(c.mean()),
        excess_energy_mean=float(excess[keep].mean()),
        nfe=float(nfe.mean()),
    )
