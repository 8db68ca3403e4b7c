"""The study's headline tables: how each energy relates to each semantic and density measure.

From the merged per-sample table (non-finite samples left out, :func:`analysed_samples`):
Spearman and Pearson correlations with bootstrap intervals and q-values, the low / high KPE
group comparison and the quantile-bin curves (docs/science.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from enfopath.measures.stats import correlations, group_comparison, quantile_curves
from enfopath.study.tables import ENERGIES, analysed_samples, measure_columns


@dataclass(frozen=True)
class Relations:
    """The three tables of the ``statistics`` rule, and how many samples and measures went in."""

    correlations: pd.DataFrame
    groups: pd.DataFrame
    curves: pd.DataFrame
    n_analysed: int
    measures: list[str]

    def records(self) -> dict[str, Any]:
        """The tables as JSON-able records (``statistics.json``)."""
        return {
            "correlations": self.correlations.to_dict(orient="records"),
            "groups": self.groups.to_dict(orient="records"),
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
        curves=quantile_curves(analysed, "kpe", measures, statistics["bins"]),
        n_analysed=len(analysed),
        measures=measures,
    )
