"""Density measures against brute force and closed forms (docs/science.md §4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist

from enfopath.io import CorruptFileError
from enfopath.measures.density import (
    Reference,
    ball_counts,
    build_index,
    copy_floor,
    density_measures,
    exact_knn,
    kde_log_density,
    knn,
    load_index,
    local_bandwidth,
    naeem_density,
    reference_radii,
    save_index,
    self_density,
)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(300, 5)).astype(np.float32), rng.normal(size=(40, 5)).astype(np.float32)


def test_knn_returns_true_not_squared_distances(data):
    ref, q = data
    dist, ids = knn(build_index(ref), q, 4)
    brute = np.sort(cdist(q, ref), axis=1)[:, :4]
    np.testing.assert_allclose(dist, brute, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(q - ref[ids[:, 0]], axis=1), brute[:, 0], rtol=1e-4)


def test_exact_duplicates_give_zero_not_nan():
    ref = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)
    dist, _ = knn(build_index(ref), ref, 1)
    assert np.all(dist == 0.0)


def test_reference_radii_exclude_the_point_itself(data):
    ref, _ = data
    radii = reference_radii(build_index(ref), ref, [1, 3])
    d = cdist(ref, ref)
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(radii[0], np.sort(d, axis=1)[:, 0], rtol=1e-4)
    np.testing.assert_allclose(radii[1], np.sort(d, axis=1)[:, 2], rtol=1e-4)


@pytest.mark.parametrize("k", [1, 5])
def test_naeem_density_counts_containing_balls(data, k):
    ref, q = data
    index = build_index(ref)
    radii = reference_radii(index, ref, [k])[0]
    brute = (cdist(q, ref) <= radii[None, :]).sum(axis=1) / k
    np.testing.assert_allclose(naeem_density(index, ref, q, radii, k), brute)


def test_kde_of_one_point_is_the_gaussian_density():
    ref = np.zeros((1, 3), dtype=np.float32)
    q = np.array([[1.0, 2.0, 2.0]], dtype=np.float32)  # distance 3
    h = 1.5
    expected = -9.0 / (2 * h * h) - 1.5 * math.log(2 * math.pi * h * h)
    assert kde_log_density(ref, q, h)[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("memory", [None, 8 * 3 * 7 * 4])  # one block, or blocks of 4 points
def test_kde_matches_brute_force_and_is_chunk_invariant(data, memory, monkeypatch):
    """Whatever the blocks of references (the last one short), the running log-sum-exp is the
    sum over all of them; a query far from every block but one keeps its terms."""
    from enfopath.measures import density

    if memory is not None:
        monkeypatch.setattr(density, "KDE_MEMORY", memory)
    ref, q = data
    q = np.concatenate([q, ref[-1:] + 0.01])  # its only non-negligible term in the last block
    h = 0.8
    d2 = cdist(q.astype(np.float64), ref.astype(np.float64), "sqeuclidean")
    log_k = -d2 / (2 * h * h) - 2.5 * math.log(2 * math.pi * h * h)
    brute = np.log(np.exp(log_k).mean(axis=1))
    np.testing.assert_allclose(kde_log_density(ref, q, h), brute, rtol=1e-6)
    np.testing.assert_allclose(kde_log_density(ref, q, h, chunk=7), brute, rtol=1e-6)


@pytest.mark.parametrize("memory", [None, 8 * 5 * 3])  # the default blocks, or 3 pairs each
def test_exact_knn_recomputes_distances_in_float64(data, memory, monkeypatch):
    from enfopath.measures import density

    if memory is not None:
        monkeypatch.setattr(density, "DISTANCE_MEMORY", memory)
    ref, q = data
    dist, ids = exact_knn(ref, build_index(ref), q, 4)
    brute = np.sort(cdist(q.astype(np.float64), ref.astype(np.float64)), axis=1)[:, :4]
    np.testing.assert_allclose(dist, brute, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(q - ref[ids[:, 2]], axis=1), brute[:, 2], rtol=1e-6)
    far = ref + 100.0  # float32 FAISS round-off is ~1e-3 here; the copies are still exactly 0
    d0, _ = exact_knn(far, build_index(far), far[:10], 1)
    assert (d0 == 0).all()


def test_local_bandwidth_is_a_multiple_of_the_median_neighbour_distance(data):
    ref, _ = data
    radii = reference_radii(build_index(ref), ref, [3])[0]
    assert local_bandwidth(radii, 2.0) == pytest.approx(2.0 * np.median(radii))
    with pytest.raises(ValueError, match="median k-th neighbour distance"):
        local_bandwidth(np.zeros(5), 1.0)


def test_local_kde_ranks_by_local_density_not_by_distance_to_the_mean():
    rng = np.random.default_rng(3)
    tight = rng.normal([10.0, 0.0], 0.1, size=(100, 2))  # dense, far from the mean
    broad = rng.normal([0.0, 0.0], 3.0, size=(900, 2))  # sparse, around the mean
    ref = np.concatenate([tight, broad]).astype(np.float32)
    q = np.array([[10.0, 0.0], ref.mean(axis=0)], dtype=np.float32)  # in the cluster; at the mean
    radii = reference_radii(build_index(ref), ref, [5])[0]
    local = kde_log_density(ref, q, local_bandwidth(radii, 1.0))
    assert local[0] > local[1] + 1.0
    flat = kde_log_density(ref, q, float(np.median(pdist(ref))))  # the old median heuristic
    assert flat[0] < flat[1]


def test_exact_copies_get_a_finite_log_density_and_are_flagged(data):
    ref, q = data
    index = build_index(ref)
    radii = reference_radii(index, ref, [2, 4])
    r = Reference(ref, index, [2, 4], radii, 1.0)
    queries = np.concatenate([q, ref[:3]])  # three exact copies of training points
    df = density_measures(r, queries, "pixels")
    assert df.pixels_exact_copy.tolist() == [False] * len(q) + [True] * 3
    assert np.isfinite(df.filter(like="knn_logdens")).all().all()
    assert (df.pixels_nn_dist.iloc[-3:] == 0).all() and (df.pixels_d1_d2.iloc[-3:] == 0).all()
    floor = copy_floor(radii[0])
    assert floor == pytest.approx(1e-3 * np.median(radii[0]))
    # a copy whose 2nd neighbour is not at 0 keeps −D log d_2; the floor only replaces d_k = 0
    np.testing.assert_allclose(df.pixels_knn_logdens2, -5 * np.log(np.maximum(df.pixels_d2, floor)))
    dup = np.concatenate([ref, ref[:1], ref[:1]])  # x_0 three times: d_2 of its copy is 0
    ri = build_index(dup)
    rr = Reference(dup, ri, [2], reference_radii(ri, dup, [2]), 1.0)
    one = density_measures(rr, ref[:1], "pixels")
    assert one.pixels_d2[0] == 0
    assert one.pixels_knn_logdens2[0] == pytest.approx(-5 * np.log(copy_floor(rr.radii[0])))
    # the densest possible value: above every sample that is not a copy
    others = density_measures(rr, q, "pixels")
    assert (others.pixels_knn_logdens2 < one.pixels_knn_logdens2[0]).all()


def test_density_measures_columns_and_monotone_log_density(data):
    ref, q = data
    index = build_index(ref)
    r = Reference(ref, index, [2, 4], reference_radii(index, ref, [2, 4]), 1.0)
    df = density_measures(r, q, "pixels")
    assert set(df.columns) >= {
        "pixels_d2",
        "pixels_knn_logdens4",
        "pixels_naeem2",
        "pixels_nn_dist",
        "pixels_d1_d2",
        "pixels_kde_logdens",
    }
    np.testing.assert_allclose(df.pixels_knn_logdens2, -5 * np.log(df.pixels_d2))
    assert (df.pixels_d1_d2 <= 1.0).all()
    assert (df.pixels_d4 >= df.pixels_d2).all()


def test_index_round_trip_and_corrupt_file(tmp_path, data):
    ref, _ = data
    path = tmp_path / "x.faiss"
    save_index(path, build_index(ref))
    assert load_index(path).ntotal == len(ref)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CorruptFileError, match=str(path)):
        load_index(path)


def test_exact_knn_fetches_more_candidates_until_no_point_left_out_can_be_nearer():
    """200 near-duplicates 0.005 apart at norm 100 in 128 dimensions: FAISS's float32 squared
    distances (‖q‖² + ‖x‖² − 2q·x, in steps of ulp(10⁴) ≈ 0.001) cannot order squared distances
    of 5e-5, so the first 2k + 8 candidates miss true neighbours; the doubling search, until
    the bound on the round-off proves nothing nearer was left out, finds them all."""
    rng = np.random.default_rng(2)
    centre = rng.standard_normal(128)
    centre *= 100 / np.linalg.norm(centre)
    far = rng.standard_normal((300, 128)) * 100 / np.sqrt(128)
    pile = centre + rng.standard_normal((200, 128)) * 0.005 / np.sqrt(128)
    ref = np.concatenate([far, pile]).astype(np.float32)
    q = np.concatenate([ref] * 4)  # 2,000 queries: FAISS takes its BLAS path
    dist, ids = exact_knn(ref, build_index(ref), q, 3)
    brute = np.sort(cdist(q.astype(np.float64), ref.astype(np.float64)), axis=1)[:, :3]
    np.testing.assert_allclose(dist, brute, rtol=1e-12, atol=0)
    assert (dist[:, 0] == 0).all() and (ids[:, 0] == np.tile(np.arange(500), 4)).all()


def test_ball_counts_of_small_balls_at_large_norms_match_a_float64_brute_force():
    """Balls of radius ~0.005 around near-duplicates at norm 100: FAISS's float32 squared
    distances are off by up to ~0.001 there, far beyond a relative band of the radius; a band
    of the round-off bound itself, and a range search widened by it, count every ball exactly
    (the old band miscounted all 1,024 queries of the chunk FAISS searched by BLAS)."""
    rng = np.random.default_rng(3)
    centre = rng.standard_normal(128)
    centre *= 100 / np.linalg.norm(centre)
    pts = (centre + rng.standard_normal((300, 128)) * 0.005 / np.sqrt(128)).astype(np.float32)
    q = (centre + rng.standard_normal((2000, 128)) * 0.005 / np.sqrt(128)).astype(np.float32)
    p64 = pts.astype(np.float64)
    radii = np.sort(cdist(p64, p64), axis=1)[:, 5]
    d = cdist(q.astype(np.float64), p64)
    for strict in (False, True):
        want = (d < radii[None, :] if strict else d <= radii[None, :]).sum(axis=1)
        assert np.array_equal(ball_counts(build_index(pts), pts, q, radii, strict=strict), want)


def test_density_among_the_samples_leaves_each_sample_out():
    """Brute force in float64 (scipy's cdist), each sample's own distance removed; an identical
    other sample is a neighbour at distance 0 and an exact copy."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    x[7] = x[3]
    got = self_density(x, [1, 5], "clip")
    d = cdist(x.astype(np.float64), x.astype(np.float64))
    np.fill_diagonal(d, np.inf)
    d.sort(axis=1)
    np.testing.assert_allclose(got["clip_self_d5"], d[:, 4], rtol=1e-12)
    np.testing.assert_allclose(got["clip_self_nn_dist"], d[:, 0], rtol=1e-12)
    assert got["clip_self_exact_copy"].tolist() == [i in (3, 7) for i in range(60)]
    assert got["clip_self_d1"][3] == 0 and np.isfinite(got["clip_self_knn_logdens1"]).all()
    floor = 1e-3 * np.median(d[:, 4])  # COPY_FLOOR × the median of the samples' own d_5
    np.testing.assert_allclose(
        got["clip_self_knn_logdens5"], -5 * np.log(np.maximum(d[:, 4], floor)), rtol=1e-12
    )
    assert all(c.startswith("clip_self_") for c in got.columns)
    with pytest.raises(ValueError, match=r"density.k = \[1, 5\]: density among the samples needs"):
        self_density(x[:5], [1, 5], "clip")
