"""Bootstrap resampling, intervals, q-values and the one Spearman guard that every analysis
table shares (docs/science.md §5).

Bootstrap: R paired resamples of the rows, drawn once from a seed derived from the config seed
and shared by every (energy, measure) pair of a table; 95 % percentile intervals by default
(R = 0: no intervals, NaN). A Spearman statistic on a resample is the Pearson correlation of
that resample's ranks (average ranks for the ties that resampling creates). The ranks of
resamples are counted here (:func:`resampled_ranks`, O(R·n)) rather than with
``scipy.stats.rankdata`` per resample (O(R·n log n), and a copy per resample): the result is
the same, tested against scipy.

Multiple testing: every p-value column ``*_p`` of a table gets a Benjamini–Hochberg q-value
column ``*_q`` beside it (:func:`with_q_values`), the family being all the tests of that column
in that table.

Column vocabulary of every table (docs/science.md §5, "Table columns"): an estimate ``X`` has
its p-value in ``X``'s test prefix + ``_p`` (``spearman_rho`` → ``spearman_p``) or ``p`` where
the row names its test, its q-value beside it, and its interval in ``X_ci_low`` / ``X_ci_high``
(:func:`estimate`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from enfopath.seeding import numpy_rng


def _row_standardize(a: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=-1, keepdims=True)
    norm = np.sqrt((a * a).sum(axis=-1, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return a / norm


def resampled_ranks(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged) of x[idx] within each row of idx (R, n).

    Equal to ``scipy.stats.rankdata(x[idx], axis=1)``, but in O(R·n) without sorting each
    resample: x is sorted once, each row counts its draws per distinct value, and the average
    rank of a value is its cumulative count minus (its count − 1) / 2.
    """
    _, group = np.unique(x, return_inverse=True)
    n_groups = int(group.max()) + 1
    g = group[idx]
    rows = np.arange(idx.shape[0])[:, None] * n_groups
    counts = np.bincount((rows + g).ravel(), minlength=idx.shape[0] * n_groups).reshape(
        idx.shape[0], n_groups
    )
    average = np.cumsum(counts, axis=1) - (counts - 1) / 2.0
    return np.take_along_axis(average, g, axis=1)


def standard_ranks(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Row-standardized ranks of x over the resamples idx (R, n): Spearman's ρ of two such rows
    is their dot product."""
    return _row_standardize(resampled_ranks(x, idx))


BOOTSTRAP_BYTES = 2**28
"""Memory for one chunk of resampled columns in :func:`paired_bootstrap` (256 MiB)."""

Pair = tuple[str, str]


def paired_bootstrap(
    columns: dict[str, np.ndarray], pairs: list[Pair], idx: np.ndarray
) -> dict[str, dict[Pair, np.ndarray]]:
    """Bootstrap samples of Spearman's ρ and Pearson's r of each pair of ``columns`` (finite,
    (n,) each) over the paired resamples ``idx`` (R, n): {"spearman": {pair: (R,)},
    "pearson": {pair: (R,)}}.

    Each column is resampled once (its values and ranks, row-standardized, so that a
    correlation is a dot product), in chunks of resamples that hold every column at once
    within :data:`BOOTSTRAP_BYTES`: the cost grows with the number of columns, not of pairs.
    """
    names = sorted({name for pair in pairs for name in pair})
    n_boot, n = idx.shape
    chunk = max(1, min(n_boot, BOOTSTRAP_BYTES // max(1, 16 * n * len(names))))
    out: dict[str, dict[Pair, np.ndarray]] = {
        kind: {pair: np.empty(n_boot) for pair in pairs} for kind in ("spearman", "pearson")
    }
    for start in range(0, n_boot, chunk):
        part = idx[start : start + chunk]
        ranks = {name: standard_ranks(columns[name], part) for name in names}
        values = {name: _row_standardize(columns[name][part]) for name in names}
        for a, b in pairs:
            out["spearman"][a, b][start : start + len(part)] = (ranks[a] * ranks[b]).sum(axis=1)
            out["pearson"][a, b][start : start + len(part)] = (values[a] * values[b]).sum(axis=1)
    return out


def finite_columns(df: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """The columns ``names`` of ``df`` as float64 arrays, less those with a non-finite value."""
    arrays = {name: df[name].to_numpy(np.float64) for name in dict.fromkeys(names)}
    return {name: a for name, a in arrays.items() if np.isfinite(a).all()}


def own_bootstrap(
    arrays: dict[str, np.ndarray], pairs: list[Pair], seed: int, stream: str, n_boot: int
) -> tuple[dict[str, dict[Pair, np.ndarray]], np.ndarray]:
    """:func:`paired_bootstrap` of the rows where every one of ``arrays`` is finite, with
    resamples of those rows drawn from their own ``stream``; also the mask of those rows."""
    ok = np.logical_and.reduce([np.isfinite(a) for a in arrays.values()])
    n = int(ok.sum())
    idx = numpy_rng(seed, stream).integers(0, n, size=(n_boot, n))
    return paired_bootstrap({k: a[ok] for k, a in arrays.items()}, pairs, idx), ok


def q_values(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values (``scipy.stats.false_discovery_control``) of the finite
    p-values of ``p``, NaN where p is NaN (an undefined test is not part of the family)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = stats.false_discovery_control(p[ok], method="bh")
    return q


def with_q_values(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with a q-value column ``*_q`` right after each p-value column ``*_p`` (and
    ``q`` after a column ``p``)."""
    out = table.copy()
    for col in [c for c in table.columns if c == "p" or c.endswith("_p")]:
        out.insert(out.columns.get_loc(col) + 1, f"{col[:-1]}q", q_values(table[col]))
    return out


def share_interval(successes: int, n: int, confidence: float) -> tuple[float, float]:
    """The exact (Clopper–Pearson) interval of a share ``successes`` / ``n``: the binomial
    proportion's ``confidence`` interval from beta quantiles (scipy's ``binomtest``). Unlike a
    bootstrap of a share, it is not degenerate at 0 / n or n / n: 0 of 4,096 gives
    [0, 0.0009] at 95 %. NaN for n = 0."""
    if n == 0:
        return float("nan"), float("nan")
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence, method="exact")
    return float(ci.low), float(ci.high)


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """The ``confidence`` percentile interval of the finite bootstrap ``samples`` (NaN if none)."""
    alpha = (1.0 - confidence) / 2.0
    finite = samples[np.isfinite(samples)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman's ρ of the pairs where both ``x`` and ``y`` are finite, and its p-value: the
    one guard rule of every table here. Fewer than 3 such pairs give (NaN, NaN); a constant
    side gives scipy's NaN, without its warning."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho, p = stats.spearmanr(x[ok], y[ok])
    return float(rho), float(p)


def estimate(
    column: str, value: float, p: float, samples: np.ndarray, confidence: float
) -> dict[str, float]:
    """A correlation's table entries: ``column`` (e.g. ``spearman_rho``) = ``value``, its
    p-value named by the column's test prefix (``spearman_p``) and the percentile interval of
    its bootstrap ``samples`` named by the column itself (``spearman_rho_ci_low``,
    ``spearman_rho_ci_high``)."""
    lo, hi = percentile_interval(samples, confidence)
    test = column.rsplit("_", 1)[0]
    return {column: value, f"{test}_p": p, f"{column}_ci_low": lo, f"{column}_ci_high": hi}
