"""Memorization per KPE bin: the share of samples whose nearest training image is much nearer
than the second (d₁ / d₂ below a threshold) with exact intervals (docs/science.md §7).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from enfopath.measures.groups import quantile_bins
from enfopath.measures.inference import share_interval, spearman, with_q_values

MEMORIZED_RATIO = 1.0 / 3.0
"""A sample is memorized when d₁ / d₂ < 1/3 in pixel space (docs/science.md §7)."""


def memorization(
    df: pd.DataFrame,
    ratio: str,
    energy: str,
    bins: int,
    *,
    confidence: float = 0.95,
    threshold: float = MEMORIZED_RATIO,
) -> pd.DataFrame:
    """The memorized fraction (``ratio`` = d₁ / d₂ below ``threshold``) of all samples and of
    each quantile bin of ``energy`` (bins of :func:`quantile_curves`), with exact
    Clopper–Pearson intervals (:func:`share_interval`), and the Spearman ρ of the ratio with
    the energy within each.

    Columns: bin (0 = all samples, then 1 = lowest energy …), n, energy_min, energy_max,
    energy_mean, memorized, fraction, fraction_ci_low, fraction_ci_high, ratio_median,
    spearman_rho, spearman_p, spearman_q (Benjamini–Hochberg over the bins and all samples).
    """
    x = df[energy].to_numpy(np.float64)
    r = df[ratio].to_numpy(np.float64)
    b = quantile_bins(df[energy], bins).to_numpy()
    rows = []
    for bin_id in range(bins + 1):
        mask = np.ones(len(df), bool) if bin_id == 0 else b == bin_id
        n = int(mask.sum())
        memorized = int((r[mask] < threshold).sum())
        frac = memorized / n if n else float("nan")
        lo, hi = share_interval(memorized, n, confidence)
        sp = spearman(x[mask], r[mask])
        rows.append(
            {
                "bin": bin_id,
                "n": n,
                "energy_min": float(x[mask].min()),
                "energy_max": float(x[mask].max()),
                "energy_mean": float(x[mask].mean()),
                "memorized": memorized,
                "fraction": frac,
                "fraction_ci_low": lo,
                "fraction_ci_high": hi,
                "ratio_median": float(np.median(r[mask])),
                "spearman_rho": float(sp[0]),
                "spearman_p": float(sp[1]),
            }
        )
    return with_q_values(pd.DataFrame(rows))
