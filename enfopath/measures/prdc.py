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
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
import pandas as pd

from enfopath.io import check_shard_samples, read_npz
from enfopath.measures.bands import band_labels
from enfopath.measures.density import ball_counts, build_index, exact_knn, reference_radii


@dataclass(frozen=True)
class PRDC:
    """The four measures of one set of fakes against the reals (each in [0, 1]; density ≥ 0)."""

    precision: float
    recall: float
    density: float
    coverage: float


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
    if len(fake) <= k:
        raise ValueError(f"precision / recall need more than k = {k} fakes, got {len(fake)}")
    fake = np.ascontiguousarray(fake, dtype=np.float32).reshape(len(fake), -1)
    inside_real = ball_counts(real_index, real, fake, real_radii, strict=True)
    fake_index = build_index(fake)
    fake_radii = reference_radii(fake_index, fake, [k])[0]
    inside_fake = ball_counts(fake_index, fake, real, fake_radii, strict=True)
    nearest_fake, _ = exact_knn(fake, fake_index, real, 1)
    return PRDC(
        precision=float(np.mean(inside_real > 0)),
        recall=float(np.mean(inside_fake > 0)),
        density=float(np.mean(inside_real) / k),
        coverage=float(np.mean(nearest_fake[:, 0] < real_radii)),
    )


def kpe_bands(energy: pd.Series, quantile: float) -> pd.Series:
    """``low`` / ``middle`` / ``high`` per sample, else ``""``: the study's low and high groups
    (bottom and top ``quantile`` of the energy,
    :func:`enfopath.measures.stats.kpe_groups`) and the band of the same share around the median
    (quantiles ½ ± quantile / 2), so that the three groups hold about as many samples each
    (:func:`enfopath.measures.bands.band_labels`)."""
    return pd.Series(band_labels(energy.to_numpy(np.float64), quantile), index=energy.index)


def prdc_by_band(
    bands: pd.Series,
    fake: np.ndarray,
    real: np.ndarray,
    real_index: faiss.Index,
    radii: dict[int, np.ndarray],
) -> pd.DataFrame:
    """:func:`prdc` of all fakes and of each KPE band (``bands``, aligned with the rows of
    ``fake``) for every k of ``radii`` (k → the reals' NND_k). Columns: group (all, low,
    middle, high), k, n_fake, n_real, precision, recall, density, coverage."""
    rows = []
    for group in ("all", "low", "middle", "high"):
        mask = np.ones(len(bands), bool) if group == "all" else (bands == group).to_numpy()
        for k, r in radii.items():
            m = prdc(real, real_index, r, fake[mask], k)
            rows.append(
                {
                    "group": group,
                    "k": k,
                    "n_fake": int(mask.sum()),
                    "n_real": len(real),
                    "precision": m.precision,
                    "recall": m.recall,
                    "density": m.density,
                    "coverage": m.coverage,
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
