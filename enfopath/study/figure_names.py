"""The study's figures and what each one reads, declared once, without drawing anything.

Each figure is one :class:`FigureSpec`: its name (the file ``figures/<name>.png``), the
statistics tables it reads (each a field of :class:`enfopath.study.figures.FigureContext`),
the optional stage without which it is not drawn, the samples it shows (the generated images,
or a 2-D study's endpoints with its paths and field), and the config keys it reads beyond those
every figure reads. ``rules/common.smk`` derives a figure's inputs and whether a study draws it
from the spec, :mod:`enfopath.study.jobs` its config keys, ``workflow_scripts/figure.py`` what it
loads; the drawing functions are in :mod:`enfopath.study.figures` (``FIGURES``, in this order)
and the captions in ``report/figure.rst``.

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
    tables: tuple[tuple[str, str], ...] = ()
    """(``FigureContext`` field, table) pairs: ``statistics/<table>.csv`` read into the field."""
    stage: str | None = None
    """The optional analysis stage it belongs to (drawn only when the stage runs)."""
    samples: str | None = None
    """One of :data:`SAMPLE_KINDS`, or None for a figure of the tables alone."""
    keys: tuple[str, ...] = ()
    """Config keys it reads beyond those of every figure (:mod:`enfopath.study.jobs`)."""

    def __post_init__(self) -> None:
        if self.samples not in (None, *SAMPLE_KINDS):
            raise ValueError(f"figure {self.name}: samples {self.samples!r} not in {SAMPLE_KINDS}")


RELATIONS = (("correlations", "correlations"), ("curves", "quantile_curves"))
"""What a figure of the headline relations reads."""
GRID = ("figures.grid_samples",)

FIGURE_SPECS = (
    FigureSpec("kpe_hist"),
    FigureSpec("kpe_vs_margin", tables=RELATIONS),
    FigureSpec("kpe_vs_density", tables=RELATIONS),
    FigureSpec("kpe_vs_nn_distance", tables=RELATIONS),
    FigureSpec("speed_profile"),
    FigureSpec("grid_low_kpe", samples="images", keys=GRID),
    FigureSpec("grid_high_kpe", samples="images", keys=GRID),
    FigureSpec(
        "kpe_confounds",
        tables=(("partial", "partial_correlations"),),
        stage="partial_correlations",
    ),
    FigureSpec(
        "early_prediction", tables=(("early", "early_prediction"),), stage="early_prediction"
    ),
    FigureSpec("memorization", tables=(("memorization", "memorization"),), stage="memorization"),
    FigureSpec("kpe_prdc", tables=(("prdc", "prdc"),), stage="prdc"),
    FigureSpec("robustness_error", tables=(("robustness", "robustness"),), stage="robustness"),
    FigureSpec("robustness_ranking", tables=(("robustness", "robustness"),), stage="robustness"),
    FigureSpec("comparison", tables=(("comparison", "comparison"),), stage="comparison"),
    FigureSpec("replicates", tables=(("replicates", "replicates"),), stage="replicates"),
    FigureSpec("plane_trajectories", samples="plane"),
    FigureSpec("plane_field", samples="plane"),
    FigureSpec("plane_endpoints", samples="plane"),
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
