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
from enfopath.measures.correlation import correlations
from enfopath.measures.groups import class_composition, group_comparison, quantile_curves
from enfopath.measures.inference import with_q_values
from enfopath.measures.paired import paired_comparison
from enfopath.study.tables import (
    CLASS_LABELS,
    ENERGIES,
    analysed_samples,
    measure_columns,
    memorized_flags,
)


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
        curves=quantile_curves(
            analysed, "kpe", measures, statistics["bins"], statistics["confidence"]
        ),
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


def check_same_samples(
    base_summary: dict[str, Any], summary: dict[str, Any], name: str, role: str = "baseline"
) -> None:
    """Refuse to compare with a baseline (or control, ``role``) study ``name`` whose samples are
    not this study's: another data set or reference set, state shape, seed, number of samples,
    noise (the first sample's x0), span of integration or density spaces; the error names what
    differs and the config key."""
    for key in SAME_SAMPLES:
        for who, record in ((name, base_summary), ("this study", summary)):
            if key not in record:
                raise ExplainedError(
                    f"compare.{role}: the summary of {who} has no {key} (written by an older "
                    "version): rebuild it with snakemake --cores all --forcerun summary "
                    "(with that study's --configfile)"
                )
        if base_summary[key] != summary[key]:
            raise ExplainedError(
                f"compare.{role}: {name} has {key} {base_summary[key]}, this study "
                f"{summary[key]}; a sample-by-sample comparison needs the same samples "
                f"(the same {', '.join(SAME_SAMPLES)})"
            )


CONTRASTS = {
    "study_vs_baseline": "this study − baseline",
    "control_vs_baseline": "control − baseline",
    "study_vs_control": "this study − control (beyond the control)",
}
"""The comparison's contrasts, in words (each the first run minus the second, sample by
sample): this study against its baseline, and with a control study (``compare.control``), the
control against the baseline and this study against the control (what exceeds the control)."""


def _comparable(run: pd.DataFrame) -> pd.DataFrame:
    """A study's analysed samples, with the memorized flag (d₁ / d₂ < 1/3) with pixel space."""
    run = analysed_samples(run)
    memorized = memorized_flags(run)
    return run if memorized is None else run.assign(memorized=memorized)


def study_comparison(
    baseline: pd.DataFrame,
    table: pd.DataFrame,
    spaces: list[str],
    statistics: dict[str, Any],
    seed: int,
    control: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """This study's merged ``table`` against its ``baseline``'s, sample by sample
    (:func:`enfopath.measures.paired.paired_comparison`): the energies, every semantic and
    density measure and, with pixel space, the memorized share (d₁ / d₂ < 1/3). With a
    ``control`` study's table, two more contrasts (:data:`CONTRASTS`) on the same measures.
    Samples flagged non-finite in a run are left out of the contrasts with it.

    Returns the table (a ``contrast`` column first, q-values over every test of the table)
    and the per-sample changes: ``sample`` and, per measure, ``{m}_base``, ``{m}``,
    ``{m}_change`` and, with a control, ``{m}_control`` and ``{m}_change_vs_control``.
    """
    runs = {"baseline": _comparable(baseline), "study": _comparable(table)}
    if control is not None:
        runs["control"] = _comparable(control)
    measures = [
        *ENERGIES,
        *(m for m in measure_columns(runs["study"], spaces) if all(m in r for r in runs.values())),
        *(["memorized"] if "memorized" in runs["study"] else []),
    ]
    tables, per_sample = [], None
    for contrast in list(CONTRASTS)[: 3 if control is not None else 1]:
        first, second = contrast.split("_vs_")
        rows, changes = paired_comparison(
            runs[second],
            runs[first],
            measures,
            n_boot=statistics["bootstrap"],
            seed=seed,
            confidence=statistics["confidence"],
            shares=("memorized",),
        )
        tables.append(rows.drop(columns="wilcoxon_q").assign(contrast=contrast))
        if contrast == "study_vs_baseline":
            per_sample = changes
        elif contrast == "study_vs_control":
            extra = {f"{m}_control": changes[f"{m}_base"] for m in measures}
            extra |= {f"{m}_change_vs_control": changes[f"{m}_change"] for m in measures}
            per_sample = per_sample.merge(
                pd.DataFrame({"sample": changes["sample"], **extra}), on="sample", how="left"
            )
    out = with_q_values(pd.concat(tables, ignore_index=True))
    return out[["contrast", *(c for c in out.columns if c != "contrast")]], per_sample
