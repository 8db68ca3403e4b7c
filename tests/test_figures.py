"""Figures: labels in words, ρ with its interval and n, binned means from the tables."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, SHIPPED_STUDIES, shipped_study_files

from enfopath.measures.correlation import correlations
from enfopath.measures.groups import quantile_curves
from enfopath.study.figures import FIGURES, FigureContext, ImageSamples, rho_text
from enfopath.study.tables import ENERGIES, measure_columns
from enfopath.study.words import describe

SPACES = ["pixels", "classifier"]
QUANTILE_COLUMNS = ("05", "25", "50", "75", "95")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    kpe = rng.gamma(4.0, size=n)
    cols = {
        "sample": np.arange(n),
        "kpe": kpe,
        "kpe_early": 0.6 * kpe,
        "kpe_late": 0.4 * kpe,
        "clf_class": rng.integers(0, 3, n),
        "clf_confidence": 1 - rng.uniform(0, 0.3, n) ** 2,
        "clf_margin": 1 - rng.uniform(0, 0.5, n) ** 2,
        "clf_entropy": rng.uniform(0, 1, n),
        **{f"speed_sq_t{t:.3f}": kpe * (1 + t) for t in (0.0, 0.5, 1.0)},
    }
    for s in SPACES:
        cols |= {
            f"{s}_d2": rng.uniform(1, 2, n),
            f"{s}_knn_logdens2": -rng.normal(size=n) - 0.1 * kpe,
            f"{s}_naeem2": rng.uniform(0, 2, n),
            f"{s}_nn_dist": rng.uniform(0.5, 1, n),
            f"{s}_d1_d2": rng.uniform(0, 1, n),
            f"{s}_kde_logdens": rng.normal(size=n),
        }
    return pd.DataFrame(cols)


@pytest.fixture(scope="module")
def ctx(table) -> FigureContext:
    measures = measure_columns(table, SPACES)
    return FigureContext(
        spaces=SPACES,
        k=[2],
        group_quantile=0.2,
        correlations=correlations(table, list(ENERGIES), measures, n_boot=200, seed=0),
        curves=quantile_curves(table, "kpe", measures, 10),
        samples=ImageSamples(
            {i: np.zeros((1, 4, 4), np.float32) for i in range(200)}, ["zero", "one", "two"], 4
        ),
    )


def test_every_statistic_has_a_description_in_words(table):
    for col in [*ENERGIES, *measure_columns(table, SPACES)]:
        text = describe(col)
        assert col not in text and len(text) > 15, (col, text)
    assert describe("pixels_knn_logdens5") == "kNN log-density, pixels, k = 5 (−D log d₅)"
    with pytest.raises(KeyError, match="no description"):
        describe("bogus")


@pytest.mark.parametrize("name", ["kpe_vs_margin", "kpe_vs_density", "kpe_vs_nn_distance"])
def test_relation_figures_show_the_tables_numbers(table, ctx, name):
    fig = FIGURES[name](table, ctx)
    columns = set(table.columns)
    for ax in fig.axes:
        label = " ".join(ax.get_ylabel().split())  # wrapped to fit the axes
        measure = next(m for m in ctx.curves.measure.unique() if describe(m) in label)
        assert ax.get_xlabel() == describe("kpe")
        assert not {ax.get_xlabel(), ax.get_ylabel()} & columns
        row = ctx.correlations.query("energy == 'kpe' and measure == @measure").iloc[0]
        title = ax.get_title()
        assert title == rho_text(ctx, "kpe", measure)
        minus = str.maketrans("-", "−")
        assert f"{row.spearman_rho:.2f}".translate(minus) in title
        assert f"[{row.spearman_rho_ci_low:.2f},".translate(minus) in title
        assert f"n = {int(row.n)}" in title
        curve = ctx.curves[ctx.curves.measure == measure]
        line = ax.containers[0].lines[0]  # the binned summary's errorbar line
        np.testing.assert_allclose(np.asarray(line.get_xdata(), float), curve.energy_mean)
        centre = "median" if measure in ("clf_confidence", "clf_margin") else "mean"
        np.testing.assert_allclose(np.asarray(line.get_ydata(), float), curve[centre])
    plt.close(fig)


def test_saturated_margins_use_a_logit_scale(table, ctx):
    fig = FIGURES["kpe_vs_margin"](table, ctx)
    assert [ax.get_yscale() for ax in fig.axes] == ["logit", "logit"]
    plt.close(fig)


def test_no_interval_without_bootstrap(table, ctx):
    no_boot = correlations(table, ["kpe"], ["clf_margin"], n_boot=0, seed=0)
    text = rho_text(FigureContext(SPACES, [2], 0.2, correlations=no_boot), "kpe", "clf_margin")
    assert "[" not in text and text.startswith("Spearman ρ = ")


def test_histogram_names_the_groups_in_its_legend_not_over_the_bars(table, ctx):
    fig = FIGURES["kpe_hist"](table, ctx)
    (ax,) = fig.axes
    assert not ax.texts  # no free-floating labels that can overlap
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 2 and "lowest 20 %" in labels[0] and "highest 20 %" in labels[1]
    plt.close(fig)


def test_grids_show_kpe_class_and_margin(table, ctx):
    fig = FIGURES["grid_low_kpe"](table, ctx)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    lowest = table.sort_values("kpe").iloc[0]
    name = ctx.image_samples().class_names[int(lowest.clf_class)]
    assert titles[0] == f"E {lowest.kpe:.1f}\n{name} m {lowest.clf_margin:.2f}"
    assert len(titles) == 4
    plt.close(fig)


def test_confound_forest_plot_shows_raw_and_partial_rho_per_measure(table):
    from enfopath.measures.correlation import partial_correlations

    noise = np.random.default_rng(1).normal(size=(3, len(table)))
    df = table.assign(
        x0_norm_sq=table.kpe + noise[0],
        chord_energy=table.kpe + noise[1],
        straightness=noise[2] ** 2,
    )
    measures = measure_columns(df, SPACES)
    partial = partial_correlations(
        df, ["kpe", "straightness"], measures, ["x0_norm_sq", "chord_energy"], n_boot=50, seed=0
    )
    fig = FIGURES["kpe_confounds"](df, FigureContext(SPACES, [2], 0.2, partial=partial))
    left, right = fig.axes
    n = f"n = {len(df):,}"
    assert left.get_title() == f"{describe('kpe')}, {n}"
    assert right.get_title() == f"{describe('straightness')}, {n}"
    assert [t.get_text() for t in left.get_yticklabels()] == [describe(m) for m in measures]
    labels = [t.get_text() for t in right.get_legend().get_texts()]
    assert labels == [
        "raw",
        f"partial, controlling for {describe('x0_norm_sq')}",
        f"partial, controlling for {describe('chord_energy')}",
    ]
    first = partial.query("energy == 'kpe' and control == 'x0_norm_sq'").set_index("measure")
    raw, controlled = (np.asarray(c.lines[0].get_xdata(), float) for c in left.containers[:2])
    np.testing.assert_allclose(raw, first.loc[measures, "spearman_rho"])
    np.testing.assert_allclose(controlled, first.loc[measures, "partial_rho"])
    plt.close(fig)


def test_early_prediction_figure_draws_the_table_against_s_and_the_nfe_share(table):
    from enfopath.measures.early import early_prediction

    times = np.array([0.0, 0.5, 1.0])
    noise = np.random.default_rng(2).gamma(4.0, size=len(table))
    df = table.assign(
        **{f"kpe_t{s:.3f}": s * table.kpe + (1 - s) * noise for s in times},
        **{
            f"nfe_t{s:.3f}": np.full(len(table), n)
            for s, n in zip(times, (1, 30, 100), strict=True)
        },
    )
    cols = [f"kpe_t{s:.3f}" for s in times]
    df["x0_norm_sq"] = noise
    early = early_prediction(
        df,
        times,
        cols,
        ["clf_margin"],
        quantile=0.2,
        n_boot=50,
        seed=0,
        baselines=["x0_norm_sq", "speed_sq_t0.000"],
        quality=["clf_margin"],
    )
    fig = FIGURES["early_prediction"](df, FigureContext(SPACES, [2], 0.2, early=early))
    left, middle, right = fig.axes[:3]
    partial = early[(early.predictor == "partial_kpe") & (early.s > 0)]  # E(0) = 0: left out
    low = partial[partial.target == "low_kpe_group"].sort_values("s")
    np.testing.assert_allclose(np.asarray(left.lines[0].get_ydata(), float), low.value)
    # each baseline: its AUROC as a level line beside E(s)
    levels = {float(y[0]) for ln in left.lines if len(y := np.asarray(ln.get_ydata(), float))}
    for b in ("x0_norm_sq", "speed_sq_t0.000"):
        row = early[(early.predictor == b) & (early.target == "low_kpe_group")]
        assert float(row.value.iloc[0]) in levels
    quality = partial[partial.target == "low_clf_margin_group"].sort_values("s")
    np.testing.assert_allclose(np.asarray(middle.lines[0].get_ydata(), float), quality.value)
    texts = [t.get_text() for t in right.get_legend().get_texts()]
    assert texts[:2] == ["the final KPE", describe("clf_margin")] and len(texts) == 4
    assert "1 model evaluation" in texts[3] and "0 model evaluations" in texts[2]
    assert "AUROC" in fig._suptitle.get_text() or "does not beat" in fig._suptitle.get_text()
    assert "share of the NFE" in left.child_axes[0].get_xlabel()
    plt.close(fig)


def test_memorization_figure_draws_each_bins_fraction_and_the_overall_share(table):
    from enfopath.measures.memorization import memorization

    table_m = memorization(table, "pixels_d1_d2", "kpe", 5).assign(endpoint="endpoint")
    fig = FIGURES["memorization"](table, FigureContext(SPACES, [2], 0.2, memorization=table_m))
    left, right = fig.axes[:2]
    heights = [p.get_height() for p in left.containers[0]]
    np.testing.assert_allclose(heights, table_m[table_m.bin > 0].fraction)
    assert f"{table_m.fraction.iloc[0]:.1%}" in right.get_title()
    assert " ".join(right.get_ylabel().split()) == describe("pixels_d1_d2")
    plt.close(fig)
    # a study stopped at t_end < 1: the projected endpoints' bars beside the endpoints'
    shifted = table.assign(projected_pixels_d1_d2=table.pixels_d1_d2 / 4)
    projected = memorization(shifted, "projected_pixels_d1_d2", "kpe", 5)
    both = pd.concat([table_m, projected.assign(endpoint="projected")])
    fig = FIGURES["memorization"](shifted, FigureContext(SPACES, [2], 0.2, memorization=both))
    left, right = fig.axes[:2]
    bars = [c for c in left.containers if hasattr(c, "patches")]
    assert len(bars) == 2
    np.testing.assert_allclose(
        [p.get_height() for p in bars[1]], projected[projected.bin > 0].fraction
    )
    assert f"{projected.fraction.iloc[0]:.1%}" in right.get_title().split("\n")[2]
    assert [t.get_text() for t in left.get_legend().get_texts()][1].startswith("projected")
    plt.close(fig)


def test_prdc_figure_draws_the_four_measures_of_each_group_per_space(table):
    rows = [
        {
            "space": s,
            "group": g,
            "k": k,
            "n_fake": 40,
            "n_real": 100,
            "precision": 0.1 * j,
            "recall": 0.2,
            "density": 0.3,
            "coverage": 0.4,
            **{f"{m}_ci_low": 0.0 for m in ("precision", "recall", "density", "coverage")},
            **{f"{m}_ci_high": 0.5 for m in ("precision", "recall", "density", "coverage")},
        }
        for s in SPACES
        for j, g in enumerate(("all", "low", "middle", "high"))
        for k in (2, 3)
    ]
    prdc = pd.DataFrame(rows)
    fig = FIGURES["kpe_prdc"](table, FigureContext(SPACES, [2, 3], 0.2, prdc=prdc))
    assert len(fig.axes) == len(SPACES) and "k = 2" in fig.axes[0].get_title()
    bars = fig.axes[0].patches
    assert len(bars) == 16
    assert [bars[4 * j].get_height() for j in range(4)] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert len(fig.axes[0].collections) == 4  # one set of interval bars per group
    plt.close(fig)


def test_frechet_figure_draws_each_bands_fd_beside_random_groups_of_its_size(table):
    rows = [
        {
            "space": s,
            "group": g,
            "n_fake": 40 if g != "all" else 200,
            "fd": 10.0 + j,
            "fd_ci_low": 9.0 + j,
            "fd_ci_high": 12.0 + j,
            "fd_random": np.nan if g == "all" else 11.0,
            "fd_random_ci_low": np.nan if g == "all" else 10.5,
            "fd_random_ci_high": np.nan if g == "all" else 12.5,
        }
        for s in SPACES
        for j, g in enumerate(("all", "low", "middle", "high"))
    ]
    fidelity = pd.DataFrame(rows)
    fig = FIGURES["kpe_fidelity"](table, FigureContext(SPACES, [2], 0.2, fidelity=fidelity))
    ax = fig.axes[0]
    assert len(fig.axes) == len(SPACES) and "40 samples per group" in ax.get_title()
    assert [b.get_y() for b in ax.patches] == [10.5] * 3  # the random groups' intervals
    assert [b.get_height() for b in ax.patches] == pytest.approx([2.0] * 3)
    points = [c[0].get_ydata()[0] for c in ax.containers if hasattr(c, "lines")]
    assert points == [11.0, 12.0, 13.0]  # the low, middle and high bands, not all
    plt.close(fig)


def _robustness_table() -> pd.DataFrame:
    rows = [("dopri5 rtol 1e-07 atol 1e-07", "dopri5", 500, True, 0.0, np.nan, 1.0, True)]
    for solver, stages in (("euler", 1), ("rk4", 4)):
        for n in (10, 20, 40):
            err = (1.0 / n) ** (1 if solver == "euler" else 4)
            rows.append((f"{solver} {n}", solver, stages * n, False, err, 10 * err, 0.99, n > 10))
    cols = [
        "setting",
        "solver",
        "nfe",
        "reference",
        "kpe_rel_error_mean",
        "left_riemann_rel_error_mean",
        "spearman",
        "stable",
    ]
    t = pd.DataFrame(rows, columns=cols)
    return t.assign(kendall=0.9, low_overlap=0.95, high_overlap=0.97, max_delta_rho_share=0.4, n=64)


def test_robustness_error_figure_is_log_log_with_state_and_left_riemann_per_solver(table):
    r = _robustness_table()
    fig = FIGURES["robustness_error"](table, FigureContext(SPACES, [2], 0.2, robustness=r))
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["euler, state", "euler, left Riemann", "rk4, state", "rk4, left Riemann"]
    rk4 = r[r.solver == "rk4"]
    np.testing.assert_allclose(ax.lines[2].get_ydata(), rk4.kpe_rel_error_mean)
    assert "dopri5 rtol 1e-07" in ax.get_title()
    plt.close(fig)


def test_robustness_ranking_figure_gives_each_setting_a_row_and_counts_the_stable(table):
    r = _robustness_table()
    ctx = FigureContext(SPACES, [2], 0.2, robustness=r)
    fig = FIGURES["robustness_ranking"](table, ctx)
    rank, _, delta = fig.axes[:3]
    settings = r[~r.reference.astype(bool)].sort_values(["nfe", "setting"])
    names = [t.get_text() for t in rank.get_yticklabels()]
    assert len(names) == len(settings)
    assert all(n.startswith(s) for n, s in zip(names, settings.setting, strict=True))
    assert [("unstable" in n) for n in names] == [not s for s in settings.stable.astype(bool)]
    assert delta.lines[-1].get_xdata()[0] == 1.0  # the bound on the change of ρ
    np.testing.assert_allclose(delta.lines[0].get_xdata(), settings.max_delta_rho_share)
    stable = int(settings.stable.astype(bool).sum())
    assert fig._suptitle.get_text().startswith(f"{stable} of {len(settings)} settings stable")
    plt.close(fig)


def test_the_comparison_figure_shows_each_measures_change(table):
    from enfopath.measures.paired import paired_comparison

    shifted = table.assign(kpe=table.kpe * 0.9, memorized=(table.index % 3 == 0).astype(float))
    base = table.assign(memorized=(table.index % 4 == 0).astype(float))
    measures = ["kpe", "clf_margin", "memorized"]
    comparison, _ = paired_comparison(base, shifted, measures, n_boot=100, seed=0)
    comparison = comparison.assign(contrast="study_vs_baseline")
    fig = FIGURES["comparison"](table, FigureContext(SPACES, [2], 0.2, comparison=comparison))
    labels = [tick.get_text() for tick in fig.axes[0].get_yticklabels()]
    assert labels == ["memorized (pp)", describe("clf_margin"), describe("kpe")]
    kpe_mean = fig.axes[0].lines[0].get_xdata()[-1]  # the top row is KPE
    expected = comparison.set_index("measure").loc["kpe"]
    assert kpe_mean == pytest.approx(expected.change_mean / expected.base_std)
    plt.close(fig)
    # with a control (a constant 0.95 gain on KPE): each contrast in the baseline's SD units
    control = base.assign(kpe=base.kpe * 0.95)
    contrasts = [
        paired_comparison(first, second, measures, n_boot=100, seed=0)[0].assign(contrast=c)
        for c, first, second in (
            ("study_vs_baseline", base, shifted),
            ("control_vs_baseline", base, control),
            ("study_vs_control", control, shifted),
        )
    ]
    three = pd.concat(contrasts, ignore_index=True)
    fig = FIGURES["comparison"](table, FigureContext(SPACES, [2], 0.2, comparison=three))
    means = [bars.lines[0].get_xdata()[-1] for bars in fig.axes[0].containers]
    beyond = three[three.contrast == "study_vs_control"].set_index("measure").loc["kpe"]
    assert means[-1] == pytest.approx(beyond.change_mean / expected.base_std)
    assert means[-1] == pytest.approx(table.kpe.mean() * (0.9 - 0.95) / base.kpe.std(), rel=1e-2)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()][2].startswith(
        "this study − control"
    )
    plt.close(fig)


def test_the_replicates_figure_draws_every_flows_rho_with_its_interval(table):
    rows = [
        {
            "flow_seed": seed,
            "study": seed == 0,
            "energy": energy,
            "measure": measure,
            "spearman_rho": rho,
            "spearman_rho_ci_low": rho - 0.05,
            "spearman_rho_ci_high": rho + 0.05,
        }
        for seed, shift in ((0, 0.0), (1, 0.1), (2, -0.2))
        for energy in ("kpe", "kpe_early")
        for measure, rho in (("clf_margin", 0.3 + shift), ("pixels_nn_dist", -0.1 + shift))
    ]
    per_flow = pd.DataFrame(rows)
    fig = FIGURES["replicates"](table, FigureContext(SPACES, [2], 0.2, replicates=per_flow))
    axes = fig.axes
    assert len(axes) == 2
    lines = [ln for ln in axes[0].get_lines() if ln.get_marker() == "o"]  # the flows
    drawn = sorted(np.round(np.concatenate([np.asarray(ln.get_xdata(), float) for ln in lines]), 6))
    expected = per_flow[per_flow.energy == "kpe"].spearman_rho
    np.testing.assert_allclose(drawn, sorted(np.round(expected, 6)))
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels[0] == "seed 0 (the study's flow)" and labels[1:] == ["seed 1", "seed 2"]
    assert [t.get_text() for t in axes[0].get_yticklabels()] == [
        describe("clf_margin"),
        describe("pixels_nn_dist"),
    ]
    plt.close(fig)


def test_each_figure_is_one_spec_whose_tables_are_context_fields_and_whose_function_draws_it():
    """A figure's inputs, keys, loading and caption are derived from its spec (figure_names);
    the spec must name fields FigureContext has, and its function is named as the figure."""
    import dataclasses

    from enfopath.study import figures
    from enfopath.study.figure_names import FIGURE, FIGURE_NAMES

    assert tuple(FIGURES) == FIGURE_NAMES
    fields = {f.name for f in dataclasses.fields(FigureContext)}
    for name, spec in FIGURE.items():
        assert {f for f, _ in (*spec.tables, *spec.models)} <= fields, name
        # an analysis stage's figure reads its table; the training figure reads models/ files
        own = {t for _, t in spec.tables} | ({"flow_training"} if spec.models else set())
        assert spec.stage is None or spec.stage in own, name
        assert FIGURES[name] is getattr(figures, name) and FIGURES[name].__doc__, name


def test_the_caption_file_is_the_one_derived_from_the_figure_specs():
    from enfopath.study.figure_names import caption_file

    assert (ROOT / "report" / "figure.rst").read_text() == caption_file(), (
        "report/figure.rst is stale: python -m enfopath.study.figure_names > report/figure.rst"
    )


@pytest.mark.parametrize("study", SHIPPED_STUDIES)
def test_every_figure_a_shipped_study_draws_has_its_own_caption_rendered(study, monkeypatch):
    """The caption file renders, as Snakemake's report renders it (its Jinja options, every
    config key a caption names defined), to each figure's own caption for each figure the
    study draws."""
    from types import SimpleNamespace

    from jinja2 import Environment, StrictUndefined

    from enfopath.study.config import figure_stages, is_plane, load_config
    from enfopath.study.figure_names import FIGURE, caption_file, study_figures

    monkeypatch.syspath_prepend(str(ROOT / "examples" / "own_model"))  # its flow.plugin module
    config = load_config(*shipped_study_files(study))
    template = Environment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    template = template.from_string(caption_file())
    names = study_figures(figure_stages(config), is_plane(config))
    assert names and set(names) <= set(FIGURE)
    texts = {}
    for name in names:
        job = SimpleNamespace(wildcards=SimpleNamespace(name=name), config=config)
        texts[name] = template.render(snakemake=job).strip()
        assert len(texts[name]) > 60 and "{" not in texts[name], (name, texts[name])
    assert len(set(texts.values())) == len(texts)  # each figure its own caption


def test_a_study_draws_the_figures_of_its_stages_and_of_its_kind_of_samples():
    from enfopath.study.figure_names import IMAGE_FIGURES, PLANE_FIGURES, study_figures

    off = dict.fromkeys(["partial_correlations", "early_prediction", "memorization"], False)
    off |= dict.fromkeys(
        [
            *("prdc", "fidelity", "robustness", "schedules", "early_rejection"),
            *("replicates", "ladder", "comparison"),
        ],
        False,
    )
    off["prompt_effects"] = False
    off["flow_training"] = False
    images = study_figures(off, plane=False)
    assert "flow_training" not in images and "ladder" not in images
    assert "flow_training" in study_figures(off | {"flow_training": True}, plane=False)
    assert set(IMAGE_FIGURES) <= set(images) and not set(PLANE_FIGURES) & set(images)
    assert "kpe_confounds" not in images and "kpe_hist" in images
    assert "kpe_fidelity" not in images
    assert "kpe_fidelity" in study_figures(off | {"fidelity": True}, plane=False)
    plane = study_figures(off | {"partial_correlations": True}, plane=True)
    assert set(PLANE_FIGURES) <= set(plane) and not set(IMAGE_FIGURES) & set(plane)
    assert "kpe_confounds" in plane and plane.index("kpe_hist") < plane.index("kpe_confounds")


@pytest.mark.parametrize("study", SHIPPED_STUDIES)
def test_every_table_caption_renders_in_words_for_every_shipped_study(study, monkeypatch):
    """Each table's caption (report/*.rst but the figures') renders, as Snakemake renders it,
    with every config key it names defined and no raw dict or list printed in it."""
    from types import SimpleNamespace

    from jinja2 import Environment, StrictUndefined

    from enfopath.study.config import load_config, optional_stages

    monkeypatch.syspath_prepend(str(ROOT / "examples" / "own_model"))
    config = load_config(*shipped_study_files(study))
    env = Environment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    off = [stage for stage, on in optional_stages(config).items() if not on]
    captions = sorted(p for p in (ROOT / "report").glob("*.rst") if p.name != "figure.rst")
    assert len(captions) >= 15
    for path in [p for p in captions if not p.stem.startswith(tuple(off))]:
        text = env.from_string(path.read_text()).render(snakemake=SimpleNamespace(config=config))
        printed = re.findall(r"\{'|\['|\{\{|\{%|': ", text)  # a dict, a list, a template
        assert not printed, (path.name, printed, text)


def test_the_training_figure_draws_the_loss_and_the_monitors_numbers(table):
    steps = np.arange(1, 101)
    losses = pd.DataFrame({"step": steps, "loss": 1.0 / steps})
    kpe = pd.DataFrame(
        {
            "step": [0, 50, 100],
            "solver": "heun",
            "solver_steps": 16,
            "n": 256,
            "nonfinite": 0,
            "kpe_mean": [20.0, 30.0, 31.0],
            "chord_energy_mean": [18.0, 29.0, 30.5],
            "excess_energy_mean": [2.0, 1.0, 0.5],
            "nfe": 32.0,
            **{
                f"kpe_q{q}": [10.0 + i, 25.0 + i, 26.0 + i]
                for i, q in enumerate(("05", "25", "50", "75", "95"))
            },
            "heldout_loss": [2.0, 0.9, 0.8],
        }
    )
    ctx = FigureContext(SPACES, [2], 0.2, flow_losses=losses, flow_kpe=kpe)
    fig = FIGURES["flow_training"](table, ctx)
    loss_ax, _, excess_ax = fig.axes
    assert loss_ax.get_yscale() == "log"
    ys = {tuple(np.asarray(ln.get_ydata(), float)) for ax in fig.axes for ln in ax.get_lines()}
    for column in ("heldout_loss", "kpe_mean", "kpe_q50", "chord_energy_mean"):
        assert tuple(kpe[column]) in ys, column
    assert tuple(np.asarray(excess_ax.get_lines()[0].get_ydata(), float)) == (2.0, 1.0, 0.5)
    assert "last step 100: mean KPE 31" in fig._suptitle.get_text()
    assert "heun 16 steps (32 NFE each)" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match=r"flow_kpe\.csv"):
        FIGURES["flow_training"](table, FigureContext(SPACES, [2], 0.2, flow_losses=losses))
    plt.close(fig)
