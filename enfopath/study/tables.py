"""Per-sample tables: the KPE table of a shard, and the merged study table."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from enfopath.columns import DENSITY_SUFFIX, PROJECTED_PIXELS
from enfopath.io import ExplainedError
from enfopath.per_sample import (
    ENERGY_ARRAYS,
    PROFILE_PREFIX,
    energy_columns,
    profile_column,
)

SHARD_ARRAYS = (*ENERGY_ARRAYS, "out_of_range")
"""The arrays of a shard that its KPE table reads."""
ENERGIES = ("kpe", "kpe_early", "kpe_late")
"""The energy columns related to every measure in the statistics. ``kpe_per_dim`` = kpe / D
stays in the table but not in the statistics: D is constant within a study, so its ranks and
correlations are exactly those of ``kpe``."""
CONFOUND_ENERGIES = ("kpe", "straightness", "kpe_early", "kpe_late")
"""Energies of the confound stage: with the excess energy E − ½‖x1 − x0‖² (``straightness``)."""


def profile_columns(df: pd.DataFrame, prefix: str = PROFILE_PREFIX) -> tuple[list[str], np.ndarray]:
    """The profile columns of a table (default: the speed profile), in time order, and their
    times."""
    cols = sorted(
        (c for c in df.columns if re.fullmatch(rf"{prefix}\d+\.\d+", c)),
        key=lambda c: float(c[len(prefix) :]),
    )
    return cols, np.array([float(c[len(prefix) :]) for c in cols])


EARLY_BASELINES = {"x0_norm_sq": 0, profile_column(0.0): 1}
"""Free predictors of the early-prediction table, each with the model evaluations it costs: the
squared noise norm ‖x₀‖² (none) and the speed ‖v(x₀, 0)‖² at t = 0 (one, the first evaluation
of every solver). E(s) has to beat them to be worth its compute."""


def kpe_table(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per sample of a shard: the energy columns of
    :func:`enfopath.per_sample.energy_columns` (index, energies, path measures, noise and
    endpoint norms, NFE, flags, profiles) with the study's own ``out_of_range`` (the share of
    the image's values outside [-1, 1]) and ``batch_size`` after the NFE.

    ``nonfinite`` marks samples whose trajectory met a non-finite value; they are kept in the
    table (and counted) but left out of the statistics.
    """
    columns = energy_columns(arrays)
    table: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        table[name] = values
        if name == "nfe_total":
            table["out_of_range"] = arrays["out_of_range"].astype(np.float64)
            table["batch_size"] = np.full(len(arrays["sample"]), int(arrays["batch_size"]))
    return pd.DataFrame(table)


def merge_on_sample(tables: list[pd.DataFrame], names: list[str]) -> pd.DataFrame:
    """Join per-sample tables on ``sample``; every table must hold the same samples once."""
    base = tables[0].set_index("sample", verify_integrity=True)
    for table, name in zip(tables[1:], names[1:], strict=True):
        other = table.set_index("sample", verify_integrity=True)
        if not other.index.sort_values().equals(base.index.sort_values()):
            raise ValueError(f"the {name} table does not hold the same samples as the {names[0]}")
        clash = base.columns.intersection(other.columns)
        if len(clash):
            raise ValueError(f"the {name} table repeats columns {list(clash)}")
        base = base.join(other)
    return base.sort_index().reset_index()


SEMANTIC = ("clf_confidence", "clf_margin", "clf_entropy", "clip_score", "clip_margin")
"""Semantic measures: a classifier trained on the dataset, or CLIP (docs/science.md §3)."""
CLASS_LABELS = ("clf_class", "clip_class")
"""The class each semantic method assigns a sample (the arg-max class), for the class
composition of the energy groups."""
MEMORIZATION_ENDPOINTS = {"endpoint": "pixels_d1_d2", "projected": f"{PROJECTED_PIXELS}_d1_d2"}
"""The ``endpoint`` column of the memorization table, and the d₁ / d₂ column each reads: the
study's endpoint x(t_end), and its projection x̂₁ = x + (1 − t_end) v onto where the flow is
heading (only in a study stopped at t_end < 1; at t_end = 1 it is the endpoint)."""
QUALITY = ("clf_confidence", "clip_score")
"""The semantic quality a set of samples' mean reports (a rung's, a kept set's): the
classifier's confidence or the CLIP score, whichever the study scores."""


def memorized_flags(table: pd.DataFrame) -> pd.Series | None:
    """1.0 for each sample whose endpoint is memorized (d₁ / d₂ < 1/3 in pixel space,
    :data:`enfopath.measures.memorization.MEMORIZED_RATIO`), else 0.0; None for a study
    without pixel space."""
    from enfopath.measures.memorization import MEMORIZED_RATIO  # scipy: not in light jobs

    ratio = MEMORIZATION_ENDPOINTS["endpoint"]
    if ratio not in table:
        return None
    return (table[ratio] < MEMORIZED_RATIO).astype(np.float64)


HEADLINE_SEMANTIC = ("clf_margin", "clip_margin")
"""The semantic measure of a study's headline relation (its method's margin)."""


def headline_measures(measures: list[str], prefixes: list[str], k: int) -> list[str]:
    """The headline measures among ``measures``, in order: the semantic margin
    (:data:`HEADLINE_SEMANTIC`), then the kNN log-density at the smallest ``k`` in each density
    space of ``prefixes`` (:func:`enfopath.columns.density_prefixes`)."""
    margin = [m for m in HEADLINE_SEMANTIC if m in measures]
    density = [f"{p}_knn_logdens{k}" for p in prefixes]
    return [*margin, *(m for m in density if m in measures)]


MARGINS = (("clf_margin", "clf_confidence"), ("clip_margin", "clip_score"))
"""(margin, score) pairs of each semantic method, for the KPE-vs-semantics figure."""


class NoSamplesError(ExplainedError, ValueError):
    """No sample is left to analyse: every one was flagged non-finite."""


def analysed_samples(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of the samples that are analysed (not flagged ``nonfinite``), re-indexed.

    Raises :class:`NoSamplesError` with one clear message when no sample is left: statistics
    and figures have nothing to work on, and would otherwise fail on empty arrays.
    """
    analysed = df[~df["nonfinite"].astype(bool)].reset_index(drop=True)
    if analysed.empty:
        raise NoSamplesError(
            f"all {len(df)} samples are non-finite: every trajectory met a non-finite velocity "
            "or state, so there is nothing to correlate or draw (statistics/summary.csv records "
            "the counts; see the generate_shard logs, the sampling settings and the model)"
        )
    return analysed


def measure_columns(df: pd.DataFrame, spaces: list[str]) -> list[str]:
    """The semantic and density measures present in a merged table, in a stable order.

    Each quantity once: ``{space}_d{k}`` is left out (``{space}_knn_logdens{k}`` = −D log d_k
    has its ranks, reversed), as are the flags; both stay in the table.
    """
    density = [
        c
        for s in spaces
        for c in df.columns
        if re.fullmatch(f"{s}_{DENSITY_SUFFIX}", c) and not re.fullmatch(rf"{s}_d\d+", c)
    ]
    return [c for c in SEMANTIC if c in df.columns] + density
