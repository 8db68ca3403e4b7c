"""Two runs of the same samples compared measure by measure: means, paired changes, effect
sizes with bootstrap intervals and Wilcoxon's signed-rank test (docs/science.md §5).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from enfopath.measures.inference import (
    percentile_interval,
    share_interval,
    spearman,
    with_q_values,
)
from enfopath.seeding import numpy_rng

CHANGE_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
"""Quantiles of the per-sample change reported by :func:`paired_comparison`."""


def paired_comparison(
    base: pd.DataFrame,
    other: pd.DataFrame,
    measures: list[str],
    *,
    n_boot: int,
    seed: int,
    confidence: float = 0.95,
    shares: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two runs of the same samples (joined on ``sample``: the same seeds, so the same noise),
    compared measure by measure: each run's mean with a bootstrap interval, the mean per-sample
    change (other − base) with a paired bootstrap interval, the effect size (the mean change in
    units of the base run's standard deviation, ``effect_size``) with its interval from the same
    resamples (both mean and SD resampled), the change's quantiles, Wilcoxon's signed-rank
    p-value (with q-values) and Spearman ρ of the two runs' values.

    A measure of ``shares`` (0 / 1 per sample, e.g. memorized) is a fraction: its means are
    shares, with exact Clopper–Pearson intervals (:func:`share_interval`); its change keeps the
    paired bootstrap. Wilcoxon's test handles zero changes by Pratt's method
    (``zero_method="pratt"``): they are ranked with the others, then their ranks dropped, so a
    discrete measure whose values mostly stay put (a count of balls, a share) is not tested on
    its few moved samples alone as if the rest did not exist. Rows where either run's value is
    non-finite are left out of that measure. Returns (table, per-sample changes: ``sample`` and,
    per measure, ``{m}_base``, ``{m}``, ``{m}_change``).
    """
    paired = base[["sample", *measures]].merge(
        other[["sample", *measures]], on="sample", suffixes=("_base", "")
    )
    rows = []
    per_sample = {"sample": paired["sample"].to_numpy()}
    for m in measures:
        a = paired[f"{m}_base"].to_numpy(np.float64)
        b = paired[m].to_numpy(np.float64)
        ok = np.isfinite(a) & np.isfinite(b)
        a, b, n = a[ok], b[ok], int(ok.sum())
        change = b - a
        full = np.full(len(paired), np.nan)
        full[ok] = change
        per_sample.update({f"{m}_base": paired[f"{m}_base"], m: paired[m], f"{m}_change": full})
        idx = numpy_rng(seed, f"comparison:{m}").integers(0, max(n, 1), size=(n_boot, n))
        intervals = [percentile_interval(v[idx].mean(axis=1), confidence) for v in (a, b, change)]
        if m in shares:  # each run's share: exact intervals
            intervals[:2] = [share_interval(int(v.sum()), n, confidence) for v in (a, b)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            effect = change.mean() / a.std() if n else np.nan
            effect_boot = change[idx].mean(axis=1) / a[idx].std(axis=1)
            intervals.append(percentile_interval(effect_boot, confidence))
            moved = n > 0 and np.any(change != 0)
            wilcoxon_p = (
                float(stats.wilcoxon(b, a, zero_method="pratt").pvalue) if moved else float("nan")
            )
            rho = spearman(a, b)[0]
        quantiles = np.quantile(change, CHANGE_QUANTILES) if n else [np.nan] * 5
        rows.append(
            {
                "measure": m,
                "n": n,
                "base_mean": float(a.mean()) if n else np.nan,
                "base_mean_ci_low": intervals[0][0],
                "base_mean_ci_high": intervals[0][1],
                "mean": float(b.mean()) if n else np.nan,
                "mean_ci_low": intervals[1][0],
                "mean_ci_high": intervals[1][1],
                "base_std": float(a.std()) if n else np.nan,
                "change_mean": float(change.mean()) if n else np.nan,
                "change_mean_ci_low": intervals[2][0],
                "change_mean_ci_high": intervals[2][1],
                "effect_size": float(effect),
                "effect_size_ci_low": intervals[3][0],
                "effect_size_ci_high": intervals[3][1],
                **{
                    f"change_q{int(100 * q):02d}": float(v)
                    for q, v in zip(CHANGE_QUANTILES, quantiles, strict=True)
                },
                "wilcoxon_p": wilcoxon_p,
                "spearman_rho": rho,
            }
        )
    return with_q_values(pd.DataFrame(rows)), pd.DataFrame(per_sample)
