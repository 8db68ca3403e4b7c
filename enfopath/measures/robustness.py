"""Does the KPE ranking survive the solver? Each solver setting's re-run of the same samples
(:mod:`enfopath.study.robustness`) compared with a tight reference: relative KPE errors (of the
state energy and of the left-Riemann sum), Spearman and Kendall of the KPE ranking, the overlap
of the low / high KPE groups, and the change of every headline correlation.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from enfopath.measures.stats import kpe_groups

RUN_COLUMNS = (
    "setting",
    "solver",
    "steps",
    "rtol",
    "atol",
    "reference",
    "sample",
    "kpe",
    "kpe_left_riemann",
    "nfe",
    "x1_rms_error",
    "nonfinite",
)
"""Columns of the per-sample runs table (:func:`enfopath.study.robustness.integrate_settings`)."""


def _rel_error(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(x - ref) / np.abs(ref)


def _overlap(group: np.ndarray, ref_group: np.ndarray, name: str) -> float:
    """The share of the reference's ``name`` group that the setting puts in its own."""
    members = ref_group == name
    return float((group[members] == name).mean()) if members.any() else float("nan")


def compare_settings(
    runs: pd.DataFrame,
    measures: pd.DataFrame,
    *,
    quantile: float,
    stable_overlap: float,
    stable_delta_rho: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accuracy and rank agreement of every setting of ``runs`` against its reference.

    ``measures``: the semantic and density measures of the same samples (a ``sample`` column
    and one column per measure), from the study's table. Samples non-finite under a setting or
    the reference are left out of that setting's comparison (``n`` counts those kept).

    Returns (settings, correlations). settings: one row per setting, the reference first, with
    setting, solver, steps, rtol, atol, reference, nfe (mean per sample), n, n_nonfinite,
    kpe_rel_error_mean, kpe_rel_error_max (state-integrated KPE), left_riemann_rel_error_mean,
    left_riemann_rel_error_max (NaN for dopri5), x1_rms_error_mean, spearman, kendall (KPE
    ranking against the reference's), low_overlap, high_overlap (share of the reference's bottom
    / top ``quantile`` group in the setting's own), max_abs_delta_rho (largest change of a
    headline Spearman ρ of KPE with a measure) and stable (both overlaps ≥ ``stable_overlap``
    and every |Δρ| ≤ ``stable_delta_rho``). correlations: setting, nfe, measure, n,
    spearman_rho, reference_rho, delta_rho.
    """
    ref = runs[runs.reference].set_index("sample")
    rows, corr_rows = [], []
    for label, run in runs.groupby("setting", sort=False):
        run = run.set_index("sample").loc[ref.index]
        ok = ~(run.nonfinite.to_numpy() | ref.nonfinite.to_numpy())
        e, e_ref = run.kpe.to_numpy()[ok], ref.kpe.to_numpy()[ok]
        left = run.kpe_left_riemann.to_numpy()[ok]
        err, left_err = _rel_error(e, e_ref), _rel_error(left, e_ref)
        group = kpe_groups(pd.Series(e), quantile).to_numpy()
        ref_group = kpe_groups(pd.Series(e_ref), quantile).to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spearman = stats.spearmanr(e, e_ref)[0] if ok.sum() > 2 else np.nan
            kendall = stats.kendalltau(e, e_ref)[0] if ok.sum() > 2 else np.nan
        first = run.iloc[0]
        nfe = float(run.nfe.mean())
        deltas = []
        m = measures.set_index("sample").loc[ref.index[ok]]
        for measure in m.columns:
            y = m[measure].to_numpy(np.float64)
            fine = np.isfinite(y)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rho = stats.spearmanr(e[fine], y[fine])[0] if fine.sum() > 2 else np.nan
                rho_ref = stats.spearmanr(e_ref[fine], y[fine])[0] if fine.sum() > 2 else np.nan
            deltas.append(rho - rho_ref)
            corr_rows.append(
                {
                    "setting": label,
                    "nfe": nfe,
                    "measure": measure,
                    "n": int(fine.sum()),
                    "spearman_rho": rho,
                    "reference_rho": rho_ref,
                    "delta_rho": rho - rho_ref,
                }
            )
        max_delta = float(np.nanmax(np.abs(deltas))) if np.isfinite(deltas).any() else np.nan
        low, high = _overlap(group, ref_group, "low"), _overlap(group, ref_group, "high")
        rows.append(
            {
                "setting": label,
                "solver": first.solver,
                "steps": first.steps,
                "rtol": first.rtol,
                "atol": first.atol,
                "reference": bool(first.reference),
                "nfe": nfe,
                "n": int(ok.sum()),
                "n_nonfinite": int((~ok).sum()),
                "kpe_rel_error_mean": float(np.mean(err)),
                "kpe_rel_error_max": float(np.max(err)),
                "left_riemann_rel_error_mean": float(np.mean(left_err)),
                "left_riemann_rel_error_max": float(np.max(left_err)),
                "x1_rms_error_mean": float(run.x1_rms_error.to_numpy()[ok].mean()),
                "spearman": float(spearman),
                "kendall": float(kendall),
                "low_overlap": low,
                "high_overlap": high,
                "max_abs_delta_rho": max_delta,
                "stable": bool(
                    low >= stable_overlap
                    and high >= stable_overlap
                    and (not deltas or max_delta <= stable_delta_rho)
                ),
            }
        )
    table = pd.DataFrame(rows).sort_values(["reference", "nfe"], ascending=[False, True])
    return table.reset_index(drop=True), pd.DataFrame(corr_rows)


def smallest_stable(table: pd.DataFrame) -> pd.Series | None:
    """The setting of least NFE that is stable, and every setting of more NFE too (None if no
    non-reference setting is stable in that sense)."""
    runs = table[~table.reference].sort_values("nfe")
    for i in range(len(runs)):
        if runs.stable.iloc[i:].all():
            return runs.iloc[i]
    return None
