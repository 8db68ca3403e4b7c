"""Precision / recall / density / coverage from FAISS, against the reference formulas."""

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

from enfopath.measures.density import build_index, reference_radii
from enfopath.measures.prdc import kpe_bands, prdc, prdc_by_band


def reference_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, float]:
    """Naeem et al.'s formulas as the reference implementation (prdc.compute_prdc) writes
    them: full distance matrices, the k-th nearest other point, strict inequalities."""

    def nnd(x: np.ndarray) -> np.ndarray:
        return np.sort(cdist(x, x), axis=1)[:, k]  # column 0 is the point itself

    d = cdist(real, fake)  # (N, M)
    r_real, r_fake = nnd(real), nnd(fake)
    return {
        "precision": (d < r_real[:, None]).any(axis=0).mean(),
        "recall": (d < r_fake[None, :]).any(axis=1).mean(),
        "density": (d < r_real[:, None]).sum(axis=0).mean() / k,
        "coverage": (d.min(axis=1) < r_real).mean(),
    }


def measures(real, fake, k):
    index = build_index(real)
    m = prdc(real, index, reference_radii(index, real, [k])[0], fake, k)
    return {f: getattr(m, f) for f in ("precision", "recall", "density", "coverage")}


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("shift", [0.0, 0.7, 3.0])
def test_prdc_agrees_with_the_reference_formulas_on_random_data(k, shift):
    rng = np.random.default_rng(k)
    real = rng.standard_normal((300, 6)).astype(np.float32)
    fake = (rng.standard_normal((170, 6)) * 1.3 + shift).astype(np.float32)
    got, want = measures(real, fake, k), reference_prdc(real, fake, k)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name
    if shift == 3.0:  # far from the data: little precision, coverage or density
        assert got["precision"] < 0.2 and got["coverage"] < 0.1


def test_copies_of_training_points_tie_at_the_radius_as_the_formulas_say():
    rng = np.random.default_rng(0)
    real = rng.integers(-3, 4, size=(80, 4)).astype(np.float32)  # a lattice: many equal radii
    real = np.unique(real, axis=0)
    fake = real[rng.choice(len(real), 40, replace=False)]  # exact copies: ties at the radius
    got, want = measures(real, fake, 3), reference_prdc(real, fake, 3)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name
    assert got["precision"] == 1.0


def test_bands_are_the_study_groups_and_an_equal_middle_band():
    energy = pd.Series(np.arange(1000, dtype=float))
    bands = kpe_bands(energy, 0.2)
    counts = bands.value_counts()
    assert abs(counts["low"] - 200) <= 1 and abs(counts["high"] - 200) <= 1
    assert abs(counts["middle"] - 200) <= 1
    assert energy[bands == "middle"].between(399, 600).all()
    assert energy[bands == "low"].max() < energy[bands == "middle"].min()


def test_prdc_by_band_scores_each_group_against_the_reals():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((200, 3)).astype(np.float32)
    fake = rng.standard_normal((300, 3)).astype(np.float32)
    fake[:100] += 4.0  # the 'high' group is off the data
    bands = pd.Series(["high"] * 100 + ["middle"] * 100 + ["low"] * 100)
    index = build_index(real)
    table = prdc_by_band(bands, fake, real, index, {2: reference_radii(index, real, [2])[0]})
    t = table.set_index("group")
    assert list(t.index) == ["all", "low", "middle", "high"]
    assert t.loc["high", "precision"] < 0.1 < 0.8 < t.loc["low", "precision"]
    assert t.loc["all", "n_fake"] == 300 and t.loc["low", "n_fake"] == 100
    want = reference_prdc(real, fake[100:200], 2)
    assert t.loc["middle", "coverage"] == pytest.approx(want["coverage"], abs=1e-12)


def test_each_interval_resamples_the_points_its_measure_averages_over():
    """Precision and density of a resample of the fakes equal the reference formulas on the
    resampled fakes (duplicates included); recall and coverage of a resample of the reals are
    the brute-force per-real indicators averaged over it; the intervals are their
    percentiles."""
    from enfopath.measures.inference import percentile_interval
    from enfopath.measures.prdc import ball_pairs_of, prdc_intervals

    rng = np.random.default_rng(2)
    real = rng.standard_normal((150, 4)).astype(np.float32)
    fake = (rng.standard_normal((90, 4)) * 1.2).astype(np.float32)
    k = 3
    index = build_index(real)
    r_real = reference_radii(index, real, [k])[0]
    pairs = ball_pairs_of(real, index, r_real, fake, k)
    fake_idx = rng.integers(0, len(fake), (40, len(fake)))
    real_idx = rng.integers(0, len(real), (40, len(real)))
    d = cdist(real, fake)
    r_fake = np.sort(cdist(fake, fake), axis=1)[:, k]
    per_real = {
        "recall": (d < r_fake[None, :]).any(axis=1),
        "coverage": d.min(axis=1) < np.sort(cdist(real, real), axis=1)[:, k],
    }
    values = {name: [] for name in ("precision", "recall", "density", "coverage")}
    for row in fake_idx:
        want = reference_prdc(real, fake[row], k)
        values["precision"].append(want["precision"])
        values["density"].append(want["density"])
    for row in real_idx:
        for name, hit in per_real.items():
            values[name].append(hit[row].mean())
    ci = prdc_intervals(pairs, fake_idx, real_idx, 0.9)
    for name, v in values.items():
        assert ci[name] == pytest.approx(percentile_interval(np.array(v), 0.9), abs=1e-12), name
    m = pairs.measures()
    for name in values:
        assert ci[name][0] <= getattr(m, name) <= ci[name][1], name
    empty = prdc_intervals(pairs, fake_idx[:0], real_idx[:0], 0.9)
    assert all(np.isnan(lo) and np.isnan(hi) for lo, hi in empty.values())


def test_prdc_by_band_gives_every_measure_an_interval_from_the_same_resamples():
    rng = np.random.default_rng(3)
    real = rng.standard_normal((200, 3)).astype(np.float32)
    fake = rng.standard_normal((300, 3)).astype(np.float32)
    bands = pd.Series(["high"] * 100 + ["middle"] * 100 + ["low"] * 100)
    index = build_index(real)
    radii = {k: reference_radii(index, real, [k])[0] for k in (2, 4)}
    table = prdc_by_band(bands, fake, real, index, radii, n_boot=50, seed=0)
    again = prdc_by_band(bands, fake, real, index, radii, n_boot=50, seed=0)
    pd.testing.assert_frame_equal(table, again)
    for name in ("precision", "recall", "density", "coverage"):
        assert (table[f"{name}_ci_low"] <= table[name]).all(), name
        assert (table[name] <= table[f"{name}_ci_high"]).all(), name
    point = prdc_by_band(bands, fake, real, index, radii)
    pd.testing.assert_frame_equal(point[table.columns[:8]], table[table.columns[:8]])
    assert point.precision_ci_low.isna().all()


def planted_near_duplicates(seed: int = 0, dim: int = 128, norm: float = 28.0):
    """Generated samples piled up on training points 0.02 apart at feature norms near 28 (the
    empirical flow's classifier space), and real points at the piles' own radii: float32
    squared distances (‖x‖² ≈ 784) are off by more than the squared radii (≈ 4e-4)."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((500, dim))
    base *= norm / np.linalg.norm(base, axis=1, keepdims=True)
    centres = base[rng.choice(len(base), 150, replace=False)]
    noise = rng.standard_normal((150 * 12, dim)) * 0.02 / np.sqrt(dim)
    fake = np.repeat(centres, 12, axis=0) + noise
    near = centres + rng.standard_normal(centres.shape) * 0.026 / np.sqrt(dim)
    return np.concatenate([base, near]).astype(np.float32), fake.astype(np.float32)


def test_near_duplicates_at_large_norms_match_a_float64_brute_force_exactly():
    """The defect of the review: FAISS's float32 candidates missed true neighbours (radii up
    to 0.006 too large here) and a relative band misjudged small balls, so recall came out
    0.326 instead of 0.249. Radii, ball counts and the four numbers now equal float64 brute
    force."""
    from enfopath.measures.density import ball_counts

    real, fake = planted_near_duplicates()
    k = 5
    r64, f64 = real.astype(np.float64), fake.astype(np.float64)
    d = cdist(r64, f64)
    want_real = np.sort(cdist(r64, r64), axis=1)[:, k]
    want_fake = np.sort(cdist(f64, f64), axis=1)[:, k]
    real_index, fake_index = build_index(real), build_index(fake)
    real_radii = reference_radii(real_index, real, [k])[0]
    fake_radii = reference_radii(fake_index, fake, [k])[0]
    np.testing.assert_allclose(real_radii, want_real, rtol=1e-12, atol=0)
    np.testing.assert_allclose(fake_radii, want_fake, rtol=1e-12, atol=0)
    counts = ball_counts(fake_index, fake, real, want_fake, strict=True)
    assert np.array_equal(counts, (d < want_fake[None, :]).sum(axis=1))
    got, want = measures(real, fake, k), reference_prdc(real, fake, k)
    assert got == {name: float(value) for name, value in want.items()}
    assert 0.2 < got["recall"] < 0.3
