"""The per-sample energy columns of ``samples.parquet``, built from the arrays of one batch or
shard (numpy only: light for every job).

One function builds them for every caller, so a column has one name and one formula wherever it
is read: the study's KPE table of a shard (:func:`enfopath.study.tables.kpe_table`, which adds
the study's own ``out_of_range`` and ``batch_size``),
:meth:`enfopath.energy.EnergyResult.to_dataframe` in a notebook, and ``enfopath kpe`` on the
command line. What each column means, with its
formula and units: ``docs/science.md`` (section "Columns").
"""

from __future__ import annotations

import numpy as np

from enfopath.columns import PER_SAMPLE

PROFILE_PREFIX = "speed_sq_t"
"""Columns ``speed_sq_t<s>``: the squared speed ‖v(x(s), s)‖² at the profile times."""
ENERGY_PROFILE_PREFIX = "kpe_t"
"""Columns ``kpe_t<s>``: the partial energy E(s) = ½∫₀^s‖v‖²dt at the profile times."""
NFE_PROFILE_PREFIX = "nfe_t"
"""Columns ``nfe_t<s>``: model evaluations spent by the time the integration passes s."""
ENERGY_ARRAYS = (
    "sample",
    "x0",
    "x1",
    "speed_sq",
    "kpe_profile",
    "nfe_profile",
    "profile_t",
    "nonfinite",
    "nfe",
    "nfe_total",
    *PER_SAMPLE,
)
"""The arrays :func:`energy_columns` reads: those of
:meth:`enfopath.energy.EnergyResult.to_numpy`."""


def profile_column(t: float, prefix: str = PROFILE_PREFIX) -> str:
    """Column name of a profile at time t (default: the speed profile ‖v‖²)."""
    return f"{prefix}{t:.3f}"


def squared_norms(x: np.ndarray) -> np.ndarray:
    """‖x_i‖² per sample in float64, summed over every coordinate: (N, ...) → (N,)."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    return np.einsum("ij,ij->i", flat, flat)


def energy_columns(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The per-sample columns of N samples, in ``samples.parquet``'s order and names, from the
    arrays of :data:`ENERGY_ARRAYS`: ``sample``; the energies and path measures of
    :data:`enfopath.columns.PER_SAMPLE` (float64); ``x0_norm_sq`` and ``x1_norm_sq``, the squared
    norms of the noise and the endpoint in the state space (the size of the noise is a
    confounder of KPE); ``nfe`` and ``nfe_total``; ``nonfinite`` (a non-finite trajectory,
    endpoint or energy: such a sample is kept and counted, never analysed); then the speed, the
    partial energy and the NFE at each profile time (:func:`profile_column`). Each array has
    shape (N,)."""
    missing = [k for k in ENERGY_ARRAYS if k not in arrays]
    if missing:
        raise KeyError(f"the per-sample columns need the arrays {missing}")
    table: dict[str, np.ndarray] = {
        "sample": arrays["sample"],
        **{k: arrays[k].astype(np.float64) for k in PER_SAMPLE},
        **{f"{k}_norm_sq": squared_norms(arrays[k]) for k in ("x0", "x1")},
        "nfe": arrays["nfe"],
        "nfe_total": arrays["nfe_total"],
    }
    finite = np.isfinite(arrays["x1"].reshape(len(arrays["x1"]), -1)).all(axis=1)
    for k in ("kpe", "kpe_early", "kpe_late", "path_length"):
        finite &= np.isfinite(arrays[k])
    table["nonfinite"] = arrays["nonfinite"].astype(bool) | ~finite
    for j, t in enumerate(arrays["profile_t"]):
        table[profile_column(float(t))] = arrays["speed_sq"][:, j].astype(np.float64)
        table[profile_column(float(t), ENERGY_PROFILE_PREFIX)] = arrays["kpe_profile"][:, j]
        table[profile_column(float(t), NFE_PROFILE_PREFIX)] = arrays["nfe_profile"][:, j]
    return table
