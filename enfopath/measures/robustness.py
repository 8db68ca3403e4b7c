"""Does the KPE ranking survive the solver? Each solver setting's re-run of the same samples
(:mod:`enfopath.study.robustness`) compared with a tight reference: relative KPE errors (of the
state energy and of the left-Riemann sum), Spearman and Kendall of the KPE ranking, the overlap
of the low / high KPE groups, and the change of every headline correlation, with bootstrap
intervals for the mean error and each change Δρ.

Each run's ρ relates its own KPE to the measures of its own endpoints (re-scored by the
``robustness_scores`` job: the classifier or CLIP and every density space, as the study scores
its shards), so a solver that moves the endpoints, not only the energies, shows it.

A setting is stable when (i) both groups overlap by at least ``stable_overlap``, (ii) its mean
relative KPE error is at most ``stable_kpe_error`` and (iii) no Δρ exceeds its bound. The
bound of a measure's Δρ is by default the study's own uncertainty of that ρ: half the width of
the bootstrap interval of Spearman(KPE, measure) over all the study's samples
(``statistics/correlations.csv``, :func:`delta_rho_bounds`). A solver that moves ρ by less
than the interval the study reports for it cannot change what that interval says.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from enfopath.measures.groups import kpe_groups
from enfopath.measures.inference import percentile_interval, spearman, standard_ranks
from enfopath.seeding import numpy_rng

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


def delta_rho_bounds(
    correlations: pd.DataFrame, measures: list[str], fixed: float | None
) -> dict[str, float]:
    """The bound on each measure's Δρ: ``fixed`` for every measure, or (None) half the width of
    the study's bootstrap interval of Spearman(KPE, measure) (``correlations``: the statistics
    rule's table). A measure without a finite interval gets 0 (any change of ρ counts)."""
    if fixed is not None:
        return dict.fromkeys(measures, float(fixed))
    kpe = correlations[correlations.energy == "kpe"].set_index("measure")
    missing = [m for m in measures if m not in kpe.index]
    if missing:
        raise ValueError(f"statistics/correlations.csv has no KPE row for {missing}")
    half = (kpe.spearman_rho_ci_high - kpe.spearman_rho_ci_low) / 2.0
    return {m: float(half[m]) if np.isfinite(half[m]) else 0.0 for m in measures}


def _rank_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman ρ per resample from two row-standardized rank arrays (R, n)."""
    return np.einsum("ij,ij->i", a, b)


def compare_settings(
    runs: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    quantile: float,
    stable_overlap: float,
    stable_kpe_error: float,
    delta_rho_bounds: dict[str, float],
    n_boot: int = 0,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accuracy and rank agreement of every setting of ``runs`` against its reference.

    ``scores``: the semantic and density measures of every run's own endpoints (``setting``
    and ``sample`` columns and one column per measure; the ``robustness_scores`` job's table),
    so that ρ under a setting relates its KPE to what its own endpoints score, and the
    reference's ρ the reference's; ``delta_rho_bounds``: the bound of each measure's Δρ
    (:func:`delta_rho_bounds`). A measure non-finite under the setting or the reference
    leaves that sample out of its ρ. Samples non-finite under a setting or the
    reference are left out of that setting's comparison (``n`` counts those kept). Intervals:
    ``n_boot`` resamples of the samples kept (a stream of ``seed``; 0: NaN), the same for the
    setting and the reference, so Δρ's interval is paired.

    Returns (settings, correlations). settings: one row per setting, the reference first, with
    setting, solver, steps, rtol, atol, reference, nfe (mean per sample), n, n_nonfinite,
    kpe_rel_error_mean (with kpe_rel_error_mean_ci_low / _ci_high), kpe_rel_error_max
    (state-integrated KPE), left_riemann_rel_error_mean, left_riemann_rel_error_max (NaN for
    dopri5), x1_rms_error_mean, spearman, kendall (KPE ranking against the reference's),
    low_overlap, high_overlap (share of the reference's bottom / top ``quantile`` group in the
    setting's own), max_abs_delta_rho (largest change of a headline Spearman ρ of KPE with a
    measure), max_delta_rho_share (the largest |Δρ| / its bound: above 1 is beyond),
    n_delta_rho_beyond (measures whose |Δρ| exceeds its bound) and stable (see the module
    docstring). correlations: setting, nfe, measure, n, spearman_rho, reference_rho,
    delta_rho (of the re-scored measures), delta_rho_ci_low, delta_rho_ci_high,
    delta_rho_kpe_only (the change were the measures held at the reference's endpoints: what
    the KPE ranking's error alone moves), bound, beyond.
    """
    ref = runs[runs.reference].set_index("sample")
    ref_label = runs.setting[runs.reference].iloc[0]
    by_setting = {
        k: g.drop(columns="setting").set_index("sample") for k, g in scores.groupby("setting")
    }
    missing = sorted(set(runs.setting) - set(by_setting))
    if missing:
        raise ValueError(f"the robustness scores hold no endpoints of the settings {missing}")
    rows, corr_rows = [], []
    reference_terms: dict[tuple[str, bytes, bytes], np.ndarray] = {}
    for label, run in runs.groupby("setting", sort=False):
        run = run.set_index("sample").loc[ref.index]
        ok = ~(run.nonfinite.to_numpy() | ref.nonfinite.to_numpy())
        e, e_ref = run.kpe.to_numpy()[ok], ref.kpe.to_numpy()[ok]
        left = run.kpe_left_riemann.to_numpy()[ok]
        err, left_err = _rel_error(e, e_ref), _rel_error(left, e_ref)
        group = kpe_groups(pd.Series(e), quantile).to_numpy()
        ref_group = kpe_groups(pd.Series(e_ref), quantile).to_numpy()
        rank_agreement = spearman(e, e_ref)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kendall = stats.kendalltau(e, e_ref)[0] if ok.sum() > 2 else np.nan
        first = run.iloc[0]
        nfe = float(run.nfe.mean())
        idx = numpy_rng(seed, "robustness").integers(0, max(len(e), 1), size=(n_boot, len(e)))
        err_lo, err_hi = percentile_interval(err[idx].mean(axis=1), confidence)
        ranks_e = standard_ranks(e, idx)  # this setting's, for every measure without NaN
        deltas, beyond = [], 0
        own_m = by_setting[label].loc[ref.index[ok]]
        ref_m = by_setting[ref_label].loc[ref.index[ok]]
        for measure in own_m.columns:
            y, y_ref = own_m[measure].to_numpy(np.float64), ref_m[measure].to_numpy(np.float64)
            fine = np.isfinite(y) & np.isfinite(y_ref)
            rho = spearman(e[fine], y[fine])[0]
            rho_ref = spearman(e_ref[fine], y_ref[fine])[0]
            rho_kpe = spearman(e[fine], y_ref[fine])[0]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if fine.all():
                    own, re = idx, ranks_e
                else:  # a measure with non-finite values resamples the samples it keeps
                    n_fine = int(fine.sum())
                    stream = numpy_rng(seed, f"robustness:{measure}")
                    own = stream.integers(0, max(n_fine, 1), size=(n_boot, n_fine))
                    re = standard_ranks(e[fine], own)
                key = (measure, fine.tobytes(), ok.tobytes())  # the reference's term, once
                if key not in reference_terms:
                    reference_terms[key] = _rank_dot(
                        standard_ranks(e_ref[fine], own), standard_ranks(y_ref[fine], own)
                    )
                ry = standard_ranks(y[fine], own)
                lo, hi = percentile_interval(_rank_dot(re, ry) - reference_terms[key], confidence)
            delta = rho - rho_ref
            bound = delta_rho_bounds[measure]
            out = bool(np.isfinite(delta) and abs(delta) > bound)
            beyond += out
            deltas.append(delta)
            corr_rows.append(
                {
                    "setting": label,
                    "nfe": nfe,
                    "measure": measure,
                    "n": int(fine.sum()),
                    "spearman_rho": rho,
                    "reference_rho": rho_ref,
                    "delta_rho": delta,
                    "delta_rho_kpe_only": rho_kpe - rho_ref,
                    "delta_rho_ci_low": lo,
                    "delta_rho_ci_high": hi,
                    "bound": bound,
                    "beyond": out,
                }
            )
        max_delta = float(np.nanmax(np.abs(deltas))) if np.isfinite(deltas).any() else np.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.abs(deltas) / np.array([delta_rho_bounds[c] for c in own_m.columns])
        shares = np.where(np.array(deltas) == 0, 0.0, shares)
        max_share = float(np.nanmax(shares)) if np.isfinite(deltas).any() else np.nan
        low, high = _overlap(group, ref_group, "low"), _overlap(group, ref_group, "high")
        error = float(np.mean(err))
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
                "kpe_rel_error_mean": error,
                "kpe_rel_error_mean_ci_low": err_lo,
                "kpe_rel_error_mean_ci_high": err_hi,
                "kpe_rel_error_max": float(np.max(err)),
                "left_riemann_rel_error_mean": float(np.mean(left_err)),
                "left_riemann_rel_error_max": float(np.max(left_err)),
                "x1_rms_error_mean": float(run.x1_rms_error.to_numpy()[ok].mean()),
                "spearman": rank_agreement,
                "kendall": float(kendall),
                "low_overlap": low,
                "high_overlap": high,
                "max_abs_delta_rho": max_delta,
                "max_delta_rho_share": max_share,
                "n_delta_rho_beyond": beyond,
                "stable": bool(
                    low >= stable_overlap
                    and high >= stable_overlap
                    and error <= stable_kpe_error
                    and beyond == 0
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
