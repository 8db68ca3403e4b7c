"""The study's headline tables: how each energy relates to each semantic and density measure.

From the merged per-sample table (non-finite samples left out, :func:`analysed_samples`):
Spearman and Pearson correlations with bootstrap intervals and q-values, the low / high KPE
group comparison, the groups' class composition and the quantile-bin curves (docs/science.md
§5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from enfopath.io import ExplainedError
from enfopath.measures.stats import (
    MEMORIZED_RATIO,
    class_composition,
    correlations,
    group_comparison,
    paired_comparison,
    quantile_curves,
)
from enfopath.study.tables import CLASS_LABELS, ENERGIES, analysed_samples, measure_columns


@dataclass(frozen=True)
class Relations:
    """The four tables of the ``statistics`` rule, and how many samples and measures went in."""

    correlations: pd.DataFrame
    groups: pd.DataFrame
    composition: pd.DataFrame
    """The class composition of each energy group (:func:`class_composition`)."""
    curves: pd.DataFrame
    n_analysed: int
    measures: list[str]

    def records(self) -> dict[str, Any]:
        """The tables as JSON-able records (``statistics.json``)."""
        return {
            "correlations": self.correlations.to_dict(orient="records"),
            "groups": self.groups.to_dict(orient="records"),
            "class_composition": self.composition.astype(object)
            .where(self.composition.notna(), None)
            .to_dict(orient="records"),
            "quantile_curves": self.curves.to_dict(orient="records"),
        }


def relations(
    table: pd.DataFrame, spaces: list[str], statistics: dict[str, Any], seed: int
) -> Relations:
    """The relation tables of a study's merged ``table`` for its density ``spaces`` and its
    validated ``statistics`` section (bootstrap, confidence, group_quantile, bins)."""
    analysed = analysed_samples(table)
    measures = measure_columns(analysed, spaces)
    energies = list(ENERGIES)
    return Relations(
        correlations=correlations(
            analysed,
            energies,
            measures,
            n_boot=statistics["bootstrap"],
            seed=seed,
            confidence=statistics["confidence"],
        ),
        groups=group_comparison(analysed, energies, measures, statistics["group_quantile"]),
        composition=class_composition(
            analysed,
            energies,
            [c for c in CLASS_LABELS if c in analysed],
            statistics["group_quantile"],
            seed,
        ),
        curves=quantile_curves(analysed, "kpe", measures, statistics["bins"]),
        n_analysed=len(analysed),
        measures=measures,
    )


SAME_SAMPLES = (
    "dataset",
    "reference_sha256",
    "state_shape",
    "seed",
    "n_samples",
    "noise_sha256",
    "t_end",
    "density_spaces",
    "density_k",
)
"""The summary entries two studies share when their samples are the same samples, measured
alike (:func:`enfopath.study.summary.samples_identity`): a sample-by-sample comparison needs
them all equal."""


def check_same_samples(base_summary: dict[str, Any], summary: dict[str, Any], name: str) -> None:
    """Refuse to compare with a baseline study (``name``) whose samples are not this study's:
    another data set or reference set, state shape, seed, number of samples, noise (the first
    sample's x0), span of integration or density spaces; the error names what differs."""
    for key in SAME_SAMPLES:
        for who, record in ((name, base_summary), ("this study", summary)):
            if key not in record:
                raise ExplainedError(
                    f"compare.baseline: the summary of {who} has no {key} (written by an older "
                    "version): rebuild it with snakemake --cores all --forcerun summary "
                    "(with that study's --configfile)"
                )
        if base_summary[key] != summary[key]:
            raise ExplainedError(
                f"compare.baseline: {name} has {key} {base_summary[key]}, this study "
                f"{summary[key]}; a sample-by-sample comparison needs the same samples "
                f"(the same {', '.join(SAME_SAMPLES)})"
            )


def study_comparison(
    baseline: pd.DataFrame,
    table: pd.DataFrame,
    spaces: list[str],
    statistics: dict[str, Any],
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """This study's merged ``table`` against its ``baseline``'s, sample by sample
    (:func:`enfopath.measures.stats.paired_comparison`): the energies, every semantic and
    density measure and, with pixel space, the memorized share (d₁ / d₂ < 1/3). Samples flagged
    non-finite in either study are left out."""
    runs = []
    for run in (baseline, table):
        run = analysed_samples(run)
        if "pixels_d1_d2" in run:
            run = run.assign(memorized=(run["pixels_d1_d2"] < MEMORIZED_RATIO).astype(float))
        runs.append(run)
    measures = [
        *ENERGIES,
        *(m for m in measure_columns(runs[1], spaces) if m in runs[0]),
        *(["memorized"] if "memorized" in runs[1] else []),
    ]
    return paired_comparison(
        runs[0],
        runs[1],
        measures,
        n_boot=statistics["bootstrap"],
        seed=seed,
        confidence=statistics["confidence"],
        shares=("memorized",),
    )
