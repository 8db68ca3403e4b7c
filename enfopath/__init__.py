"""EnfoPath: kinetic path energy of flow-matching ODE trajectories.

``sample_with_energy(velocity, x0, ...)`` integrates dx/dt = velocity(t, x) from noise x0 at
t = 0 to data at t = 1 and returns, per sample, x(1) and E = ½ ∫₀¹ ‖v‖² dt with its
companions; see :mod:`enfopath.energy`.
"""

from enfopath.energy import SOLVERS, EnergyResult, sample_with_energy

__all__ = ["SOLVERS", "EnergyResult", "sample_with_energy"]
__version__ = "0.1.0"
