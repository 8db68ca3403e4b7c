"""Per-sample tables: the KPE table of a shard, and the merged study table."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from enfopath.columns import DENSITY_SUFFIX, PER_SAMPLE, PROJECTED_PIXELS
from enfopath.io import ExplainedError

SHARD_ARRAYS = (
    "sample",
    "x0",
    "x1",
    "speed_sq",
    "kpe_profile",
    "nfe_profile",
    "profile_t",
    "nonfinite",
    "nfe",
    "nfe_total",
    "out_of_range",
    *PER_SAMPLE,
)
PROFILE_PREFIX = "speed_sq_t"
ENERGY_PROFILE_PREFIX = "kpe_t"
"""Columns ``kpe_t<s>``: the partial energy E(s) = ½∫₀^s‖v‖²dt at the profile times."""
NFE_PROFILE_PREFIX = "nfe_t"
"""Columns ``nfe_t<s>``: model evaluations spent by the time the integration passes s."""
ENERGIES = ("kpe", "kpe_early", "kpe_late")
"""The energy columns related to every measure in the statistics. ``kpe_per_dim`` = kpe / D
stays in the table but not in the statistics: D is constant within a study, so its ranks and
correlations are exactly those of ``kpe``."""
CONFOUND_ENERGIES = ("kpe", "straightness", "kpe_early", "kpe_late")
"""Energies of the confound stage: with the excess energy E − ½‖x1 − x0‖² (``straightness``)."""


def profile_column(t: float, prefix: str = PROFILE_PREFIX) -> str:
    """Column name of a profile at time t (default: the speed profile ‖v‖²)."""
    return f"{prefix}{t:.3f}"


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


def squared_norms(x: np.ndarray) -> np.ndarray:
    """‖x_i‖² per sample in float64, summed over every coordinate: (N, ...) → (N,)."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    return np.einsum("ij,ij->i", flat, flat)


def kpe_table(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per sample of a shard: index, energies, path measures, the squared norms of the
    noise and the endpoint in the state space (``x0_norm_sq``, ``x1_norm_sq``: the size of the
    noise is a confounder of KPE), NFE, flags, profile.

    ``nonfinite`` marks samples whose trajectory met a non-finite value; they are kept in the
    table (and counted) but left out of the statistics.
    """
    table = {
        "sample": arrays["sample"],
        **{k: arrays[k].astype(np.float64) for k in PER_SAMPLE},
        **{f"{k}_norm_sq": squared_norms(arrays[k]) for k in ("x0", "x1")},
        "nfe": arrays["nfe"],
        "nfe_total": arrays["nfe_total"],
        "out_of_range": arrays["out_of_range"].astype(np.float64),
        "batch_size": np.full(len(arrays["sample"]), int(arrays["batch_size"])),
    }
    finite = np.isfinite(arrays["x1"].reshape(len(arrays["x1"]), -1)).all(axis=1)
    for k in ("kpe", "kpe_early", "kpe_late", "path_length"):
        finite &= np.isfinite(arrays[k])
    table["nonfinite"] = arrays["nonfinite"].astype(bool) | ~finite
    for j, t in enumerate(arrays["profile_t"]):
        table[profile_column(float(t))] = arrays["speed_sq"][:, j].astype(np.float64)
        table[profile_column(float(t), ENERGY_PROFILE_PREFIX)] = arrays["kpe_profile"][:, j]
        table[profile_column(float(t), NFE_PROFILE_PREFIX)] = arrays["nfe_profile"][:, j]
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
