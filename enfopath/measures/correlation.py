"""Spearman and Pearson correlations of energies with measures, raw and partial, with p-values,
bootstrap intervals and q-values (docs/science.md §5).

Partial correlations (:func:`partial_correlations`): the Spearman correlation of an energy and
a measure controlling for a third variable z (the squared noise norm ‖x₀‖², or the chord energy)
is the partial correlation of their ranks, ρ_xy·z = (ρ_xy − ρ_xz ρ_yz) / √((1 − ρ_xz²)(1 − ρ_yz²)),
equal to the correlation of the rank residuals after a linear fit on z's ranks; its p-value is
the t test with n − 3 degrees of freedom, its interval the same bootstrap as the raw one
(:mod:`enfopath.measures.inference`). scipy has no partial rank correlation with a bootstrap
shared across pairs, hence this module; each raw statistic is scipy's.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from enfopath.measures.inference import (
    Pair,
    estimate,
    finite_columns,
    own_bootstrap,
    paired_bootstrap,
    spearman,
    with_q_values,
)
from enfopath.seeding import numpy_rng


def correlations(
    df: pd.DataFrame,
    energies: list[str],
    measures: list[str],
    *,
    n_boot: int,
    seed: int,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Spearman and Pearson of each energy with each measure, p-values and bootstrap intervals.

    Rows where either value is non-finite are left out of that pair (``n`` says how many
    remain). ``n_boot`` = 0 gives no intervals (NaN). Columns: energy, measure, n,
    spearman_rho, spearman_p, spearman_q, spearman_rho_ci_low, spearman_rho_ci_high, pearson_r,
    pearson_p, pearson_q, pearson_r_ci_low, pearson_r_ci_high (q: Benjamini–Hochberg over the
    table's tests).
    """
    n_all = len(df)
    idx_all = numpy_rng(seed, "bootstrap").integers(0, n_all, size=(n_boot, n_all))
    finite = finite_columns(df, [*energies, *measures])
    shared = [(e, m) for m in measures for e in energies if e in finite and m in finite]
    boot = paired_bootstrap(finite, shared, idx_all)
    rows = []
    for m in measures:
        y = df[m].to_numpy(np.float64)
        for e in energies:
            x = df[e].to_numpy(np.float64)
            ok = np.isfinite(x) & np.isfinite(y)
            if (e, m) in boot["spearman"]:
                sp_boot, pe_boot = boot["spearman"][e, m], boot["pearson"][e, m]
            else:  # a pair with non-finite rows resamples the rows it keeps
                own, _ = own_bootstrap({e: x, m: y}, [(e, m)], seed, f"bootstrap:{e}:{m}", n_boot)
                sp_boot, pe_boot = own["spearman"][e, m], own["pearson"][e, m]
            sp = spearman(x[ok], y[ok])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pe = stats.pearsonr(x[ok], y[ok]) if ok.sum() > 2 else (np.nan, np.nan)
            rows.append(
                {
                    "energy": e,
                    "measure": m,
                    "n": int(ok.sum()),
                    **estimate("spearman_rho", float(sp[0]), float(sp[1]), sp_boot, confidence),
                    **estimate("pearson_r", float(pe[0]), float(pe[1]), pe_boot, confidence),
                }
            )
    return with_q_values(pd.DataFrame(rows))


def _partial(rxy: np.ndarray, rxz: np.ndarray, ryz: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rxy - rxz * ryz) / np.sqrt((1.0 - rxz**2) * (1.0 - ryz**2))


def partial_p_value(r: float, n: int) -> float:
    """Two-sided p-value of a partial correlation r with one control: t test, n − 3 dof."""
    if n <= 3 or not np.isfinite(r):
        return float("nan")
    if abs(r) >= 1.0:
        return 0.0
    t = r * np.sqrt((n - 3) / (1.0 - r * r))
    return float(2.0 * stats.t.sf(abs(t), n - 3))


def partial_correlations(
    df: pd.DataFrame,
    energies: list[str],
    measures: list[str],
    controls: list[str],
    *,
    n_boot: int,
    seed: int,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Raw and partial Spearman correlations of each energy with each measure, controlling for
    each of ``controls`` in turn (see the module docstring), with p-values, bootstrap intervals
    and q-values.

    Rows where any of the three values is non-finite are left out of that triple. Columns:
    energy, measure, control, n, spearman_rho, spearman_p, spearman_q, spearman_rho_ci_low,
    spearman_rho_ci_high, partial_rho, partial_p, partial_q, partial_rho_ci_low,
    partial_rho_ci_high.
    """
    n_all = len(df)
    idx_all = numpy_rng(seed, "bootstrap").integers(0, n_all, size=(n_boot, n_all))
    finite = finite_columns(df, [*energies, *measures, *controls])

    def triple_pairs(e: str, m: str, c: str) -> list[Pair]:
        return [(e, m), (e, c), (m, c)]

    triples = list(itertools.product(controls, energies, measures))
    shared = {
        pair for c, e, m in triples if {e, m, c} <= finite.keys() for pair in triple_pairs(e, m, c)
    }
    boot = paired_bootstrap(finite, sorted(shared), idx_all)["spearman"]
    rows = []
    for c, e, m in triples:
        x, y, z = (df[v].to_numpy(np.float64) for v in (e, m, c))
        pairs = triple_pairs(e, m, c)
        if all(pair in boot for pair in pairs):
            ok = np.ones(len(x), dtype=bool)
            rxy, rxz, ryz = (boot[pair] for pair in pairs)
        else:  # a triple with non-finite rows resamples the rows it keeps
            stream = f"bootstrap:{e}:{m}:{c}"
            own, ok = own_bootstrap({e: x, m: y, c: z}, pairs, seed, stream, n_boot)
            rxy, rxz, ryz = (own["spearman"][pair] for pair in pairs)
        n = int(ok.sum())
        ranks = [stats.rankdata(v[ok]) for v in (x, y, z)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = np.corrcoef(ranks) if n > 1 else np.full((3, 3), np.nan)
        sp = spearman(x[ok], y[ok])
        rho = float(_partial(r[0, 1], r[0, 2], r[1, 2]))
        partial = _partial(rxy, rxz, ryz)
        rows.append(
            {
                "energy": e,
                "measure": m,
                "control": c,
                "n": n,
                **estimate("spearman_rho", float(sp[0]), float(sp[1]), rxy, confidence),
                **estimate("partial_rho", rho, partial_p_value(rho, n), partial, confidence),
            }
        )
    return with_q_values(pd.DataFrame(rows))
