"""EnfoPath: kinetic path energy of flow-matching ODE trajectories.

``sample_with_energy(velocity, x0, ...)`` integrates dx/dt = velocity(t, x) from noise x0 at
t = 0 to data at t = 1 and returns, per sample, x(1) and E = ½ ∫₀¹ ‖v‖² dt with its
companions; see :mod:`enfopath.energy`. Formulas and conventions: ``docs/science.md``.

The package is laid out by what it does, with one-way imports (core ← models ← measures ← study):

- the core, at the top: :mod:`.energy` (solvers and the energy), :mod:`.grids`,
  :mod:`.velocity` (calling conventions, guidance, precision), :mod:`.analytic` (closed-form
  fields), :mod:`.monitor` (KPE as a training monitor), :mod:`.seeding`, :mod:`.columns`,
  :mod:`.per_sample` (the per-sample energy columns) and :mod:`.io` (checksummed files);
- :mod:`enfopath.models`: networks, checkpoints, the user's own model;
- :mod:`enfopath.measures`: density, semantics, statistics;
- :mod:`enfopath.study`: config, data, shards, tables, figures;
- :mod:`enfopath.cli`, on top: the command line ``enfopath kpe`` (``python -m enfopath``).

Importing the package loads nothing; its names below load :mod:`.energy` (torch and
torchdiffeq) on first use, so ``import enfopath.io`` in a light workflow job stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from enfopath.energy import SOLVERS, EnergyResult, sample_with_energy

__all__ = ["SOLVERS", "EnergyResult", "sample_with_energy"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """The core's public names, imported from :mod:`enfopath.energy` when first asked for."""
    if name in __all__:
        return getattr(importlib.import_module("enfopath.energy"), name)
    raise AttributeError(f"module 'enfopath' has no attribute {name!r}")
