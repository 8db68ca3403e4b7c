"""The study's figures and what each one reads, declared once, without drawing anything.

Each figure is one :class:`FigureSpec`: its name (the file ``figures/<name>.png``), the
statistics tables it reads (each a field of :class:`enfopath.study.figures.FigureContext`),
the optional stage without which it is not drawn, the samples it shows (the generated images,
or a 2-D study's endpoints with its paths and field), and the config keys it reads beyond those
every figure reads, and its report caption. ``rules/common.smk`` derives a figure's inputs from
the spec and whether a study draws it (:func:`study_figures`), :mod:`enfopath.study.jobs` its
config keys, ``workflow_scripts/figure.py`` what it loads, :func:`caption_file` the figure rule's
caption file ``report/figure.rst``; its drawing function is the function of
:mod:`enfopath.study.figures` named as the figure.

Building the DAG needs only these names: this module imports nothing heavy, so
``snakemake -n`` does not load matplotlib or seaborn.
"""

from __future__ import annotations

from dataclasses import dataclass

SAMPLE_KINDS = ("images", "plane")
"""What a figure shows of the samples: the generated images (the trajectory shards; image
studies only), or a 2-D study's endpoints with its paths and field (``plane/``; 2-D only)."""


@dataclass(frozen=True)
class FigureSpec:
    """One figure: what it reads and when a study draws it."""

    name: str
    caption: str
    """Its report caption: reStructuredText with Jinja, as Snakemake renders it, where ``cfg``
    is the study's config and :data:`CAPTION_SHARED`'s phrases are defined."""
    tables: tuple[tuple[str, str], ...] = ()
    """(``FigureContext`` field, table) pairs: ``statistics/<table>.csv`` read into the field."""
    models: tuple[tuple[str, str], ...] = ()
    """(``FigureContext`` field, file) pairs: ``models/<file>`` (a record of the study's own
    model training) read into the field."""
    stage: str | None = None
    """The optional stage it belongs to (drawn only when the stage runs:
    :func:`enfopath.study.config.figure_stages`)."""
    samples: str | None = None
    """One of :data:`SAMPLE_KINDS`, or None for a figure of the tables alone."""
    keys: tuple[str, ...] = ()
    """Config keys it reads beyond those of every figure (:mod:`enfopath.study.jobs`)."""

    def __post_init__(self) -> None:
        if self.samples not in (None, *SAMPLE_KINDS):
            raise ValueError(f"figure {self.name}: samples {self.samples!r} not in {SAMPLE_KINDS}")


CAPTION_SHARED = (
    '{% set semantic = "CLIP margin and CLIP score" if cfg["semantics"]["method"] == "clip" else '
    '"classifier margin (top-1 minus top-2 probability) and confidence, on a logit scale" %}',
    '{% set level = (100 * cfg["statistics"]["confidence"]) | round | int %}',
    '{% set binned = "red: the measure per KPE quantile bin (" ~ cfg["statistics"]["bins"] ~ '
    '" bins, from quantile_curves.csv): its mean with a " ~ level ~ " % normal interval, or, for '
    "a measure that saturates at 1 (classifier confidence and margin, on a logit scale, where a "
    'mean would run below the cloud), its median with a distribution-free " ~ level ~ " % '
    'interval; title: Spearman ρ with its " ~ level ~ " % bootstrap interval and n (from '
    'correlations.csv)." %}',
    '{% set reference = cfg["robustness"]["reference"].items() | reject("eq", ("solver", '
    'cfg["robustness"]["reference"]["solver"])) | map("join", " ") | join(", ") %}',
    '{% set reference = cfg["robustness"]["reference"]["solver"] ~ (", " ~ reference if '
    'reference else "") %}',
    '{% set self = cfg["density"]["reference"] == "samples" %}',
    '{% set neighbour = "other generated sample" if self else "training point" %}',
    '{% set among_samples = " Density here is among the generated samples themselves (each '
    "leaving itself out; columns clip_self_…, pixels_self_…), since the model's training "
    "data is not at hand: it says where the model puts its samples close together, not how "
    'typical they are of real images." if self else "" %}',
)
"""Jinja phrases several captions use (``semantic``: the semantic measures in words;
``binned``: how a relation figure draws its binned means and states its ρ; ``reference``: the
robustness stage's reference solver in words, e.g. ``dopri5, rtol 1e-07, atol 1e-07``;
``neighbour`` and ``among_samples``: what density is measured against, and the caveat of
density among the generated samples, ``density.reference: samples``)."""

RELATIONS = (("correlations", "correlations"), ("curves", "quantile_curves"))
"""What a figure of the headline relations reads."""
GRID = ("figures.grid_samples",)

FIGURE_SPECS = (
    FigureSpec(
        "kpe_hist",
        caption=(
            "Histogram of the kinetic path energy; dashed lines mark the low / high group "
            'thresholds (bottom and top {{ cfg["statistics"]["group_quantile"] }} quantiles).'
        ),
    ),
    FigureSpec(
        "kpe_vs_margin",
        tables=RELATIONS,
        caption=("KPE against the {{ semantic }}; {{ binned }}"),
    ),
    FigureSpec(
        "kpe_vs_density",
        tables=RELATIONS,
        caption=(
            'KPE against the kNN log-density (−D·log d_k, k = {{ cfg["density"]["k"][0] }}) in '
            "each feature space; {{ binned }}{{ among_samples }}"
        ),
    ),
    FigureSpec(
        "kpe_vs_nn_distance",
        tables=RELATIONS,
        caption=(
            "KPE against the distance to the nearest {{ neighbour }} in each feature space; {{ "
            "binned }}{{ among_samples }}"
        ),
    ),
    FigureSpec(
        "speed_profile",
        caption=(
            "Squared speed ‖v(x(t), t)‖² over t: median and interquartile band for all samples "
            "and the low / high KPE groups."
        ),
    ),
    FigureSpec(
        "grid_low_kpe",
        samples="images",
        keys=GRID,
        caption=(
            "The lowest-KPE generated samples (clamped to [-1, 1] for display), with KPE, class "
            "and semantic margin above each."
        ),
    ),
    FigureSpec(
        "grid_high_kpe",
        samples="images",
        keys=GRID,
        caption=(
            "The highest-KPE generated samples (clamped to [-1, 1] for display), with KPE, class "
            "and semantic margin above each."
        ),
    ),
    FigureSpec(
        "kpe_confounds",
        tables=(("partial", "partial_correlations"),),
        stage="partial_correlations",
        caption=(
            "Forest plot of the confound stage (partial_correlations.csv): for KPE (left) and the "
            "excess energy E − ½‖x1 − x0‖² (right), the raw Spearman ρ with each measure (black) "
            "and the partial ρ controlling for the squared noise norm ‖x0‖² and for the chord "
            'energy (colours), each with its {{ (100 * cfg["statistics"]["confidence"]) | round | '
            "int }} % bootstrap interval. Relations that move to 0 under ‖x0‖² (a confounder) are "
            "carried by the size of the noise; the chord energy is a function of the endpoint, so "
            "its column is a decomposition into the excess energy, not a confounder adjustment."
        ),
    ),
    FigureSpec(
        "early_prediction",
        tables=(("early", "early_prediction"),),
        stage="early_prediction",
        caption=(
            "Early prediction from the partial energy E(s) (early_prediction.csv), against s > 0 "
            "(E(0) = 0 tells nothing), with {{ level }} % bootstrap bands, beside the free "
            "baselines known at s = 0 (markers with their intervals at s = 0: ‖x0‖², no model "
            "evaluation; the squared speed at t = 0, one evaluation; level lines on the left): "
            "left, the AUROC of E(s) for the final lowest / highest KPE groups (of which E(s) is a "
            "part); middle, the AUROC of E(s) for the highest (solid) and lowest (dashed) groups "
            "by each semantic measure (½ = no information); right, its Spearman ρ with the final "
            "KPE and with the semantic measures and each space's kNN and KDE log-densities (every "
            "measure is in the table). The title gives the first s from which E(s) tells the "
            "highest-KPE group better than every baseline (the lower end of its interval above "
            "their upper ends), with its AUROC, interval and n. The top axis gives the share of "
            "the NFE spent by s."
        ),
    ),
    FigureSpec(
        "memorization",
        tables=(("memorization", "memorization"),),
        stage="memorization",
        caption=(
            "Memorization against KPE (memorization.csv): left, the share of samples with d₁ / d₂ "
            "< 1/3 in pixel space per KPE quantile bin (1 = lowest KPE) with {{ (100 * "
            'cfg["statistics"]["confidence"]) | round | int }} % exact Clopper–Pearson intervals '
            "(with no memorized sample the whiskers are each bin's upper bound), the dashed line "
            "and band the share among all samples; right, d₁ / d₂ of each sample against its KPE, "
            "with the threshold; its title gives the memorized count and share with its interval "
            "and Spearman's ρ of d₁ / d₂ with KPE."
            '{% if cfg["sampling"]["t_end"] < 1 %} Beside '
            "each bar and point of the endpoint x(t_end), the same for the projected endpoint x̂₁ "
            "= x + (1 − t_end) v, where the flow is heading (the study stops at t_end = {{ "
            'cfg["sampling"]["t_end"] }}).{% endif %}'
        ),
    ),
    FigureSpec(
        "kpe_prdc",
        tables=(("prdc", "prdc"),),
        stage="prdc",
        caption=(
            "Precision, recall, density and coverage (prdc.csv, smallest k) of all samples and of "
            "the low, middle and high KPE groups (equal shares of the samples) against the "
            "training set, one panel per density space."
        ),
    ),
    FigureSpec(
        "kpe_fidelity",
        tables=(("fidelity", "fidelity"),),
        stage="fidelity",
        caption=(
            "Fréchet distance (fidelity.csv) of the low, middle and high KPE groups (equal "
            "shares of the samples) to the training set, one panel per density space: each "
            "group's FD with its {{ level }} % bootstrap interval over its samples, and in grey "
            "the median and central {{ level }} % of the FD of "
            '{{ cfg["fidelity"]["random_groups"] }} random groups of the same size (FD falls '
            "as a group grows: a group is compared with chance groups of its size). KID per "
            "group is in the table."
        ),
    ),
    FigureSpec(
        "schedules",
        tables=(("schedules", "schedules"),),
        stage="schedules",
        caption=(
            "Endpoint RMS error against the tight reference (schedules.csv) of the study's "
            'first {{ cfg["schedules"]["n_samples"] }} samples at each NFE budget, one panel '
            "per solver, one line per time grid (uniform solid; the energy grids follow the "
            "calibration's speed, energy rate or acceleration profile), with "
            "{{ level }} % intervals over the samples: a line below uniform's buys accuracy at "
            "the same cost."
        ),
    ),
    FigureSpec(
        "early_rejection",
        tables=(("early_rejection", "early_rejection"),),
        stage="early_rejection",
        caption=(
            "Early rejection (early_rejection.csv) of the study's first "
            '{{ cfg["early_rejection"]["n_samples"] }} samples: the share q of them with the '
            '{{ "lowest" if cfg["early_rejection"]["reject"] == "low" else "highest" }} '
            "partial energy E(s) stopped at each check time s, the rest integrated on. First "
            "panel: the sample evaluations spent, as a share of integrating every sample "
            "through; then the kept set's semantic quality and its Fréchet distance to the "
            "training set in each density space against q, one line per s with "
            "{{ level }} % bootstrap intervals, beside the median and central {{ level }} % of "
            '{{ cfg["early_rejection"]["random_draws"] }} random sets of the same size (grey), '
            "the set the final KPE keeps (the oracle, black) and all samples (dotted)."
        ),
    ),
    FigureSpec(
        "robustness_error",
        tables=(("robustness", "robustness"),),
        stage="robustness",
        caption=(
            "Accuracy of the KPE per solver setting (robustness.csv): the mean relative error "
            "against the reference ({{ reference }}) against the NFE, "
            "log–log, for the energy carried in the ODE state (solid) and the left-Riemann sum at "
            "the same nodes (dashed, fixed grids); slopes show each solver's order."
        ),
    ),
    FigureSpec(
        "robustness_ranking",
        tables=(("robustness", "robustness"),),
        stage="robustness",
        caption=(
            "Rank agreement per solver setting (robustness.csv), one row per setting with its "
            "NFE, sorted by NFE, named unstable where it is not: left, Spearman and Kendall of the "
            "KPE ranking against the reference; middle, the shares of the reference's lowest / "
            "highest KPE groups kept; right, the largest change of a headline Spearman ρ of KPE "
            "with a measure as a share of its bound (1, dashed: the bound; "
            "robustness_correlations.csv). A setting is stable where both overlaps are ≥ {{ "
            'cfg["robustness"]["stable_overlap"] }}, its mean KPE error ≤ {{ '
            'cfg["robustness"]["stable_kpe_error"] }} and every change of ρ within its bound; the '
            "title counts them."
        ),
    ),
    FigureSpec(
        "comparison",
        tables=(("comparison", "comparison"),),
        stage="comparison",
        caption=(
            'This study against its baseline study {{ cfg["compare"]["baseline"] }} on the same '
            "samples (comparison.csv): left, the mean per-sample change (this study − baseline) "
            "of each measure in units of the baseline's standard deviation, with its paired "
            "bootstrap interval; right, the spread of the per-sample change (5–95 % and 25–75 % "
            "of the samples, and the median) in the same units. The memorized share is drawn in "
            'percentage points. {% if cfg["compare"]["control"] %}Beside it, in the baseline\'s '
            'units: the control {{ cfg["compare"]["control"] }} − baseline, and this study − '
            "control, what exceeds the control.{% endif %}"
        ),
    ),
    FigureSpec(
        "replicates",
        tables=(("replicates", "replicates"),),
        stage="replicates",
        caption=(
            "The Spearman ρ of each energy (a panel each) with every measure under the study's "
            "flow (filled, black) and under each flow trained from another seed of "
            'replicates.flow_seeds ({{ cfg["replicates"]["flow_seeds"] }}; hollow), all from the '
            "study's noise and scored by the study's own models (replicates.csv), with {{ (100 * "
            'cfg["statistics"]["confidence"]) | round | int }} % bootstrap intervals: a sign that '
            "only some flows show is one network's, not the method's."
        ),
    ),
    FigureSpec(
        "ladder",
        tables=(("ladder", "ladder"), ("ladder_rungs", "ladder_rungs")),
        stage="ladder",
        caption=(
            '{% set elsewhere = cfg["flow"]["checkpoints"] %}The checkpoint ladder (ladder.csv, '
            "ladder_rungs.csv): {% if elsewhere %}the checkpoints of flow.checkpoints at steps "
            '{{ elsewhere | map(attribute="step") | join(", ") }} and the study\'s flow at {{ '
            'cfg["flow"]["checkpoint_step"] }}, trained elsewhere{% else %}the EMA weights of the '
            'training run at steps {{ cfg["replicates"]["flow_steps"] | join(", ") }} and {{ '
            'cfg["flow"]["steps"] }} (the study\'s flow){% endif %}, each run from the study\'s '
            'first {{ cfg["replicates"]["n_samples"] }} noise samples, against the optimizer step '
            "(log scale{% if not elsewhere %}; the top axes give each rung's held-out "
            "loss{% endif %}): left, the Spearman ρ of KPE "
            "with the semantic margin and with the kNN log-density in each space; second, the "
            "same given the chord energy (the excess energy's relation), where the confound "
            "stage's controls include it, else given the first control; third, the KPE "
            "distribution per rung (5–95 % and 25–75 % of the samples, median and mean); right, "
            "the mean semantic quality and the memorized share. Intervals: {{ (100 * "
            'cfg["statistics"]["confidence"]) | round | int }} % bootstrap; with replicate seeds, '
            "each seed's run is a line of its own (the study's solid)."
        ),
    ),
    FigureSpec(
        "prompt_effects",
        tables=(("prompt_effects", "prompt_effects"),),
        stage="prompt_effects",
        caption=(
            "What the prompt set allows (prompt_effects.csv): left, each prompt's mean KPE "
            "against its mean CLIP score (one point per prompt, coloured by category), with "
            "Spearman's ρ across prompts and the pooled within-prompt ρ among the seeds of one "
            "prompt in the title; middle, the intraclass correlation ICC(1) of each measure, the "
            "share of its variance that is the prompt's rather than the noise's; right, the mean "
            "KPE per prompt category with its prompts' means. Intervals: {{ (100 * "
            'cfg["statistics"]["confidence"]) | round | int }} % cluster bootstrap over prompts.'
        ),
    ),
    FigureSpec(
        "flow_training",
        models=(("flow_losses", "flow_losses.csv"), ("flow_kpe", "flow_kpe.csv")),
        stage="flow_training",
        caption=(
            '{% set m = cfg["flow"]["monitor"] %}The flow\'s training with KPE as its monitor '
            "(flow_losses.csv, flow_kpe.csv): left, the flow-matching loss per optimizer step "
            "(grey; a running mean in black) and the held-out loss of the EMA weights at each "
            'evaluation (red); middle, the KPE of the study\'s first {{ m["n_samples"] }} noise '
            'samples under the EMA weights ({{ m["solver"] }}, {{ m["steps"] }} steps): mean, '
            "median, 25–75 % and 5–95 % bands, and the mean chord energy ½‖x(1) − x(0)‖² "
            "(dashed); right, the mean excess energy E − chord, how far the paths are from "
            "straight. The last evaluation's weights are the study's flow."
        ),
    ),
    FigureSpec(
        "plane_trajectories",
        samples="plane",
        caption=(
            'A 2-D study\'s trajectories in the plane: the first {{ cfg["figures"]["plane_paths"] '
            "}} samples (their own noise, integrated again densely for drawing), each coloured by "
            "its kinetic path energy, over the training data's density (grey hexagons); dots mark "
            "the endpoints."
        ),
    ),
    FigureSpec(
        "plane_field",
        samples="plane",
        caption=(
            "The velocity integrated by the study, v(x, t), on a grid at five times from 0 to the "
            "end of the integration, arrows coloured by speed, over the training data (grey)."
        ),
    ),
    FigureSpec(
        "plane_endpoints",
        samples="plane",
        caption=(
            "Endpoints of the low and high KPE groups (bottom and top {{ "
            'cfg["statistics"]["group_quantile"] }} quantiles) over the training data\'s density.'
        ),
    ),
)
"""Every figure, in the report's order."""
FIGURE = {spec.name: spec for spec in FIGURE_SPECS}
"""The spec of each figure, by name."""
FIGURE_NAMES = tuple(FIGURE)
"""Every figure, as the file name figures/<name>.png."""
IMAGE_FIGURES = tuple(s.name for s in FIGURE_SPECS if s.samples == "images")
"""Figures of the generated images (image studies only)."""
PLANE_FIGURES = tuple(s.name for s in FIGURE_SPECS if s.samples == "plane")
"""Figures of a 2-D study (instead of the sample grids)."""


def study_figures(stages: dict[str, bool], plane: bool) -> tuple[str, ...]:
    """The figures a study draws, in the report's order: those of no stage or of a stage that
    runs (``stages``: :func:`enfopath.study.config.optional_stages`), the plane figures for a
    2-D study (``plane``) and the image figures for any other."""
    return tuple(
        spec.name
        for spec in FIGURE_SPECS
        if (spec.stage is None or stages[spec.stage])
        and spec.samples != ("images" if plane else "plane")
    )


def caption_file() -> str:
    """``report/figure.rst``, the figure rule's caption, derived from the specs: Snakemake
    renders one caption file per rule, so the file dispatches on the figure's name to its
    spec's caption (a test holds the committed file to this;
    ``python -m enfopath.study.figure_names > report/figure.rst`` writes it)."""
    lines = [
        "{% set name = snakemake.wildcards.name %}",
        "{% set cfg = snakemake.config %}",
        *CAPTION_SHARED,
    ]
    for i, spec in enumerate(FIGURE_SPECS):
        lines.append(f'{{% {"el" if i else ""}if name == "{spec.name}" %}}{spec.caption}')
    return "\n".join([*lines, "{% endif %}", ""])


def rendered_caption(name: str, config: dict) -> str:
    """Figure ``name``'s caption for the study of the validated ``config``, rendered as
    Snakemake renders :func:`caption_file` (Jinja with ``trim_blocks`` and ``lstrip_blocks``):
    reStructuredText for the figure's page in the report."""
    from types import SimpleNamespace

    import jinja2

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    snakemake = SimpleNamespace(config=config, wildcards=SimpleNamespace(name=name))
    return env.from_string(caption_file()).render(snakemake=snakemake).strip()


if __name__ == "__main__":
    print(caption_file(), end="")
