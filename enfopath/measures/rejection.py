"""Early rejection judged: the quality of the samples an early stop keeps, beside random
rejection of the same share and rejection by the final KPE (the oracle).

Selection (:func:`rejected`): of n samples ranked by a score (the partial energy E(s) at a
check time s, or the final KPE for the oracle), the round(q·n) with the highest score (reject
``high``) or the lowest (``low``) are stopped; ties go by sample order. The score is E(s)
itself, not a predictor fitted to it on a calibration split: any predictor of the final KPE
that is a monotone function of E(s) alone ranks the samples as E(s) does, so it would stop the
same samples and cost a calibration split for nothing.

Quality of a kept set (:class:`KeptQuality`), each measure with its direction:

- the mean of each per-sample measure (the study's classifier confidence or CLIP score, and the
  memorized indicator d₁/d₂ < 1/3 in pixel space, whose mean is the memorized share), with a
  percentile interval over resamples of the kept samples;
- in every density space, the Fréchet distance of the kept set against the reference set
  (:class:`enfopath.measures.fidelity.GroupFrechet`, its interval the resamples' spread moved
  onto the estimate, :func:`enfopath.measures.fidelity.shifted_interval`) and PRDC at one k
  (:mod:`enfopath.measures.prdc`, its intervals from the fakes' and the reals' resamples).

Random rejection keeps a uniformly drawn set of the same size: ``draws`` of them give its
median and central interval, and the share of draws better than the energy rule's kept set
(near ½: the energy rule keeps what chance would). Both FD and recall / coverage depend on the
number of samples, so every kept set of one share has the same size and is compared only with
sets of that size. The oracle is the best an energy rule could do with hindsight: it needs every
sample finished, so it saves no compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from enfopath.measures.density import ball_pairs, build_index, reference_radii
from enfopath.measures.fidelity import GroupFrechet, Reference, shifted_interval
from enfopath.measures.inference import percentile_interval
from enfopath.measures.prdc import MEASURES as PRDC_MEASURES
from enfopath.measures.prdc import BallPairs, RealSet, prdc_intervals
from enfopath.seeding import numpy_rng

REJECT = ("high", "low")
"""Which end of the score an early stop rejects: the highest or the lowest."""
LOWER_IS_BETTER = frozenset({"memorized", "fd"})
"""The measures where a smaller value is a better kept set (all others: larger)."""


def rejected(score: np.ndarray, share: float, reject: str) -> np.ndarray:
    """Which of the n samples (score (n,), finite) an early stop rejects: the round(share · n)
    with the highest score (``reject`` = ``high``) or the lowest (``low``), ties by sample
    order (the earlier sample first). Bool (n,)."""
    if reject not in REJECT:
        raise ValueError(f"reject must be one of {REJECT}, got {reject!r}")
    if not 0.0 <= share < 1.0:
        raise ValueError(f"the rejected share must lie in [0, 1), got {share!r}")
    score = np.asarray(score, dtype=np.float64)
    if not np.isfinite(score).all():
        raise ValueError("the scores to reject by must be finite")
    order = np.argsort(-score if reject == "high" else score, kind="stable")
    out = np.zeros(len(score), dtype=bool)
    out[order[: round(share * len(score))]] = True
    return out


@dataclass(frozen=True)
class SpaceReference:
    """One density space's generated features (n, D), row for row with the samples, and its
    real set (:class:`enfopath.measures.prdc.RealSet`: PRDC's k among them)."""

    features: np.ndarray
    reals: RealSet


class KeptQuality:
    """The quality measures of subsets of n samples (module docstring): ``per_sample`` the
    per-sample measures (name → (n,) float, finite) averaged over a set, ``spaces`` each density
    space's features and reference (name → :class:`SpaceReference`)."""

    def __init__(
        self, per_sample: dict[str, np.ndarray], spaces: dict[str, SpaceReference]
    ) -> None:
        self.per_sample = {k: np.asarray(v, dtype=np.float64) for k, v in per_sample.items()}
        for name, values in self.per_sample.items():
            if not np.isfinite(values).all():
                raise ValueError(f"the per-sample measure {name!r} is not finite for every sample")
        self.spaces = spaces
        self.frechet = {
            name: GroupFrechet(space.features, Reference.of(space.reals.features))
            for name, space in spaces.items()
        }
        self.in_real = {  # which sample lies in which real's open ball: one search for all
            name: ball_pairs(
                space.reals.index,
                space.reals.features,
                space.features,
                space.reals.radii,
                strict=True,
            )
            for name, space in spaces.items()
        }

    @property
    def measures(self) -> list[tuple[str, str]]:
        """The (measure, space) pairs of a set's quality, in the table's order ('' for a
        per-sample mean)."""
        return [(m, "") for m in self.per_sample] + [
            (m, s) for s in self.spaces for m in ("fd", *PRDC_MEASURES)
        ]

    def pairs(self, name: str, rows: np.ndarray) -> BallPairs:
        """PRDC's :class:`enfopath.measures.prdc.BallPairs` of the samples ``rows`` (distinct
        indices) in space ``name``, exactly those of :func:`enfopath.measures.prdc.
        ball_pairs_of` on their features: which of them lie in which real ball is read from
        the search made once for all the samples (a sample's balls do not depend on the
        others); which reals lie in their balls is searched (the radii, NND_k among the set,
        do)."""
        space = self.spaces[name]
        real, k = space.reals.features, space.reals.k
        if len(rows) <= k:
            raise ValueError(f"precision / recall need more than k = {k} samples")
        where = np.full(len(space.features), -1)
        where[rows] = np.arange(len(rows))
        fake_of, real_of = self.in_real[name]
        mine = where[fake_of] >= 0
        fake = np.ascontiguousarray(space.features[rows], dtype=np.float32)
        fake_index = build_index(fake)
        radii = reference_radii(fake_index, fake, [k])[0]
        in_fake = ball_pairs(fake_index, fake, real, radii, strict=True)
        in_real = (where[fake_of[mine]], real_of[mine])
        return BallPairs(len(rows), len(real), k, in_real, in_fake)

    def of(self, rows: np.ndarray) -> dict[tuple[str, str], float]:
        """Every measure of the samples ``rows`` (distinct indices)."""
        out = {(m, ""): float(v[rows].mean()) for m, v in self.per_sample.items()}
        for name in self.spaces:
            out[("fd", name)] = self.frechet[name](rows)
            found = self.pairs(name, rows).measures()
            out |= {(m, name): float(getattr(found, m)) for m in PRDC_MEASURES}
        return out

    def with_intervals(
        self, rows: np.ndarray, n_boot: int, fd_boot: int, seed: int, confidence: float
    ) -> dict[tuple[str, str], tuple[float, float, float]]:
        """Every measure of the samples ``rows`` with its ``confidence`` interval (module
        docstring): ``n_boot`` resamples of the set for the means and PRDC, ``fd_boot`` for
        the FD (each an eigenproblem), from streams of ``seed`` named by the set's size, so
        that sets of one size share them."""
        m = len(rows)
        boot = numpy_rng(seed, f"rejection:bootstrap:{m}").integers(0, m, (n_boot, m))
        out = {
            (name, ""): (
                float(v[rows].mean()),
                *percentile_interval(v[rows][boot].mean(1), confidence),
            )
            for name, v in self.per_sample.items()
        }
        fd_idx = numpy_rng(seed, f"rejection:fd:{m}").integers(0, m, (fd_boot, m))
        for name, space in self.spaces.items():
            fd = self.frechet[name]
            value = fd(rows)
            low, high = shifted_interval(value, np.array([fd(rows[b]) for b in fd_idx]), confidence)
            out[("fd", name)] = (value, max(low, 0.0), high)  # an FD is never negative
            pairs = self.pairs(name, rows)
            found = pairs.measures()
            n_real = len(space.reals.features)
            real_idx = numpy_rng(seed, f"rejection:reals:{n_real}").integers(
                0, n_real, (n_boot, n_real)
            )
            ci = prdc_intervals(pairs, boot, real_idx, confidence)
            out |= {(k, name): (float(getattr(found, k)), *ci[k]) for k in PRDC_MEASURES}
        return out


def better(measure: str, a: np.ndarray | float, b: float) -> np.ndarray:
    """Whether value(s) ``a`` of ``measure`` are better than ``b`` (:data:`LOWER_IS_BETTER`)."""
    a = np.asarray(a, dtype=np.float64)
    return a < b if measure in LOWER_IS_BETTER else a > b


@dataclass(frozen=True)
class RejectionSettings:
    """How the kept sets are judged: ``n_boot`` resamples for the means' and PRDC's intervals,
    ``fd_boot`` for the FD's, ``draws`` random rejections per share, at ``confidence``, from
    streams of ``seed``."""

    n_boot: int
    fd_boot: int
    draws: int
    confidence: float
    seed: int


def rejection_quality(
    partial: pd.DataFrame,
    final_kpe: np.ndarray,
    shares: Sequence[float],
    reject: str,
    quality: KeptQuality,
    settings: RejectionSettings,
) -> pd.DataFrame:
    """The quality of what early rejection keeps, per check time and share.

    ``partial``: one row per (check_time, sample row) with the partial energy ``partial_kpe``
    of each of the n samples at that check time (rows 0 … n − 1, the order of ``final_kpe``
    (n,) and of ``quality``'s arrays). For each check time s and share q of ``shares``: the set
    kept after stopping the q·n samples ``reject`` in E(s) (:func:`rejected`), against all
    samples, random sets of its size and the set the final KPE keeps (the oracle).

    Columns: check_time, share, reject, n, n_kept, measure, space ('' for a per-sample mean),
    higher_is_better, all, energy, energy_ci_low, energy_ci_high, random, random_ci_low,
    random_ci_high (the median and central interval of ``settings.draws`` random sets),
    random_share_better (the share of them better than the energy rule's), oracle,
    oracle_ci_low, oracle_ci_high.
    """
    s = settings
    n = len(final_kpe)
    need = max([space.reals.k + 1 for space in quality.spaces.values()] + [2])
    for q in shares:
        if (kept := n - round(q * n)) < need:
            raise ValueError(
                f"early_rejection.shares: stopping {q} of {n} samples keeps {kept}, and the kept "
                f"set's FD and PRDC need at least {need}: stop a smaller share or raise "
                "early_rejection.n_samples"
            )
    everyone = quality.of(np.arange(n))
    by_share = {}
    for q in shares:
        keep = np.flatnonzero(~rejected(final_kpe, q, reject))
        rng = numpy_rng(s.seed, f"rejection:random:{n}:{len(keep)}")
        draws = [
            quality.of(np.sort(rng.choice(n, len(keep), replace=False))) for _ in range(s.draws)
        ]
        oracle = quality.with_intervals(keep, s.n_boot, s.fd_boot, s.seed, s.confidence)
        by_share[q] = (len(keep), oracle, draws)
    rows = []
    for check_time, part in partial.groupby("check_time", sort=True):
        energy = part["partial_kpe"].to_numpy(np.float64)
        if len(energy) != n:
            raise ValueError(f"check time {check_time}: {len(energy)} partial energies, not {n}")
        for q in shares:
            n_kept, oracle, draws = by_share[q]
            keep = np.flatnonzero(~rejected(energy, q, reject))
            own = quality.with_intervals(keep, s.n_boot, s.fd_boot, s.seed, s.confidence)
            for key in quality.measures:
                measure, space = key
                chance = np.array([d[key] for d in draws])
                low, high = percentile_interval(chance, s.confidence)
                rows.append(
                    {
                        "check_time": float(check_time),
                        "share": float(q),
                        "reject": reject,
                        "n": n,
                        "n_kept": n_kept,
                        "measure": measure,
                        "space": space,
                        "higher_is_better": measure not in LOWER_IS_BETTER,
                        "all": everyone[key],
                        "energy": own[key][0],
                        "energy_ci_low": own[key][1],
                        "energy_ci_high": own[key][2],
                        "random": float(np.median(chance)) if len(chance) else np.nan,
                        "random_ci_low": low,
                        "random_ci_high": high,
                        "random_share_better": float(better(measure, chance, own[key][0]).mean())
                        if len(chance)
                        else np.nan,
                        "oracle": oracle[key][0],
                        "oracle_ci_low": oracle[key][1],
                        "oracle_ci_high": oracle[key][2],
                    }
                )
    return pd.DataFrame(rows)
