"""Correlations, bootstrap intervals, low/high-KPE groups and quantile curves (docs/science.md §5).

Bootstrap: R paired resamples of the rows, drawn once from a seed derived from the config seed
and shared by every (energy, measure) pair; 95 % percentile intervals by default (R = 0: no
intervals, NaN). A Spearman statistic on a resample is the Pearson correlation of that
resample's ranks (average ranks for the ties that resampling creates).

Partial correlations (:func:`partial_correlations`): the Spearman correlation of an energy and
a measure controlling for a third variable z (the squared noise norm ‖x₀‖², or the chord energy)
is the partial correlation of their ranks, ρ_xy·z = (ρ_xy − ρ_xz ρ_yz) / √((1 − ρ_xz²)(1 − ρ_yz²)),
equal to the correlation of the rank residuals after a linear fit on z's ranks; its p-value is
the t test with n − 3 degrees of freedom, its interval the same bootstrap as above.

Multiple testing: every p-value column ``*_p`` of a table gets a Benjamini–Hochberg q-value
column ``*_q`` beside it (:func:`with_q_values`), the family being all the tests of that column
in that table.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from enfopath.measures.bands import thresholds
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


def _finite_columns(df: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """The columns ``names`` of ``df`` as float64 arrays, less those with a non-finite value."""
    arrays = {name: df[name].to_numpy(np.float64) for name in dict.fromkeys(names)}
    return {name: a for name, a in arrays.items() if np.isfinite(a).all()}


def _own_bootstrap(
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


def _estimate(
    column: str, value: float, p: float, samples: np.ndarray, confidence: float
) -> dict[str, float]:
    """A statistic's table entries: ``column`` (e.g. ``spearman_rho``) = ``value``, its
    p-value and the percentile interval of its bootstrap ``samples``, named by the column's
    prefix (``spearman_p``, ``spearman_ci_low``, ``spearman_ci_high``)."""
    prefix = column.rsplit("_", 1)[0]
    lo, hi = percentile_interval(samples, confidence)
    return {column: value, f"{prefix}_p": p, f"{prefix}_ci_low": lo, f"{prefix}_ci_high": hi}


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
    spearman_rho, spearman_p, spearman_q, spearman_ci_low, spearman_ci_high, pearson_r,
    pearson_p, pearson_q, pearson_ci_low, pearson_ci_high (q: Benjamini–Hochberg over the
    table's tests).
    """
    n_all = len(df)
    idx_all = numpy_rng(seed, "bootstrap").integers(0, n_all, size=(n_boot, n_all))
    finite = _finite_columns(df, [*energies, *measures])
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
                own, _ = _own_bootstrap({e: x, m: y}, [(e, m)], seed, f"bootstrap:{e}:{m}", n_boot)
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
                    **_estimate("spearman_rho", float(sp[0]), float(sp[1]), sp_boot, confidence),
                    **_estimate("pearson_r", float(pe[0]), float(pe[1]), pe_boot, confidence),
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
    energy, measure, control, n, spearman_rho, spearman_p, spearman_q, spearman_ci_low,
    spearman_ci_high, partial_rho, partial_p, partial_q, partial_ci_low, partial_ci_high.
    """
    n_all = len(df)
    idx_all = numpy_rng(seed, "bootstrap").integers(0, n_all, size=(n_boot, n_all))
    finite = _finite_columns(df, [*energies, *measures, *controls])

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
            own, ok = _own_bootstrap({e: x, m: y, c: z}, pairs, seed, stream, n_boot)
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
                **_estimate("spearman_rho", float(sp[0]), float(sp[1]), rxy, confidence),
                **_estimate("partial_rho", rho, partial_p_value(rho, n), partial, confidence),
            }
        )
    return with_q_values(pd.DataFrame(rows))


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
    ci_low, ci_high.
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
                    "ci_low": lo,
                    "ci_high": hi,
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
                    "ci_low": r.spearman_ci_low,
                    "ci_high": r.spearman_ci_high,
                }
            )
    return with_q_values(pd.DataFrame(rows))


def group_thresholds(energy: pd.Series, quantile: float) -> tuple[float, float]:
    """The q- and (1 − q)-quantiles of the energy: the low and high group thresholds
    (:func:`enfopath.measures.bands.thresholds`)."""
    lo, hi = thresholds(energy.to_numpy(np.float64), [quantile, 1.0 - quantile])
    return float(lo), float(hi)


def kpe_groups(energy: pd.Series, quantile: float) -> pd.Series:
    """``low`` (≤ the q-quantile), ``high`` (≥ the (1 − q)-quantile) or ``mid`` per sample."""
    lo, hi = group_thresholds(energy, quantile)
    group = pd.Series("mid", index=energy.index)
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
    """Which classes sit in each energy group: the class counts of the low / mid / high groups
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
            for name in ("low", "mid", "high"):
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


def quantile_curves(df: pd.DataFrame, energy: str, measures: list[str], bins: int) -> pd.DataFrame:
    """Mean, std and standard error of each measure per quantile bin (decile for 10) of energy.

    Columns: energy, bin (1 = lowest energy), energy_mean, measure, n, mean, std, sem.
    """
    b = quantile_bins(df[energy], bins)
    rows = []
    for m in measures:
        grouped = df[m].replace([np.inf, -np.inf], np.nan).groupby(b)
        summary = grouped.agg(["count", "mean", "std", "sem"])
        e_mean = df[energy].groupby(b).mean()
        for bin_id, r in summary.iterrows():
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
                }
            )
    return pd.DataFrame(rows)


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
    energy_mean, memorized, fraction, ci_low, ci_high, ratio_median, spearman_rho, spearman_p,
    spearman_q (Benjamini–Hochberg over the bins and all samples).
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
                "ci_low": lo,
                "ci_high": hi,
                "ratio_median": float(np.median(r[mask])),
                "spearman_rho": float(sp[0]),
                "spearman_p": float(sp[1]),
            }
        )
    return with_q_values(pd.DataFrame(rows))


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
                "base_ci_low": intervals[0][0],
                "base_ci_high": intervals[0][1],
                "mean": float(b.mean()) if n else np.nan,
                "ci_low": intervals[1][0],
                "ci_high": intervals[1][1],
                "base_std": float(a.std()) if n else np.nan,
                "change_mean": float(change.mean()) if n else np.nan,
                "change_ci_low": intervals[2][0],
                "change_ci_high": intervals[2][1],
                "effect_size": float(effect),
                "effect_ci_low": intervals[3][0],
                "effect_ci_high": intervals[3][1],
                **{
                    f"change_q{int(100 * q):02d}": float(v)
                    for q, v in zip(CHANGE_QUANTILES, quantiles, strict=True)
                },
                "wilcoxon_p": wilcoxon_p,
                "spearman_rho": rho,
            }
        )
    return with_q_values(pd.DataFrame(rows)), pd.DataFrame(per_sample)
