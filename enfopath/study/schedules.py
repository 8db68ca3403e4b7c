"""The settings of the schedules comparison: each fixed-grid solver at each NFE budget on each
grid (``schedules``), the energy grid once per profile it can follow."""

from __future__ import annotations

from collections.abc import Sequence

from enfopath.energy import FIXED_SOLVERS
from enfopath.profiles import PROFILES
from enfopath.study.energy_grid import ENERGY
from enfopath.study.robustness import SolverSetting

NFE_PER_STEP = {name: len(tableau.c) for name, tableau in FIXED_SOLVERS.items()}
"""Model evaluations per step of each fixed-grid solver (its stages)."""


def schedule_settings(
    solvers: Sequence[str], budgets: Sequence[int], grids: Sequence[str]
) -> list[SolverSetting]:
    """Every (solver, NFE budget, grid) setting, the budget spent as budget / stages steps; a
    budget that is not a whole number of a solver's steps is left out for that solver, and
    the grid ``energy`` stands for one setting per profile of :data:`enfopath.profiles.PROFILES`."""
    settings = []
    for solver in solvers:
        for nfe in budgets:
            steps, rest = divmod(nfe, NFE_PER_STEP[solver])
            if rest or steps < 1:
                continue
            for grid in grids:
                profiles = PROFILES if grid == ENERGY else (None,)
                settings += [SolverSetting(solver, steps, grid=grid, profile=p) for p in profiles]
    return settings
