"""Which samples are low, middle or high energy: the KPE groups and bands (numpy only).

The low and high groups are the samples at most the q-quantile and at least the
(1 − q)-quantile of the energy (q = ``statistics.group_quantile``); the fidelity stage adds the
middle band, the samples within the quantiles ½ ± q/2, so that its three bands hold about as
many samples each. Quantiles are numpy's linear interpolation on the finite values, which is
exactly what pandas' ``Series.quantile`` computes. Being numpy only, the band sizes of n
samples are known to the config check before any sample exists (:func:`band_sizes`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def thresholds(energy: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """The ``quantiles`` (each in [0, 1]) of the finite values of ``energy``, linearly
    interpolated (pandas' ``Series.quantile``), shape (len(quantiles),) float64."""
    values = np.asarray(energy, dtype=np.float64)
    values = values[np.isfinite(values)] if not np.isfinite(values).all() else values
    return np.percentile(values, np.asarray(quantiles, dtype=np.float64) * 100, method="linear")


def band_labels(energy: np.ndarray, quantile: float) -> np.ndarray:
    """``low`` / ``middle`` / ``high`` per sample, else ``""`` (the module docstring; where the
    bands overlap, high wins over low and low over middle), shape (N,) of str."""
    values = np.asarray(energy, dtype=np.float64)
    lo, hi, m_lo, m_hi = thresholds(
        values, [quantile, 1.0 - quantile, 0.5 - quantile / 2.0, 0.5 + quantile / 2.0]
    )
    band = np.full(len(values), "", dtype=object)
    band[(values >= m_lo) & (values <= m_hi)] = "middle"
    band[values <= lo] = "low"
    band[values >= hi] = "high"
    return band


def band_sizes(n: int, quantile: float) -> tuple[int, int, int]:
    """How many of n distinct energies the low, middle and high bands hold."""
    labels = band_labels(np.arange(n, dtype=np.float64), quantile)
    return tuple(int((labels == b).sum()) for b in ("low", "middle", "high"))  # type: ignore[return-value]
