"""Correlations, bootstrap intervals, groups and quantile curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from enfopath.measures.correlation import correlations
from enfopath.measures.groups import group_comparison, kpe_groups, quantile_curves
from enfopath.measures.inference import q_values, resampled_ranks


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    e = rng.gamma(3.0, size=500)
    return pd.DataFrame(
        {
            "kpe": e,
            "mono": np.exp(-e),  # perfectly anti-monotone in e
            "noisy": -e + rng.normal(scale=2.0, size=500),
            "indep": rng.normal(size=500),
            "ties": np.round(e),
        }
    )


def test_resampled_ranks_equal_rankdata_with_ties():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 15, 200).astype(float)
    idx = rng.integers(0, 200, (30, 200))
    np.testing.assert_array_equal(resampled_ranks(x, idx), stats.rankdata(x[idx], axis=1))


def test_correlations_match_scipy_and_bracket_the_estimate(df):
    res = correlations(df, ["kpe"], ["mono", "noisy", "indep", "ties"], n_boot=1000, seed=0)
    r = res.set_index("measure")
    assert r.loc["mono", "spearman_rho"] == pytest.approx(-1.0)
    assert r.loc["mono", "spearman_rho_ci_low"] == pytest.approx(-1.0)
    assert r.loc["mono", "spearman_rho_ci_high"] == pytest.approx(-1.0)
    for m in ("noisy", "ties", "indep"):
        sp = stats.spearmanr(df.kpe, df[m])
        pe = stats.pearsonr(df.kpe, df[m])
        assert r.loc[m, "spearman_rho"] == pytest.approx(sp.statistic)
        assert r.loc[m, "spearman_p"] == pytest.approx(sp.pvalue)
        assert r.loc[m, "pearson_r"] == pytest.approx(pe.statistic)
        assert (
            r.loc[m, "spearman_rho_ci_low"]
            < r.loc[m, "spearman_rho"]
            < r.loc[m, "spearman_rho_ci_high"]
        )
        assert r.loc[m, "pearson_r_ci_low"] < r.loc[m, "pearson_r"] < r.loc[m, "pearson_r_ci_high"]
    assert r.loc["noisy", "spearman_rho_ci_high"] < -0.3
    assert r.loc["indep", "spearman_rho_ci_low"] < 0 < r.loc["indep", "spearman_rho_ci_high"]


def test_bootstrap_is_seeded(df):
    a = correlations(df, ["kpe"], ["noisy"], n_boot=1000, seed=4)
    b = correlations(df, ["kpe"], ["noisy"], n_boot=1000, seed=4)
    c = correlations(df, ["kpe"], ["noisy"], n_boot=1000, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert a.spearman_rho_ci_low[0] != c.spearman_rho_ci_low[0]


def test_non_finite_rows_are_left_out_of_the_pair(df):
    bad = df.copy()
    bad.loc[:9, "noisy"] = np.inf
    res = correlations(bad, ["kpe"], ["noisy", "indep"], n_boot=1000, seed=0).set_index("measure")
    assert res.loc["noisy", "n"] == len(df) - 10
    assert res.loc["indep", "n"] == len(df)
    sp = stats.spearmanr(df.kpe[10:], df.noisy[10:]).statistic
    assert res.loc["noisy", "spearman_rho"] == pytest.approx(sp)


def test_groups_and_mann_whitney(df):
    g = kpe_groups(df.kpe, 0.2)
    assert (g == "low").sum() == 100 and (g == "high").sum() == 100
    assert df.kpe[g == "low"].max() < df.kpe[g == "high"].min()
    res = group_comparison(df, ["kpe"], ["mono", "indep"], 0.2).set_index("measure")
    assert res.loc["mono", "low_mean"] > res.loc["mono", "high_mean"]
    assert res.loc["mono", "mannwhitney_p"] < 1e-20
    assert res.loc["indep", "mannwhitney_p"] > 1e-3
    low = df.mono[g == "low"]
    assert res.loc["mono", "low_std"] == pytest.approx(low.std(ddof=1))


def test_quantile_curves(df):
    q = quantile_curves(df, "kpe", ["mono"], 10)
    assert list(q.bin) == list(range(1, 11))
    assert q.n.sum() == len(df)
    assert q["mean"].is_monotonic_decreasing
    assert q.energy_mean.is_monotonic_increasing


def test_q_values_are_benjamini_hochberg_beside_each_p(df):
    res = correlations(df, ["kpe"], ["mono", "noisy", "indep", "ties"], n_boot=0, seed=0)
    cols = list(res.columns)
    assert cols.index("spearman_q") == cols.index("spearman_p") + 1
    assert cols.index("pearson_q") == cols.index("pearson_p") + 1
    p = res.spearman_p.to_numpy()
    m = len(p)
    order = np.argsort(p)
    bh = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    expected = np.empty(m)
    expected[order] = np.minimum(bh, 1.0)
    np.testing.assert_allclose(res.spearman_q, expected)
    assert (res.spearman_q >= res.spearman_p).all()
    groups = group_comparison(df, ["kpe"], ["mono", "indep"], 0.2)
    np.testing.assert_allclose(
        groups.mannwhitney_q, stats.false_discovery_control(groups.mannwhitney_p)
    )


def test_q_values_leave_undefined_tests_out_of_the_family():
    np.testing.assert_allclose(q_values(np.array([0.01, np.nan, 0.04])), [0.02, np.nan, 0.04])


def test_zero_bootstrap_resamples_give_estimates_without_intervals(df):
    res = correlations(df, ["kpe"], ["noisy", "indep"], n_boot=0, seed=0)
    full = correlations(df, ["kpe"], ["noisy", "indep"], n_boot=200, seed=0)
    assert res.filter(like="_ci_").isna().all().all()
    pd.testing.assert_series_equal(res.spearman_rho, full.spearman_rho)
    assert full.filter(like="_ci_").notna().all().all()


def test_each_quantity_once_in_the_statistics():
    from enfopath.study.tables import ENERGIES, measure_columns

    cols = ["pixels_d5", "pixels_knn_logdens5", "pixels_nn_dist", "pixels_exact_copy"]
    table = pd.DataFrame({c: [0.0] for c in ["clf_margin", *cols]})
    assert measure_columns(table, ["pixels"]) == [
        "clf_margin",
        "pixels_knn_logdens5",
        "pixels_nn_dist",
    ]
    assert "kpe_per_dim" not in ENERGIES and "kpe" in ENERGIES


def _confounded(n: int = 2000) -> pd.DataFrame:
    """KPE = ‖x0‖²-like size + excess energy; one measure follows the size only, one the excess."""
    rng = np.random.default_rng(11)
    size = rng.chisquare(64, n)
    excess = rng.gamma(2.0, 1.0, n)
    return pd.DataFrame(
        {
            "kpe": size + 4.0 * excess,
            "x0_norm_sq": size,
            "by_size": size + rng.normal(0, 2.0, n),
            "by_excess": excess + rng.normal(0, 0.5, n),
        }
    )


def test_partial_correlation_removes_a_pure_confounder_and_keeps_a_real_relation():
    from enfopath.measures.correlation import partial_correlations

    df = _confounded()
    table = partial_correlations(
        df, ["kpe"], ["by_size", "by_excess"], ["x0_norm_sq"], n_boot=200, seed=0
    ).set_index("measure")
    size, excess = table.loc["by_size"], table.loc["by_excess"]
    assert size.spearman_rho > 0.5 and abs(size.partial_rho) < 0.05
    assert size.partial_rho_ci_low < 0 < size.partial_rho_ci_high and size.partial_p > 0.01
    assert excess.partial_rho > 0.6 and excess.partial_p < 1e-10
    assert excess.partial_rho_ci_low < excess.partial_rho < excess.partial_rho_ci_high
    assert list(table.columns).index("partial_q") == list(table.columns).index("partial_p") + 1


def test_partial_correlation_equals_rank_residuals_and_the_regression_t_test():
    """Two independent computations: residuals of a least-squares fit on the control's ranks,
    and the t statistic of the measure's coefficient in x ~ 1 + y + z (on ranks)."""
    from enfopath.measures.correlation import partial_correlations

    df = _confounded(500)
    row = partial_correlations(df, ["kpe"], ["by_excess"], ["x0_norm_sq"], n_boot=0, seed=0)
    row = row.iloc[0]
    x, y, z = (stats.rankdata(df[c]) for c in ("kpe", "by_excess", "x0_norm_sq"))
    design = np.column_stack([np.ones_like(z), z])
    rx = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
    ry = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    assert row.partial_rho == pytest.approx(np.corrcoef(rx, ry)[0, 1], abs=1e-12)
    full = np.column_stack([np.ones_like(z), y, z])
    beta, res, *_ = np.linalg.lstsq(full, x, rcond=None)
    dof = len(x) - 3
    cov = res[0] / dof * np.linalg.inv(full.T @ full)
    t = beta[1] / np.sqrt(cov[1, 1])
    assert row.partial_p == pytest.approx(2 * stats.t.sf(abs(t), dof), rel=1e-9)
    assert np.isnan(row.partial_rho_ci_low)  # n_boot = 0: no interval


def test_auroc_equals_scikit_learn_with_ties():
    from sklearn.metrics import roc_auc_score

    from enfopath.measures.early import auroc

    rng = np.random.default_rng(3)
    score = rng.integers(0, 5, 300).astype(float)  # many ties
    positive = rng.uniform(size=300) < 0.3 + 0.1 * score
    assert auroc(score, positive) == pytest.approx(roc_auc_score(positive, score), abs=1e-12)
    assert np.isnan(auroc(score, np.zeros(300, bool)))


def test_early_prediction_grows_to_certainty_at_the_end():
    """E(s) = s·KPE + (1 − s)·noise: at s = 0 it knows nothing (AUROC ½), at s = 1 everything."""
    from enfopath.measures.early import early_prediction

    rng = np.random.default_rng(4)
    n = 400
    kpe = rng.gamma(4.0, size=n)
    times = np.array([0.0, 0.5, 1.0])
    noise = rng.gamma(4.0, size=n)
    df = pd.DataFrame(
        {"kpe": kpe, "margin": -kpe + rng.normal(size=n)}
        | {f"kpe_t{s:.3f}": s * kpe + (1 - s) * noise for s in times}
    )
    cols = [f"kpe_t{s:.3f}" for s in times]
    table = early_prediction(
        df, times, cols, ["margin"], quantile=0.2, n_boot=100, seed=0
    ).set_index(["s", "target"])
    for group in ("low_kpe_group", "high_kpe_group"):
        assert table.loc[(0.0, group), "value"] == pytest.approx(0.5, abs=0.1)
        assert table.loc[(1.0, group), "value"] == 1.0
        assert 0.5 < table.loc[(0.5, group), "value"] < 1.0
    assert table.loc[(1.0, "kpe"), "value"] == pytest.approx(1.0)
    assert table.loc[(1.0, "margin"), "value"] < -0.8
    row = table.loc[(0.5, "low_kpe_group")]
    assert row.value_ci_low < row.value < row.value_ci_high


def test_early_prediction_sets_free_baselines_and_quality_groups_beside_the_partial_energy():
    """A baseline equal to E(1) has exactly E(1)'s rows (same resamples), at s = 0; a quality
    measure q = −KPE puts the low-q group on the high energies (AUROC 1 for +E(1)) and the
    high-q group on the low ones (AUROC 0); pure noise as a baseline is near ½."""
    from enfopath.measures.early import early_prediction

    rng = np.random.default_rng(5)
    n = 300
    kpe = rng.gamma(4.0, size=n)
    times = np.array([0.0, 1.0])
    df = pd.DataFrame(
        {"kpe": kpe, "q": -kpe, "copy": kpe, "noise": rng.normal(size=n)}
        | {f"kpe_t{s:.3f}": s * kpe for s in times}
    )
    cols = [f"kpe_t{s:.3f}" for s in times]
    table = early_prediction(
        df,
        times,
        cols,
        ["q"],
        quantile=0.2,
        n_boot=80,
        seed=0,
        baselines=["copy", "noise"],
        quality=["q"],
    )
    assert list(table.columns[:3]) == ["predictor", "s", "target"]
    assert set(table.predictor) == {"partial_kpe", "copy", "noise"}
    assert (table[table.predictor != "partial_kpe"].s == 0.0).all()
    end = table[(table.predictor == "partial_kpe") & (table.s == 1.0)].set_index("target")
    copy = table[table.predictor == "copy"].set_index("target")
    values = ["value", "value_ci_low", "value_ci_high", "n"]
    pd.testing.assert_frame_equal(end[values], copy[values])
    assert end.loc["low_q_group", "value"] == 1.0 and end.loc["high_q_group", "value"] == 0.0
    noise = table[table.predictor == "noise"].set_index("target")
    for t in ("low_kpe_group", "high_kpe_group", "low_q_group", "high_q_group"):
        assert noise.loc[t, "value"] == pytest.approx(0.5, abs=0.1)
    assert set(table[table.statistic == "auroc"].target) == {
        "low_kpe_group",
        "high_kpe_group",
        "low_q_group",
        "high_q_group",
    }


def test_early_prediction_refuses_a_quality_measure_that_is_not_finite():
    from enfopath.measures.early import early_prediction

    df = pd.DataFrame({"kpe": np.arange(20.0), "q": np.r_[np.nan, np.arange(19.0)]})
    df["kpe_t1.000"] = df.kpe
    with pytest.raises(ValueError, match="quality measure 'q' is not finite for 1 analysed"):
        early_prediction(
            df, np.array([1.0]), ["kpe_t1.000"], [], quantile=0.2, n_boot=0, seed=0, quality=["q"]
        )


def test_class_composition_finds_a_class_that_sits_in_a_group():
    """Class 0 makes up the low-KPE group: its Fisher test and the group's chi-square reject,
    with scipy's values; classes drawn at random leave every group's composition alone; the
    classes' counts add up to each group."""
    from enfopath.measures.groups import class_composition

    rng = np.random.default_rng(6)
    n = 1000
    kpe = rng.gamma(4.0, size=n)
    cls = rng.integers(1, 4, n)
    low = kpe <= np.quantile(kpe, 0.2)
    cls[low] = 0
    df = pd.DataFrame({"kpe": kpe, "clf_class": cls})
    table = class_composition(df, ["kpe"], ["clf_class"], 0.2, seed=0)
    assert set(table.group) == {"low", "between", "high"}
    chi = table[table["class"].isna()].set_index("group")
    assert chi.loc["low", "p"] < 1e-50 and chi.loc["low", "p_method"] == "asymptotic"
    at_random = class_composition(
        df.assign(clf_class=rng.integers(0, 4, n)), ["kpe"], ["clf_class"], 0.2, 0
    )
    assert (at_random[at_random["class"].isna()].p > 1e-3).all()
    low_table = np.vstack([np.bincount(cls[low], minlength=4), np.bincount(cls[~low], minlength=4)])
    ref = stats.chi2_contingency(low_table, correction=False)
    assert chi.loc["low", "statistic"] == pytest.approx(ref.statistic)
    zero = table[(table.group == "low") & (table["class"] == 0)].iloc[0]
    assert zero["count"] == low.sum() and zero.share == 1.0
    ref = stats.fisher_exact([[low.sum(), 0], [0, n - low.sum()]])
    assert zero.p == pytest.approx(ref.pvalue) and zero.q <= zero.p * len(table)
    counts = table[table["class"].notna()].groupby("group")["count"].sum()
    assert counts.to_dict() == chi["count"].to_dict()


def test_class_composition_of_a_small_group_takes_a_reproducible_monte_carlo_p_value():
    from enfopath.measures.groups import class_composition

    rng = np.random.default_rng(7)
    df = pd.DataFrame({"kpe": rng.gamma(4.0, size=40), "clf_class": rng.integers(0, 5, 40)})
    one, two = (class_composition(df, ["kpe"], ["clf_class"], 0.2, seed=3) for _ in range(2))
    chi = one[one["class"].isna()]
    assert (chi.p_method == "monte_carlo").all() and chi.p.between(0, 1).all()
    pd.testing.assert_frame_equal(one, two)
    other = class_composition(df, ["kpe"], ["clf_class"], 0.2, seed=4)
    assert not np.array_equal(other[other["class"].isna()].p, chi.p)


def test_memorized_fraction_per_energy_bin_counts_ratios_below_a_third():
    from enfopath.measures.inference import q_values
    from enfopath.measures.memorization import memorization

    rng = np.random.default_rng(0)
    energy = rng.uniform(0, 10, 2000)
    # low energy memorizes: ratio below 1/3 with probability 0.8 in the lowest decile, else 0.1
    p = np.where(energy < 1.0, 0.8, 0.1)
    ratio = np.where(rng.uniform(size=2000) < p, 0.1, 0.9)
    df = pd.DataFrame({"kpe": energy, "pixels_d1_d2": ratio})
    table = memorization(df, "pixels_d1_d2", "kpe", 10).set_index("bin")
    assert list(table.index) == list(range(11))
    assert table.loc[0, "n"] == 2000
    assert table.loc[0, "fraction"] == pytest.approx((ratio < 1 / 3).mean())
    first = energy <= np.sort(energy)[199]
    assert table.loc[1, "fraction"] == pytest.approx((ratio[first] < 1 / 3).mean())
    assert table.loc[1, "fraction"] > 0.7 and table.loc[5, "fraction"] < 0.2
    # the exact interval of a fraction: about ± 1.96 sqrt(p (1 − p) / n) at this n
    f, n = table.loc[0, "fraction"], 2000
    half = 1.96 * np.sqrt(f * (1 - f) / n)
    assert table.loc[0, "fraction_ci_low"] == pytest.approx(f - half, abs=0.004)
    assert table.loc[0, "fraction_ci_high"] == pytest.approx(f + half, abs=0.004)
    assert table.loc[0, "spearman_rho"] > 0.3  # the ratio rises with the energy
    np.testing.assert_array_equal(table.spearman_q, q_values(table.spearman_p.to_numpy()))
    assert (
        table.loc[1:, "energy_min"].to_numpy()[1:] >= table.loc[1:, "energy_max"].to_numpy()[:-1]
    ).all()


def test_the_interval_of_a_share_is_exact_and_never_degenerate():
    """A bootstrap of a share gives [0, 0] for 0 / n and [1, 1] for n / n; Clopper–Pearson's
    bounds are the beta quantiles: for 0 of n the upper bound is 1 − (α / 2)^(1/n)."""
    from scipy.stats import beta

    from enfopath.measures.inference import share_interval
    from enfopath.measures.memorization import memorization

    n = 4096
    assert share_interval(0, n, 0.95) == (0.0, pytest.approx(1 - 0.025 ** (1 / n), rel=1e-9))
    assert share_interval(n, n, 0.95) == (pytest.approx(0.025 ** (1 / n), rel=1e-9), 1.0)
    lo, hi = share_interval(30, 200, 0.9)
    assert lo == pytest.approx(beta.ppf(0.05, 30, 171)) and hi == pytest.approx(
        beta.ppf(0.95, 31, 170)
    )
    assert np.isnan(share_interval(0, 0, 0.95)).all()
    none = pd.DataFrame({"kpe": np.arange(n, dtype=float), "pixels_d1_d2": np.full(n, 0.9)})
    row = memorization(none, "pixels_d1_d2", "kpe", 4).iloc[0]
    assert row.memorized == 0 and row.fraction_ci_low == 0 and 0.0008 < row.fraction_ci_high < 0.001


def test_a_comparison_gives_shares_exact_intervals_and_tests_zero_changes_by_pratt():
    """A discrete measure that mostly stays put: Wilcoxon ranks its zero changes (Pratt), and
    a share's means carry Clopper–Pearson intervals while its change keeps the bootstrap."""
    from scipy import stats as sps

    from enfopath.measures.inference import share_interval
    from enfopath.measures.paired import paired_comparison

    rng = np.random.default_rng(4)
    n = 400
    base = pd.DataFrame(
        {
            "sample": np.arange(n),
            "count": rng.integers(0, 3, n).astype(float),
            "memorized": np.zeros(n),
        }
    )
    other = base.copy()
    moved = rng.choice(n, 40, replace=False)
    other.loc[moved, "count"] += rng.choice([1.0, 2.0, -1.0], 40)
    other.loc[moved[:10], "memorized"] = 1.0
    table, _ = paired_comparison(
        base, other, ["count", "memorized"], n_boot=200, seed=0, shares=("memorized",)
    )
    t = table.set_index("measure")
    want = sps.wilcoxon(other["count"], base["count"], zero_method="pratt").pvalue
    assert t.loc["count", "wilcoxon_p"] == pytest.approx(want, rel=1e-12)
    assert want != pytest.approx(sps.wilcoxon(other["count"], base["count"]).pvalue, rel=1e-3)
    assert (t.loc["memorized", "base_mean_ci_low"], t.loc["memorized", "base_mean_ci_high"]) == (
        share_interval(0, n, 0.95)
    )
    assert (
        t.loc["memorized", "mean_ci_low"],
        t.loc["memorized", "mean_ci_high"],
    ) == share_interval(10, n, 0.95)
    assert (
        t.loc["memorized", "change_mean_ci_low"]
        < 10 / n
        < t.loc["memorized", "change_mean_ci_high"]
    )


def test_one_spearman_rule_for_every_table():
    """ρ and p of the finite pairs, as scipy gives them; NaN below 3 pairs or for a constant
    side, and no warning either way."""
    import warnings

    from scipy import stats as sps

    from enfopath.measures.inference import spearman

    rng = np.random.default_rng(5)
    x, y = rng.normal(size=50), rng.normal(size=50)
    x[3], y[7] = np.nan, np.inf
    keep = np.isfinite(x) & np.isfinite(y)
    expected = sps.spearmanr(x[keep], y[keep])
    assert spearman(x, y) == (expected[0], expected[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(spearman(x[:2], y[:2])).all()
        assert np.isnan(spearman(np.ones(10), y[10:20])).all()


def test_the_median_interval_is_the_order_statistics_with_binomial_coverage():
    from scipy import stats as st

    from enfopath.measures.groups import median_interval

    assert median_interval(np.arange(1.0, 11.0), 0.95) == (5.5, 2.0, 9.0)  # 1 − 2 P(B ≤ 1) ≥ 95 %
    assert median_interval(np.array([3.0, np.nan, 1.0]), 0.95) == (2.0, 1.0, 3.0)  # too few
    rng = np.random.default_rng(0)
    draws = rng.exponential(size=(2000, 40))
    truth = np.log(2.0)
    covered = [lo <= truth <= hi for _, lo, hi in (median_interval(d, 0.9) for d in draws)]
    exact = 1 - 2 * st.binom.cdf(15 - 1, 40, 0.5)  # l = 15 for n = 40 at 90 %
    assert np.mean(covered) >= 0.9 - 0.02 and abs(np.mean(covered) - exact) < 0.03
