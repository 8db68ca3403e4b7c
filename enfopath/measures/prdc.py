"""Precision, recall, density and coverage (Naeem et al. 2020) of groups of generated samples.

For real (training) features R (N, D), fake (generated) features F (M, D) and k, with NND_k(·)
the distance from a point to its k-th nearest *other* point of its own set:

- precision = 1/M Σ_j 1[∃ i : ‖F_j − R_i‖ < NND_k(R_i)]   (fakes inside the real manifold);
- recall    = 1/N Σ_i 1[∃ j : ‖R_i − F_j‖ < NND_k(F_j)]   (reals inside the fake manifold);
- density   = 1/(kM) Σ_j Σ_i 1[‖F_j − R_i‖ < NND_k(R_i)]  (real balls per fake, over k);
- coverage  = 1/N Σ_i 1[min_j ‖R_i − F_j‖ < NND_k(R_i)]    (reals with a fake in their ball).

Open balls (strict inequalities), as in the reference implementation (``prdc``); the per-sample
``naeem{k}`` column of the density stage counts closed balls, which differs only on ties. Every
count comes from exact FAISS searches (the real set's saved index, and an index of each group
of fakes), never from an N × M distance matrix. Recall and coverage depend on M: compare groups
of equal size (:func:`kpe_bands`).

Intervals (:func:`prdc_intervals`): each measure is a mean, over the fakes or over the reals,
of a per-point quantity, and its interval resamples the points it averages over (R resamples
with replacement, from streams of the config seed named by the set's size): precision and
density average over the fakes (how many real balls hold each), so they resample the fakes,
given the reals; recall and coverage average over the reals (is a real inside some fake's ball;
does a real's ball hold a fake), so they resample the reals, given the fakes. Resampling the
fakes for recall or coverage would be biased: a resample holds about 63 % of the distinct
fakes, and both measures fall with the number of fakes (duplicates would also shrink the fakes'
kNN radii to 0). All four come from the exact (fake, real) pairs of
:func:`enfopath.measures.density.ball_pairs`, so a resample costs no search.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
import pandas as pd

from enfopath.io import check_shard_samples, read_npz
from enfopath.measures.bands import band_labels
from enfopath.measures.density import Reference, ball_pairs, build_index, reference_radii
from enfopath.measures.inference import percentile_interval
from enfopath.seeding import numpy_rng

MEASURES = ("precision", "recall", "density", "coverage")
"""The four measures, in the order of the table's columns."""
FAKE_AVERAGES = ("precision", "density")
"""The measures that average over the fakes (the others, recall and coverage, over the reals)."""


@dataclass(frozen=True)
class RealSet:
    """PRDC's real points in one space: their features (N, D), held in an exact index, with
    their NND_k radii (N,) for that k."""

    features: np.ndarray
    index: faiss.Index
    radii: np.ndarray
    k: int

    @classmethod
    def of(cls, reference: Reference, k: int) -> RealSet:
        """The reference set of a space (:class:`enfopath.measures.density.Reference`) at one
        of its k."""
        return cls(reference.features, reference.index, reference.radii[reference.ks.index(k)], k)


@dataclass(frozen=True)
class PRDC:
    """The four measures of one set of fakes against the reals (each in [0, 1]; density ≥ 0)."""

    precision: float
    recall: float
    density: float
    coverage: float


@dataclass(frozen=True)
class BallPairs:
    """Which fake lies in which real ball and which real in which fake ball, for one k."""

    n_fake: int
    n_real: int
    k: int
    in_real: tuple[np.ndarray, np.ndarray]
    """(fake row, real row) of every fake inside a real's open NND_k ball."""
    in_fake: tuple[np.ndarray, np.ndarray]
    """(real row, fake row) of every real inside a fake's open NND_k ball (fakes' own radii)."""

    def per_point(self) -> dict[str, np.ndarray]:
        """Each measure's per-point quantity, whose mean it is: per fake (M,) for precision and
        density, per real (N,) for recall and coverage."""
        per_fake = np.bincount(self.in_real[0], minlength=self.n_fake).astype(np.float64)
        return {
            "precision": (per_fake > 0).astype(np.float64),
            "density": per_fake / self.k,
            "recall": (np.bincount(self.in_fake[0], minlength=self.n_real) > 0).astype(float),
            "coverage": (np.bincount(self.in_real[1], minlength=self.n_real) > 0).astype(float),
        }

    def measures(self) -> PRDC:
        """The four measures of all the fakes: the means of :meth:`per_point` (density as the
        mean count over k)."""
        p = self.per_point()
        count = np.bincount(self.in_real[0], minlength=self.n_fake)
        return PRDC(
            precision=float(np.mean(p["precision"])),
            recall=float(np.mean(p["recall"])),
            density=float(np.mean(count) / self.k),
            coverage=float(np.mean(p["coverage"])),
        )


def ball_pairs_of(
    real: np.ndarray, real_index: faiss.Index, real_radii: np.ndarray, fake: np.ndarray, k: int
) -> BallPairs:
    """The exact :class:`BallPairs` of ``fake`` (M, D) against ``real`` (N, D), held in
    ``real_index`` (exact L2) with NND_k radii ``real_radii`` (N,), for that k. The fakes' own
    NND_k (for recall) needs M > k fakes."""
    if len(fake) <= k:
        raise ValueError(f"precision / recall need more than k = {k} fakes, got {len(fake)}")
    fake = np.ascontiguousarray(fake, dtype=np.float32).reshape(len(fake), -1)
    in_real = ball_pairs(real_index, real, fake, real_radii, strict=True)
    fake_index = build_index(fake)
    fake_radii = reference_radii(fake_index, fake, [k])[0]
    in_fake = ball_pairs(fake_index, fake, real, fake_radii, strict=True)
    return BallPairs(len(fake), len(real), k, in_real, in_fake)


def prdc(
    real: np.ndarray,
    real_index: faiss.Index,
    real_radii: np.ndarray,
    fake: np.ndarray,
    k: int,
) -> PRDC:
    """Precision, recall, density and coverage of ``fake`` (M, D) against ``real`` (N, D), held
    in ``real_index`` (exact L2) with NND_k radii ``real_radii`` (N,), for that k.

    The fakes' own NND_k (for recall) needs M > k fakes.
    """
    return ball_pairs_of(real, real_index, real_radii, fake, k).measures()


def prdc_intervals(
    pairs: BallPairs, fake_idx: np.ndarray, real_idx: np.ndarray, confidence: float
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of the four measures (module docstring): precision and density over
    the resamples ``fake_idx`` (R, M) of the fakes, recall and coverage over ``real_idx`` (R, N)
    of the reals. NaN for R = 0."""
    per_point = pairs.per_point()
    return {
        name: percentile_interval(
            per_point[name][fake_idx if name in FAKE_AVERAGES else real_idx].mean(axis=1),
            confidence,
        )
        for name in MEASURES
    }


def kpe_bands(energy: pd.Series, quantile: float) -> pd.Series:
    """``low`` / ``middle`` / ``high`` per sample, else ``""``: the study's low and high groups
    (bottom and top ``quantile`` of the energy,
    :func:`enfopath.measures.groups.kpe_groups`) and the band of the same share around the median
    (quantiles ½ ± quantile / 2), so that the three groups hold about as many samples each
    (:func:`enfopath.measures.bands.band_labels`)."""
    return pd.Series(band_labels(energy.to_numpy(np.float64), quantile), index=energy.index)


def prdc_by_band(
    bands: pd.Series,
    fake: np.ndarray,
    real: np.ndarray,
    real_index: faiss.Index,
    radii: dict[int, np.ndarray],
    *,
    n_boot: int = 0,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """:func:`prdc` of all fakes and of each KPE band (``bands``, aligned with the rows of
    ``fake``) for every k of ``radii`` (k → the reals' NND_k), with ``n_boot`` resampled
    intervals (:func:`prdc_intervals`; the resamples of a set are the same for every group,
    space and k of its size). Columns: group (all, low, middle, high), k, n_fake, n_real,
    precision, recall, density, coverage, and ``{measure}_ci_low`` / ``{measure}_ci_high``."""
    rows = []
    real_idx = numpy_rng(seed, f"prdc:reals:{len(real)}").integers(
        0, max(len(real), 1), (n_boot, len(real))
    )
    for group in ("all", "low", "middle", "high"):
        mask = np.ones(len(bands), bool) if group == "all" else (bands == group).to_numpy()
        n_fake = int(mask.sum())
        fake_idx = numpy_rng(seed, f"prdc:fakes:{n_fake}").integers(
            0, max(n_fake, 1), (n_boot, n_fake)
        )
        for k, r in radii.items():
            pairs = ball_pairs_of(real, real_index, r, fake[mask], k)
            m = pairs.measures()
            ci = prdc_intervals(pairs, fake_idx, real_idx, confidence)
            rows.append(
                {"group": group, "k": k, "n_fake": n_fake, "n_real": len(real)}
                | {name: getattr(m, name) for name in MEASURES}
                | {
                    f"{name}_ci_{end}": ci[name][i]
                    for name in MEASURES
                    for i, end in ((0, "low"), (1, "high"))
                }
            )
    return pd.DataFrame(rows)


def shard_features(
    paths: list[str], spaces: list[str], samples: np.ndarray
) -> dict[str, np.ndarray]:
    """The features of ``samples`` (global indices, in that order) in each space, gathered from
    the per-shard feature files (``features/shard_*.npz``, verified at read), each (n, D)."""
    parts = []
    for path in paths:
        part = read_npz(path, ("sample", *spaces))
        check_shard_samples(part["sample"], path)
        parts.append(part)
    ids = pd.Index(np.concatenate([p["sample"] for p in parts]))
    rows = ids.get_indexer(samples)
    if (rows < 0).any():
        missing = np.asarray(samples)[rows < 0][:5].tolist()
        raise ValueError(f"the feature shards hold no features for samples {missing}")
    return {s: np.concatenate([p[s] for p in parts])[rows] for s in spaces}
