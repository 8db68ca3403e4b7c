"""The report's first page: every number it states is the study's table's, and moves with it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY

from enfopath.study.page_one import LINES, StudyTables, page_one, results_text

TABLES = {
    "partial": "partial_correlations",
    "early": "early_prediction",
    "robustness": "robustness",
    "memorization": "memorization",
    "prdc": "prdc",
    "fidelity": "fidelity",
    "schedules": "schedules",
    "early_rejection": "early_rejection",
}


def read_tables(study: Path, **changed: pd.DataFrame) -> StudyTables:
    stats = study / "results" / TINY["experiment"] / "statistics"
    present = {
        k: pd.read_csv(stats / f"{v}.csv")
        for k, v in TABLES.items()
        if (stats / f"{v}.csv").is_file()
    }
    summary = pd.read_csv(stats / "summary.csv")
    tables = {
        "summary": dict(summary[["key", "value"]].astype(str).values.tolist()),
        "correlations": pd.read_csv(stats / "correlations.csv"),
        "figures": ("kpe_vs_margin", "kpe_confounds", "early_prediction"),
        **present,
    }
    return StudyTables(**(tables | changed))


def plain(value: float) -> str:
    """A number as the page writes it, formatted here independently of the page's code."""
    return f"{value:.3f}".replace("-", "−")


def g4(value: float) -> str:
    """A number of 10 or more as the page writes it: 4 significant digits."""
    assert value >= 10
    return f"{value:.4g}"


def written(value: float) -> str:
    """Any number as the page writes it: :func:`plain` below 10, :func:`g4` from 10 on."""
    return plain(value) if abs(value) < 10 else g4(value)


def bullet(text: str, lead: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith(f"- **{lead}**")]
    return line


def test_the_headline_relations_are_the_correlation_tables(study):
    tables = read_tables(study)
    text = results_text(tables)
    corr = tables.correlations.set_index(["energy", "measure"])
    row = corr.loc[("kpe", "clf_margin")]
    semantics = bullet(text, "KPE and semantics")
    assert (
        f"ρ = {plain(row.spearman_rho)} [{plain(row.spearman_rho_ci_low)}, "
        f"{plain(row.spearman_rho_ci_high)}]" in semantics
    )
    part = tables.partial.set_index(["energy", "measure", "control"]).loc[
        ("kpe", "clf_margin", "x0_norm_sq")
    ]
    assert (
        f"given ‖x₀‖²: ρ = {plain(part.partial_rho)} [{plain(part.partial_rho_ci_low)},"
        in semantics
    )
    assert f"n = {int(row.n):,}" in semantics and "95 % bootstrap" in semantics
    density = bullet(text, "KPE and density")
    for space in TINY.get("density", {}).get("spaces", ["pixels", "classifier"]):
        k = min(TINY["density"]["k"])
        r = corr.loc[("kpe", f"{space}_knn_logdens{k}")]
        assert f"ρ = {plain(r.spearman_rho)} [{plain(r.spearman_rho_ci_low)}" in density, space
    assert "`kpe_vs_margin.png`_" in semantics  # drawn by the study: linked
    assert "kpe_vs_density.png" not in density  # not in this test's list of drawn figures


def test_a_changed_table_changes_the_page(study):
    tables = read_tables(study)
    corr = tables.correlations.copy()
    pick = (corr.energy == "kpe") & (corr.measure == "clf_margin")
    corr.loc[pick, "spearman_rho"] = 0.4321
    changed = results_text(read_tables(study, correlations=corr))
    assert "ρ = 0.432 [" in bullet(changed, "KPE and semantics")
    assert "ρ = 0.432 [" not in results_text(tables)
    summary = dict(tables.summary, n_samples="12345")
    assert "12,345 samples" in bullet(
        results_text(read_tables(study, summary=summary)), "The study"
    )


def test_each_stage_has_its_line_and_a_missing_stage_none(study):
    tables = read_tables(study)
    text = results_text(tables)
    for lead in ("Confounds", "Early prediction", "Robustness to the solver"):
        assert f"- **{lead}**" in text, lead
    early = tables.early[
        (tables.early.target == "high_kpe_group") & (tables.early.statistic == "auroc")
    ]
    line = bullet(text, "Early prediction")
    own = early[early.predictor == "partial_kpe"]
    assert any(f"AUROC {plain(v)} [" in line for v in own.value) or "does not beat" in line
    robust = tables.robustness[~tables.robustness.reference.astype(bool)]
    assert f"{int(robust.stable.astype(bool).sum())} of {len(robust)} settings" in text
    bare = results_text(read_tables(study, partial=None, early=None, robustness=None))
    assert "Confounds" not in bare and "Early prediction" not in bare and "given ‖x₀‖²" not in bare
    assert len(LINES) == 12


def test_the_page_keeps_the_tables_text_from_jinja():
    page = page_one("- **x**: {{ not a template }}\n", "{{ cfg }}")
    assert page.startswith("{% raw %}- **x**: {{ not a template }}\n\n{% endraw %}")
    assert page.endswith("**Method**\n\n{{ cfg }}")


@pytest.mark.parametrize(
    "name", ["memorization", "prdc", "fidelity", "schedules", "early_rejection"]
)
def test_the_optional_tables_of_the_tiny_study_are_read_when_present(study, name):
    tables = read_tables(study)
    lead = {
        "memorization": "Memorization",
        "prdc": "Fidelity per KPE group",
        "fidelity": "Fréchet distance per KPE group",
        "schedules": "Time grids",
        "early_rejection": "Early rejection",
    }[name]
    text = results_text(tables)
    assert (f"- **{lead}**" in text) == (getattr(tables, name) is not None)
    assert f"- **{lead}**" not in results_text(read_tables(study, **{name: None}))


def test_the_frechet_line_states_the_tables_distances_and_random_baseline(study):
    tables = read_tables(study)
    fid = tables.fidelity[tables.fidelity.space == tables.fidelity.space.iloc[0]]
    line = bullet(results_text(tables), "Fréchet distance per KPE group")
    for group, name in (("low", "lowest-KPE group"), ("high", "highest-KPE group")):
        row = fid.set_index("group").loc[group]
        want = f"{name} {g4(row.fd)} [{g4(row.fd_ci_low)}, {g4(row.fd_ci_high)}]"
        random = f"{g4(row.fd_random)} [{g4(row.fd_random_ci_low)}, "
        assert want in line and random in line
    assert f"{int(fid.n_fake.iloc[1])} samples per group" in line


def test_a_figures_page_holds_its_caption_under_it_and_the_findings_it_shows(study):
    from enfopath.study.config import validate_config
    from enfopath.study.figure_names import rendered_caption
    from enfopath.study.figure_pages import figure_page
    from enfopath.study.page_one import findings_of

    tables = read_tables(study)
    findings = findings_of("kpe_vs_margin", tables)
    assert len(findings) == 1 and findings[0].startswith("**KPE and semantics**")
    assert ".png`_" not in findings[0]  # no link to a report panel on a page of its own
    assert findings_of("speed_profile", tables) == []  # no finding of page one shows it
    import copy

    caption = rendered_caption("kpe_vs_margin", validate_config(copy.deepcopy(TINY)))
    assert "{{" not in caption and "95 % bootstrap interval" in caption
    page = figure_page("kpe_vs_margin", b"\x89PNG fake", caption, findings)
    assert page.index("<img") < page.index("quantile_curves.csv") < page.index("What this study")
    assert "<strong>KPE and semantics</strong>" in page


def test_the_time_grids_line_states_each_grids_ratio_to_uniform_at_8_nfe(study):
    tables = read_tables(study)
    line = bullet(results_text(tables), "Time grids")
    s = tables.schedules[(tables.schedules.nfe == 8) & (tables.schedules.grid != "uniform")]
    assert "at 8 model evaluations per sample" in line
    for row in s[s.grid != "adaptive"].itertuples():
        assert f"{row.grid} {row.x1_error_vs_uniform:.2f}" in line
    assert line.index("euler:") < line.index("heun:")


def test_the_early_rejection_line_states_the_compute_and_the_kept_sets_baselines(study):
    tables = read_tables(study)
    e = tables.early_rejection.fillna({"space": ""})
    line = bullet(results_text(tables), "Early rejection")
    rows = e[(e.check_time == 0.2) & (e.share == 0.5)]  # the first check time, the middle share
    first = rows.iloc[0]
    assert "the 50 % with the lowest partial energy E(s) stopped at s = 0.2" in line
    assert f"{100 * first.nfe_share:.1f} % of the sample evaluations" in line
    for measure in ("clf_confidence", "fd"):
        r = rows[rows.measure == measure].iloc[0]
        ci = f"{written(r.energy)} [{written(r.energy_ci_low)}, {written(r.energy_ci_high)}]"
        assert f"{ci} against" in line
        assert f"({100 * r.random_share_better:.0f} % of them better), {written(r.oracle)}" in line
