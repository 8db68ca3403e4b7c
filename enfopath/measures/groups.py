"""Low / high KPE groups and what sits in them: group thresholds, class composition, group
comparison and quantile curves (docs/science.md §5).

Groups (the vocabulary of every table, docs/science.md §5): ``low`` and ``high`` are the
samples at or below the q-quantile and at or above the (1 − q)-quantile of an energy
(``statistics.group_quantile``), ``between`` every sample in between; the equal-share
``middle`` band around the median is :mod:`enfopath.measures.bands`'.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from enfopath.measures.bands import thresholds
from enfopath.measures.inference import with_q_values
from enfopath.seeding import numpy_rng


def group_thresholds(energy: pd.Series, quantile: float) -> tuple[float, float]:
    """The q- and (1 − q)-quantiles of the energy: the low and high group thresholds
    (:func:`enfopath.measures.bands.thresholds`)."""
    lo, hi = thresholds(energy.to_numpy(np.float64), [quantile, 1.0 - quantile])
    return float(lo), float(hi)


def kpe_groups(energy: pd.Series, quantile: float) -> pd.Series:
    """``low`` (≤ the q-quantile), ``high`` (≥ the (1 − q)-quantile) or ``between`` per sample."""
    lo, hi = group_thresholds(energy, quantile)
    group = pd.Series("between", index=energy.index)
    group[energy <= lo] = "low"
    group[energy >= hi] = "high"
    return group


COCHRAN_MIN_EXPECTED = 5.0
"""Smallest expected count for which the chi-square test's asymptotic p-value is used
(Cochran's rule); below it the p-value is a Monte Carlo one over tables with the same margins."""
MONTE_CARLO_TABLES = 9999
"""Random tables with the observed margins (``scipy.stats.random_table``) of a Monte Carlo
chi-square p-value."""


def _independence(observed: np.ndarray, rng: np.random.Generator) -> tuple[float, float, str]:
    """Chi-square test of independence of a 2 × C table of counts (classes with no sample
    dropped): statistic, p-value and how the p-value was found (``asymptotic`` when every
    expected count is at least :data:`COCHRAN_MIN_EXPECTED`, else ``monte_carlo``)."""
    observed = observed[:, observed.sum(axis=0) > 0]
    if observed.shape[1] < 2 or (observed.sum(axis=1) == 0).any():
        return float("nan"), float("nan"), "undefined"
    asymptotic = stats.chi2_contingency(observed, correction=False)
    if asymptotic.expected_freq.min() >= COCHRAN_MIN_EXPECTED:
        return float(asymptotic.statistic), float(asymptotic.pvalue), "asymptotic"
    method = stats.MonteCarloMethod(n_resamples=MONTE_CARLO_TABLES, rng=rng)
    mc = stats.chi2_contingency(observed, correction=False, method=method)
    return float(mc.statistic), float(mc.pvalue), "monte_carlo"


def class_composition(
    df: pd.DataFrame, energies: list[str], labels: list[str], quantile: float, seed: int
) -> pd.DataFrame:
    """Which classes sit in each energy group: the class counts of the low / between / high groups
    (:func:`kpe_groups`) of each energy against those of all samples, for each class-label
    column of ``labels`` (e.g. the classifier's ``clf_class``).

    Per group, one row (``class`` empty, ``count`` and ``share`` the group's size and share of
    all samples, ``test`` = ``chi_square``) tests whether the group's
    classes are those of the rest of the samples: the chi-square test of independence of the
    2 × C table (group, rest) × class, its p-value asymptotic or Monte Carlo
    (:func:`_independence`; the random tables from a stream of the config seed). Per class, one
    row (``test`` = ``fisher_exact``): the class's count and share in the group against its share
    of all samples, the count expected from that share, and Fisher's exact test of the 2 × 2
    table (in the class or not) × (in the group or not), two-sided, with its odds ratio. q:
    Benjamini–Hochberg over every test of the table. Columns: energy, labels, group, class,
    n_group, count, share, share_all, expected, test, statistic, p_method, p, q.
    """
    rows = []
    for e in energies:
        group = kpe_groups(df[e], quantile).to_numpy()
        for lab in labels:
            cls = df[lab].to_numpy()
            classes = np.unique(cls)
            all_counts = np.array([(cls == c).sum() for c in classes])
            for name in ("low", "between", "high"):
                inside = group == name
                counts = np.array([(cls[inside] == c).sum() for c in classes])
                rest = all_counts - counts
                n_group = int(inside.sum())
                rng = numpy_rng(seed, f"composition:{e}:{lab}:{name}")
                chi2, p, how = _independence(np.vstack([counts, rest]), rng)
                base = {"energy": e, "labels": lab, "group": name, "n_group": n_group}
                rows.append(
                    base
                    | {"class": pd.NA, "count": n_group, "share": n_group / len(df)}
                    | {"share_all": np.nan, "expected": np.nan, "test": "chi_square"}
                    | {"statistic": chi2, "p_method": how, "p": p}
                )
                for c, k, k_rest, k_all in zip(classes, counts, rest, all_counts, strict=True):
                    table = [[k, n_group - k], [k_rest, len(df) - n_group - k_rest]]
                    fisher = stats.fisher_exact(table, alternative="two-sided")
                    rows.append(
                        base
                        | {"class": int(c), "count": int(k)}
                        | {"share": k / n_group if n_group else np.nan}
                        | {"share_all": k_all / len(df), "expected": n_group * k_all / len(df)}
                        | {"test": "fisher_exact", "statistic": float(fisher.statistic)}
                        | {"p_method": "exact", "p": float(fisher.pvalue)}
                    )
    table = with_q_values(pd.DataFrame(rows))
    table["class"] = table["class"].astype("Int64")
    return table


def group_comparison(
    df: pd.DataFrame, energies: list[str], measures: list[str], quantile: float
) -> pd.DataFrame:
    """Low vs high groups of each energy: mean ± std of each measure and a two-sided
    Mann–Whitney U test. Columns: energy, measure, n_low, low_mean, low_std, n_high,
    high_mean, high_std, mannwhitney_u, mannwhitney_p, mannwhitney_q (Benjamini–Hochberg)."""
    rows = []
    for e in energies:
        group = kpe_groups(df[e], quantile)
        for m in measures:
            low = df.loc[group == "low", m].to_numpy(np.float64)
            high = df.loc[group == "high", m].to_numpy(np.float64)
            low, high = low[np.isfinite(low)], high[np.isfinite(high)]
            if len(low) and len(high):
                mw = stats.mannwhitneyu(low, high, alternative="two-sided")
                u, p = float(mw.statistic), float(mw.pvalue)
            else:
                u = p = float("nan")
            rows.append(
                {
                    "energy": e,
                    "measure": m,
                    "n_low": len(low),
                    "low_mean": float(np.mean(low)) if len(low) else np.nan,
                    "low_std": float(np.std(low, ddof=1)) if len(low) > 1 else np.nan,
                    "n_high": len(high),
                    "high_mean": float(np.mean(high)) if len(high) else np.nan,
                    "high_std": float(np.std(high, ddof=1)) if len(high) > 1 else np.nan,
                    "mannwhitney_u": u,
                    "mannwhitney_p": p,
                }
            )
    return with_q_values(pd.DataFrame(rows))


def quantile_bins(energy: pd.Series, bins: int) -> pd.Series:
    """The quantile bin of each sample's energy, 1 (lowest) … ``bins``, ties split by order:
    ``bins`` groups of equal size (±1). Raises ValueError when fewer samples than bins are
    given (``statistics.bins``)."""
    if len(energy) < bins:
        raise ValueError(
            f"{len(energy)} analysed samples cannot fill statistics.bins = {bins} quantile "
            "bins: generate more samples (sampling.n_samples) or use fewer bins"
        )
    return pd.qcut(energy.rank(method="first"), bins, labels=False) + 1


def median_interval(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """The median of ``values`` (NaN left out) and its distribution-free interval: the order
    statistics x₍ₗ₎ and x₍ₙ₋ₗ₊₁₎ with l the largest rank for which the binomial(n, ½) tails
    leave at least ``confidence`` between them (coverage ≥ ``confidence`` for any continuous
    distribution; the whole range when n is too small for it). NaN for no value."""
    x = np.sort(values[np.isfinite(values)])
    n = len(x)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    alpha = 1.0 - confidence
    low = int(stats.binom.ppf(alpha / 2.0, n, 0.5))  # P(B < low) ≤ α/2, B ~ binomial(n, ½)
    while low > 0 and stats.binom.cdf(low - 1, n, 0.5) > alpha / 2.0:
        low -= 1
    low = max(low, 1)
    return float(np.median(x)), float(x[low - 1]), float(x[n - low])


def quantile_curves(
    df: pd.DataFrame, energy: str, measures: list[str], bins: int, confidence: float = 0.95
) -> pd.DataFrame:
    """Mean, std and standard error of each measure per quantile bin (decile for 10) of energy,
    and its median with the distribution-free interval at ``confidence``
    (:func:`median_interval`: the summary of a measure that saturates, whose mean is pulled
    below the bulk of its values).

    Columns: energy, bin (1 = lowest energy), energy_mean, measure, n, mean, std, sem, median,
    median_ci_low, median_ci_high.
    """
    b = quantile_bins(df[energy], bins)
    rows = []
    for m in measures:
        values = df[m].replace([np.inf, -np.inf], np.nan)
        grouped = values.groupby(b)
        summary = grouped.agg(["count", "mean", "std", "sem"])
        e_mean = df[energy].groupby(b).mean()
        for bin_id, r in summary.iterrows():
            median, low, high = median_interval(
                values[b == bin_id].to_numpy(np.float64), confidence
            )
            rows.append(
                {
                    "energy": energy,
                    "bin": int(bin_id),
                    "energy_mean": float(e_mean[bin_id]),
                    "measure": m,
                    "n": int(r["count"]),
                    "mean": float(r["mean"]),
                    "std": float(r["std"]),
                    "sem": float(r["sem"]),
                    "median": median,
                    "median_ci_low": low,
                    "median_ci_high": high,
                }
            )
    return pd.DataFrame(rows)
