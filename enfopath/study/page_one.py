"""The report's first page: the study's answer, written from its own tables.

:func:`results_text` reads the finished study's tables (the summary, the correlations and, where
their stages ran, the confound, early-prediction, robustness, memorization and fidelity tables)
and writes one reStructuredText bullet per finding, each number formatted from the table it
comes from and linked to the figure that shows it (a link is ``name.png`` followed by an
underscore, which Snakemake's report resolves to the figure). No number is typed by hand: a
table that changes changes the page. The ``page_one`` rule puts this text above the method
(``report/workflow.rst``), and the Snakefile makes the result the report's first page once it
exists.

Conventions: Spearman ρ with the study's bootstrap interval at ``statistics.confidence`` (read
from the summary), q the Benjamini–Hochberg q-value of its table; "significant" means q below
:data:`Q_LEVEL`. The headline measures are :func:`enfopath.study.tables.headline_measures`.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from enfopath.columns import density_prefixes
from enfopath.measures.early import PARTIAL, first_beating_baselines
from enfopath.study.tables import QUALITY as QUALITY_MEASURES
from enfopath.study.tables import headline_measures
from enfopath.study.words import describe

Q_LEVEL = 0.05
"""The q-value below which the page calls a relation significant."""
NOISE = "x0_norm_sq"
"""The confounder every headline relation is also given controlled for: ‖x₀‖²."""


@dataclass(frozen=True)
class StudyTables:
    """What the page reads: the summary (key → value, as ``summary.csv`` holds it), the
    correlations, each optional stage's table (None where the stage did not run) and the
    figures the study draws (names, without ``.png``)."""

    summary: dict[str, str]
    correlations: pd.DataFrame
    figures: tuple[str, ...]
    partial: pd.DataFrame | None = None
    early: pd.DataFrame | None = None
    robustness: pd.DataFrame | None = None
    memorization: pd.DataFrame | None = None
    prdc: pd.DataFrame | None = None
    fidelity: pd.DataFrame | None = None
    schedules: pd.DataFrame | None = None
    early_rejection: pd.DataFrame | None = None

    def value(self, key: str) -> str:
        if key not in self.summary:
            raise KeyError(f"statistics/summary.csv has no row {key!r}")
        return self.summary[key]

    def number(self, key: str) -> float:
        return float(self.value(key))

    @property
    def level(self) -> str:
        """The interval level in words, e.g. ``95 %``."""
        return f"{100 * self.number('confidence'):g} %"

    def link(self, *names: str) -> str:
        """Links to those of the figures ``names`` that the study draws ('' for none)."""
        drawn = [f"`{n}.png`_" for n in names if n in self.figures]
        return f" ({', '.join(drawn)})" if drawn else ""


OPTIONAL_TABLES = (
    "partial",
    "early",
    "robustness",
    "memorization",
    "prdc",
    "fidelity",
    "schedules",
    "early_rejection",
)
"""The :class:`StudyTables` fields of the optional stages' tables."""


def read_study_tables(paths: dict[str, str], figures: tuple[str, ...]) -> StudyTables:
    """The :class:`StudyTables` of a study's table files (``summary``, ``correlations`` and
    each of :data:`OPTIONAL_TABLES` present in ``paths``), each verified as it is read."""
    from enfopath.io import read_csv

    return StudyTables(
        summary=dict(read_csv(paths["summary"])[["key", "value"]].astype(str).values.tolist()),
        correlations=read_csv(paths["correlations"]),
        figures=figures,
        **{name: read_csv(paths[name]) for name in OPTIONAL_TABLES if name in paths},
    )


def findings_of(figure: str, tables: StudyTables) -> list[str]:
    """The page's findings that link ``figure`` (its conclusions, for the figure's own page),
    without the links."""
    link = f"`{figure}.png`_"
    found = [line(tables) for line in LINES]
    return [_unlinked(f) for f in found if f is not None and link in f]


def _unlinked(finding: str) -> str:
    """A finding with its figure links left out (they lead to report panels)."""
    return re.sub(r" \((?:`[a-z0-9_]+\.png`_(?:, )?)+\)", "", finding)


def num(value: float, digits: int = 3) -> str:
    """A number for the page: ``digits`` decimals below 10, else 4 significant digits; a true
    minus sign; ``n/a`` for NaN."""
    if not math.isfinite(value):
        return "n/a"
    text = f"{value:.{digits}f}" if abs(value) < 10 else f"{value:.4g}"
    return text.replace("-", "−")


def q_text(q: float) -> str:
    """A q- or p-value: two significant digits, scientific below 0.001."""
    if not math.isfinite(q):
        return "n/a"
    return (f"{q:.1e}" if q < 1e-3 else f"{q:.2g}").replace("-", "−")


def share(value: float) -> str:
    """A share as a percentage (one decimal, two below 1 %)."""
    return f"{100 * value:.{2 if value < 0.01 else 1}f} %"


def interval(value: float, low: float, high: float, fmt: Callable[[float], str] = num) -> str:
    """An estimate with its interval, ``value [low, high]``, each written by ``fmt``."""
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]"


def _rho(rho: float, low: float, high: float, q: float) -> str:
    return f"ρ = {interval(rho, low, high)}, q = {q_text(q)}"


def _one(df: pd.DataFrame, what: str, **match: object) -> pd.Series:
    rows = df
    for column, value in match.items():
        rows = rows[rows[column] == value]
    if len(rows) != 1:
        raise ValueError(f"{what}: expected one row for {match}, found {len(rows)}")
    return rows.iloc[0]


def _spaces(tables: StudyTables) -> tuple[list[str], int]:
    """The density column prefixes and the smallest k, as the summary records them."""
    spaces = ast.literal_eval(tables.value("density_spaces"))
    k = min(ast.literal_eval(tables.value("density_k")))
    among_samples = tables.value("density_reference").startswith("the generated samples")
    reference = "samples" if among_samples else "data"
    return density_prefixes({"spaces": spaces, "reference": reference}), int(k)


def _relation(tables: StudyTables, measure: str) -> str:
    """ρ of KPE with ``measure``, raw and, where the confound stage ran, given ‖x₀‖²."""
    raw = _one(tables.correlations, "correlations.csv", energy="kpe", measure=measure)
    text = f"{describe(measure)}: " + _rho(
        raw.spearman_rho, raw.spearman_rho_ci_low, raw.spearman_rho_ci_high, raw.spearman_q
    )
    if tables.partial is not None and NOISE in set(tables.partial.control):
        p = _one(
            tables.partial, "partial_correlations.csv", energy="kpe", measure=measure, control=NOISE
        )
        text += (
            "; given ‖x₀‖²: "
            f"{_rho(p.partial_rho, p.partial_rho_ci_low, p.partial_rho_ci_high, p.partial_q)}"
        )
    return text


def study_line(tables: StudyTables) -> str:
    """What was sampled, how, and how many samples were analysed."""
    flow = tables.summary.get("flow_model", "a flow trained here by flow matching")
    chord = tables.number("chord_energy_mean") / tables.number("kpe_mean")
    return (
        f"**The study**: {int(tables.number('n_samples')):,} samples of {flow} on "
        f"{tables.value('dataset')} (state {tables.value('state_shape')}), "
        f"{int(tables.number('n_analysed')):,} analysed "
        f"({int(tables.number('n_nonfinite_excluded'))} non-finite left out); solver "
        f"{tables.value('solver')} ({tables.value('solver_setting')}), mean NFE "
        f"{tables.number('nfe_mean'):.1f}. Mean KPE {num(tables.number('kpe_mean'))}, "
        f"{share(chord)} of it the chord energy ½‖x₁ − x₀‖²{tables.link('kpe_hist')}."
    )


QUALITY = {
    "classifier_test_accuracy": ("the classifier's test accuracy", share),
    "generated_mean_confidence": ("the samples' mean classifier confidence", num),
    "generated_share_confidence_ge_0.9": ("their share at confidence ≥ 0.9", share),
    "generated_mean_clip_score": ("the samples' mean CLIP score", num),
    "generated_mean_clip_margin": ("their mean CLIP margin", num),
}
"""The sample-quality rows of the summary the page states, in words, with their format."""


def quality_line(tables: StudyTables) -> str | None:
    """The samples' semantic quality, from the summary."""
    parts = [
        f"{words} {fmt(float(tables.summary[key]))}"
        for key, (words, fmt) in QUALITY.items()
        if key in tables.summary
    ]
    if not parts:
        return None
    return f"**Sample quality**: {'; '.join(parts)}. Classes: {tables.value('class_used')}."


def semantics_line(tables: StudyTables) -> str | None:
    """The headline relation of KPE with the semantic margin."""
    measures = list(dict.fromkeys(tables.correlations.measure))
    prefixes, k = _spaces(tables)
    margin = [m for m in headline_measures(measures, prefixes, k) if "margin" in m]
    if not margin:
        return None
    n = int(_one(tables.correlations, "correlations.csv", energy="kpe", measure=margin[0]).n)
    return (
        f"**KPE and semantics**: Spearman ρ of KPE with the {_relation(tables, margin[0])} "
        f"(n = {n:,}; {tables.level} bootstrap intervals)"
        f"{tables.link('kpe_vs_margin', 'kpe_confounds')}."
    )


def density_line(tables: StudyTables) -> str | None:
    """The headline relation of KPE with the kNN log-density, one clause per space."""
    measures = list(dict.fromkeys(tables.correlations.measure))
    prefixes, k = _spaces(tables)
    density = [m for m in headline_measures(measures, prefixes, k) if "knn_logdens" in m]
    if not density:
        return None
    clauses = [_relation(tables, m) for m in density]
    return (
        f"**KPE and density**: Spearman ρ of KPE with the {'; with the '.join(clauses)}"
        f"{tables.link('kpe_vs_density', 'kpe_vs_nn_distance')}."
    )


def confound_line(tables: StudyTables) -> str | None:
    """How many of KPE's significant relations survive controlling for ‖x₀‖²."""
    if tables.partial is None or NOISE not in set(tables.partial.control):
        return None
    given = tables.partial[(tables.partial.energy == "kpe") & (tables.partial.control == NOISE)]
    significant = given[given.spearman_q < Q_LEVEL]
    kept = significant[
        (significant.partial_q < Q_LEVEL) & (significant.partial_rho * significant.spearman_rho > 0)
    ]
    emerging = given[(given.spearman_q >= Q_LEVEL) & (given.partial_q < Q_LEVEL)]
    rho_noise = tables.number("spearman_kpe_x0_norm_sq")
    return (
        f"**Confounds**: KPE follows the size of its noise (Spearman ρ with the {describe(NOISE)} "
        f"= {num(rho_noise)}). Of KPE's {len(given)} relations, {len(significant)} are "
        f"significant (q < {Q_LEVEL:g}) and {len(kept)} of them stay so, with the same sign, "
        f"given ‖x₀‖²; {len(emerging)} are significant only given ‖x₀‖²"
        f"{tables.link('kpe_confounds')}."
    )


def early_line(tables: StudyTables) -> str | None:
    """The first profile time at which the partial energy E(s) beats both free baselines at
    telling the final highest-KPE group (:func:`enfopath.measures.early.first_beating_baselines`),
    with its AUROC and theirs."""
    if tables.early is None:
        return None
    auroc = tables.early[
        (tables.early.statistic == "auroc") & (tables.early.target == "high_kpe_group")
    ]
    baselines = auroc[auroc.predictor != PARTIAL]
    free = "; ".join(
        f"{describe(row.predictor)} {num(row.value)}" for row in baselines.itertuples()
    )
    row = first_beating_baselines(tables.early, "high_kpe_group")
    if row is None:
        return (
            "**Early prediction**: the partial energy E(s) does not beat the free baselines "
            f"({free}) at telling the final highest-KPE group before the end of the "
            f"integration{tables.link('early_prediction')}."
        )
    return (
        f"**Early prediction**: from s = {row.s:g} on ({share(row.nfe_share)} of the NFE), the "
        "partial energy E(s) tells the final highest-KPE group with AUROC "
        f"{interval(row.value, row.value_ci_low, row.value_ci_high)}, above the free baselines "
        f"known at s = 0 ({free}){tables.link('early_prediction')}."
    )


def robustness_line(tables: StudyTables) -> str | None:
    """How many solver settings are stable, and the cheapest stable one."""
    if tables.robustness is None:
        return None
    others = tables.robustness[~tables.robustness.reference.astype(bool)]
    stable = others[others.stable.astype(bool)].sort_values("nfe")
    text = f"**Robustness to the solver**: {len(stable)} of {len(others)} settings are stable"
    if not stable.empty:
        cheapest = stable.iloc[0]
        text += (
            f"; the cheapest, {cheapest.setting}, at {cheapest.nfe:.0f} NFE (the study's solver: "
            f"{tables.number('nfe_mean'):.1f}), with a mean KPE error of "
            f"{share(cheapest.kpe_rel_error_mean)} and a KPE ranking Spearman of "
            f"{num(cheapest.spearman, 4)}"
        )
    return text + f"{tables.link('robustness_ranking', 'robustness_error')}."


def memorization_line(tables: StudyTables) -> str | None:
    """The memorized share of all samples, with its exact interval, and its relation to KPE."""
    if tables.memorization is None:
        return None
    everyone = _one(tables.memorization, "memorization.csv", endpoint="endpoint", bin=0)
    memorized = interval(
        everyone.fraction, everyone.fraction_ci_low, everyone.fraction_ci_high, share
    )
    return (
        f"**Memorization**: {int(everyone.memorized):,} of {int(everyone.n):,} samples "
        f"({memorized}, exact {tables.level} interval) have d₁ / d₂ < 1/3 in pixel space; "
        f"Spearman ρ of d₁ / d₂ with KPE = {num(everyone.spearman_rho)}, "
        f"q = {q_text(everyone.spearman_q)}{tables.link('memorization')}."
    )


def prdc_line(tables: StudyTables) -> str | None:
    """Precision and recall of the lowest and highest KPE groups, first space, smallest k."""
    if tables.prdc is None:
        return None
    space = tables.prdc.space.iloc[0]
    rows = tables.prdc[(tables.prdc.space == space) & (tables.prdc.k == tables.prdc.k.min())]
    groups = {row.group: row for row in rows.itertuples()}
    parts = [
        f"{name} {num(groups[g].precision)} / {num(groups[g].recall)}"
        for g, name in (("low", "lowest-KPE group"), ("high", "highest-KPE group"), ("all", "all"))
        if g in groups
    ]
    return (
        f"**Fidelity per KPE group** (precision / recall against the training set, "
        f"{describe(f'{space}_nn_dist').split(', ')[-1]}, k = {int(rows.k.iloc[0])}): "
        f"{'; '.join(parts)}{tables.link('kpe_prdc')}."
    )


def fidelity_line(tables: StudyTables) -> str | None:
    """The Fréchet distance of the lowest and highest KPE groups in the first space, each with
    its interval, beside random groups of their size."""
    if tables.fidelity is None:
        return None
    space = tables.fidelity.space.iloc[0]
    groups = {
        row.group: row for row in tables.fidelity[tables.fidelity.space == space].itertuples()
    }
    parts = [
        f"{name} {interval(groups[g].fd, groups[g].fd_ci_low, groups[g].fd_ci_high)}"
        for g, name in (("low", "lowest-KPE group"), ("high", "highest-KPE group"))
    ]
    low = groups["low"]
    if not math.isnan(low.fd_random):  # the bands are of one size: one baseline
        chance = interval(low.fd_random, low.fd_random_ci_low, low.fd_random_ci_high)
        parts.append(f"random groups of that size {chance}")
    return (
        f"**Fréchet distance per KPE group** (against the training set, "
        f"{describe(f'{space}_nn_dist').split(', ')[-1]}, {int(low.n_fake):,} samples "
        f"per group): {'; '.join(parts)}{tables.link('kpe_fidelity')}."
    )


SCHEDULE_NFE = 8
"""The NFE budget at which the first page compares the time grids (the nearest the study has)."""


def schedules_line(tables: StudyTables) -> str | None:
    """Each solver's endpoint error on every grid over the uniform grid's, at the NFE budget
    nearest :data:`SCHEDULE_NFE`."""
    if tables.schedules is None:
        return None
    fixed = tables.schedules[tables.schedules.grid != "adaptive"]
    nfe = min(fixed.nfe.unique(), key=lambda n: (abs(n - SCHEDULE_NFE), n))
    parts = []
    for solver, rows in fixed[fixed.nfe == nfe].groupby("solver", sort=False):
        ratios = ", ".join(
            f"{row.grid} {num(row.x1_error_vs_uniform, 2)}"
            for row in rows.itertuples()
            if row.grid != "uniform"
        )
        parts.append(f"{solver}: {ratios}")
    return (
        f"**Time grids** (endpoint RMS error against the tight reference over the uniform "
        f"grid's, at {nfe:g} model evaluations per sample, {int(fixed.n.iloc[0]):,} samples; "
        f"below 1 beats uniform): {'; '.join(parts)}{tables.link('schedules')}."
    )


def early_rejection_line(tables: StudyTables) -> str | None:
    """At the first check time and the middle share: the compute spent, and the kept set's
    semantic quality and FD in the first space, beside random sets of its size and the
    final-KPE oracle."""
    if tables.early_rejection is None:
        return None
    e = tables.early_rejection.fillna({"space": ""})
    s = e.check_time.min()
    shares = sorted(e.share.unique())
    q = shares[len(shares) // 2]
    rows = e[(e.check_time == s) & (e.share == q)]
    first = rows.iloc[0]
    parts = []
    for measure in (*QUALITY_MEASURES, "fd"):
        found = rows[rows.measure == measure]
        if found.empty:
            continue
        r = found.iloc[0]
        where = f" ({describe(f'{r.space}_nn_dist').split(', ')[-1]})" if r.space else ""
        parts.append(
            f"{describe(measure).split(' (')[0] if measure != 'fd' else 'Fréchet distance'}"
            f"{where} {interval(r.energy, r.energy_ci_low, r.energy_ci_high)} against "
            f"{interval(r.random, r.random_ci_low, r.random_ci_high)} for random sets of its "
            f"size ({100 * r.random_share_better:.0f} % of them better), {num(r.oracle)} for "
            f"the final-KPE oracle and {num(r['all'])} for all samples"
        )
    side = "lowest" if first.reject == "low" else "highest"
    return (
        f"**Early rejection** (of {int(first.n):,} samples, the {100 * q:g} % with the "
        f"{side} partial energy E(s) stopped at s = {s:g}, the rest integrated on): "
        f"{100 * first.nfe_share:.1f} % of the sample evaluations of integrating every sample "
        f"through; the kept set's {'; '.join(parts)}{tables.link('early_rejection')}."
    )


LINES = (
    study_line,
    quality_line,
    semantics_line,
    density_line,
    confound_line,
    early_line,
    robustness_line,
    memorization_line,
    prdc_line,
    fidelity_line,
    schedules_line,
    early_rejection_line,
)
"""The page's findings, in order; each returns None where its table is absent."""


def results_text(tables: StudyTables) -> str:
    """The results section (reStructuredText): a heading paragraph and one bullet per finding."""
    bullets: Iterable[str] = (line(tables) for line in LINES)
    items = [b for b in bullets if b is not None]
    intro = (
        f"**Results of {tables.value('experiment')}**, written from this study's tables "
        "(``statistics/*.csv``) when it finished; every figure and table is in the panels "
        f"below. Intervals: {tables.level} bootstrap (exact for shares); q: Benjamini–Hochberg."
    )
    body = "\n".join(f"- {item}" for item in items)
    return f"{intro}\n\n{body}\n"


def page_one(results: str, method: str) -> str:
    """The report's first page: ``results`` (kept from Jinja, which renders the page with the
    config: a table's text is never read as a template) above the ``method`` text
    (``report/workflow.rst``, a template)."""
    return f"{{% raw %}}{results}\n{{% endraw %}}\n\n**Method**\n\n{method}"
