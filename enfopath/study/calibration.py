"""The calibration pass of the energy-informed time grid (rule ``calibrate_grid``): the study's
first ``grid_calibration.n_samples`` samples (their own noise, the study's velocity and
batches) integrated by RK4 on ``grid_calibration.nodes`` steps, their population profiles
(:mod:`enfopath.profiles`) written to ``grids/calibration.npz`` for every fixed-grid job to
build its nodes from (:mod:`.energy_grid`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from enfopath.profiles import PROFILES, ProfileSums, profile_sums
from enfopath.study.energy_grid import Calibration
from enfopath.study.shards import batch_problem, batches

if TYPE_CHECKING:
    from enfopath.models.flows import Flow
    from enfopath.velocity import KineticShaping


def calibrate(
    flow: Flow,
    seed: int,
    n_samples: int,
    nodes: int,
    batching: tuple[int, float, KineticShaping],
    device: torch.device,
    progress: Callable[[int], None] | None = None,
) -> Calibration:
    """The :class:`Calibration` of the study's samples 0 … n_samples − 1 (their own noise, the
    study's velocity, in the study's batches) on ``nodes`` steps of [0, t_end]; ``batching``:
    the study's (batch size, t_end, shaping)."""
    batch_size, t_end, shaping = batching
    total: ProfileSums | None = None
    for batch in batches(range(n_samples), batch_size):
        x0, velocity = batch_problem(flow, seed, batch, device, shaping)
        part = profile_sums(velocity, x0, nodes, t_end)
        total = part if total is None else total + part
        if progress is not None:
            progress(len(batch))
    assert total is not None
    means = total.means()
    return Calibration(total.t.numpy(), {k: means[k].numpy() for k in PROFILES}, total.n)
