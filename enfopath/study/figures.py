"""The study's figures (seaborn / matplotlib), one function per figure file.

Every function takes the analysed per-sample table (non-finite samples already left out) and a
:class:`FigureContext`, and returns a matplotlib Figure; :data:`FIGURES` maps file names to them
(the names alone, light to import for building the DAG, are in :mod:`.figure_names`).
What a reader needs is on the figure: axes named in words with their symbol (:func:`describe`),
Spearman's ρ with its bootstrap interval and n from ``statistics/correlations.csv``, and binned
means with error bars from ``statistics/quantile_curves.csv`` (the figures compute neither, so
they agree with the tables).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullLocator
from scipy import stats

from enfopath.columns import density_prefixes
from enfopath.io import check_shard_samples, read_npz
from enfopath.measures.early import PARTIAL, first_beating_baselines
from enfopath.measures.groups import group_thresholds, kpe_groups
from enfopath.measures.images import shard_images
from enfopath.per_sample import NFE_PROFILE_PREFIX
from enfopath.study.figure_names import FIGURE_SPECS
from enfopath.study.relations import CONTRASTS
from enfopath.study.tables import (
    EARLY_BASELINES,
    MARGINS,
    MEMORIZATION_ENDPOINTS,
    QUALITY,
    SEMANTIC,
    headline_measures,
    profile_columns,
)
from enfopath.study.words import SPACE_WORDS, describe

SATURATED = ("clf_confidence", "clf_margin")
"""Measures that pile up at 1: drawn on a logit scale."""


@dataclass(frozen=True)
class ImageSamples:
    """What a sample grid shows: the generated images by global sample index, each (C, H, W)
    in [−1, 1] (decoded for a latent flow, not clamped), the dataset's class names by index
    and the samples per grid (``figures.grid_samples``)."""

    images: dict[int, np.ndarray]
    class_names: list[str]
    per_grid: int


@dataclass(frozen=True)
class PlaneSamples:
    """What a 2-D study's figures show: each sample's endpoint x(1) (2,) by global sample
    index, the training data ``x_train`` (M, 2), the densely integrated paths of the first
    samples (``paths_sample`` (n,), ``paths_t`` (T,), ``paths_x`` (n, T, 2)) and the velocity
    field (``field_t`` (K,), ``field_grid`` (G,), ``field_v`` (K, G, G, 2)), as the plane job
    writes them (``plane/paths.npz``, ``plane/field.npz``)."""

    endpoints: dict[int, np.ndarray]
    x_train: np.ndarray
    paths_sample: np.ndarray
    paths_t: np.ndarray
    paths_x: np.ndarray
    field_t: np.ndarray
    field_grid: np.ndarray
    field_v: np.ndarray


SAMPLE_TYPES = {"images": ImageSamples, "plane": PlaneSamples}
"""The context of each kind of samples a figure shows (``FigureSpec.samples``)."""


def shown_samples(shards: list[str]) -> dict[int, np.ndarray]:
    """Each generated sample's image (a 2-D study: its endpoint) by global sample index, from
    the trajectory shards (checked: their sample indices)."""
    shown: dict[int, np.ndarray] = {}
    for path in shards:
        shard = read_npz(path, ("sample", "x1"))
        check_shard_samples(shard["sample"], path)
        shown.update(zip(shard["sample"].tolist(), shard_images(shard), strict=True))
    return shown


def image_samples(shards: list[str], dataset: str, per_grid: int) -> ImageSamples:
    """The :class:`ImageSamples` of a study's trajectory shards and prepared dataset."""
    names = read_npz(dataset, ("class_names",))["class_names"]
    return ImageSamples(shown_samples(shards), [str(n) for n in names], per_grid)


def plane_samples(shards: list[str], dataset: str, paths: str, field: str) -> PlaneSamples:
    """The :class:`PlaneSamples` of a 2-D study: its shards' endpoints, its training data and
    the plane job's paths and field files."""
    drawn = read_npz(paths, ("sample", "t", "x"))
    grid = read_npz(field, ("t", "grid", "v"))
    return PlaneSamples(
        endpoints=shown_samples(shards),
        x_train=read_npz(dataset, ("x_train",))["x_train"],
        paths_sample=drawn["sample"],
        paths_t=drawn["t"],
        paths_x=drawn["x"],
        field_t=grid["t"],
        field_grid=grid["grid"],
        field_v=grid["v"],
    )


@dataclass(frozen=True)
class FigureContext:
    """What figures need beyond the table: the study's settings every figure reads, the
    statistics tables of its spec (each field named by ``FigureSpec.tables``) and the samples
    it shows (``samples``: :class:`ImageSamples` or :class:`PlaneSamples`, by the spec)."""

    spaces: list[str]
    k: list[int]
    group_quantile: float
    confidence: float = 0.95
    """Level of the correlations' bootstrap intervals."""
    correlations: pd.DataFrame | None = None
    """``statistics/correlations.csv`` (relation figures)."""
    curves: pd.DataFrame | None = None
    """``statistics/quantile_curves.csv`` (relation figures)."""
    partial: pd.DataFrame | None = None
    """``statistics/partial_correlations.csv`` (the confound figure)."""
    early: pd.DataFrame | None = None
    """``statistics/early_prediction.csv`` (the early-prediction figure)."""
    memorization: pd.DataFrame | None = None
    """``statistics/memorization.csv`` (the memorization figure)."""
    prdc: pd.DataFrame | None = None
    """``statistics/prdc.csv`` (the PRDC figure)."""
    fidelity: pd.DataFrame | None = None
    """``statistics/fidelity.csv`` (the Fréchet figure)."""
    schedules: pd.DataFrame | None = None
    """``statistics/schedules.csv`` (the time grids compared)."""
    early_rejection: pd.DataFrame | None = None
    """``statistics/early_rejection.csv`` (early rejection: compute and what is kept)."""
    robustness: pd.DataFrame | None = None
    """``statistics/robustness.csv`` (the robustness figures)."""
    comparison: pd.DataFrame | None = None
    """``statistics/comparison.csv`` (the comparison with a baseline study)."""
    replicates: pd.DataFrame | None = None
    """``statistics/replicates.csv`` (the correlations of each flow's training seed)."""
    prompt_effects: pd.DataFrame | None = None
    """``statistics/prompt_effects.csv`` (a text-to-image study's prompt analyses)."""
    ladder: pd.DataFrame | None = None
    """``statistics/ladder.csv`` (every relation per rung of the checkpoint ladder)."""
    ladder_rungs: pd.DataFrame | None = None
    """``statistics/ladder_rungs.csv`` (each rung's loss, quality and KPE distribution)."""
    flow_losses: pd.DataFrame | None = None
    """``models/flow_losses.csv`` (the training loss per step: the training figure)."""
    flow_kpe: pd.DataFrame | None = None
    """``models/flow_kpe.csv`` (the training monitor's KPE per evaluation step)."""
    samples: ImageSamples | PlaneSamples | None = None
    """The samples a figure of the generated samples shows (None for a figure of tables)."""

    def image_samples(self) -> ImageSamples:
        """The generated images (a sample grid's), or ValueError naming what is there."""
        return self._samples(ImageSamples)

    def plane_samples(self) -> PlaneSamples:
        """A 2-D study's points, paths and field (a plane figure's), or ValueError."""
        return self._samples(PlaneSamples)

    def _samples(self, kind: type[Any]) -> Any:
        if not isinstance(self.samples, kind):
            have = type(self.samples).__name__
            raise ValueError(f"this figure shows {kind.__name__}; its context holds {have}")
        return self.samples


def rho_text(ctx: FigureContext, energy: str, measure: str) -> str:
    """ "Spearman ρ = r [lo, hi] (level), n = N" of one pair, from the correlations table."""
    if ctx.correlations is None:
        raise ValueError("this figure needs statistics/correlations.csv")
    row = ctx.correlations[
        (ctx.correlations.energy == energy) & (ctx.correlations.measure == measure)
    ]
    if row.empty:
        raise ValueError(f"statistics/correlations.csv has no row for {energy} vs {measure}")
    r = row.iloc[0]
    interval = ""
    if np.isfinite(r.spearman_rho_ci_low) and np.isfinite(r.spearman_rho_ci_high):
        level = round(100 * ctx.confidence)
        interval = (
            f" [{_signed(r.spearman_rho_ci_low)}, {_signed(r.spearman_rho_ci_high)}] ({level} % CI)"
        )
    return f"Spearman ρ = {_signed(r.spearman_rho)}{interval}, n = {int(r.n):,}"


def _binned(ax: plt.Axes, ctx: FigureContext, measure: str) -> None:
    """The measure per KPE quantile bin: its median with the distribution-free interval for a
    measure that saturates (:data:`SATURATED`: its mean would run below the cloud), else its
    mean ± z·SE, both at the study's confidence level."""
    if ctx.curves is None:
        raise ValueError("this figure needs statistics/quantile_curves.csv")
    c = ctx.curves[ctx.curves.measure == measure].sort_values("bin")
    level = round(100 * ctx.confidence)
    if measure in SATURATED:
        centre, low, high = c["median"], c["median_ci_low"], c["median_ci_high"]
        label = f"median per KPE bin, {level} % interval ({len(c)} bins)"
    else:
        z = float(stats.norm.ppf(0.5 + ctx.confidence / 2.0))
        centre, low, high = c["mean"], c["mean"] - z * c["sem"], c["mean"] + z * c["sem"]
        label = f"mean per KPE bin ± {z:.2f} SE, {level} % ({len(c)} bins)"
    err = np.vstack([centre - low, high - centre]).clip(min=0)
    ax.errorbar(c.energy_mean, centre, yerr=err, fmt="o-", color="C3", ms=4, capsize=2, label=label)


def _relation(ax: plt.Axes, df: pd.DataFrame, ctx: FigureContext, measure: str) -> None:
    """Scatter of KPE against a measure, its binned means with error bars, labels and ρ."""
    ok = np.isfinite(df["kpe"]) & np.isfinite(df[measure])
    sns.scatterplot(data=df[ok], x="kpe", y=measure, s=6, alpha=0.3, linewidth=0, color="C0", ax=ax)
    _binned(ax, ctx, measure)
    if measure in SATURATED:
        ax.set_yscale("logit")
    ax.set_xlabel(describe("kpe"))
    ax.set_ylabel(_wrapped(describe(measure) + (" (logit scale)" if measure in SATURATED else "")))
    ax.set_title(rho_text(ctx, "kpe", measure), fontsize=9)
    _legend_below(ax)


def _panels(n: int, width: float = 5.0) -> tuple[Figure, list[plt.Axes]]:
    fig, axes = plt.subplots(1, n, figsize=(width * n, 4.2), squeeze=False)
    return fig, list(axes[0])


def _legend_below(ax: plt.Axes, ncol: int = 1, **options: Any) -> None:
    """The legend under the axes, off the data (below the x label)."""
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        ncol=ncol,
        fontsize=options.pop("fontsize", 7),
        frameon=False,
        **options,
    )


def _wrapped(text: str, width: int = 44) -> str:
    """An axis label broken into lines of at most ``width`` characters (so it fits the axes)."""
    return textwrap.fill(text, width)


def _signed(value: float, digits: int = 2) -> str:
    """A number with a true minus sign and no negative zero."""
    text = f"{value:.{digits}f}"
    if float(text) == 0.0:
        text = text.lstrip("-")
    return text.replace("-", "−")


def kpe_hist(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """Histogram of the KPE, with the low / high group thresholds in the legend."""
    fig, (ax,) = _panels(1, 6)
    sns.histplot(df["kpe"], bins=60, ax=ax)
    lo, hi = group_thresholds(df["kpe"], ctx.group_quantile)
    q = round(100 * ctx.group_quantile)
    ax.axvline(lo, color="C0", ls="--", lw=1, label=f"low-KPE group: lowest {q} % (E ≤ {lo:.3g})")
    ax.axvline(hi, color="C3", ls="--", lw=1, label=f"high-KPE group: highest {q} % (E ≥ {hi:.3g})")
    ax.set_xlabel(describe("kpe"))
    ax.set_ylabel("samples")
    ax.set_title(f"n = {len(df):,}", fontsize=9)
    _legend_below(ax, fontsize=8)
    return fig


def kpe_vs_margin(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """KPE against the semantic margin and score (classifier or CLIP, whichever was used)."""
    cols = next(pair for pair in MARGINS if pair[0] in df.columns)
    fig, axes = _panels(2)
    for ax, col in zip(axes, cols, strict=True):
        _relation(ax, df, ctx, col)
    return fig


def kpe_vs_density(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """KPE against the kNN log-density (smallest k) in each feature space."""
    fig, axes = _panels(len(ctx.spaces))
    for ax, space in zip(axes, ctx.spaces, strict=True):
        _relation(ax, df, ctx, f"{space}_knn_logdens{ctx.k[0]}")
    return fig


def kpe_vs_nn_distance(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """KPE against the distance to the nearest training point in each feature space."""
    fig, axes = _panels(len(ctx.spaces))
    for ax, space in zip(axes, ctx.spaces, strict=True):
        _relation(ax, df, ctx, f"{space}_nn_dist")
    return fig


def speed_profile(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """‖v(x(t), t)‖² over t: median and interquartile band of the low / high KPE groups and all."""
    cols, times = profile_columns(df)
    group = kpe_groups(df["kpe"], ctx.group_quantile)
    fig, (ax,) = _panels(1, 6)
    for name, mask, color in (
        ("all", np.ones(len(df), bool), "0.4"),
        ("low KPE", (group == "low").to_numpy(), "C0"),
        ("high KPE", (group == "high").to_numpy(), "C3"),
    ):
        values = df.loc[mask, cols].to_numpy()
        q25, q50, q75 = np.quantile(values, [0.25, 0.5, 0.75], axis=0)
        ax.plot(times, q50, color=color, label=f"{name} (n = {int(mask.sum())}): median, IQR")
        ax.fill_between(times, q25, q75, color=color, alpha=0.2)
    ax.set_xlabel("time t (0 = noise, 1 = data)")
    ax.set_ylabel("squared speed ‖v(x(t), t)‖²")
    ax.legend(fontsize=8)
    return fig


def kpe_confounds(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """Forest plot: raw Spearman ρ of KPE and of the excess energy with each measure, beside the
    partial ρ controlling for each confounder, with bootstrap intervals."""
    if ctx.partial is None:
        raise ValueError("this figure needs statistics/partial_correlations.csv")
    p = ctx.partial
    measures = list(dict.fromkeys(p.measure))
    controls = list(dict.fromkeys(p.control))
    energies = [e for e in ("kpe", "straightness") if e in set(p.energy)]
    fig, axes = plt.subplots(
        1,
        len(energies),
        figsize=(6.0 * len(energies), 0.45 * len(measures) + 1.6),
        sharey=True,
        squeeze=False,
    )
    y = np.arange(len(measures), dtype=float)
    level = round(100 * ctx.confidence)
    for ax, energy in zip(axes[0], energies, strict=True):
        rows = p[p.energy == energy]
        raw = rows[rows.control == controls[0]].set_index("measure").loc[measures]
        series = [
            ("raw", raw.spearman_rho, raw.spearman_rho_ci_low, raw.spearman_rho_ci_high, "0.2")
        ]
        for j, c in enumerate(controls):
            part = rows[rows.control == c].set_index("measure").loc[measures]
            label = f"partial, controlling for {describe(c)}"
            series.append(
                (
                    label,
                    part.partial_rho,
                    part.partial_rho_ci_low,
                    part.partial_rho_ci_high,
                    f"C{j}",
                )
            )
        offsets = np.linspace(-0.2, 0.2, len(series))
        for (label, rho, lo, hi, color), dy in zip(series, offsets, strict=True):
            err = np.vstack([rho - lo, hi - rho]).clip(min=0) if np.isfinite(lo).all() else None
            ax.errorbar(rho, y + dy, xerr=err, fmt="o", ms=4, capsize=2, color=color, label=label)
        ax.axvline(0.0, color="0.6", lw=0.8)
        ax.set_title(f"{describe(energy)}, n = {int(raw.n.iloc[0]):,}", fontsize=9)
        ax.set_xlabel(f"Spearman ρ with {level} % bootstrap interval")
    axes[0][0].set_yticks(y, [describe(m) for m in measures], fontsize=7)
    axes[0][0].invert_yaxis()
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return fig


BASELINE_STYLES = (("x", ":"), ("^", "--"), ("s", "-."))
"""Marker and line style of each early-prediction baseline, in the order of the table."""


def _baseline_words(predictor: str) -> str:
    """A baseline of the early-prediction table in words, with its cost (``EARLY_BASELINES``)."""
    n = EARLY_BASELINES[predictor]
    return f"baseline: {describe(predictor)}, {n} model evaluation{'s' if n != 1 else ''}"


def early_headline(ctx: FigureContext, early: pd.DataFrame) -> str:
    """The early-prediction figure's title: from which s the partial energy tells the final
    highest-KPE group better than every free baseline, with its AUROC, interval and n
    (:func:`enfopath.measures.early.first_beating_baselines`, the report's first page's line)."""
    q = f"{ctx.group_quantile:.0%}"
    row = first_beating_baselines(early, "high_kpe_group")
    if row is None:
        return f"E(s) does not beat the free baselines at telling the highest {q} KPE before s = 1"
    return (
        f"from s = {row.s:g} ({row.nfe_share:.0%} of the NFE) E(s) tells the highest {q} KPE: "
        f"AUROC {row.value:.3f} [{row.value_ci_low:.3f}, {row.value_ci_high:.3f}] "
        f"({round(100 * ctx.confidence)} %, n = {int(row.n):,}), above every free baseline"
    )


def early_measures(ctx: FigureContext, measures: list[str]) -> list[str]:
    """The measures whose ρ with E(s) the figure draws (of those in the table): the semantic
    measures, then each space's kNN log-density at the smallest k and KDE log-density."""
    density = [f"{p}_{m}" for p in ctx.spaces for m in (f"knn_logdens{ctx.k[0]}", "kde_logdens")]
    return [m for m in (*SEMANTIC, *density) if m in measures]


def early_prediction(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """Predictive power of the partial energy E(s) against s > 0 (E(0) = 0 tells nothing),
    beside the free baselines known at s = 0 (‖x₀‖² and the speed at t = 0: markers with their
    intervals at s = 0, and level lines with their bands on the left): AUROC for the final low /
    high KPE groups (left, its headline in the title); AUROC for the lowest / highest groups of
    each semantic measure (middle, ½ = no information); Spearman ρ with the final KPE and with
    the headline measures (right). The top axis gives the share of the NFE spent by s."""
    if ctx.early is None:
        raise ValueError("this figure needs statistics/early_prediction.csv")
    e = ctx.early
    partial = e[(e.predictor == PARTIAL) & (e.s > 0)]
    baselines = [p for p in dict.fromkeys(e.predictor) if p != PARTIAL]
    fig, axes = plt.subplots(1, 3, figsize=(16.5, 6.2))
    left, middle, right = axes
    level = round(100 * ctx.confidence)
    q = f"{ctx.group_quantile:.0%}"

    def draw(ax: plt.Axes, target: str, label: str, color: str, ls: str = "-") -> None:
        r = partial[partial.target == target].sort_values("s")
        ax.plot(r.s, r.value, marker="o", ls=ls, color=color, ms=3, lw=1.2, label=label)
        if r.value_ci_low.notna().any():
            ax.fill_between(r.s, r.value_ci_low, r.value_ci_high, color=color, alpha=0.12, lw=0)

    def at_zero(ax: plt.Axes, target: str, color: str, levels: bool = False) -> None:
        for b, (marker, line) in zip(baselines, BASELINE_STYLES, strict=False):
            row = e[(e.predictor == b) & (e.target == target)].iloc[0]
            err = [[max(row.value - row.value_ci_low, 0)], [max(row.value_ci_high - row.value, 0)]]
            ax.errorbar(0.0, row.value, yerr=err, fmt=marker, color=color, ms=5, capsize=2)
            if levels:
                ax.axhline(row.value, color=color, ls=line, lw=0.8)

    for target, side, color in (
        ("low_kpe_group", "lowest", "C0"),
        ("high_kpe_group", "highest", "C3"),
    ):
        draw(left, target, f"E(s): AUROC for the {side} {q} KPE", color)
        at_zero(left, target, color, levels=True)
    left.set_ylabel(f"AUROC ({level} % bootstrap band)")
    left.set_title("the final KPE's groups (of which E(s) is a part)", fontsize=9)
    fig.suptitle(early_headline(ctx, e), fontsize=10)
    quality = [
        t for t in dict.fromkeys(partial.target) if t.endswith("_group") and "_kpe_" not in t
    ]
    semantic = list(dict.fromkeys(t.split("_", 1)[1][: -len("_group")] for t in quality))
    for t in quality:
        side, measure = t.split("_", 1)
        measure = measure[: -len("_group")]
        color = f"C{semantic.index(measure) % 10}"
        words = "highest" if side == "high" else "lowest"
        ls = "-" if side == "high" else "--"
        draw(middle, t, f"{words} {q}: {describe(measure)}", color, ls)
        at_zero(middle, t, color)
    middle.axhline(0.5, color="0.6", lw=0.8)
    middle.set_ylabel(f"AUROC of E(s), ½ = no information ({level} % band)")
    middle.set_title("quality groups of each semantic measure", fontsize=9)
    spearman = list(dict.fromkeys(partial[partial.statistic == "spearman"].target))
    drawn = early_measures(ctx, spearman)
    draw(right, "kpe", "the final KPE", "0.1")
    at_zero(right, "kpe", "0.1")
    for j, m in enumerate(drawn):
        draw(right, m, describe(m), f"C{j % 10}")
        at_zero(right, m, f"C{j % 10}")
    right.axhline(0.0, color="0.6", lw=0.8)
    right.set_ylabel(f"Spearman ρ of E(s) ({level} % band)")
    right.set_title(
        f"ρ with the final KPE and {len(drawn)} of the {len(spearman) - 1} measures", fontsize=9
    )
    for ax in (left, middle, right):
        for b, (marker, line) in zip(baselines, BASELINE_STYLES, strict=False):
            ax.plot([], [], marker=marker, color="0.3", ls=line, label=_baseline_words(b))
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1)
        ax.set_xlim(-0.05, 1.03)
    cols, times = profile_columns(df, NFE_PROFILE_PREFIX)
    spent = df[cols].mean().to_numpy() / df[cols[-1]].mean() if cols else None
    for ax in (left, middle, right):
        ax.set_xlabel("s, time of the trajectory integrated (0 = noise, 1 = data)")
        if spent is not None:
            top = ax.secondary_xaxis(
                "top",
                functions=(
                    lambda s, t=times, f=spent: np.interp(s, t, f),
                    lambda f, t=times, sp=spent: np.interp(f, sp, t),
                ),
            )
            top.set_xlabel("share of the NFE spent", fontsize=8)
    return fig


ENDPOINT_LABELS = {"endpoint": "endpoint x(t_end)", "projected": "projected x̂₁ = x + (1 − t) v"}
"""Legend text of each endpoint of :data:`MEMORIZATION_ENDPOINTS`."""


def memorization(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """The memorized fraction (d₁ / d₂ < 1/3, pixels) per KPE quantile bin with Clopper–Pearson
    intervals and the overall fraction (left); d₁ / d₂ against KPE with the threshold (right).
    A study stopped at t_end < 1 draws its projected endpoints x̂₁ beside its endpoints."""
    if ctx.memorization is None:
        raise ValueError("this figure needs statistics/memorization.csv")
    m = ctx.memorization
    endpoints = [e for e in MEMORIZATION_ENDPOINTS if e in set(m.endpoint)]
    fig, (left, right) = _panels(2)
    level = round(100 * ctx.confidence)
    width = 0.8 / len(endpoints)
    titles, top = [], 0.0
    for j, endpoint in enumerate(endpoints):
        own = m[m.endpoint == endpoint]
        everyone, bins = own[own.bin == 0].iloc[0], own[own.bin > 0].sort_values("bin")
        x = bins.bin + (j - (len(endpoints) - 1) / 2) * width
        label = ENDPOINT_LABELS[endpoint]
        err = np.vstack(
            [bins.fraction - bins.fraction_ci_low, bins.fraction_ci_high - bins.fraction]
        ).clip(min=0)
        left.bar(x, bins.fraction, width=width, color=f"C{j}", alpha=0.7, label=label)
        if np.isfinite(err).all():
            left.errorbar(x, bins.fraction, yerr=err, fmt="none", color="0.2", capsize=2)
        left.axhline(everyone.fraction, color=f"C{j}", ls="--", lw=1)
        left.axhspan(everyone.fraction_ci_low, everyone.fraction_ci_high, color=f"C{j}", alpha=0.15)
        top = np.nanmax([top, *bins.fraction_ci_high, *bins.fraction, everyone.fraction_ci_high])
        titles.append(
            f"{label}: {int(everyone.memorized):,} of {int(everyone.n):,} memorized, "
            f"{everyone.fraction:.1%} [{everyone.fraction_ci_low:.1%}, "
            f"{everyone.fraction_ci_high:.1%}] ({level} % exact)\n"
            f"Spearman ρ of d₁ / d₂ with KPE = {_signed(everyone.spearman_rho)}"
        )
        if int(bins.memorized.sum()) == 0:  # no bar to see: say so, the intervals bound it
            left.text(
                0.5,
                0.5,
                "no memorized sample in any bin:\nthe whiskers give each bin's upper bound",
                transform=left.transAxes,
                ha="center",
                fontsize=8,
                color="0.3",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85},
            )
        ratio = MEMORIZATION_ENDPOINTS[endpoint]
        right.scatter(
            df["kpe"], df[ratio], s=3, alpha=0.3, color=f"C{j}", rasterized=True, label=label
        )
    left.set_ylim(0.0, 1.15 * max(top, 1e-3))  # the intervals fill the panel
    left.set_xticks(bins.bin)
    left.set_xlabel(f"KPE quantile bin (1 = lowest; {len(bins)} bins)")
    left.set_ylabel(f"memorized share, d₁ / d₂ < 1/3\n({level} % Clopper–Pearson interval)")
    left.set_title(f"per KPE bin; dashed and band: all {int(everyone.n):,} samples", fontsize=9)
    if len(endpoints) > 1:
        _legend_below(left)
    right.axhline(1.0 / 3.0, color="C3", ls="--", lw=1, label="1/3: memorized below")
    right.set_ylim(0.0, 1.05)
    right.set_xlabel(describe("kpe"))
    right.set_ylabel(_wrapped(describe("pixels_d1_d2")))
    right.set_title("\n".join(titles), fontsize=8)
    _legend_below(right, ncol=2)
    return fig


def kpe_prdc(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """Precision, recall, density and coverage of all samples and of the low, middle and high
    KPE groups, per density space (smallest k), with their resampled intervals."""
    if ctx.prdc is None:
        raise ValueError("this figure needs statistics/prdc.csv")
    p = ctx.prdc[ctx.prdc.k == ctx.prdc.k.min()]
    spaces = list(dict.fromkeys(p.space))
    fig, axes = _panels(len(spaces))
    measures = ["precision", "recall", "density", "coverage"]
    groups = ["all", "low", "middle", "high"]
    colors = {"all": "0.5", "low": "C0", "middle": "C2", "high": "C3"}
    x = np.arange(len(measures), dtype=float)
    for ax, space in zip(axes, spaces, strict=True):
        rows = p[p.space == space].set_index("group")
        for j, g in enumerate(groups):
            n = int(rows.loc[g, "n_fake"])
            value = rows.loc[g, measures].to_numpy(float)
            ax.bar(x + (j - 1.5) * 0.2, value, width=0.2, color=colors[g], label=f"{g} (n = {n})")
            low = rows.loc[g, [f"{m}_ci_low" for m in measures]].to_numpy(float)
            high = rows.loc[g, [f"{m}_ci_high" for m in measures]].to_numpy(float)
            if np.isfinite(low).all():
                err = np.vstack([value - low, high - value]).clip(min=0)
                ax.errorbar(x + (j - 1.5) * 0.2, value, yerr=err, fmt="none", color="0.2", lw=0.8)
        ax.set_xticks(x, measures)
        ax.set_title(f"{SPACE_WORDS.get(space, space)}, k = {int(p.k.iloc[0])}", fontsize=9)
        ax.set_ylabel("vs the training set")
    _legend_below(axes[0], ncol=4, title="KPE group", title_fontsize=7)
    return fig


def kpe_fidelity(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """The Fréchet distance of the low, middle and high KPE groups per density space, each with
    its bootstrap interval, beside the median and central interval of random groups of its
    size (grey)."""
    if ctx.fidelity is None:
        raise ValueError("this figure needs statistics/fidelity.csv")
    f = ctx.fidelity
    spaces = list(dict.fromkeys(f.space))
    fig, axes = _panels(len(spaces))
    groups = ["low", "middle", "high"]
    colors = {"low": "C0", "middle": "C2", "high": "C3"}
    for ax, space in zip(axes, spaces, strict=True):
        rows = f[f.space == space].set_index("group")
        for j, g in enumerate(groups):
            row = rows.loc[g]
            if np.isfinite(row.fd_random):
                ax.bar(
                    j,
                    row.fd_random_ci_high - row.fd_random_ci_low,
                    bottom=row.fd_random_ci_low,
                    width=0.5,
                    color="0.85",
                    label="random groups of its size" if j == 0 else None,
                )
                ax.plot([j - 0.25, j + 0.25], [row.fd_random] * 2, color="0.45", lw=1)
            err = np.array([[row.fd - row.fd_ci_low], [row.fd_ci_high - row.fd]]).clip(min=0)
            ax.errorbar(
                j,
                row.fd,
                yerr=err if np.isfinite(err).all() else None,
                fmt="o",
                color=colors[g],
                capsize=3,
                label=f"{g} KPE group",
            )
        ax.set_xticks(range(len(groups)), groups)
        shown = rows.loc[groups, ["fd", "fd_ci_low", "fd_ci_high", "fd_random_ci_low"]]
        shown = shown.assign(top=rows.loc[groups, "fd_random_ci_high"]).to_numpy(float)
        low, high = np.nanmin(shown), np.nanmax(shown)
        ax.set_ylim(low - 0.08 * (high - low), high + 0.08 * (high - low))  # bars stay whole
        n = int(rows.loc["low", "n_fake"])
        ax.set_title(f"{SPACE_WORDS.get(space, space)}, {n:,} samples per group", fontsize=9)
        ax.set_ylabel("Fréchet distance to the training set")
    _legend_below(axes[0], ncol=2, fontsize=7)
    return fig


def schedules(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """Endpoint RMS error against the reference vs NFE (log–log), one line per grid, one panel
    per solver, with the resampled intervals; the reference's own fidelity in the title."""
    if ctx.schedules is None:
        raise ValueError("this figure needs statistics/schedules.csv")
    s = ctx.schedules[ctx.schedules.grid != "adaptive"]
    solvers = list(dict.fromkeys(s.solver))
    fig, axes = _panels(len(solvers))
    grids = list(dict.fromkeys(s.grid))
    for ax, solver in zip(axes, solvers, strict=True):
        rows = s[s.solver == solver]
        for j, grid in enumerate(grids):
            g = rows[rows.grid == grid].sort_values("nfe")
            if g.empty:
                continue
            err = np.vstack(
                [g.x1_rms_error - g.x1_rms_error_ci_low, g.x1_rms_error_ci_high - g.x1_rms_error]
            )
            ax.errorbar(
                g.nfe,
                g.x1_rms_error,
                yerr=err.clip(min=0) if np.isfinite(err).all() else None,
                fmt="o-" if grid == "uniform" else "s--",
                color="0.3" if grid == "uniform" else f"C{j % 10}",
                capsize=2,
                label=grid,
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("model evaluations per sample (NFE)")
        ax.set_ylabel("endpoint RMS error vs the reference")
        ax.set_title(f"{solver}, {int(rows.n.iloc[0]):,} samples", fontsize=9)
    _legend_below(axes[0], ncol=3, title="time grid", title_fontsize=7)
    return fig


def early_rejection(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """Early rejection: the sample evaluations spent against the share stopped, one line per
    check time; then the kept set's semantic quality and its FD per space against the share,
    beside random sets of its size (grey), the final-KPE oracle (black) and all samples."""
    if ctx.early_rejection is None:
        raise ValueError("this figure needs statistics/early_rejection.csv")
    e = ctx.early_rejection.fillna({"space": ""})
    semantic = [m for m in QUALITY if m in set(e.measure)]
    shown = [(m, "") for m in semantic] + [("fd", s) for s in dict.fromkeys(e.space) if s]
    fig, axes = _panels(1 + len(shown), width=4.2)
    times = sorted(e.check_time.unique())
    first = e[(e.measure == e.measure.iloc[0]) & (e.space == e.space.iloc[0])]
    for j, s in enumerate(times):
        rows = first[first.check_time == s].sort_values("share")
        axes[0].plot(rows.share, rows.nfe_share, "o-", color=f"C{j}", label=f"s = {s:g}")
    axes[0].axhline(1.0, color="0.3", ls=":", lw=1)
    axes[0].set_ylabel("sample evaluations / integrating all through")
    axes[0].set_title(f"compute, {int(first.n.iloc[0]):,} samples", fontsize=9)
    for ax, (measure, space) in zip(axes[1:], shown, strict=True):
        rows = e[(e.measure == measure) & (e.space == space)]
        chance = rows[rows.check_time == times[0]].sort_values("share")
        ax.fill_between(
            chance.share, chance.random_ci_low, chance.random_ci_high, color="0.85", lw=0
        )
        ax.plot(chance.share, chance.random, color="0.5", lw=1, label="random sets")
        ax.plot(chance.share, chance.oracle, "k*--", lw=1, label="final-KPE oracle")
        ax.axhline(chance["all"].iloc[0], color="0.3", ls=":", lw=1, label="all samples")
        for j, s in enumerate(times):
            r = rows[rows.check_time == s].sort_values("share")
            err = np.vstack([r.energy - r.energy_ci_low, r.energy_ci_high - r.energy])
            ax.errorbar(
                r.share + 0.006 * (j - (len(times) - 1) / 2),
                r.energy,
                yerr=err.clip(min=0) if np.isfinite(err).all() else None,
                fmt="o-",
                color=f"C{j}",
                capsize=2,
                ms=4,
            )
        what = describe(measure) if not space else f"FD, {SPACE_WORDS.get(space, space)}"
        ax.set_ylabel(_wrapped(f"kept set: {what}"))
        ax.set_title("better up" if rows.higher_is_better.iloc[0] else "better down", fontsize=9)
    for ax in axes:
        ax.set_xlabel("share stopped at s")
    _legend_below(axes[0], ncol=len(times), title="check time", title_fontsize=7)
    _legend_below(axes[1], ncol=3, fontsize=7)
    return fig


def _settings(ctx: FigureContext) -> tuple[pd.DataFrame, pd.Series]:
    if ctx.robustness is None:
        raise ValueError("this figure needs statistics/robustness.csv")
    r = ctx.robustness
    return r[~r.reference.astype(bool)], r[r.reference.astype(bool)].iloc[0]


def robustness_error(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """Relative KPE error against the reference vs NFE (log–log), per solver: the energy
    carried in the ODE state (solid) and the left-Riemann sum at the same nodes (dashed)."""
    runs, ref = _settings(ctx)
    fig, (ax,) = _panels(1, width=6.0)
    for j, (solver, rows) in enumerate(runs.groupby("solver", sort=False)):
        rows = rows.sort_values("nfe")
        color = f"C{j % 10}"
        ax.plot(rows.nfe, rows.kpe_rel_error_mean, "o-", color=color, label=f"{solver}, state")
        if np.isfinite(rows.left_riemann_rel_error_mean).any():
            ax.plot(
                rows.nfe,
                rows.left_riemann_rel_error_mean,
                "s--",
                color=color,
                mfc="none",
                label=f"{solver}, left Riemann",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("model evaluations (NFE)")
    ax.set_ylabel("mean |E − E_ref| / E_ref")
    ax.set_title(f"reference: {ref.setting} (NFE {ref.nfe:.0f}), n = {int(ref.n)}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


SOLVER_MARKERS = {"euler": "o", "midpoint": "v", "heun": "s", "rk4": "^", "dopri5": "D"}


def robustness_ranking(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """Agreement of each solver setting with the reference, one row per setting (named with
    its NFE and whether it is stable; sorted by NFE): Spearman and Kendall of the KPE ranking
    (left), the shares of the reference's lowest / highest KPE groups kept (middle), and the
    largest change of a headline Spearman ρ as a share of its bound (right, 1 = the bound).
    Colour encodes the statistic only, and the title counts the stable settings."""
    runs, ref = _settings(ctx)
    runs = runs.sort_values(["nfe", "setting"]).reset_index(drop=True)
    fig, axes = plt.subplots(
        1, 3, figsize=(15.0, 0.42 * len(runs) + 2.4), sharey=True, squeeze=False
    )
    rank, groups, delta = axes[0]
    y = np.arange(len(runs), dtype=float)
    q = f"{ctx.group_quantile:.0%}"
    panels = (
        (rank, (("spearman", "Spearman", "0.2", "o"), ("kendall", "Kendall τ", "C7", "s"))),
        (
            groups,
            (
                ("low_overlap", f"lowest {q} kept", "C0", "o"),
                ("high_overlap", f"highest {q} kept", "C3", "s"),
            ),
        ),
        (delta, (("max_delta_rho_share", "max |Δρ| / its bound", "C1", "D"),)),
    )
    for ax, series in panels:
        offsets = np.linspace(-0.15, 0.15, len(series)) if len(series) > 1 else [0.0]
        for (column, label, color, marker), dy in zip(series, offsets, strict=True):
            ax.plot(runs[column], y + dy, marker, color=color, ms=5, ls="none", label=label)
        ax.grid(axis="y", color="0.9", lw=0.8)
        ax.xaxis.set_major_locator(MaxNLocator(5))
        _legend_below(ax, ncol=len(series))
    delta.axvline(1.0, color="0.4", ls="--", lw=0.8)
    delta.text(1.0, -0.6, " bound", fontsize=7, color="0.4", va="bottom")
    rank.set_xlabel("rank agreement of the KPE with the reference")
    groups.set_xlabel("share of the reference's KPE group kept")
    delta.set_xlabel("largest change of a headline ρ / its bound")
    names = [
        f"{r.setting} (NFE {r.nfe:.0f}){'' if r.stable else ', unstable'}"
        for r in runs.itertuples()
    ]
    rank.set_yticks(y, names, fontsize=8)
    rank.invert_yaxis()
    stable = int(runs.stable.astype(bool).sum())
    fig.suptitle(
        f"{stable} of {len(runs)} settings stable, against the reference {ref.setting} "
        f"(NFE {ref.nfe:.0f}; n = {int(ref.n):,})",
        fontsize=10,
    )
    return fig


def replicates(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """Spearman ρ of each energy (a panel each) with every measure, one marker per flow with
    its bootstrap interval: the study's flow filled and black, each replicate flow (another
    training seed) hollow, side by side; a sign that holds for one network only shows."""
    if ctx.replicates is None:
        raise ValueError("this figure needs statistics/replicates.csv")
    r = ctx.replicates
    energies = list(dict.fromkeys(r.energy))
    measures = list(dict.fromkeys(r.measure))
    seeds = list(dict.fromkeys(r.flow_seed))
    fig, axes = _panels(len(energies), 4.6)
    fig.set_figheight(max(4.2, 0.32 * len(measures) + 1.5))
    y = np.arange(len(measures))
    offset = np.linspace(-0.3, 0.3, len(seeds)) if len(seeds) > 1 else np.zeros(1)
    for ax, energy in zip(axes, energies, strict=True):
        for j, flow_seed in enumerate(seeds):
            rows = r[(r.energy == energy) & (r.flow_seed == flow_seed)].set_index("measure")
            rows = rows.loc[measures]
            study = bool(rows.study.iloc[0])
            err = np.vstack(
                [
                    rows.spearman_rho - rows.spearman_rho_ci_low,
                    rows.spearman_rho_ci_high - rows.spearman_rho,
                ]
            ).clip(min=0)
            ax.errorbar(
                rows.spearman_rho,
                y + offset[j],
                xerr=err if np.isfinite(err).all() else None,
                fmt="o",
                ms=4,
                lw=0.8,
                color="k" if study else f"C{j % 10}",
                mfc="k" if study else "none",
                label=f"seed {flow_seed}" + (" (the study's flow)" if study else ""),
            )
        ax.axvline(0.0, color="0.5", lw=0.8)
        ax.set_xlabel(f"Spearman ρ with {describe(energy)}", fontsize=8)
        ax.set_yticks(y, [describe(m) for m in measures] if ax is axes[0] else [], fontsize=6)
        ax.invert_yaxis()
    axes[0].legend(fontsize=6)
    level = round(100 * ctx.confidence)
    fig.suptitle(
        f"{len(seeds)} flows trained from different seeds, the same noise; {level} % bootstrap "
        "intervals",
        fontsize=9,
    )
    return fig


def flow_training(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """The flow's training with KPE as its monitor: the loss curve (per step, its running mean,
    the held-out loss at each evaluation), the KPE of the fixed noise (mean, median, quantile
    bands, chord energy) and the excess energy, all against the optimizer step."""
    if ctx.flow_losses is None or ctx.flow_kpe is None:
        raise ValueError("this figure needs models/flow_losses.csv and models/flow_kpe.csv")
    losses, m = ctx.flow_losses, ctx.flow_kpe
    fig, (ax_loss, ax_kpe, ax_excess) = _panels(3, 4.4)
    window = max(1, len(losses) // 50)
    ax_loss.plot(losses.step, losses.loss, color="0.75", lw=0.5, label="training loss")
    ax_loss.plot(
        losses.step,
        losses.loss.rolling(window, min_periods=1).mean(),
        color="k",
        lw=1.0,
        label=f"running mean ({window} steps)",
    )
    ax_loss.plot(
        m.step, m.heldout_loss, "o-", color="C3", ms=3, lw=1.0, label="held-out, I-CFM (EMA)"
    )
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("flow-matching loss")
    ax_loss.legend(fontsize=7)
    ax_kpe.fill_between(m.step, m.kpe_q05, m.kpe_q95, color="C0", alpha=0.15, label="5–95 %")
    ax_kpe.fill_between(m.step, m.kpe_q25, m.kpe_q75, color="C0", alpha=0.3, label="25–75 %")
    ax_kpe.plot(m.step, m.kpe_mean, "o-", color="C0", ms=3, lw=1.2, label="mean")
    ax_kpe.plot(m.step, m.kpe_q50, color="C0", lw=0.8, ls=":", label="median")
    ax_kpe.plot(m.step, m.chord_energy_mean, color="0.3", lw=1.0, ls="--", label="chord, mean")
    ax_kpe.set_ylabel("KPE E = ½∫‖v‖²dt")
    ax_kpe.legend(fontsize=7)
    ax_excess.plot(m.step, m.excess_energy_mean, "o-", color="C2", ms=3, lw=1.2)
    ax_excess.set_ylabel("mean excess energy E − ½‖x(1) − x(0)‖²")
    for ax in (ax_loss, ax_kpe, ax_excess):
        ax.set_xlabel("optimizer step")
    last = m.iloc[-1]
    fig.suptitle(
        f"KPE monitor: {int(last.n)} fixed noise samples, {last.solver} {int(last.solver_steps)} "
        f"steps ({last.nfe:g} NFE each); last step {int(last.step)}: mean KPE "
        f"{last.kpe_mean:.4g}, excess {last.excess_energy_mean:.3g}",
        fontsize=9,
    )
    return fig


def _rung_lines(ax: plt.Axes, rows: pd.DataFrame, label: str, color: str, solid: bool) -> None:
    rows = rows.sort_values("flow_step")
    err = np.vstack([rows.rho - rows.rho_ci_low, rows.rho_ci_high - rows.rho]).clip(min=0)
    ax.errorbar(
        rows.flow_step,
        rows.rho,
        yerr=err if np.isfinite(err).all() else None,
        fmt="o-" if solid else "o--",
        ms=4,
        lw=1.0,
        capsize=2,
        color=color,
        mfc=color if solid else "none",
        label=label,
    )


def ladder(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """The checkpoint ladder against the training step: the headline ρ of KPE (raw; given the
    chord energy), the KPE distribution and the sample quality per rung."""
    if ctx.ladder is None or ctx.ladder_rungs is None:
        raise ValueError("this figure needs statistics/ladder.csv and statistics/ladder_rungs.csv")
    rel, rungs = ctx.ladder, ctx.ladder_rungs
    kpe = rel[rel.energy == "kpe"]
    measures = headline_measures(list(dict.fromkeys(kpe.measure)), ctx.spaces, ctx.k[0])
    controls = [c for c in dict.fromkeys(kpe.control.dropna())]
    control = "chord_energy" if "chord_energy" in controls else (controls or [None])[0]
    seeds = list(dict.fromkeys(rungs.flow_seed))
    study_seed = int(rungs.flow_seed[rungs.study].iloc[0])
    fig, (ax_raw, ax_partial, ax_kpe, ax_quality) = _panels(4, 4.2)
    for j, measure in enumerate(measures):
        for seed in seeds:
            own = seed == study_seed
            label = describe(measure) + ("" if own else f" (seed {seed})")
            pick = kpe[(kpe.measure == measure) & (kpe.flow_seed == seed)]
            _rung_lines(ax_raw, pick[pick.analysis == "raw"], label, f"C{j % 10}", own)
            if control is not None:
                given = pick[(pick.analysis == "partial") & (pick.control == control)]
                _rung_lines(ax_partial, given, label, f"C{j % 10}", own)
    ax_raw.set_ylabel("Spearman ρ of KPE with the measure")
    ax_raw.set_title("raw", fontsize=9)
    ax_raw.legend(fontsize=6)
    if control is None:
        ax_partial.set_axis_off()
    else:
        ax_partial.set_ylabel("partial Spearman ρ of KPE with the measure")
        ax_partial.set_title(f"given {describe(control)}", fontsize=9)
    own = rungs[rungs.flow_seed == study_seed].sort_values("flow_step")
    ax_kpe.fill_between(
        own.flow_step, own.kpe_q05, own.kpe_q95, color="C0", alpha=0.15, label="5–95 %"
    )
    ax_kpe.fill_between(
        own.flow_step, own.kpe_q25, own.kpe_q75, color="C0", alpha=0.3, label="25–75 %"
    )
    ax_kpe.plot(own.flow_step, own.kpe_q50, "o-", color="C0", ms=3, label="median")
    ax_kpe.plot(own.flow_step, own.kpe_mean, "s:", color="k", ms=3, label="mean")
    ax_kpe.set_ylabel("KPE E = ½∫‖v‖²dt")
    ax_kpe.legend(fontsize=6)
    ax_quality.plot(own.flow_step, own.quality, "o-", color="C2", label=own.quality_measure.iloc[0])
    ax_quality.set_ylabel("mean semantic quality")
    if "memorized_share" in own:
        twin = ax_quality.twinx()
        twin.plot(own.flow_step, own.memorized_share, "s--", color="C3", label="memorized share")
        twin.set_ylabel("memorized share (d₁ / d₂ < 1/3)", color="C3")
        twin.set_ylim(0.0, max(0.05, 1.2 * float(own.memorized_share.max())))
    ax_quality.legend(fontsize=6, loc="lower right")
    steps = own.flow_step.tolist()
    for ax in (ax_raw, ax_partial, ax_kpe, ax_quality):
        if ax.axison:
            ax.set_xscale("log")
            ax.set_xticks(steps, [str(s) for s in steps], fontsize=7)
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlabel("optimizer step")
    for ax in (ax_raw, ax_partial):
        if ax.axison:
            ax.axhline(0.0, color="0.5", lw=0.8)
    if np.isfinite(own.heldout_loss).all():  # a run trained here: its held-out loss per rung
        for ax in (ax_raw, ax_partial, ax_kpe):
            if ax.axison:
                top = ax.secondary_xaxis("top")
                top.set_xticks(steps, [f"{v:.3f}" for v in own.heldout_loss], fontsize=6)
                top.xaxis.set_minor_locator(NullLocator())
                top.set_xlabel("held-out loss", fontsize=7)
    level = round(100 * ctx.confidence)
    fig.suptitle(
        f"{len(own)} rungs of one training run, the same {int(own.n.iloc[-1])} noise samples; "
        f"{level} % bootstrap intervals",
        fontsize=9,
    )
    return fig


def _class_and_margin(row: pd.Series, names: list[str]) -> str:
    for margin, cls in (("clf_margin", "clf_class"), ("clip_margin", "clip_class")):
        if margin in row and cls in row:
            c = int(row[cls])
            name = names[c] if c < len(names) else str(c)
            if "prompt_id" in row:  # a text-to-image sample: its prompt's id, not its text
                name = str(row["prompt_id"])
            return f"{name[:12]} m {row[margin]:.2f}"
    return ""


def _grid(df: pd.DataFrame, ctx: FigureContext, lowest: bool) -> Figure:
    shown = ctx.image_samples()
    order = df.sort_values("kpe", ascending=lowest).head(shown.per_grid)
    n = len(order)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(max(cols * 1.1, 4.0), rows * 1.25 + 0.5), squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (_, r) in zip(axes.ravel(), order.iterrows(), strict=False):
        img = shown.images[int(r["sample"])]
        img = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
        ax.imshow((np.clip(img, -1, 1) + 1) / 2, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"E {r['kpe']:.1f}\n{_class_and_margin(r, shown.class_names)}", fontsize=5)
    which = "lowest" if lowest else "highest"
    title = f"{n} {which}-KPE samples: KPE E, class and semantic margin m above each"
    fig.suptitle(_wrapped(title, int(12 * fig.get_figwidth())), fontsize=8)
    return fig


def _data_density(ax: plt.Axes, ctx: FigureContext) -> None:
    """The training data's density in the plane, as a grey background."""
    data = ctx.plane_samples().x_train
    ax.hexbin(
        data[:, 0], data[:, 1], gridsize=40, cmap="Greys", mincnt=1, extent=(-1.3, 1.3, -1.3, 1.3)
    )
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")


def plane_trajectories(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """The first samples' trajectories from noise to data, coloured by their KPE, over the
    training data's density (grey)."""
    from matplotlib.collections import LineCollection

    plane = ctx.plane_samples()
    kpe = df.set_index("sample")["kpe"]
    samples = [int(s) for s in plane.paths_sample if int(s) in kpe.index]
    rows = {int(s): i for i, s in enumerate(plane.paths_sample)}
    paths = [plane.paths_x[rows[s]] for s in samples]
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    _data_density(ax, ctx)
    lines = LineCollection(paths, cmap="viridis", linewidths=0.7, alpha=0.8)
    lines.set_array(kpe.loc[samples].to_numpy())
    ax.add_collection(lines)
    ends = np.array([p[-1] for p in paths])
    ax.scatter(ends[:, 0], ends[:, 1], c=kpe.loc[samples], cmap="viridis", s=6, zorder=3)
    fig.colorbar(lines, ax=ax, label=describe("kpe"))
    ax.set_title(f"{len(samples)} trajectories x(t), t from 0 to {plane.paths_t[-1]:g}")
    return fig


def plane_field(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """The integrated velocity v(x, t) on a grid at a few times, over the training data."""
    plane = ctx.plane_samples()
    times, grid, v = plane.field_t, plane.field_grid, plane.field_v
    fig, axes = plt.subplots(1, len(times), figsize=(3.2 * len(times), 3.6), squeeze=False)
    for ax, t, at_t in zip(axes[0], times, v, strict=True):
        ax.scatter(plane.x_train[:, 0], plane.x_train[:, 1], s=1, color="0.75")
        speed = np.hypot(at_t[..., 0], at_t[..., 1])
        ax.quiver(grid, grid, at_t[..., 0], at_t[..., 1], speed, cmap="magma", angles="xy")
        ax.set_aspect("equal")
        ax.set_title(f"v(x, t) at t = {t:.2f}")
    return fig


def plane_endpoints(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """Endpoints of the lowest- and highest-KPE samples (the study's groups) over the data."""
    groups = kpe_groups(df["kpe"], ctx.group_quantile)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), sharex=True, sharey=True)
    for ax, name, color in zip(axes, ("low", "high"), ("C0", "C3"), strict=True):
        _data_density(ax, ctx)
        chosen = df.loc[groups == name, "sample"].astype(int)
        ends = np.array([ctx.plane_samples().endpoints[s] for s in chosen])
        ax.scatter(ends[:, 0], ends[:, 1], s=4, color=color)
        ax.set_title(f"{name} KPE group: {len(chosen)} endpoints x(1)")
    return fig


def grid_low_kpe(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """The lowest-KPE samples."""
    return _grid(df, ctx, lowest=True)


def grid_high_kpe(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """The highest-KPE samples."""
    return _grid(df, ctx, lowest=False)


def comparison(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """This study against its baseline on the same samples (and, with a control study, the
    control against the baseline and this study against the control): left, the mean
    per-sample change of each measure in units of the baseline's standard deviation, with its
    paired bootstrap interval; right, the spread of the per-sample change (5–95 % and 25–75 %
    of samples, median), in the same units. Memorized is a share, drawn in percentage points."""
    assert ctx.comparison is not None
    every = ctx.comparison
    contrasts = list(dict.fromkeys(every.contrast))
    first = every[every.contrast == contrasts[0]]
    measures = list(first.measure)[::-1]
    base_std = first.set_index("measure").base_std
    y = np.arange(len(measures))
    fig, (ax_mean, ax_spread) = plt.subplots(
        1, 2, figsize=(11, 0.35 * len(measures) * max(1, len(contrasts) - 1) + 1.5), sharey=True
    )
    width = 0.6 / len(contrasts)
    for j, contrast in enumerate(contrasts):
        table = every[every.contrast == contrast].set_index("measure").loc[measures]
        unit = np.where(
            table.index == "memorized", 0.01, base_std.loc[measures].replace(0.0, np.nan)
        )
        dy = y + (j - (len(contrasts) - 1) / 2) * width
        mid = table.change_mean / unit
        ax_mean.errorbar(
            mid,
            dy,
            xerr=[mid - table.change_mean_ci_low / unit, table.change_mean_ci_high / unit - mid],
            fmt="o",
            color=f"C{j}",
            ms=4,
            capsize=2,
            label=CONTRASTS[contrast],
        )
        ax_spread.hlines(dy, table.change_q05 / unit, table.change_q95 / unit, color="0.6", lw=1)
        ax_spread.hlines(dy, table.change_q25 / unit, table.change_q75 / unit, color=f"C{j}", lw=3)
        ax_spread.plot(table.change_q50 / unit, dy, "k|", ms=8)
    for ax in (ax_mean, ax_spread):
        ax.axvline(0.0, color="0.3", lw=0.8, ls="--")
    ax_mean.set_yticks(y, [describe(m) if m != "memorized" else "memorized (pp)" for m in measures])
    ax_mean.set_xlabel(f"mean change / baseline SD ({round(100 * ctx.confidence)} % CI)")
    ax_spread.set_xlabel("change per sample / baseline SD\n(5–95 %, 25–75 %, median)")
    if len(contrasts) > 1:
        ax_mean.legend(fontsize=7, loc="best")
    what = (
        CONTRASTS[contrasts[0]] if len(contrasts) == 1 else "this study, its baseline and control"
    )
    fig.suptitle(f"{what}, n = {int(first.n.max())} paired samples")
    return fig


SHORT_NAMES = {
    "kpe": "KPE",
    "straightness": "excess energy",
    "clip_score": "CLIP score",
    "clip_margin": "CLIP margin",
}
"""Short axis names of the measures a prompt-effects panel lists (the caption says what)."""


def _short(measure: str) -> str:
    return SHORT_NAMES.get(measure, measure)


def _interval(row: pd.Series) -> str:
    return f"{row.estimate:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}]"


def prompt_effects(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """Per-prompt means of KPE against CLIP score, the ICC of each measure and the mean KPE per
    category (a text-to-image study: the caption)."""
    table = ctx.prompt_effects
    if table is None:
        raise ValueError("this figure needs statistics/prompt_effects.csv")
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15.0, 4.4))
    means = df.groupby("prompt_id").agg(
        kpe=("kpe", "mean"),
        clip_score=("clip_score", "mean"),
        category=("prompt_category", "first"),
    )
    sns.scatterplot(data=means, x="clip_score", y="kpe", hue="category", ax=left, s=28)
    left.set_xlabel("mean CLIP score of the prompt's samples")
    left.set_ylabel("mean KPE of the prompt's samples")
    pick = table[(table.measure == "kpe") & (table.against == "clip_score")]
    across = pick[pick.analysis == "prompt_means"].iloc[0]
    within = pick[pick.analysis == "within_prompt"].iloc[0]
    left.set_title(
        f"across prompts ρ = {_interval(across)}, n = {int(across.n_prompts)}\n"
        f"within prompts ρ = {_interval(within)}, n = {int(within.n_samples)}",
        fontsize=9,
    )
    if left.get_legend() is not None:
        left.legend(fontsize=7, title="category", title_fontsize=7, loc="best")
    icc = table[table.analysis == "icc"].reset_index(drop=True)
    y = np.arange(len(icc))
    middle.errorbar(
        icc.estimate,
        y,
        xerr=[icc.estimate - icc.ci_low, icc.ci_high - icc.estimate],
        fmt="o",
        color="black",
        capsize=3,
    )
    middle.set_yticks(y, [_short(m) for m in icc.measure])
    middle.axvline(0.0, color="0.6", lw=0.8, ls="--")
    middle.set_xlabel("ICC(1): the prompt's share of the variance")
    middle.set_title(f"{int(icc.n_prompts.max())} prompts, {int(icc.n_samples.max())} samples")
    categories = table[(table.analysis == "category") & (table.measure == "kpe")]
    order = categories.sort_values("estimate").category.tolist()
    sns.stripplot(
        data=means.reset_index(), x="kpe", y="category", order=order, ax=right, color="0.55", size=4
    )
    right.scatter(
        categories.set_index("category").loc[order, "estimate"],
        np.arange(len(order)),
        marker="D",
        color="black",
        zorder=3,
        label="category mean",
    )
    right.set_xlabel("mean KPE: per prompt (grey), per category (black)")
    right.set_ylabel("")
    right.legend(fontsize=7, loc="best")
    return fig


FIGURES: dict[str, Callable[[pd.DataFrame, FigureContext], Figure]] = {
    spec.name: globals()[spec.name] for spec in FIGURE_SPECS
}
"""The drawing function of each figure (the function named as the figure), in the report's
order (:data:`enfopath.study.figure_names.FIGURE_SPECS`)."""


SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    "png": {},
    "pdf": {"metadata": {"CreationDate": None}},
    "svg": {"metadata": {"Date": None}},
}
"""``savefig`` options per file format (``figures.format``): no creation date in a vector file,
so the same figure is the same bytes."""


def study_context(
    cfg: Any, samples: ImageSamples | PlaneSamples | None = None, **tables: pd.DataFrame
) -> FigureContext:
    """The :class:`FigureContext` of a study: its density spaces and k, group quantile and
    confidence from its config (``density`` and ``statistics`` sections), the ``samples`` a
    figure shows and its ``tables`` by context field."""
    return FigureContext(
        spaces=density_prefixes(cfg["density"]),
        k=cfg["density"]["k"],
        group_quantile=cfg["statistics"]["group_quantile"],
        confidence=cfg["statistics"]["confidence"],
        samples=samples,
        **tables,
    )


def render(name: str, table: pd.DataFrame, ctx: FigureContext, footnote: str = "") -> Figure:
    """Figure ``name`` of the analysed ``table`` as its rule writes it: drawn, laid out, with the
    ``footnote`` (what the KPE is where it is not the plain E) in its lower left corner."""
    fig = FIGURES[name](table, ctx)
    fig.tight_layout()
    if footnote:
        fig.text(0.005, 0.005, footnote, fontsize=7, color="0.3")
    return fig
