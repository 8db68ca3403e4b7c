"""Early prediction: how well the partial energy E(s) at a check time s predicts the final KPE,
its groups, quality-defined groups and each measure, beside free baselines (docs/science.md §5).

The AUROC is the Mann–Whitney U of the positives' average ranks (ties count half), computed from
the ranks that the shared bootstrap already counts (:func:`enfopath.measures.inference.
resampled_ranks`), so that every resample's AUROC costs one pass, not a sort.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from enfopath.measures.correlation import correlations
from enfopath.measures.groups import kpe_groups
from enfopath.measures.inference import percentile_interval, resampled_ranks, with_q_values
from enfopath.seeding import numpy_rng


def auroc(score: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Area under the ROC curve of ``score`` for ``positive`` along the last axis (ties count
    half): the Mann–Whitney U of the positives' average ranks over n₊ n₋. NaN without both
    classes. ``score`` and ``positive`` (bool) have the same shape (..., n)."""
    return _auroc_of_ranks(stats.rankdata(score, axis=-1), positive)


def _auroc_of_ranks(ranks: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """:func:`auroc` from the scores' average ranks (..., n) along the last axis."""
    n_pos = positive.sum(axis=-1)
    n_neg = positive.shape[-1] - n_pos
    u = (ranks * positive).sum(axis=-1) - n_pos * (n_pos + 1) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def early_prediction(
    df: pd.DataFrame,
    times: np.ndarray,
    columns: list[str],
    measures: list[str],
    *,
    quantile: float,
    n_boot: int,
    seed: int,
    confidence: float = 0.95,
    baselines: Sequence[str] = (),
    quality: Sequence[str] = (),
) -> pd.DataFrame:
    """How well the partial energy E(s) (``columns``, one per time of ``times``) predicts the
    final KPE, its low / high groups, quality-defined groups and each measure, before the
    sample is finished, beside free baseline predictors.

    Predictors: ``partial_kpe`` E(s) at each s, and each column of ``baselines`` (known at
    s = 0, e.g. ‖x₀‖² and the speed at t = 0). For each predictor and s:

    - the AUROC for membership of the final low-KPE group (scored by −predictor) and high-KPE
      group (bottom / top ``quantile`` of ``kpe``). The groups contain E(s) as a part, so a
      baseline is what E(s) has to beat;
    - the AUROC for the quality groups ``low_<m>_group`` / ``high_<m>_group`` of each measure
      m of ``quality`` (bottom / top ``quantile`` of m), scored by +predictor: above ½, high
      energy marks the group, below ½ low energy does, ½ is no information;
    - Spearman with ``kpe`` and with each measure (p-value, q-value and bootstrap interval).

    Groups stay those of the full sample on every resample; every predictor shares the same
    resamples. Columns: predictor, s, target, statistic (spearman, auroc), n, value, p, q,
    value_ci_low, value_ci_high.
    """
    n = len(df)
    idx = numpy_rng(seed, "bootstrap").integers(0, n, size=(n_boot, n))
    for m in quality:
        bad = int((~np.isfinite(df[m].to_numpy(np.float64))).sum())
        if bad:
            raise ValueError(f"quality measure {m!r} is not finite for {bad} analysed samples")
    group = kpe_groups(df["kpe"], quantile).to_numpy()
    targets = [
        ("low_kpe_group", group == "low", -1.0),
        ("high_kpe_group", group == "high", 1.0),
    ]
    for m in quality:
        by_m = kpe_groups(df[m], quantile).to_numpy()
        targets += [
            (f"low_{m}_group", by_m == "low", 1.0),
            (f"high_{m}_group", by_m == "high", 1.0),
        ]
    predictors = [("partial_kpe", float(s), col) for s, col in zip(times, columns, strict=True)]
    predictors += [(b, 0.0, b) for b in baselines]
    # Spearman of every predictor with the final KPE and each measure in one table, so that
    # each column is resampled once (the same resamples as idx: same stream, same n).
    rhos = correlations(
        df,
        [col for *_, col in predictors],
        ["kpe", *measures],
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
    ).set_index("energy")
    rows = []
    for name, s, col in predictors:
        e = df[col].to_numpy(np.float64)
        boot_ranks = resampled_ranks(e, idx)  # the ranks of −E(s) are n + 1 minus these
        for label, positive, sign in targets:
            ranks = boot_ranks if sign > 0 else n + 1 - boot_ranks
            lo, hi = percentile_interval(_auroc_of_ranks(ranks, positive[idx]), confidence)
            rows.append(
                {
                    "predictor": name,
                    "s": s,
                    "target": label,
                    "statistic": "auroc",
                    "n": n,
                    "value": float(auroc(sign * e, positive)),
                    "p": np.nan,
                    "value_ci_low": lo,
                    "value_ci_high": hi,
                }
            )
        for r in rhos.loc[[col]].itertuples():
            rows.append(
                {
                    "predictor": name,
                    "s": s,
                    "target": r.measure,
                    "statistic": "spearman",
                    "n": r.n,
                    "value": r.spearman_rho,
                    "p": r.spearman_p,
                    "value_ci_low": r.spearman_rho_ci_low,
                    "value_ci_high": r.spearman_rho_ci_high,
                }
            )
    return with_q_values(pd.DataFrame(rows))


PARTIAL = "partial_kpe"
"""The predictor of the early-prediction table that is the partial energy E(s)."""


def first_beating_baselines(table: pd.DataFrame, target: str) -> pd.Series | None:
    """The row of :func:`early_prediction`'s ``table`` at the first check time s > 0 at which
    E(s)'s AUROC for ``target`` (e.g. ``high_kpe_group``) is above every free baseline beyond
    doubt: the lower end of its interval above the upper end of each baseline's. None where it
    never is (or the table has no baseline for ``target``)."""
    auroc = table[(table.statistic == "auroc") & (table.target == target)]
    baselines = auroc[auroc.predictor != PARTIAL]
    if baselines.empty:
        return None
    own = auroc[(auroc.predictor == PARTIAL) & (auroc.s > 0)].sort_values("s")
    beats = own[own.value_ci_low > baselines.value_ci_high.max()]
    return None if beats.empty else beats.iloc[0]
