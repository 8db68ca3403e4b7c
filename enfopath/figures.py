"""The study's figures (seaborn / matplotlib), one function per figure file.

Every function takes the analysed per-sample table (non-finite samples already left out) and a
:class:`FigureContext`, and returns a matplotlib Figure; :data:`FIGURES` maps file names to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from scipy import stats

from enfopath.stats import kpe_groups
from enfopath.tables import MARGINS, profile_columns


@dataclass(frozen=True)
class FigureContext:
    """What figures need beyond the table."""

    spaces: list[str]
    k: list[int]
    group_quantile: float
    grid_samples: int
    images: dict[int, np.ndarray] = field(default_factory=dict)
    """Generated images by global sample index, each (C, H, W) in [-1, 1] (grids only)."""


def _scatter(ax: plt.Axes, df: pd.DataFrame, x: str, y: str) -> None:
    ok = np.isfinite(df[x]) & np.isfinite(df[y])
    sns.scatterplot(data=df[ok], x=x, y=y, s=6, alpha=0.35, linewidth=0, ax=ax)
    bins = pd.qcut(df.loc[ok, x].rank(method="first"), 10, labels=False)
    means = df[ok].groupby(bins)[[x, y]].mean()
    ax.plot(means[x], means[y], "o-", color="C3", label="decile means")
    rho = stats.spearmanr(df.loc[ok, x], df.loc[ok, y])[0]
    ax.set_title(f"Spearman ρ = {rho:.3f} (n = {int(ok.sum())})", fontsize=9)
    ax.legend(loc="best", fontsize=8)


def _panels(n: int, width: float = 4.5) -> tuple[Figure, list[plt.Axes]]:
    fig, axes = plt.subplots(1, n, figsize=(width * n, 4), squeeze=False)
    return fig, list(axes[0])


def kpe_hist(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """Histogram of the KPE, with the low / high group thresholds."""
    fig, (ax,) = _panels(1, 6)
    sns.histplot(df["kpe"], bins=60, ax=ax)
    lo, hi = df["kpe"].quantile([ctx.group_quantile, 1 - ctx.group_quantile])
    for v, name in ((lo, "low"), (hi, "high")):
        ax.axvline(v, color="C3", ls="--", lw=1)
        ax.annotate(f"{name} group", (v, ax.get_ylim()[1] * 0.9), fontsize=8, color="C3")
    ax.set_xlabel("kinetic path energy E = ½∫‖v‖²dt")
    return fig


def kpe_vs_margin(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """KPE against the semantic margin and score (classifier or CLIP, whichever was used)."""
    cols = next(pair for pair in MARGINS if pair[0] in df.columns)
    fig, axes = _panels(2)
    for ax, col in zip(axes, cols, strict=True):
        _scatter(ax, df, "kpe", col)
    return fig


def kpe_vs_density(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """KPE against the kNN log-density (smallest k) in each feature space."""
    fig, axes = _panels(len(ctx.spaces))
    for ax, space in zip(axes, ctx.spaces, strict=True):
        _scatter(ax, df, "kpe", f"{space}_knn_logdens{ctx.k[0]}")
    return fig


def kpe_vs_nn_distance(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """KPE against the distance to the nearest training point in each feature space."""
    fig, axes = _panels(len(ctx.spaces))
    for ax, space in zip(axes, ctx.spaces, strict=True):
        _scatter(ax, df, "kpe", f"{space}_nn_dist")
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
        ax.plot(times, q50, color=color, label=f"{name} (n = {int(mask.sum())})")
        ax.fill_between(times, q25, q75, color=color, alpha=0.2)
    ax.set_xlabel("t (0 = noise, 1 = data)")
    ax.set_ylabel("‖v(x(t), t)‖²")
    ax.legend(fontsize=8)
    return fig


def _grid(df: pd.DataFrame, ctx: FigureContext, lowest: bool) -> Figure:
    order = df.sort_values("kpe", ascending=lowest).head(ctx.grid_samples)
    n = len(order)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(max(cols * 0.9, 4.0), rows * 1.0 + 0.4), squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (_, r) in zip(axes.ravel(), order.iterrows(), strict=False):
        img = ctx.images[int(r["sample"])]
        img = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
        ax.imshow((np.clip(img, -1, 1) + 1) / 2, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{r['kpe']:.1f}", fontsize=6)
    which = "lowest" if lowest else "highest"
    fig.suptitle(f"{n} {which}-KPE samples (KPE above each)", fontsize=9)
    return fig


def grid_low_kpe(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """The lowest-KPE samples."""
    return _grid(df, ctx, lowest=True)


def grid_high_kpe(df: pd.DataFrame, ctx: FigureContext) -> Figure:
    """The highest-KPE samples."""
    return _grid(df, ctx, lowest=False)


FIGURES: dict[str, Callable[[pd.DataFrame, FigureContext], Figure]] = {
    "kpe_hist": kpe_hist,
    "kpe_vs_margin": kpe_vs_margin,
    "kpe_vs_density": kpe_vs_density,
    "kpe_vs_nn_distance": kpe_vs_nn_distance,
    "speed_profile": speed_profile,
    "grid_low_kpe": grid_low_kpe,
    "grid_high_kpe": grid_high_kpe,
}
IMAGE_FIGURES = ("grid_low_kpe", "grid_high_kpe")
"""Figures that need the generated images (the trajectory shards) as input."""
