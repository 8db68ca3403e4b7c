"""Population profiles along the sampling paths, for energy-informed time grids.

Convention (docs/science.md §1): t = 0 is noise, t = 1 is data; dx/dt = v(x, t). For a batch of
initial points x0 (B, ...), the paths are integrated with the classic RK4 on a fine uniform grid
of ``nodes`` steps on [0, t_end] (t_end ≤ 1), and at every node t_i three population means are
recorded, each a function of the time that a fixed-grid solver's error follows:

- ``speed``: E‖v(x(t), t)‖, the distance covered per unit time;
- ``energy_rate``: E dE/dt = E ½‖v(x(t), t)‖², the KPE's own rate (its integral over [0, 1]
  is the mean KPE);
- ``acceleration``: E‖dv/dt‖, the rate of change of the velocity along the path,
  d/dt v(x(t), t) = ∂v/∂t + (∇v) v, from the velocities at successive nodes (central
  differences inside, one-sided at the ends; second-order accurate). A one-step method's local
  error grows with it (Euler's is ½ h² ‖dv/dt‖), so a grid whose density is ‖dv/dt‖^½
  equidistributes Euler's local error.

Sums over the batch are returned (and the batch size), so that batches add up to the mean of
any number of samples whatever the batching. Written here rather than read from the energy
integrator's speed profile: that profile holds ‖v‖² at a few profile points, and the
acceleration needs the velocity vectors at neighbouring times.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from enfopath.energy import Velocity

PROFILES = ("speed", "energy_rate", "acceleration")
"""The profiles a time grid can follow (``grid_calibration.profile``)."""


@dataclass(frozen=True)
class ProfileSums:
    """Per-node sums over samples of each profile (float64, shape (nodes + 1,)) at the times
    ``t`` (float64, uniform on [0, t_end]), and how many samples they sum."""

    t: torch.Tensor
    sums: dict[str, torch.Tensor]
    n: int

    def __add__(self, other: ProfileSums) -> ProfileSums:
        if not torch.equal(self.t, other.t):
            raise ValueError("profile sums on different time nodes cannot be added")
        return ProfileSums(
            self.t, {k: self.sums[k] + other.sums[k] for k in PROFILES}, self.n + other.n
        )

    def means(self) -> dict[str, torch.Tensor]:
        """The population mean of each profile at every node."""
        return {k: v / self.n for k, v in self.sums.items()}


@torch.no_grad()
def profile_sums(
    velocity: Velocity, x0: torch.Tensor, nodes: int, t_end: float = 1.0
) -> ProfileSums:
    """:class:`ProfileSums` of the paths from ``x0`` (B, ...) under ``velocity(t, x)``,
    integrated by RK4 on ``nodes`` uniform steps of [0, t_end] in float32 (the state's dtype),
    the norms summed in float64."""
    if nodes < 2:
        raise ValueError(f"a profile needs at least 2 steps, got {nodes}")
    if not 0.0 < t_end <= 1.0:
        raise ValueError(f"t_end must lie in (0, 1], got {t_end}")
    t = torch.linspace(0.0, t_end, nodes + 1, dtype=torch.float64)
    h = t_end / nodes
    x = x0.clone()

    def v(ti: float, xi: torch.Tensor) -> torch.Tensor:
        return velocity(torch.tensor(ti, dtype=xi.dtype, device=xi.device), xi).reshape(xi.shape)

    velocities = []
    for i in range(nodes + 1):
        k1 = v(float(t[i]), x)
        velocities.append(k1.flatten(1).double())
        if i == nodes:
            break
        k2 = v(float(t[i]) + h / 2, x + (h / 2) * k1)
        k3 = v(float(t[i]) + h / 2, x + (h / 2) * k2)
        k4 = v(float(t[i + 1]), x + h * k3)
        x = x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
    vel = torch.stack(velocities)  # (nodes + 1, B, D)
    dv = torch.empty_like(vel)
    dv[1:-1] = (vel[2:] - vel[:-2]) / (2 * h)
    dv[0] = (-3 * vel[0] + 4 * vel[1] - vel[2]) / (2 * h)
    dv[-1] = (3 * vel[-1] - 4 * vel[-2] + vel[-3]) / (2 * h)
    norm = vel.norm(dim=2)
    sums = {
        "speed": norm.sum(1).cpu(),
        "energy_rate": (0.5 * norm**2).sum(1).cpu(),
        "acceleration": dv.norm(dim=2).sum(1).cpu(),
    }
    return ProfileSums(t, sums, len(x0))
