"""Every figure of the tiny study, drawn as its rule draws it, checked for what can be checked
mechanically: no text outside the canvas, no legend over the data, the title's statistic equal
to the table's, and the vector formats written."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from conftest import TINY
from matplotlib.collections import PathCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from enfopath.measures.early import first_beating_baselines
from enfopath.study.config import figure_stages, is_plane, validate_config
from enfopath.study.figure_names import FIGURE, study_figures
from enfopath.study.figures import FigureContext, image_samples, render, study_context
from enfopath.study.tables import analysed_samples

CFG = validate_config(copy.deepcopy(TINY))
TINY_FIGURES = study_figures(figure_stages(CFG), is_plane(CFG))
"""The figures the tiny study draws."""
UNDER_LEGEND = 0.02
"""The largest share of an axes' data points a legend may cover."""


def context(study: Path, name: str) -> tuple[pd.DataFrame, FigureContext]:
    """The analysed table and the figure's context, read as the figure rule reads them."""
    out = study / "results" / TINY["experiment"]
    spec = FIGURE[name]
    samples = None
    if spec.samples == "images":
        shards = sorted(str(p) for p in (out / "trajectories").glob("shard_*.npz"))
        samples = image_samples(
            shards, str(out / "data" / "dataset.npz"), CFG["figures"]["grid_samples"]
        )
    fields = {f: pd.read_csv(out / "statistics" / f"{t}.csv") for f, t in spec.tables}
    fields |= {f: pd.read_csv(out / "models" / file) for f, file in spec.models}
    ctx = study_context(CFG, samples, **fields)
    return analysed_samples(pd.read_parquet(out / "samples.parquet")), ctx


def undrawn_tick_labels(fig) -> set[int]:
    """The tick labels matplotlib keeps but does not draw: those of ticks outside the view."""
    kept, drawn = set(), set()
    axes = [*fig.axes, *(child for ax in fig.axes for child in ax.child_axes)]
    for ax in axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                kept |= {id(tick.label1), id(tick.label2)}
            if not (ax.axison and axis.get_visible()):  # an axis switched off draws none
                continue
            for tick in axis._update_ticks():  # what Axis.draw draws
                drawn |= {id(tick.label1), id(tick.label2)}
    return kept - drawn


def texts_outside(fig) -> list[str]:
    """Drawn texts whose extent leaves the canvas (more than a pixel)."""
    renderer = fig.canvas.get_renderer()
    width, height = fig.canvas.get_width_height()
    skipped = undrawn_tick_labels(fig)
    outside = []
    for text in fig.findobj(Text):
        if id(text) in skipped or not text.get_visible() or not text.get_text().strip():
            continue
        box = text.get_window_extent(renderer)
        if box.width == 0:
            continue
        if box.x0 < -1 or box.y0 < -1 or box.x1 > width + 1 or box.y1 > height + 1:
            outside.append(repr(text.get_text()[:60]))
    return outside


def data_points(ax) -> np.ndarray:
    """The display coordinates of every data point drawn in ``ax`` (scatter offsets and line
    vertices), (N, 2)."""
    points = []
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and len(coll.get_offsets()):
            points.append(coll.get_offset_transform().transform(coll.get_offsets()))
    for line in ax.lines:
        if isinstance(line, Line2D) and len(line.get_xydata()) > 1:
            points.append(line.get_transform().transform(line.get_xydata()))
    bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_height() > 0]
    if bars:  # a bar's top edge, where its value is read
        tops = [(p.get_x() + p.get_width() / 2, p.get_y() + p.get_height()) for p in bars]
        points.append(ax.transData.transform(np.array(tops)))
    return np.concatenate(points) if points else np.zeros((0, 2))


def legends_over_data(fig) -> list[str]:
    renderer = fig.canvas.get_renderer()
    problems = []
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent(renderer)
        points = data_points(ax)
        if not len(points):
            continue
        under = ((points[:, 0] > box.x0) & (points[:, 0] < box.x1)) & (
            (points[:, 1] > box.y0) & (points[:, 1] < box.y1)
        )
        if under.mean() > UNDER_LEGEND:
            problems.append(f"{ax.get_title()[:40]!r}: {under.mean():.1%} of its points")
    return problems


def titles(fig) -> str:
    parts = [ax.get_title() for ax in fig.axes]
    if fig._suptitle is not None:
        parts.append(fig._suptitle.get_text())
    return " | ".join(parts)


@pytest.mark.parametrize("name", TINY_FIGURES)
def test_no_text_leaves_the_canvas_and_no_legend_covers_the_data(study, name):
    table, ctx = context(study, name)
    fig = render(name, table, ctx)
    fig.canvas.draw()
    assert texts_outside(fig) == [], name
    assert legends_over_data(fig) == [], name
    plt.close(fig)


def rho_of(table: pd.DataFrame, measure: str) -> str:
    row = table[(table.energy == "kpe") & (table.measure == measure)].iloc[0]
    text = f"{row.spearman_rho:.2f}"
    return (text.lstrip("-") if float(text) == 0 else text).replace("-", "−")


@pytest.mark.parametrize(
    ("name", "measures"),
    [
        ("kpe_vs_margin", lambda ctx: ["clf_margin", "clf_confidence"]),
        ("kpe_vs_density", lambda ctx: [f"{p}_knn_logdens{ctx.k[0]}" for p in ctx.spaces]),
        ("kpe_vs_nn_distance", lambda ctx: [f"{p}_nn_dist" for p in ctx.spaces]),
    ],
)
def test_each_relation_title_gives_the_tables_rho_and_n(study, name, measures):
    table, ctx = context(study, name)
    fig = render(name, table, ctx)
    expected = measures(ctx)
    assert len(fig.axes) == len(expected)
    for ax, measure in zip(fig.axes, expected, strict=True):
        row = ctx.correlations[
            (ctx.correlations.energy == "kpe") & (ctx.correlations.measure == measure)
        ].iloc[0]
        assert f"Spearman ρ = {rho_of(ctx.correlations, measure)} [" in ax.get_title()
        assert f"n = {int(row.n):,}" in ax.get_title()
        assert f"({round(100 * CFG['statistics']['confidence'])} % CI)" in ax.get_title()
    plt.close(fig)


def test_the_other_titles_give_their_tables_numbers(study):
    _, ctx = context(study, "early_prediction")
    table, _ = context(study, "kpe_hist")
    fig = render("early_prediction", table, ctx)
    row = first_beating_baselines(ctx.early, "high_kpe_group")
    if row is None:
        assert "does not beat" in titles(fig)
    else:
        assert f"AUROC {row.value:.3f} [{row.value_ci_low:.3f}, {row.value_ci_high:.3f}]" in titles(
            fig
        )
        assert f"from s = {row.s:g}" in titles(fig)
    plt.close(fig)
    _, ctx = context(study, "robustness_ranking")
    fig = render("robustness_ranking", table, ctx)
    settings = ctx.robustness[~ctx.robustness.reference.astype(bool)]
    assert f"{int(settings.stable.sum())} of {len(settings)} settings stable" in titles(fig)
    plt.close(fig)
    _, ctx = context(study, "memorization")
    fig = render("memorization", table, ctx)
    everyone = ctx.memorization[
        (ctx.memorization.endpoint == "endpoint") & (ctx.memorization.bin == 0)
    ].iloc[0]
    assert f"{int(everyone.memorized):,} of {int(everyone.n):,} memorized" in titles(fig)
    assert re.search(r"\[\d+\.\d%, \d+\.\d%\] \(95 % exact\)", titles(fig))
    plt.close(fig)


def test_a_saturated_measure_is_summarised_by_its_median_inside_its_cloud(study):
    table, ctx = context(study, "kpe_vs_margin")
    fig = render("kpe_vs_margin", table, ctx)
    curves = ctx.curves[ctx.curves.measure == "clf_margin"]
    line = fig.axes[0].containers[0].lines[0]  # the errorbar's data line
    drawn = np.asarray(line.get_ydata(), dtype=float)
    np.testing.assert_allclose(drawn, curves.sort_values("bin")["median"].to_numpy(float))
    assert all("median" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    plt.close(fig)


def test_vector_formats_are_written_beside_the_png_and_are_reproducible(study, tmp_path):
    from conftest import copy_of, job_counts, snakemake, write_config

    work = copy_of(study, tmp_path)
    out = work / "results" / TINY["experiment"] / "figures"
    png = (out / "kpe_hist.png").read_bytes()
    extra = write_config(work / "formats.yaml", {"figures": {"format": ["png", "pdf", "svg"]}})
    files = ["--configfile", str(work / "config.yaml"), str(extra)]
    target = f"results/{TINY['experiment']}/figures/kpe_hist.pdf"
    run = snakemake(work, "--cores", "1", target, *files)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (out / "kpe_hist.pdf").read_bytes().startswith(b"%PDF")
    svg = (out / "kpe_hist.svg").read_text()
    assert "<svg" in svg and "<dc:date>" not in svg  # no creation date: the same bytes each time
    assert (out / "kpe_hist.png").read_bytes() == png  # same dpi, same PNG
    first = (out / "kpe_hist.pdf").read_bytes()
    again = snakemake(work, "--cores", "1", target, "--force", *files)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (out / "kpe_hist.pdf").read_bytes() == first
    dpi = write_config(work / "dpi.yaml", {"figures": {"dpi": 60}})
    plan = snakemake(work, "-n", "--configfile", str(work / "config.yaml"), str(dpi))
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert job_counts(plan.stdout)["figure"] == len(TINY_FIGURES)  # a new dpi redraws them all
