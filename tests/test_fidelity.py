"""Fréchet distance and KID: the closed form for Gaussians, torch-fidelity's own functions on the
same features, and the per-group table (bootstrap, random groups of the same size)."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric

from enfopath.measures import fidelity
from enfopath.measures.fidelity import (
    FidelitySettings,
    Reference,
    fidelity_by_band,
    frechet_distance,
    frechet_from_moments,
    kernel_distance,
    kid_subsets,
    subset_kernel_sums,
)
from enfopath.measures.prdc import kpe_bands


def torch_fidelity_fd(fake: np.ndarray, real: np.ndarray) -> float:
    stats = [
        fid_features_to_statistics(torch.from_numpy(x.astype(np.float64))) for x in (fake, real)
    ]
    return fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]


def test_fd_of_two_gaussians_is_the_closed_form():
    """Diagonal covariances: ‖μ₁ − μ₂‖² + Σ (√a − √b)²; a non-commuting 2 × 2 pair: the trace
    root of a 2 × 2 PSD matrix M is √(tr M + 2 √det M)."""
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.0])
    mu_a, mu_b = np.array([0.0, 1.0, -2.0]), np.array([3.0, 1.0, 0.0])
    want = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_from_moments(mu_a, np.diag(a), Reference.from_moments(mu_b, np.diag(b)))
    assert got == pytest.approx(want, rel=1e-12)
    s1, s2 = np.array([[2.0, 0.6], [0.6, 1.0]]), np.array([[1.0, -0.3], [-0.3, 0.5]])
    m = s1 @ s2
    root = np.sqrt(np.trace(m) + 2 * np.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    want = np.trace(s1) + np.trace(s2) - 2 * root
    assert frechet_from_moments(np.zeros(2), s1, Reference.from_moments(np.zeros(2), s2)) == (
        pytest.approx(want, rel=1e-12)
    )


def test_fd_from_samples_is_the_fd_of_their_moments_and_tends_to_the_closed_form():
    rng = np.random.default_rng(0)
    cov_f, cov_r = np.diag([1.0, 2.0, 0.5, 1.0]), np.eye(4) * 0.8
    fake = rng.multivariate_normal([0.5, 0, 0, 0], cov_f, 20000)
    real = rng.multivariate_normal(np.zeros(4), cov_r, 20000)
    reference = Reference.of(real)
    got = frechet_distance(fake, reference)
    moments = frechet_from_moments(fake.mean(0), np.cov(fake, rowvar=False), reference)
    assert got == pytest.approx(moments, rel=1e-10)
    closed = frechet_from_moments([0.5, 0, 0, 0], cov_f, Reference.from_moments(np.zeros(4), cov_r))
    assert got == pytest.approx(closed, abs=0.03)  # sampling error at n = 20,000


@pytest.mark.parametrize(("m", "n", "d"), [(300, 400, 8), (40, 60, 100), (90, 30, 50)])
def test_fd_equals_torch_fidelitys_on_the_same_features(m, n, d):
    """More samples than dimensions, and fewer (rank-deficient covariances, on either side)."""
    rng = np.random.default_rng(m)
    fake = rng.standard_normal((m, d)) * 1.2 + 0.3
    real = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) / np.sqrt(d)
    got = frechet_distance(fake.astype(np.float32), Reference.of(real.astype(np.float32)))
    want = torch_fidelity_fd(fake.astype(np.float32), real.astype(np.float32))
    # rank-deficient: torch-fidelity's eigvals of the non-symmetric product give the zero
    # eigenvalues as ±1e-14 noise whose square roots add about 1e-6 to the trace root
    assert got == pytest.approx(want, rel=1e-10 if min(m, n) > d else 1e-7)
    assert frechet_distance(real, Reference.of(real)) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize(("m", "n", "size"), [(120, 150, 50), (80, 80, 80)])
def test_kid_equals_torch_fidelitys_on_the_same_features_and_subsets(m, n, size):
    """torch-fidelity draws its subsets from RandomState(rng_seed); given the same subsets, the
    mean and standard deviation of the unbiased MMD² agree to round-off."""
    rng = np.random.default_rng(1)
    fake = (rng.standard_normal((m, 16)) + 0.2).astype(np.float32)
    real = rng.standard_normal((n, 16)).astype(np.float32)
    draw = np.random.RandomState(7)
    subsets = [
        (draw.choice(m, size, replace=False), draw.choice(n, size, replace=False)) for _ in range(5)
    ]
    got = kernel_distance(fake, real, subsets)
    want = kid_features_to_metric(
        torch.from_numpy(fake.astype(np.float64)),
        torch.from_numpy(real.astype(np.float64)),
        kid_subsets=5,
        kid_subset_size=size,
        rng_seed=7,
        verbose=False,
    )
    assert got[0] == pytest.approx(want["kernel_inception_distance_mean"], rel=1e-6, abs=1e-9)
    assert got[1] == pytest.approx(want["kernel_inception_distance_std"], rel=1e-6, abs=1e-9)
    assert got[0] > 0


def test_kid_of_a_set_with_itself_is_unbiased_around_zero_and_subsets_are_seeded():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((400, 5))
    subsets = kid_subsets(400, 400, 20, 100, seed=3)
    assert all(len(np.unique(i)) == 100 for i, _ in subsets)
    again = kid_subsets(400, 400, 20, 100, seed=3)
    assert all(
        (a == c).all() and (b == d).all() for (a, b), (c, d) in zip(subsets, again, strict=True)
    )
    kid, std = kernel_distance(rng.standard_normal((400, 5)), real, subsets)
    assert abs(kid) < 3 * std / np.sqrt(20) + 1e-3
    with pytest.raises(ValueError, match="at least 2 samples"):
        kid_subsets(1, 400, 2, 100, seed=0)


@pytest.mark.parametrize("method", ["subsets", "union", None])
@pytest.mark.parametrize(("n", "m"), [(60, 60), (300, 40)])
def test_each_way_of_summing_the_subsets_kernels_is_each_subsets_own_sum(method, n, m, monkeypatch):
    """Subsets that cover every row (a band smaller than the subset size) and subsets that
    overlap little; the union computed in several blocks."""
    monkeypatch.setattr(fidelity, "KERNEL_BLOCK", 8 * 300 * 7)
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((n, 7)) + 0.3, rng.standard_normal((250, 7))
    subsets = kid_subsets(n, 250, 6, m, seed=1)
    ia, ib = np.stack([i for i, _ in subsets]), np.stack([j for _, j in subsets])
    want_within = [
        fidelity._cube_kernel(a[i], a[i]).sum() - fidelity._cube_kernel(a[i], a[i]).trace()
        for i in ia
    ]
    want_cross = [fidelity._cube_kernel(a[i], b[j]).sum() for i, j in zip(ia, ib, strict=True)]
    within = subset_kernel_sums(a, a, ia, ia, within=True, method=method)
    cross = subset_kernel_sums(a, b, ia, ib, within=False, method=method)
    assert within == pytest.approx(want_within, rel=1e-12)
    assert cross == pytest.approx(want_cross, rel=1e-12)
    with pytest.raises(ValueError, match="'subsets' or 'union'"):
        subset_kernel_sums(a, b, ia, ib, within=False, method="both")


def table(n_boot=50, random_groups=40, seed=0):
    rng = np.random.default_rng(4)
    energy = pd.Series(rng.gamma(2.0, size=500))
    # the high-energy samples are shifted away from the reference: their FD is the largest
    fake = rng.standard_normal((500, 6)) + (energy.to_numpy()[:, None] > energy.quantile(0.8)) * 1.5
    real = rng.standard_normal((300, 6))
    bands = kpe_bands(energy, 0.2)
    settings = FidelitySettings(n_boot, 0.9, random_groups, 10, 60, seed)
    return bands, fake, real, fidelity_by_band(bands, fake, real, settings)


def test_the_table_holds_each_groups_fd_kid_interval_and_random_baseline():
    bands, fake, real, t = table()
    assert list(t.group) == ["all", "low", "middle", "high"]
    reference = Reference.of(real)
    for row in t.itertuples():
        rows = np.ones(len(fake), bool) if row.group == "all" else (bands == row.group).to_numpy()
        assert row.n_fake == rows.sum() and row.n_real == 300
        assert row.fd == pytest.approx(frechet_distance(fake[rows], reference), rel=1e-10)
        assert row.fd_ci_low <= row.fd_ci_high and row.kid_std > 0
        subsets = kid_subsets(int(rows.sum()), 300, 10, 60, seed=0)
        assert (row.kid, row.kid_std) == pytest.approx(kernel_distance(fake[rows], real, subsets))
    high, low, everyone = (t.set_index("group").loc[g] for g in ("high", "low", "all"))
    assert high.fd > high.fd_random_ci_high and high.fd_random_share == 1.0
    assert low.fd < low.fd_random_ci_low and low.fd_random_share == 0.0
    assert np.isnan(everyone.fd_random) and high.kid > low.kid
    # bands of equal size share their random groups' draws: the same baseline
    assert t.fd_random.iloc[1] == t.fd_random.iloc[3]


def test_a_small_groups_interval_holds_its_estimate_though_every_resample_lies_above():
    """Resamples repeat rows, which raises their FD beyond the spread: the interval is their
    spread about their median, moved onto the estimate."""
    from enfopath.measures.fidelity import shifted_interval

    rng = np.random.default_rng(6)
    fake, real = rng.standard_normal((20, 30)), rng.standard_normal((200, 30))
    reference = Reference.of(real)
    estimate = frechet_distance(fake, reference)
    boot = np.array(
        [frechet_distance(fake[rng.integers(0, 20, 20)], reference) for _ in range(200)]
    )
    assert (boot > estimate).all()
    low, high = shifted_interval(estimate, boot, 0.9)
    q_low, q_high = np.quantile(boot, [0.05, 0.95])
    assert low < estimate < high
    assert high - low == pytest.approx(q_high - q_low)
    assert estimate - low == pytest.approx(np.median(boot) - q_low)
    assert np.isnan(shifted_interval(estimate, boot[:0], 0.9)).all()


def test_an_fd_interval_never_reaches_below_zero():
    """Two samples of one distribution: FD near 0, the shifted interval's lower end clipped."""
    rng = np.random.default_rng(7)
    energy = pd.Series(rng.permutation(400).astype(float))
    same = rng.standard_normal((400, 2))
    bands = kpe_bands(energy, 0.2)
    t = fidelity_by_band(
        bands, same, rng.standard_normal((2000, 2)), FidelitySettings(100, 0.9, 0, 2, 50, 0)
    )
    assert (t.fd_ci_low >= 0).all() and (t.fd_ci_low == 0).any()
    assert (t.fd_ci_low <= t.fd).all() and (t.fd <= t.fd_ci_high).all()


def test_the_table_is_seeded_and_its_resamples_can_be_turned_off():
    *_, t = table()
    pd.testing.assert_frame_equal(t, table()[-1])
    assert not t.equals(table(seed=1)[-1])
    *_, bare = table(n_boot=0, random_groups=0)
    assert bare.fd_ci_low.isna().all() and bare.fd_random.isna().all()
    pd.testing.assert_series_equal(bare.fd, t.fd)


def test_too_small_or_non_finite_features_name_the_problem():
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="reference features must be"):
        Reference.of(rng.standard_normal((1, 3)))
    bad = rng.standard_normal((10, 3))
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="generated features hold non-finite"):
        frechet_distance(bad, Reference.of(rng.standard_normal((10, 3))))
    bands = pd.Series(["low"] + ["middle"] * 5 + ["high"] * 4)
    with pytest.raises(ValueError, match="the low KPE group holds 1 sample"):
        fidelity_by_band(
            bands,
            rng.standard_normal((10, 3)),
            rng.standard_normal((10, 3)),
            FidelitySettings(0, 0.9, 0, 1, 5, 0),
        )
