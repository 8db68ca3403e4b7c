"""Fréchet distance and kernel distance (KID) of groups of generated samples (numpy only).

For generated features F (M, D) and reference features R (N, D) with means μ_F, μ_R and
covariances Σ_F, Σ_R (``np.cov``: divisor M − 1):

- Fréchet distance (Heusel et al. 2017, FID in Inception space)
  FD = ‖μ_F − μ_R‖² + tr Σ_F + tr Σ_R − 2 tr (Σ_R^½ Σ_F Σ_R^½)^½;
- kernel distance (Bińkowski et al. 2018, KID in Inception space): the unbiased MMD² with the
  cubic polynomial kernel k(x, y) = (x·y / D + 1)³ between ``subsets`` pairs of m generated and
  m reference rows drawn without replacement, m = min(``subset_size``, M, N); KID is the mean
  over the subsets and ``kid_std`` their standard deviation (``np.std``, torch-fidelity's
  ``kernel_inception_distance_std``, the "±" papers quote: the spread of one subset's estimate,
  not a standard error of the mean).

Written here rather than called from torch-fidelity: its FD takes ``eigvals`` of the
non-symmetric D × D product Σ_F Σ_R, once per call, and a bootstrap over samples needs
hundreds of FDs per group. Here the reference's Σ_R^½ (a symmetric eigendecomposition, negative
round-off eigenvalues set to 0) and Y = F Σ_R^½ are computed once per space; with A the
centred rows of Y, Σ_R^½ Σ_F Σ_R^½ = AᵀA / (M − 1), so its trace root is the sum of the
singular values of A / √(M − 1), from the M × M Gram matrix when M < D: a resample of the
rows costs an M × M (or D × D) symmetric eigenproblem and no D × D square root. The same
eigenvalues as torch-fidelity's ``eigvals`` of Σ_F Σ_R (the nonzero eigenvalues of AB and BA
agree), so both FDs agree to round-off: tests/test_fidelity.py holds them, and the KID, to
torch-fidelity's own functions on the same feature arrays.

FD falls with the number of samples M (its estimate is biased upward by about tr Σ / M terms):
compare groups of equal size, and a group with random groups of its size (:func:`fidelity_by_band`).
The interval of a group's FD (:func:`shifted_interval`) cannot be the plain percentile interval
of its resamples: a resample drawn with replacement repeats about a third of its rows, which
biases its FD further up, by more than the resamples' spread in groups of tens of samples (the
tiny study's 20-sample groups: every resample above the estimate). The interval keeps the
resamples' spread about their median and moves it onto the estimate: an interval for the
expected FD of a group of this size, the quantity the random groups' FDs estimate too (its
lower end clipped at 0, below which no FD lies).

What a group's FD says: how far the group's feature distribution is from the reference's, as a
whole. A group chosen by any property tied to where its samples lie (KPE is: it grows with the
endpoint's distance from its noise) covers part of the data distribution, so its FD exceeds
that of random groups even when each of its samples is a perfect one: a band above the random
groups is a band whose samples are distributed unlike the data, not necessarily worse samples.
PRDC's precision (:mod:`enfopath.measures.prdc`) is the per-sample question.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from enfopath.measures.inference import percentile_interval
from enfopath.seeding import numpy_rng

GROUPS = ("all", "low", "middle", "high")
"""The groups of the table, in its order: every analysed sample and the three KPE bands."""


@dataclass(frozen=True)
class Reference:
    """The reference set's statistics in one space, computed once: its mean μ_R (D,), Σ_R's
    trace and symmetric square root Σ_R^½ (D, D), float64."""

    mean: np.ndarray
    trace: float
    root: np.ndarray

    @classmethod
    def of(cls, features: np.ndarray) -> Reference:
        """The statistics of reference features (N, D), N ≥ 2."""
        x = _rows(features, "reference")
        cov = np.atleast_2d(np.cov(x, rowvar=False))
        return cls.from_moments(x.mean(axis=0), cov)

    @classmethod
    def from_moments(cls, mean: np.ndarray, cov: np.ndarray) -> Reference:
        """The statistics of a reference distribution given by its mean (D,) and covariance
        (D, D), symmetric positive semi-definite."""
        cov = np.asarray(cov, dtype=np.float64)
        w, v = np.linalg.eigh((cov + cov.T) / 2)
        root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
        return cls(np.asarray(mean, dtype=np.float64), float(np.trace(cov)), root)


def _rows(features: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"the {what} features must be (n, D) with n ≥ 2 rows, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"the {what} features hold non-finite values")
    return x


def frechet_distance(features: np.ndarray, reference: Reference) -> float:
    """FD (module docstring) of generated features (M, D), M ≥ 2, against ``reference``."""
    x = _rows(features, "generated")
    return _fd(x @ reference.root, x.mean(axis=0), np.var(x, axis=0, ddof=1).sum(), reference)


def frechet_from_moments(mean: np.ndarray, cov: np.ndarray, reference: Reference) -> float:
    """FD of a distribution given by its mean (D,) and covariance (D, D) against ``reference``
    (two Gaussians: the closed form the estimate from samples converges to)."""
    cov = np.asarray(cov, dtype=np.float64)
    inner = reference.root @ cov @ reference.root
    w = np.linalg.eigvalsh((inner + inner.T) / 2)
    diff = np.asarray(mean, dtype=np.float64) - reference.mean
    return float(
        diff @ diff + np.trace(cov) + reference.trace - 2 * np.sqrt(np.clip(w, 0, None)).sum()
    )


def _fd(y: np.ndarray, mean: np.ndarray, trace: float, reference: Reference) -> float:
    """FD from Y = F Σ_R^½ (M, D), the mean and the trace of the covariance of F."""
    a = y - y.mean(axis=0)
    gram = a @ a.T if len(a) < a.shape[1] else a.T @ a
    w = np.linalg.eigvalsh(gram) / (len(a) - 1)
    diff = mean - reference.mean
    return float(diff @ diff + trace + reference.trace - 2 * np.sqrt(np.clip(w, 0, None)).sum())


def _cube_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The cubic polynomial kernel (a·b / D + 1)³ of the rows of a (m, D) and b (n, D), (m, n)."""
    k = a @ b.T
    k /= a.shape[1]
    k += 1.0
    return k * k * k  # the cube, without numpy's slow float power


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD² of two sets of m rows each (m, D), m ≥ 2, with the cubic polynomial
    kernel (x·y / D + 1)³ (Bińkowski et al.'s estimator: the within-set sums without their
    diagonals over m (m − 1), the cross sum over m²)."""
    m = len(x)
    kxx, kyy = _cube_kernel(x, x), _cube_kernel(y, y)
    within = kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)
    return float(within / (m * (m - 1)) - 2 * _cube_kernel(x, y).sum() / m**2)


KERNEL_BLOCK = 1 << 26
"""Bytes of kernel values :func:`subset_kernel_sums` holds at once (64 MiB)."""


def subset_kernel_sums(
    a: np.ndarray,
    b: np.ndarray,
    rows_a: np.ndarray,
    rows_b: np.ndarray,
    *,
    within: bool,
    method: str | None = None,
) -> np.ndarray:
    """Σ_{i ∈ I_s, j ∈ J_s} k(a_i, b_j) for each subset s, with k the cubic kernel; ``rows_a``
    (S, m) and ``rows_b`` (S, m') the subsets' row indices of a (n_a, D) and b (n_b, D), each
    row of a subset drawn once. ``within``: a and b are one set and I_s = J_s, the diagonal
    i = j left out. Returns (S,) float64.

    Two ways, equal up to the order of the sums (``method`` picks one; by default the cheaper
    in arithmetic): ``subsets``, each subset's m × m' kernel matrix summed (S·m·m' kernel
    values); ``union``, the kernel between the rows any subset uses, U_a × U_b values computed
    once in blocks of :data:`KERNEL_BLOCK` bytes, and each subset's sum read off as wₛᵀ K vₛ
    with wₛ, vₛ its 0/1 indicators of U_a, U_b (one S × U_a by U_a × U_b product). The union
    wins when the subsets overlap: the KPE bands of the default study are smaller than
    ``kid_subset_size``, so each band's 100 subsets are one set of rows in 100 orders.
    """
    ua, ia = np.unique(rows_a, return_inverse=True)
    ub, ib = (ua, ia) if within else np.unique(rows_b, return_inverse=True)
    ia, ib = ia.reshape(rows_a.shape), ib.reshape(rows_b.shape)
    n_sub, d = len(rows_a), a.shape[1]
    direct = n_sub * rows_a.shape[1] * rows_b.shape[1] * (d + 8)
    union = len(ua) * len(ub) * (d + 8 + 2 * n_sub)
    if method is None:
        method = "union" if union < direct else "subsets"
    if method == "subsets":
        out = np.empty(n_sub)
        for s, (i, j) in enumerate(zip(rows_a, rows_b, strict=True)):
            k = _cube_kernel(a[i], b[j])
            out[s] = k.sum() - np.trace(k) if within else k.sum()
        return out
    if method != "union":
        raise ValueError(f"method must be 'subsets' or 'union', got {method!r}")
    wa = np.zeros((n_sub, len(ua)))
    np.put_along_axis(wa, ia, 1.0, axis=1)
    wb = wa if within else np.zeros((n_sub, len(ub)))
    if not within:
        np.put_along_axis(wb, ib, 1.0, axis=1)
    fa, fb = a[ua], b[ub]
    acc = np.zeros((n_sub, len(ub)))
    step = max(1, KERNEL_BLOCK // (8 * len(ub)))
    for r in range(0, len(ua), step):
        acc += wa[:, r : r + step] @ _cube_kernel(fa[r : r + step], fb)
    out = np.einsum("sj,sj->s", acc, wb)
    if within:  # the diagonal k(a_i, a_i) = (‖a_i‖² / D + 1)³ of each subset's rows
        out -= wa @ (np.einsum("id,id->i", fa, fa) / d + 1.0) ** 3
    return out


def shifted_interval(
    estimate: float, resamples: np.ndarray, confidence: float
) -> tuple[float, float]:
    """The ``confidence`` interval of an estimate whose resamples are shifted from it (module
    docstring): the resamples' central interval [q_lo, q_hi] moved by their median m onto the
    estimate, [estimate − (m − q_lo), estimate + (q_hi − m)]; NaN for no finite resample."""
    low, high = percentile_interval(resamples, confidence)
    if not np.isfinite(low):
        return low, high
    middle = float(np.median(resamples[np.isfinite(resamples)]))
    return estimate - (middle - low), estimate + (high - middle)


def kid_subsets(
    n_fake: int, n_real: int, subsets: int, subset_size: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``subsets`` (fake rows, real rows) pairs of KID, m = min(subset_size, n_fake,
    n_real) rows of each drawn without replacement, from the stream of the config seed named
    by the two set sizes (the same draws for every group and space of those sizes)."""
    m = min(subset_size, n_fake, n_real)
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples in each set, got {n_fake} and {n_real}")
    rng = numpy_rng(seed, f"kid:{n_fake}:{n_real}")
    return [
        (rng.choice(n_fake, m, replace=False), rng.choice(n_real, m, replace=False))
        for _ in range(subsets)
    ]


def kernel_distance(
    fake: np.ndarray, real: np.ndarray, subsets: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[float, float]:
    """KID (the mean of :func:`mmd2_unbiased` over ``subsets``, pairs of m row indices of
    ``fake`` and ``real``) and the standard deviation of the subsets' estimates; the three
    kernel sums of every subset at once (:func:`subset_kernel_sums`)."""
    f, r = _rows(fake, "generated"), _rows(real, "reference")
    fi = np.stack([i for i, _ in subsets])
    ri = np.stack([j for _, j in subsets])
    m = fi.shape[1]
    within = subset_kernel_sums(f, f, fi, fi, within=True)
    within += subset_kernel_sums(r, r, ri, ri, within=True)
    cross = subset_kernel_sums(f, r, fi, ri, within=False)
    values = within / (m * (m - 1)) - 2 * cross / m**2
    return float(values.mean()), float(values.std())


class GroupFrechet:
    """The FD of groups of rows of one set of generated features (M, D) against one reference:
    Y = F Σ_R^½ computed once, so a group (a band, a resample, a kept set) costs one symmetric
    eigenproblem (module docstring)."""

    def __init__(self, features: np.ndarray, reference: Reference) -> None:
        self.features = _rows(features, "generated")
        self.reference = reference
        self.projected = self.features @ reference.root

    def __call__(self, rows: np.ndarray) -> float:
        """FD of the rows ``rows`` (indices, n ≥ 2; repeats allowed: each distinct row once,
        with its count as a weight, which spares a resample its copies)."""
        distinct, count = np.unique(rows, return_counts=True)
        w, n = count.astype(np.float64), len(rows)
        fu, yu = self.features[distinct], self.projected[distinct]
        mean = w @ fu / n
        trace = float(w @ ((fu - mean) ** 2).sum(axis=1)) / (n - 1)
        a = (yu - w @ yu / n) * np.sqrt(w)[:, None]
        gram = a @ a.T if len(a) < a.shape[1] else a.T @ a
        roots = np.sqrt(np.clip(np.linalg.eigvalsh(gram) / (n - 1), 0, None)).sum()
        diff = mean - self.reference.mean
        return float(diff @ diff + trace + self.reference.trace - 2 * roots)


@dataclass(frozen=True)
class FidelitySettings:
    """How the fidelity table is computed: ``bootstrap`` resamples of each group's samples for
    the FD interval at ``confidence``, ``random_groups`` random groups of each band's size for
    the baseline, and KID's ``kid_subsets`` subsets of ``kid_subset_size`` rows."""

    bootstrap: int
    confidence: float
    random_groups: int
    kid_subsets: int
    kid_subset_size: int
    seed: int


def fidelity_by_band(
    bands: pd.Series, fake: np.ndarray, real: np.ndarray, settings: FidelitySettings
) -> pd.DataFrame:
    """FD and KID of all generated samples and of each KPE band (``bands``, aligned with the
    rows of ``fake`` (M, D): ``low`` / ``middle`` / ``high`` or ``""``) against ``real`` (N, D).

    Columns: group (:data:`GROUPS`), n_fake, n_real, fd, fd_ci_low, fd_ci_high (the
    :func:`shifted_interval` of ``settings.bootstrap`` resamples of the group's rows with
    replacement, from the stream named by the group's size), fd_random, fd_random_ci_low,
    fd_random_ci_high (the median and central interval of the FD of ``settings.random_groups``
    groups drawn from all the samples without replacement, of the band's size; NaN for
    ``all``), fd_random_share (the share of those random groups whose FD is below the
    band's: near 1, the band is further from the reference than chance groups of its size),
    kid, kid_std.
    """
    f = _rows(fake, "generated")
    fd = GroupFrechet(f, Reference.of(real))

    level = settings.confidence
    chance_of: dict[int, np.ndarray] = {}  # random groups' FDs by size, shared by bands of one size
    rows_out = []
    for group in GROUPS:
        mask = np.ones(len(bands), bool) if group == "all" else (bands == group).to_numpy()
        members = np.flatnonzero(mask)
        n = len(members)
        if n < 2:
            raise ValueError(f"the {group} KPE group holds {n} sample(s); FD needs 2 or more")
        boot = numpy_rng(settings.seed, f"fidelity:bootstrap:{n}").integers(
            0, n, (settings.bootstrap, n)
        )
        value = fd(members)
        low, high = shifted_interval(value, np.array([fd(members[b]) for b in boot]), level)
        ci = (max(low, 0.0), high)  # an FD is never negative
        random = (np.nan, np.nan, np.nan, np.nan)
        if group != "all":
            if n not in chance_of:
                rng = numpy_rng(settings.seed, f"fidelity:random:{len(f)}:{n}")
                draws = [
                    rng.choice(len(f), n, replace=False) for _ in range(settings.random_groups)
                ]
                chance_of[n] = np.array([fd(rows) for rows in draws])
            chance = chance_of[n]
            if len(chance):
                low, high = percentile_interval(chance, level)
                random = (float(np.median(chance)), low, high, float(np.mean(chance < value)))
        subsets = kid_subsets(
            n, len(real), settings.kid_subsets, settings.kid_subset_size, settings.seed
        )
        kid, kid_std = kernel_distance(f[members], real, subsets)
        rows_out.append(
            {
                "group": group,
                "n_fake": n,
                "n_real": len(real),
                "fd": value,
                "fd_ci_low": ci[0],
                "fd_ci_high": ci[1],
                "fd_random": random[0],
                "fd_random_ci_low": random[1],
                "fd_random_ci_high": random[2],
                "fd_random_share": random[3],
                "kid": kid,
                "kid_std": kid_std,
            }
        )
    return pd.DataFrame(rows_out)
