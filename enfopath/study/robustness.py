"""Does the KPE ranking survive the solver? The same noise re-integrated under several solver
settings, each compared with a tight reference.

The study's first n samples (their own x0 and labels, :func:`enfopath.study.shards.batch_problem`)
are integrated once per setting of ``robustness.settings`` and once with the reference (a tight
dopri5). Per setting and sample: the KPE carried in the state and the authors' left-Riemann sum
Σ_i ½‖v(x_i, t_i)‖² Δt_i at the same nodes (fixed grids only), the NFE, and the RMS distance of
the endpoint from the reference's (:data:`RUN_COLUMNS`); and every run's endpoints, which the
``robustness_scores`` job scores as the study scores its own (semantics and density), so that
each setting's relations are measured on what that setting produced.
:func:`enfopath.measures.robustness.compare_settings` turns these into the accuracy and the rank
agreement of each setting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from enfopath.energy import ADAPTIVE_SOLVERS, EnergyResult, sample_with_energy
from enfopath.study.shards import (
    SamplingConfig,
    batch_labels,
    batch_problem,
    batches,
    to_uint8,
)

if TYPE_CHECKING:
    from enfopath.models.flows import Flow


@dataclass(frozen=True)
class SolverSetting:
    """One solver setting: a fixed-grid method with its steps, or dopri5 with its tolerances."""

    solver: str
    steps: int | None = None
    rtol: float | None = None
    atol: float | None = None
    grid: str | None = None
    """A fixed grid of its own (uniform, cosine, energy); None: the study's ``sampling.grid``."""
    profile: str | None = None
    """The profile an ``energy`` grid follows; None: ``grid_calibration.profile``."""

    @classmethod
    def from_config(cls, entry: dict[str, Any]) -> SolverSetting:
        """From one entry of ``robustness.settings`` (or ``robustness.reference``)."""
        return cls(**{k: entry[k] for k in ("solver", "steps", "rtol", "atol") if k in entry})

    @property
    def adaptive(self) -> bool:
        return self.solver in ADAPTIVE_SOLVERS

    @property
    def label(self) -> str:
        """``euler 10``, ``dopri5 rtol 1e-03 atol 1e-03``: the setting's name in the tables."""
        if self.adaptive:
            return f"{self.solver} rtol {self.rtol:.0e} atol {self.atol:.0e}"
        grid = "" if self.grid is None else f" {self.grid_name}"
        return f"{self.solver} {self.steps}{grid}"

    @property
    def grid_name(self) -> str:
        """``uniform``, ``cosine``, ``energy (acceleration)``: the grid in the tables ('' for
        the study's own)."""
        if self.grid is None:
            return ""
        return f"{self.grid} ({self.profile})" if self.profile else self.grid

    def applied_to(self, sampling: SamplingConfig) -> SamplingConfig:
        """The study's ``sampling`` with this solver (and its steps or tolerances, and its own
        grid if it has one) instead of its own: everything else (τ, profile, t_end, shaping,
        batch) is the study's."""
        own = {
            k: v for k in ("steps", "rtol", "atol", "grid") if (v := getattr(self, k)) is not None
        }
        if self.profile is not None:
            if sampling.energy is None:
                raise ValueError(f"{self.label}: an energy grid needs the study's calibration")
            own["energy"] = sampling.energy.following(self.profile)
        return replace(sampling, solver=self.solver, **own)


def _rows(
    setting: SolverSetting, reference: bool, batch: range, res: EnergyResult, x1_ref: torch.Tensor
) -> pd.DataFrame:
    n = len(batch)
    err = (res.x1 - x1_ref).flatten(1).double().pow(2).mean(1).sqrt()
    return pd.DataFrame(
        {
            "setting": setting.label,
            "solver": setting.solver,
            "steps": np.nan if setting.steps is None else float(setting.steps),
            "rtol": np.nan if setting.rtol is None else setting.rtol,
            "atol": np.nan if setting.atol is None else setting.atol,
            "reference": reference,
            "sample": np.arange(batch.start, batch.stop, dtype=np.int64),
            "kpe": res.kpe.detach().double().cpu().numpy(),
            "kpe_left_riemann": res.kpe_left_riemann.detach().double().cpu().numpy(),
            "nfe": np.full(n, res.nfe, dtype=np.int64),
            "x1_rms_error": err.cpu().numpy(),
            "nonfinite": res.nonfinite.cpu().numpy(),
        }
    )


def rerun_batch(
    velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    batch: range,
    settings: Sequence[SolverSetting],
    reference: SolverSetting,
    sampling: SamplingConfig,
    flow: Flow | None = None,
) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """One batch (global indices ``batch``, noise ``x0``) integrated with the reference, then
    with each setting, each applied to the study's ``sampling`` (a ``shifted`` grid: ``flow``'s
    own, :meth:`SamplingConfig.flow_kwargs`): rows of :data:`RUN_COLUMNS`, the reference's
    first, and each run's endpoints x1 (N, *x0.shape[1:]) by setting label."""

    def run(setting: SolverSetting) -> EnergyResult:
        applied = setting.applied_to(sampling)
        kwargs = applied.solver_kwargs() if flow is None else applied.flow_kwargs(flow)
        return sample_with_energy(velocity, x0, **kwargs)

    ref = run(reference)
    parts, endpoints = [_rows(reference, True, batch, ref, ref.x1)], {reference.label: ref.x1}
    for setting in settings:
        res = run(setting)
        parts.append(_rows(setting, False, batch, res, ref.x1))
        endpoints[setting.label] = res.x1
    return pd.concat(parts, ignore_index=True), endpoints


def integrate_settings(
    flow: Flow,
    seed: int,
    n_samples: int,
    settings: Sequence[SolverSetting],
    reference: SolverSetting,
    sampling: SamplingConfig,
    device: torch.device,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The study's samples 0 … n_samples − 1 re-integrated under the reference and every
    setting, each applied to the study's ``sampling`` (:meth:`SolverSetting.applied_to`: its
    grid, τ, profile points, t_end and trajectory shaping), in the study's batches (aligned to
    the global index as in the study). ``progress(n)`` is called after each batch.

    Returns the per-sample runs table (:data:`RUN_COLUMNS`) and the endpoints, arrays like a
    trajectory shard's with a leading setting axis, to be scored as the study's are:
    ``setting`` (S,) str, the labels, the reference's first; ``sample``, ``label`` (N,) int64;
    ``x1`` (S, N, *flow.shape) float32; for a latent flow ``image`` (S, N, 3, H, W) uint8, the
    decoded endpoints clamped (:func:`enfopath.study.shards.to_uint8`).
    """
    parts: list[pd.DataFrame] = []
    ends: dict[str, list[np.ndarray]] = {}
    images: dict[str, list[np.ndarray]] = {}
    labels = []
    for batch in batches(range(n_samples), sampling.batch_size):
        x0, velocity = batch_problem(flow, seed, batch, device, sampling.kts)
        runs, endpoints = rerun_batch(velocity, x0, batch, settings, reference, sampling, flow)
        parts.append(runs)
        labels.append(batch_labels(flow, seed, batch))
        for label, x1 in endpoints.items():
            ends.setdefault(label, []).append(x1.detach().float().cpu().numpy())
            decoded = flow.images(x1)
            if decoded is not None:
                images.setdefault(label, []).append(to_uint8(decoded))
        if progress is not None:
            progress(len(batch))
    order = list(ends)
    out = {
        "setting": np.array(order),
        "sample": np.arange(n_samples, dtype=np.int64),
        "label": np.concatenate(labels),
        "x1": np.stack([np.concatenate(ends[k]) for k in order]),
    }
    if images:
        out["image"] = np.stack([np.concatenate(images[k]) for k in order])
    return pd.concat(parts, ignore_index=True), out


def setting_endpoints(endpoints: dict[str, np.ndarray], j: int) -> dict[str, np.ndarray]:
    """The endpoints of setting ``j`` of :func:`integrate_settings`'s arrays, as a trajectory
    shard holds its own (``sample``, ``label``, ``x1``, and ``image`` for a latent flow)."""
    one = {"sample": endpoints["sample"], "label": endpoints["label"]}
    return one | {k: endpoints[k][j] for k in ("x1", "image") if k in endpoints}
