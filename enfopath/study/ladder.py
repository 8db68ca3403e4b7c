"""The checkpoint ladder: how every relation moves as the flow learns.

A ladder (``replicates.flow_steps``) saves the EMA weights of one training run at each rung's
optimizer step (no retraining per rung; the last step is the study's flow itself) and runs the
study's first n samples of noise through each rung, scored by the study's own models and
reference sets (:func:`enfopath.study.replicates.replicate_samples`, the machinery of the
training-seed replicates: a rung is a flow like a replicate, and with ``flow_seeds`` too every
seed's run climbs the same ladder). Per rung, :func:`ladder_rungs` gives the held-out loss
(from the training monitor's record at that step), the sample quality and the KPE
distribution; :func:`ladder_relations` every headline Spearman ρ, raw and partial (each
control of ``statistics.partial_controls``), with bootstrap intervals from the same resamples
for every rung, as the study's own tables draw them.

A rung's step is not a shorter training run: the learning rate's cosine schedule spans the
whole run, so the weights at step k of a 2,000-step run differ from those of a k-step run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from enfopath.measures.correlation import correlations, partial_correlations
from enfopath.monitor import QUANTILES
from enfopath.study.tables import (
    CONFOUND_ENERGIES,
    ENERGIES,
    QUALITY,
    analysed_samples,
    measure_columns,
    memorized_flags,
)

Rung = tuple[int, int]
"""(training seed, optimizer step) of one rung."""


def heldout_at(record: pd.DataFrame, step: int, where: str) -> float:
    """The held-out loss at ``step`` of a training monitor's table (``models/flow_kpe.csv``);
    a step the monitor did not evaluate is refused, naming the record ``where``."""
    rows = record[record.step == step]
    if rows.empty:
        raise ValueError(
            f"{where}: no evaluation at step {step} (steps {record.step.tolist()}): the training "
            "run was not saved at this rung"
        )
    return float(rows.heldout_loss.iloc[0])


def rung_summary(table: pd.DataFrame) -> dict[str, Any]:
    """One rung's samples (a replicate table) in numbers: n, non-finite, the mean and
    quantiles (:data:`enfopath.monitor.QUANTILES`) of KPE, the mean excess energy, the mean
    semantic quality (:data:`QUALITY`), and the memorized share (d₁ / d₂ < 1/3 in pixel space,
    where the study measures it)."""
    ok = analysed_samples(table)
    kpe = ok.kpe.to_numpy(np.float64)
    row: dict[str, Any] = {"n": len(ok), "nonfinite": int(table.nonfinite.sum())}
    row["kpe_mean"] = float(kpe.mean())
    for q, value in zip(QUANTILES, np.quantile(kpe, QUANTILES), strict=True):
        row[f"kpe_q{round(100 * q):02d}"] = float(value)
    row["excess_energy_mean"] = float(ok.straightness.astype(np.float64).mean())
    for column in QUALITY:
        if column in ok:
            row["quality"] = float(ok[column].mean())
            row["quality_measure"] = column
    memorized = memorized_flags(ok)
    if memorized is not None:
        row["memorized_share"] = float(memorized.mean())
    return row


def ladder_rungs(
    tables: dict[Rung, pd.DataFrame], losses: dict[Rung, float], study: Rung
) -> pd.DataFrame:
    """One row per rung (sorted by seed, then step): ``flow_seed``, ``flow_step``, ``study``
    (the study's own flow), ``heldout_loss``, then :func:`rung_summary`."""
    rows = [
        {
            "flow_seed": seed,
            "flow_step": step,
            "study": (seed, step) == study,
            "heldout_loss": losses[(seed, step)],
            **rung_summary(tables[(seed, step)]),
        }
        for seed, step in sorted(tables)
    ]
    return pd.DataFrame(rows)


def ladder_relations(
    tables: dict[Rung, pd.DataFrame],
    study: Rung,
    spaces: list[str],
    statistics: dict[str, Any],
    seed: int,
) -> pd.DataFrame:
    """Every headline Spearman ρ of every rung, stacked: ``flow_seed``, ``flow_step``,
    ``study``, ``analysis`` (``raw``: each of :data:`ENERGIES` with each measure; ``partial``:
    each of :data:`CONFOUND_ENERGIES` given each ``control`` of
    ``statistics.partial_controls``), ``control``, ``energy``, ``measure``, ``n``, ``rho``,
    ``rho_ci_low``, ``rho_ci_high``, ``p``, ``q`` (Benjamini–Hochberg within the rung's own
    table, as the study's tables do). Every rung's intervals use the same resamples (those of
    ``seed``)."""
    boot = {"n_boot": statistics["bootstrap"], "seed": seed, "confidence": statistics["confidence"]}
    controls = list(statistics["partial_controls"])
    parts = []
    for rung in sorted(tables):
        analysed = analysed_samples(tables[rung])
        measures = measure_columns(analysed, spaces)
        raw = correlations(analysed, list(ENERGIES), measures, **boot)
        raw = pd.DataFrame(
            {
                "analysis": "raw",
                "control": None,
                "energy": raw.energy,
                "measure": raw.measure,
                "n": raw.n,
                "rho": raw.spearman_rho,
                "rho_ci_low": raw.spearman_rho_ci_low,
                "rho_ci_high": raw.spearman_rho_ci_high,
                "p": raw.spearman_p,
                "q": raw.spearman_q,
            }
        )
        blocks = [raw]
        if controls:
            part = partial_correlations(
                analysed, list(CONFOUND_ENERGIES), measures, controls, **boot
            )
            blocks.append(
                pd.DataFrame(
                    {
                        "analysis": "partial",
                        "control": part.control,
                        "energy": part.energy,
                        "measure": part.measure,
                        "n": part.n,
                        "rho": part.partial_rho,
                        "rho_ci_low": part.partial_rho_ci_low,
                        "rho_ci_high": part.partial_rho_ci_high,
                        "p": part.partial_p,
                        "q": part.partial_q,
                    }
                )
            )
        block = pd.concat(blocks, ignore_index=True)
        block.insert(0, "flow_seed", rung[0])
        block.insert(1, "flow_step", rung[1])
        block.insert(2, "study", rung == study)
        parts.append(block)
    return pd.concat(parts, ignore_index=True)
