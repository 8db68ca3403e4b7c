"""Local data density around generated samples (docs/science.md §4).

The reference set (training data) is embedded in a feature space and held in an exact FAISS
index (IndexFlatL2). FAISS finds the neighbours; it returns SQUARED L2 distances in float32
(||q||² + ||x||² − 2 q·x, with round-off that can even be negative), so the distances of the
neighbours it found are recomputed exactly in float64 (and re-sorted): d_k is in feature units
and an exact copy of a reference point has d_1 = 0 exactly. Measures per generated sample q,
for each k:

- ``d{k}``: distance to its k-th nearest reference point;
- ``knn_logdens{k}``: −D · log max(d_k, ε_k), the kNN log-density up to an additive constant.
  The floor ε_k = :data:`COPY_FLOOR` × the median NND_k of the reference set keeps it finite
  for exact copies (d_k = 0), which then rank as the densest samples instead of dropping out;
- ``naeem{k}``: Naeem et al.'s per-sample density, the number of reference balls
  B(x_j, NND_k(x_j)) containing q, divided by k (NND_k: distance from x_j to its k-th nearest
  other reference point);

and once: ``nn_dist`` (= d_1, distance to the nearest training point), ``d1_d2`` (d_1 / d_2, the
memorization ratio; 0 for an exact copy), ``exact_copy`` (d_1 = 0: the sample is a training
point), ``kde_logdens`` (Gaussian KDE log-density with a local bandwidth: h = a multiple of the
median NND_k of the reference set for the smallest k, so it measures the density at the scale
of the data's own k-th neighbour distances; a global bandwidth such as the median pairwise
distance would be nearly flat and rank samples by their distance to the data mean).

Without a reference set (a text-to-image model, whose training data is not available, and no
reference folder given), :func:`self_density` measures the density among the generated samples
themselves: each sample's neighbours are the other samples (itself left out), in columns named
``{space}_self_…`` so that it is never taken for density against data. It says where the
model's samples crowd, not where the data does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np
import pandas as pd

from enfopath.io import atomic_path, checked_read, read_npz


def _f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), -1)


def build_index(features: np.ndarray) -> faiss.IndexFlatL2:
    """Exact L2 index over reference features (N, D), on the CPU (saved and reused)."""
    feats = _f32(features)
    index = faiss.IndexFlatL2(feats.shape[1])
    index.add(feats)
    return index


def _search_index(index: faiss.Index) -> faiss.Index:
    """The index to search with: moved to all GPUs when this faiss build has any."""
    if hasattr(faiss, "index_cpu_to_all_gpus") and faiss.get_num_gpus() > 0:
        return faiss.index_cpu_to_all_gpus(index)
    return index


def save_index(
    path: str | os.PathLike[str], index: faiss.Index, identity: dict[str, Any] | None = None
) -> None:
    """Write a CPU index atomically, its sha256 and ``identity`` recorded
    (:func:`enfopath.io.atomic_path`)."""
    with atomic_path(path, identity) as tmp:
        faiss.write_index(index, str(tmp))


def load_index(path: str | os.PathLike[str], expect: dict[str, Any] | None = None) -> faiss.Index:
    """Read an index written by :func:`save_index`, verified against its record (and the
    ``expect``-ed identity)."""
    return checked_read(path, "FAISS index", lambda: faiss.read_index(str(path)), expect)


COPY_FLOOR = 1e-3
"""ε_k / median NND_k: the floor of d_k in the kNN log-density (exact copies stay finite)."""


def knn(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest references of each query as FAISS finds them: distances (N, k) (not
    squared: clamp(·, 0), then the root, in float32 round-off) and ids (N, k)."""
    sq, ids = _search_index(index).search(_f32(queries), k)
    return np.sqrt(np.clip(sq, 0.0, None)), ids


FLOAT32_UNIT = 2.0**-24
"""Unit round-off of float32, the arithmetic of FAISS's L2 distances."""
FIRST_CANDIDATES = (2, 8)
"""The first FAISS search of :func:`exact_knn` asks for 2k + 8 candidates."""


def l2_roundoff(dim: int, query_norms: np.ndarray, reference_norm: float) -> np.ndarray:
    """A bound on the rounding error of FAISS's float32 squared L2 distance from each query to
    any reference point, shape (M,): FAISS computes ‖q‖² + ‖x‖² − 2 q·x (two norms and a dot
    product of D terms, then two additions), each sum in float32 off by at most
    γ_D = D u / (1 − D u) of the sum of its terms' magnitudes (Higham, Accuracy and Stability
    of Numerical Algorithms, §3.1), so the distance is off by at most (D + 3) u (‖q‖ + ‖x‖)²
    up to O(u²): that, with 1 % to spare, for ‖x‖ ≤ ``reference_norm``. Any summation order
    and FMA (BLAS blocking, GPUs) stay within it."""
    return 1.01 * (dim + 3) * FLOAT32_UNIT * (np.asarray(query_norms) + reference_norm) ** 2


def _norms(x: np.ndarray) -> np.ndarray:
    """‖x_i‖ in float64 of each row (n,), a block of rows at a time (no float64 copy of x)."""
    rows = max(1, (1 << 24) // (8 * max(1, x[0].size if len(x) else 1)))  # 16 MiB blocks
    out = np.empty(len(x))
    for i in range(0, len(x), rows):
        x64 = x[i : i + rows].astype(np.float64)
        out[i : i + rows] = np.sqrt(np.einsum("nd,nd->n", x64, x64))
    return out


DISTANCE_MEMORY = 1 << 28
"""Bytes of float64 differences :func:`_float64_distances` holds at once (256 MiB)."""


def _float64_distances(ref: np.ndarray, queries: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """‖queries[i] − ref[ids[i, j]]‖ in float64, shape of ``ids``, from the differences (so
    an exact copy is at 0 exactly), computed in blocks of at most :data:`DISTANCE_MEMORY`."""
    out = np.empty(ids.shape, dtype=np.float64)
    per_pair = 8 * ref.shape[1]
    cols = max(1, min(ids.shape[1], DISTANCE_MEMORY // per_pair))
    rows = max(1, DISTANCE_MEMORY // (per_pair * cols))
    for r in range(0, len(ids), rows):
        for c in range(0, ids.shape[1], cols):
            block = ids[r : r + rows, c : c + cols]
            diff = ref[block].astype(np.float64) - queries[r : r + rows, None, :]
            out[r : r + rows, c : c + cols] = np.sqrt(np.einsum("nkd,nkd->nk", diff, diff))
    return out


def exact_knn(
    references: np.ndarray, index: faiss.Index, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The exact k nearest reference points of each query, in float64: distances (N, k)
    float64, ids (N, k). A query equal to a reference point gets distance 0 exactly.

    FAISS ranks in float32, and where ‖x‖² is large against the distances (near-duplicates at
    feature norms near 28: squared distances of 4e-4 beside an error bound of 0.02) its order
    is wrong. So it only proposes candidates: 2k + 8 of them, each distance recomputed in
    float64 and re-sorted. That suffices for a query, and is certified, when the largest
    float32 squared distance FAISS returned, less :func:`l2_roundoff`, exceeds the k-th
    float64 squared distance: every point it did not return is then farther than the k found.
    A query not yet certified is searched again with twice the candidates, up to all N; the
    queries are searched in chunks whose candidates stay within :data:`DISTANCE_MEMORY`, so
    memory is bounded whatever N (one chunk, one search, for the studies shipped here).
    """
    ref, q = _f32(references), _f32(queries)
    n = len(ref)
    if k > n:
        raise ValueError(f"{k} neighbours asked of {n} reference points")
    bound = l2_roundoff(ref.shape[1], _norms(q), float(_norms(ref).max(initial=0.0)))
    dist = np.empty((len(q), k), dtype=np.float64)
    ids = np.empty((len(q), k), dtype=np.int64)
    todo = np.arange(len(q))
    m = min(n, FIRST_CANDIDATES[0] * k + FIRST_CANDIDATES[1])
    searcher = _search_index(index)
    while todo.size:
        # queries a chunk at a time: their copy and FAISS's candidates within the budget
        rows = max(1, DISTANCE_MEMORY // max(16 * m, 4 * q.shape[1]))
        left = []
        for start in range(0, len(todo), rows):
            part = todo[start : start + rows]
            qp = q[part]
            sq, found = searcher.search(qp, m)
            d = _float64_distances(ref, qp, found)
            order = np.argsort(d, axis=1, kind="stable")[:, :k]
            d_k = np.take_along_axis(d, order, axis=1)
            ids_k = np.take_along_axis(found, order, axis=1)
            done = np.full(len(part), m == n)
            if m < n:
                done = sq[:, -1].astype(np.float64) - bound[part] > d_k[:, -1] ** 2
            dist[part[done]], ids[part[done]] = d_k[done], ids_k[done]
            left.append(part[~done])
        todo, m = np.concatenate(left), min(n, 2 * m)
    return dist, ids


def reference_radii(index: faiss.Index, references: np.ndarray, ks: list[int]) -> np.ndarray:
    """NND_k of every reference point (its own match excluded), shape (len(ks), N).

    Raises ValueError when the reference set has no k-th neighbour besides a point itself
    (N ≤ max(ks)), naming ``density.k``."""
    if len(references) <= max(ks):
        raise ValueError(
            f"density.k = {ks} needs more than {max(ks)} reference points; "
            f"the reference set has {len(references)}"
        )
    dist, _ = exact_knn(references, index, references, max(ks) + 1)
    return np.stack([dist[:, k] for k in ks])


def local_bandwidth(radii: np.ndarray, scale: float) -> float:
    """The KDE bandwidth h = scale × the median of the reference set's NND_k (radii, (N,))."""
    h = scale * float(np.median(radii))
    if not h > 0:
        raise ValueError(
            "the median k-th neighbour distance of the reference set is 0 (more than half of "
            "its points repeat another k times): no KDE bandwidth can be set from it"
        )
    return h


def ball_pairs(
    index: faiss.Index,
    points: np.ndarray,
    queries: np.ndarray,
    radii: np.ndarray,
    *,
    strict: bool = False,
    chunk: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Every (query, ball) pair with the query inside the ball B(x_j, r_j) around an indexed
    point of ``points`` (N, D) with ``radii`` (N,): closed balls (‖q − x_j‖ ≤ r_j), or open
    ones when ``strict``. Returns (query row, point row), two int64 arrays of equal length.

    Exact, with no M × N matrix: a FAISS range search (queries in chunks) at the largest
    squared radius plus the float32 round-off bound of the chunk (:func:`l2_roundoff`), so no
    ball that may hold a query is missed; then each candidate is kept when it lies inside its
    own ball, judged on FAISS's float32 squared distance where that is farther from r_j² than
    the bound, and on the float64 distance recomputed otherwise (a tie, a query that copies a
    point at exactly the radius, is decided exactly, and so is a near-duplicate at a small
    radius and a large norm).
    """
    pts, q = _f32(points), _f32(queries)
    radii = np.asarray(radii, dtype=np.float64)
    found_q, found_p = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    if len(q) == 0 or len(pts) == 0:
        return found_q[0], found_p[0]
    bound = l2_roundoff(pts.shape[1], _norms(q), float(_norms(pts).max()))
    r_max_sq = float(radii.max()) ** 2
    for s in range(0, len(q), chunk):
        part = q[s : s + chunk]
        lims, sq, ids = index.range_search(part, r_max_sq + float(bound[s : s + chunk].max()))
        owner = np.repeat(np.arange(len(part)), np.diff(lims).astype(np.int64))
        sq, r = sq.astype(np.float64), radii[ids]
        near = np.abs(sq - r**2) <= bound[s + owner]
        inside = sq < r**2 if strict else sq <= r**2  # decided where far from the radius
        if near.any():  # the distance itself, as the radii were computed
            diff = pts[ids[near]].astype(np.float64) - part[owner[near]].astype(np.float64)
            d = np.sqrt(np.einsum("nd,nd->n", diff, diff))
            inside[near] = d < r[near] if strict else d <= r[near]
        found_q.append(s + owner[inside].astype(np.int64))
        found_p.append(ids[inside].astype(np.int64))
    return np.concatenate(found_q), np.concatenate(found_p)


def ball_counts(
    index: faiss.Index,
    points: np.ndarray,
    queries: np.ndarray,
    radii: np.ndarray,
    *,
    strict: bool = False,
    chunk: int = 1024,
) -> np.ndarray:
    """How many of the balls B(x_j, r_j) around the indexed ``points`` (N, D) with ``radii``
    (N,) contain each query (M, D), shape (M,) int64 (:func:`ball_pairs`, counted)."""
    rows, _ = ball_pairs(index, points, queries, radii, strict=strict, chunk=chunk)
    return np.bincount(rows, minlength=len(queries)).astype(np.int64)


def naeem_density(
    index: faiss.Index, points: np.ndarray, queries: np.ndarray, radii: np.ndarray, k: int
) -> np.ndarray:
    """Per-sample density of Naeem et al. (2020): #{j : ‖q − x_j‖ ≤ NND_k(x_j)} / k, shape (M,),
    for the reference ``points`` (N, D) held in ``index`` (:func:`ball_counts`, closed balls)."""
    return ball_counts(index, points, queries, radii).astype(np.float64) / k


KDE_MEMORY = 1 << 28
"""Bytes of float64 kernel values :func:`kde_log_density` holds at once (256 MiB), in blocks of
queries × references: its memory does not grow with the reference set."""


def kde_log_density(
    references: np.ndarray, queries: np.ndarray, bandwidth: float, chunk: int = 1024
) -> np.ndarray:
    """Gaussian KDE log-density log (1/N) Σ_j N(q; x_j, h² I) of each query, shape (N,).

    Exact over all references, in float64: ``chunk`` queries at a time against blocks of
    references that keep the kernel values within :data:`KDE_MEMORY` (a running log-sum-exp
    over the blocks, each shifted by the largest term so far; one block, and the same bits as
    a single sum, where the reference set fits).
    """
    ref32 = _f32(references)
    n, dim = ref32.shape
    block = max(1, min(n, KDE_MEMORY // (3 * 8 * max(1, min(chunk, len(queries))))))
    out = []
    for start in range(0, len(queries), chunk):
        q = _f32(queries[start : start + chunk]).astype(np.float64)
        q_sq = np.einsum("md,md->m", q, q)[:, None]
        top = np.full((len(q), 1), -np.inf)
        total = np.zeros((len(q), 1))
        for i in range(0, n, block):  # float64 one block at a time: no copy of the whole set
            ref = ref32[i : i + block].astype(np.float64)
            r_sq = np.einsum("nd,nd->n", ref, ref)
            d2 = q_sq + r_sq[None, :] - 2.0 * q @ ref.T
            log_k = -np.maximum(d2, 0.0) / (2.0 * bandwidth**2)
            new_top = np.maximum(top, log_k.max(axis=1, keepdims=True))
            total = total * np.exp(top - new_top) + np.exp(log_k - new_top).sum(
                axis=1, keepdims=True
            )
            top = new_top
        out.append(top[:, 0] + np.log(total[:, 0]))
    norm = np.log(n) + 0.5 * dim * np.log(2.0 * np.pi * bandwidth**2)
    return np.concatenate(out) - norm


@dataclass(frozen=True)
class Reference:
    """A feature space's reference set: features (N, D), exact index, NND_k radii (len(ks), N)
    and KDE bandwidth."""

    features: np.ndarray
    index: faiss.Index
    ks: list[int]
    radii: np.ndarray
    bandwidth: float


def copy_floor(radii: np.ndarray) -> float:
    """ε_k of the module docstring for one k: COPY_FLOOR × the median NND_k (radii, (N,))."""
    return COPY_FLOOR * float(np.median(radii))


def knn_log_density(d_k: np.ndarray, dim: int, floor: float) -> np.ndarray:
    """−D · log max(d_k, floor): the kNN log-density up to a constant, finite for copies."""
    return -dim * np.log(np.maximum(d_k, floor))


def _ratio_columns(dist: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    """``{prefix}_nn_dist`` d₁, ``{prefix}_d1_d2`` d₁ / d₂ (0 for an exact copy) and
    ``{prefix}_exact_copy`` of the sorted exact kNN distances ``dist`` (N, ≥ 2)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(dist[:, 0] == 0, 0.0, dist[:, 0] / dist[:, 1])
    return {
        f"{prefix}_nn_dist": dist[:, 0],
        f"{prefix}_d1_d2": ratio,
        f"{prefix}_exact_copy": dist[:, 0] == 0,
    }


def neighbour_ratio(ref: Reference, queries: np.ndarray, prefix: str) -> pd.DataFrame:
    """Only the nearest-neighbour columns of :func:`density_measures` (d₁, d₁ / d₂, exact
    copy) for the queries (N, D), as ``{prefix}_…``: the memorization test of points that are
    not samples of their own space (the projected endpoints)."""
    dist, _ = exact_knn(ref.features, ref.index, _f32(queries), 2)
    return pd.DataFrame(_ratio_columns(dist, prefix))


def density_measures(ref: Reference, queries: np.ndarray, prefix: str) -> pd.DataFrame:
    """All density measures of the module docstring for the queries (N, D), as ``{prefix}_…``."""
    q = _f32(queries)
    dim = q.shape[1]
    dist, _ = exact_knn(ref.features, ref.index, q, max(max(ref.ks), 2))
    cols: dict[str, np.ndarray] = {}
    for i, k in enumerate(ref.ks):
        d_k = dist[:, k - 1]
        cols[f"{prefix}_d{k}"] = d_k
        cols[f"{prefix}_knn_logdens{k}"] = knn_log_density(d_k, dim, copy_floor(ref.radii[i]))
        cols[f"{prefix}_naeem{k}"] = naeem_density(ref.index, ref.features, q, ref.radii[i], k)
    cols.update(_ratio_columns(dist, prefix))
    cols[f"{prefix}_kde_logdens"] = kde_log_density(ref.features, q, ref.bandwidth)
    return pd.DataFrame(cols)


def reference_features(path: str | os.PathLike[str], space: str) -> np.ndarray:
    """The reference set's features (N, D) of ``space`` (``features/train_{space}.npz``,
    checked to be of that space)."""
    return read_npz(path, ("features",), expect={"space": space})["features"]


def load_reference(
    space: str, features: str, index: str, radii: str, ks: Sequence[int]
) -> Reference:
    """The reference set of ``space`` from its files (``features/train_{space}.npz``,
    ``index/{space}.faiss``, ``index/{space}_radii.npz``), each checked to be of ``space``
    and, for the radii, of the config's ``ks``."""
    r = read_npz(radii, ("k", "radii", "bandwidth"), expect={"space": space, "k": list(ks)})
    return Reference(
        features=reference_features(features, space),
        index=load_index(index, expect={"space": space}),
        ks=[int(k) for k in r["k"]],
        radii=r["radii"],
        bandwidth=float(r["bandwidth"]),
    )


def load_references(
    spaces: Sequence[str],
    features: Sequence[str],
    indexes: Sequence[str],
    radii: Sequence[str],
    ks: Sequence[int],
) -> dict[str, Reference]:
    """:func:`load_reference` of every space, in order (the file lists in the same order)."""
    return {
        s: load_reference(s, f, i, r, ks)
        for s, f, i, r in zip(spaces, features, indexes, radii, strict=True)
    }


def self_density(features: np.ndarray, ks: Sequence[int], prefix: str) -> pd.DataFrame:
    """Density among the samples themselves (the module docstring): for each sample of
    ``features`` (N, D), its exact kNN distances to the other samples (its own match left out;
    an identical other sample is still at 0), as ``{prefix}_self_d{k}``,
    ``{prefix}_self_knn_logdens{k}`` (the floor from these d_k, as :func:`copy_floor` does for a
    reference set), ``{prefix}_self_nn_dist``, ``{prefix}_self_d1_d2`` and
    ``{prefix}_self_exact_copy``. Raises ValueError naming ``density.k`` when N ≤ max(k, 2)."""
    f = _f32(features)
    deepest = max(*ks, 2)
    if len(f) <= deepest:
        raise ValueError(
            f"density.k = {list(ks)}: density among the samples needs more than {deepest} "
            f"samples; there are {len(f)}"
        )
    dist, _ = exact_knn(f, build_index(f), f, deepest + 1)
    others = dist[:, 1:]  # sorted: the sample's own distance 0 comes first
    self_prefix = f"{prefix}_self"
    cols: dict[str, np.ndarray] = {}
    for k in ks:
        d_k = others[:, k - 1]
        cols[f"{self_prefix}_d{k}"] = d_k
        cols[f"{self_prefix}_knn_logdens{k}"] = knn_log_density(d_k, f.shape[1], copy_floor(d_k))
    cols.update(_ratio_columns(others, self_prefix))
    return pd.DataFrame(cols)
