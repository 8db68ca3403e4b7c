"""What a prompt set allows (a text-to-image study: every prompt sampled with several seeds):
how much of a measure is the prompt's and how much the noise's, and how two measures relate
across prompts and among the seeds of one prompt (docs/science.md §5).

- :func:`prompt_icc`: the one-way random-effects intraclass correlation ICC(1) of the measure
  with the prompt as the group (Shrout & Fleiss's ICC(1,1)): from the one-way ANOVA mean
  squares, ICC = (MSB − MSW) / (MSB + (k₀ − 1) MSW) with k₀ = (N − Σnᵢ² / N) / (g − 1) the
  effective seeds per prompt (k₀ = k when every prompt has k); the variance components
  σ²_between = (MSB − MSW) / k₀ (0 when negative) and σ²_within = MSW. It is negative when
  prompts differ less than chance would make them; it is reported as computed.
- :func:`prompt_mean_spearman`: Spearman's ρ across prompts of the prompts' mean x and mean y
  (n = the prompts).
- :func:`within_prompt_spearman`: the pooled within-prompt rank correlation, a stratified
  Spearman: x and y ranked within each prompt, each prompt's mean rank subtracted, and the
  centred ranks of all prompts correlated together, Σ r̃ₓ r̃ᵧ / √(Σ r̃ₓ² Σ r̃ᵧ²). A prompt's
  effect on both measures cancels: only the seeds of one prompt are compared with each other.
  One prompt gives Spearman's ρ itself. Its p-value is a permutation test that shuffles y's
  ranks within each prompt (the null: no relation among the seeds of any prompt).
- :func:`category_means`: a measure's mean per prompt category.

Intervals come from the cluster bootstrap over prompts (whole prompts resampled with all their
seeds, from the analysis' own stream of the config seed), since the seeds of one prompt are not
independent of each other. Written here rather than taken from a package: pingouin's ICC wants
a balanced long table and has no cluster bootstrap, and no package has the stratified Spearman.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from enfopath.measures.inference import estimate, percentile_interval
from enfopath.seeding import numpy_rng


@dataclass(frozen=True)
class Resampling:
    """How the intervals of these analyses are drawn: from the config ``seed`` (each analysis
    its own stream), ``n_boot`` resamples (also the permutations of the within-prompt test; 0:
    none, NaN intervals) and the ``confidence`` of the percentile intervals."""

    seed: int
    n_boot: int
    confidence: float

    def __post_init__(self) -> None:
        if self.n_boot < 0:
            raise ValueError(f"statistics.bootstrap must be at least 0, got {self.n_boot}")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"statistics.confidence must lie in (0, 1), got {self.confidence}")


def _groups(prompts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prompts' codes 0 … g − 1 per sample and each prompt's sample count."""
    _, codes, counts = np.unique(np.asarray(prompts), return_inverse=True, return_counts=True)
    return codes, counts


def _icc(values: np.ndarray, codes: np.ndarray, counts: np.ndarray) -> tuple[float, ...]:
    """(ICC, σ²_between, σ²_within) of ``values`` grouped by ``codes`` (module docstring)."""
    g, n = len(counts), len(values)
    if g < 2 or n <= g:
        return float("nan"), float("nan"), float("nan")
    means = np.bincount(codes, weights=values, minlength=g) / counts
    grand = values.mean()
    msb = float((counts * (means - grand) ** 2).sum() / (g - 1))
    msw = float(((values - means[codes]) ** 2).sum() / (n - g))
    k0 = (n - (counts**2).sum() / n) / (g - 1)
    denominator = msb + (k0 - 1.0) * msw
    icc = (msb - msw) / denominator if denominator > 0 else float("nan")
    return icc, max(msb - msw, 0.0) / k0, msw


def _cluster_resamples(counts: np.ndarray, seed: int, stream: str, n_boot: int) -> np.ndarray:
    """(R, g) prompt indices drawn with replacement, from their own ``stream``."""
    return numpy_rng(seed, stream).integers(0, len(counts), size=(n_boot, len(counts)))


def _members(codes: np.ndarray, g: int) -> list[np.ndarray]:
    order = np.argsort(codes, kind="stable")
    return np.split(order, np.cumsum(np.bincount(codes, minlength=g))[:-1])


def _cluster_bootstrap(
    codes: np.ndarray,
    counts: np.ndarray,
    statistic: Callable[[np.ndarray, np.ndarray], float],
    rng: tuple[int, str, int],
) -> np.ndarray:
    """(R,) bootstrap samples of ``statistic(rows, draw)`` over whole prompts: ``draw`` (g,)
    the prompts drawn with replacement (:func:`_cluster_resamples` of ``rng`` = (seed,
    stream, R)), ``rows`` the samples of those prompts, prompt after prompt."""
    members = _members(codes, len(counts))
    draws = _cluster_resamples(counts, *rng)
    return np.array(
        [statistic(np.concatenate([members[q] for q in draw]), draw) for draw in draws],
        dtype=np.float64,
    )


def prompt_icc(
    values: np.ndarray,
    prompts: np.ndarray,
    resampling: Resampling,
    stream: str = "prompt_icc",
) -> dict[str, float]:
    """ICC(1) of ``values`` (N,) grouped by ``prompts`` (N,) and its cluster-bootstrap
    interval: ``icc``, ``icc_ci_low`` / ``icc_ci_high``, ``var_between``, ``var_within``,
    ``n_prompts``, ``n_samples`` (non-finite values left out)."""
    values, prompts = np.asarray(values, np.float64), np.asarray(prompts)
    ok = np.isfinite(values)
    values, prompts = values[ok], prompts[ok]
    codes, counts = _groups(prompts)
    icc, between, within = _icc(values, codes, counts)

    def resampled(rows: np.ndarray, draw: np.ndarray) -> float:
        return _icc(values[rows], np.repeat(np.arange(len(draw)), counts[draw]), counts[draw])[0]

    samples = _cluster_bootstrap(
        codes, counts, resampled, (resampling.seed, stream, resampling.n_boot)
    )
    low, high = percentile_interval(samples, resampling.confidence)
    return {
        "icc": icc,
        "icc_ci_low": low,
        "icc_ci_high": high,
        "var_between": between,
        "var_within": within,
        "n_prompts": len(counts),
        "n_samples": len(values),
    }


def prompt_means(values: np.ndarray, prompts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct prompts (sorted) and the mean of ``values`` over each one's samples."""
    keys, codes, counts = np.unique(np.asarray(prompts), return_inverse=True, return_counts=True)
    sums = np.bincount(codes, weights=np.asarray(values, np.float64), minlength=len(keys))
    return keys, sums / counts


def prompt_mean_spearman(
    x: np.ndarray,
    y: np.ndarray,
    prompts: np.ndarray,
    resampling: Resampling,
    stream: str = "prompt_means",
) -> dict[str, float]:
    """Spearman's ρ across prompts of per-prompt mean ``x`` and mean ``y`` (rows where both are
    finite), its p-value and its bootstrap interval over prompts: ``spearman_rho``,
    ``spearman_p``, ``spearman_rho_ci_low`` / ``_ci_high``, ``n_prompts``."""
    x, y, prompts = _finite(x, y, prompts)
    _, mx = prompt_means(x, prompts)
    _, my = prompt_means(y, prompts)
    rho, p = (float("nan"),) * 2 if len(mx) < 3 else stats.spearmanr(mx, my)
    draws = _cluster_resamples(
        mx, resampling.seed, stream, resampling.n_boot
    )  # over prompts, their means drawn
    samples = np.array([_spearman(mx[d], my[d]) for d in draws], dtype=np.float64)
    entries = estimate("spearman_rho", float(rho), float(p), samples, resampling.confidence)
    return {**entries, "n_prompts": len(mx)}


def _finite(x: np.ndarray, y: np.ndarray, prompts: np.ndarray) -> tuple[np.ndarray, ...]:
    x, y, prompts = np.asarray(x, np.float64), np.asarray(y, np.float64), np.asarray(prompts)
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok], prompts[ok]


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(stats.spearmanr(x, y)[0])


def centred_ranks(values: np.ndarray, codes: np.ndarray, g: int) -> np.ndarray:
    """Average ranks of ``values`` within each group (``codes`` 0 … g − 1) less the group's
    mean rank, (N,) float64."""
    out = np.empty(len(values))
    for rows in _members(codes, g):
        ranks = stats.rankdata(values[rows])
        out[rows] = ranks - ranks.mean()
    return out


def _pooled(rx: np.ndarray, ry: np.ndarray) -> float:
    norm = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / norm) if norm > 0 else float("nan")


def within_prompt_spearman(
    x: np.ndarray,
    y: np.ndarray,
    prompts: np.ndarray,
    resampling: Resampling,
    stream: str = "within_prompt",
) -> dict[str, float]:
    """The pooled within-prompt rank correlation of ``x`` and ``y`` (module docstring), its
    within-prompt permutation p-value (``n_boot`` permutations, two-sided, (b + 1) / (R + 1))
    and its cluster-bootstrap interval: ``within_rho``, ``within_p``, ``within_rho_ci_low`` /
    ``_ci_high``, ``n_prompts``, ``n_samples``."""
    x, y, prompts = _finite(x, y, prompts)
    codes, counts = _groups(prompts)
    g = len(counts)
    rx, ry = centred_ranks(x, codes, g), centred_ranks(y, codes, g)
    rho = _pooled(rx, ry)
    rng = numpy_rng(resampling.seed, f"{stream}/permutation")
    beyond, order = 0, np.argsort(codes, kind="stable")
    for _ in range(resampling.n_boot):
        shuffled = np.lexsort((rng.random(len(codes)), codes))  # a shuffle within each prompt
        permuted = np.empty_like(ry)
        permuted[order] = ry[shuffled]
        beyond += abs(_pooled(rx, permuted)) >= abs(rho) - 1e-12
    n = resampling.n_boot
    p = (beyond + 1) / (n + 1) if n and np.isfinite(rho) else float("nan")
    samples = _cluster_bootstrap(  # the ranks are centred within each prompt already
        codes,
        counts,
        lambda rows, _: _pooled(rx[rows], ry[rows]),
        (resampling.seed, f"{stream}/bootstrap", resampling.n_boot),
    )
    entries = estimate("within_rho", rho, float(p), samples, resampling.confidence)
    return {**entries, "n_prompts": g, "n_samples": len(x)}


def category_means(
    values: np.ndarray, prompts: np.ndarray, categories: np.ndarray
) -> dict[str, dict[str, float]]:
    """Per category (of each sample's prompt): ``mean`` of ``values``, ``n_prompts``,
    ``n_samples`` (non-finite values left out), categories sorted."""
    values, prompts, categories = (np.asarray(a) for a in (values, prompts, categories))
    ok = np.isfinite(values.astype(np.float64))
    out = {}
    for category in sorted(set(categories[ok].tolist())):
        rows = ok & (categories == category)
        out[str(category)] = {
            "mean": float(values[rows].astype(np.float64).mean()),
            "n_prompts": len(np.unique(prompts[rows])),
            "n_samples": int(rows.sum()),
        }
    return out
