"""The energy-informed time grid of a study (``sampling.grid: energy``): the calibration a job
reads and how it builds the grid's nodes (the pass that measures it: :mod:`.calibration`).

A calibration pass integrates the study's first ``grid_calibration.n_samples`` samples (their
own noise and labels, the study's velocity with its shaping, in the study's batches) and records
the population profiles of :mod:`enfopath.profiles` (speed, energy rate dE/dt, acceleration
‖dv/dt‖) on ``grid_calibration.nodes`` uniform steps of [0, t_end]. Every fixed-grid job of the
study then takes its nodes from that file (``grids/calibration.npz``, checksummed): the quantile
grid of the chosen profile raised to γ, smoothed and floored (:func:`enfopath.grids.energy_grid`),
at whatever steps the job integrates with, so the study's sampling, the robustness settings and
the schedules comparison all use the same calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from enfopath.grids import energy_grid
from enfopath.profiles import PROFILES

ENERGY = "energy"
"""``sampling.grid`` naming the study's energy-informed grid."""


@dataclass(frozen=True)
class Calibration:
    """The population profiles of the calibration samples: times ``t`` (nodes + 1,) on
    [0, t_end] and each profile's mean there, float64, from ``n_samples`` samples."""

    t: np.ndarray
    profiles: dict[str, np.ndarray]
    n_samples: int

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays of ``grids/calibration.npz``."""
        return {"t": self.t, "n_samples": np.array(self.n_samples)} | dict(self.profiles)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Calibration:
        return cls(
            np.asarray(arrays["t"], np.float64),
            {k: np.asarray(arrays[k], np.float64) for k in PROFILES},
            int(arrays["n_samples"]),
        )


@dataclass(frozen=True)
class EnergyGrid:
    """How a job builds the energy grid: the calibration, the profile followed, its exponent
    γ, its smoothing width (in units of t / t_end) and the floor's share of uniform density
    (``grid_calibration``)."""

    calibration: Calibration
    profile: str
    gamma: float
    smoothing: float
    floor: float

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}; expected one of {PROFILES}")

    @classmethod
    def from_config(cls, calibration: Calibration, section: dict[str, Any]) -> EnergyGrid:
        """From the ``grid_calibration`` section of a validated config."""
        keys = ("profile", "gamma", "smoothing", "floor")
        return cls(calibration, **{k: section[k] for k in keys})

    def following(self, profile: str) -> EnergyGrid:
        """The same grid following another profile."""
        return replace(self, profile=profile)

    def nodes(self, steps: int) -> torch.Tensor:
        """The ``steps + 1`` nodes on [0, 1] (float64; the solver scales them to [0, t_end])."""
        c = self.calibration
        return energy_grid(
            torch.from_numpy(c.t),
            torch.from_numpy(c.profiles[self.profile]),
            steps,
            self.gamma,
            self.smoothing,
            self.floor,
        )
