"""Replication across training seeds: is a relation the method's, or one network's?

The study's flow is one training run. ``replicates.flow_seeds`` trains one more flow per seed
on the same data with the same settings (the seed replaces the study's for the network's
initialization and the training draws only), runs the study's own noise through each (samples
0 … n − 1, their seeds derived from the study's seed as always, so sample i starts from the
same x0 under every flow), and scores the endpoints with the study's own classifier / CLIP and
reference sets (:mod:`enfopath.study.scoring`). Per flow: the Spearman ρ of every energy with
every measure, with its bootstrap interval (:func:`enfopath.measures.correlation.correlations`, the
same resamples for every flow); across the flows, the study's included, the spread of each ρ
and whether its sign is shared (:func:`replicate_spread`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from enfopath.measures.correlation import correlations
from enfopath.study.scoring import Scorer, score_endpoints
from enfopath.study.shards import SamplingConfig, generate_shard
from enfopath.study.tables import (
    ENERGIES,
    analysed_samples,
    kpe_table,
    measure_columns,
    merge_on_sample,
)

if TYPE_CHECKING:
    import torch

    from enfopath.models.flows import Flow


def replicate_samples(
    flow: Flow,
    seed: int,
    n_samples: int,
    sampling: SamplingConfig,
    device: torch.device,
    scorer: Scorer,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """The per-sample table of one flow on the study's samples 0 … n_samples − 1 (noise from
    the study's ``seed``): the KPE table's columns (:func:`kpe_table`) and the semantic and
    density measures (:func:`score_endpoints`), one row per sample, as the study's merged
    table holds them. ``progress(n, nfe)`` is called after each batch."""
    arrays = generate_shard(flow, seed, range(n_samples), sampling, device, progress)
    scores = score_endpoints(scorer, arrays)
    return merge_on_sample([kpe_table(arrays), scores], ["KPE", "scores"])


def replicate_correlations(
    tables: dict[int, pd.DataFrame],
    study_seed: int,
    spaces: list[str],
    statistics: dict[str, Any],
    seed: int,
) -> pd.DataFrame:
    """The correlation table of each flow's samples (``tables`` by training seed, the study's
    flow under ``study_seed``), stacked: ``flow_seed``, ``study`` (the study's own flow), then
    the columns of :func:`correlations`. Every flow's intervals use the same resamples (those
    of ``seed``), as the study's own table does."""
    parts = []
    for flow_seed, table in tables.items():
        analysed = analysed_samples(table)
        part = correlations(
            analysed,
            list(ENERGIES),
            measure_columns(analysed, spaces),
            n_boot=statistics["bootstrap"],
            seed=seed,
            confidence=statistics["confidence"],
        )
        part.insert(0, "flow_seed", flow_seed)
        part.insert(1, "study", flow_seed == study_seed)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def replicate_spread(per_flow: pd.DataFrame) -> pd.DataFrame:
    """The spread of each Spearman ρ across the flows of :func:`replicate_correlations`.

    One row per (energy, measure): n_flows; study_rho (the study's flow); rho_mean, rho_sd
    (across flows, ddof 1), rho_min, rho_max; ci_half_width_mean, the mean half width of the
    flows' own bootstrap intervals, so that rho_sd / ci_half_width_mean compares the
    network-to-network spread with each flow's sampling uncertainty (``sd_over_half_width``);
    n_positive, n_negative (point estimates); n_above_zero, n_below_zero (intervals that
    exclude 0 on that side); sign_shared (every flow's ρ has the study's sign) and
    sign_established (every flow's interval excludes 0 on the study's side).
    """
    rows = []
    for (energy, measure), g in per_flow.groupby(["energy", "measure"], sort=False):
        rho = g.spearman_rho.to_numpy(np.float64)
        lo, hi = g.spearman_rho_ci_low.to_numpy(), g.spearman_rho_ci_high.to_numpy()
        study = float(g.spearman_rho[g.study].iloc[0])
        half = float(np.nanmean((hi - lo) / 2.0)) if np.isfinite(hi - lo).any() else np.nan
        sd = float(np.std(rho, ddof=1)) if len(rho) > 1 else np.nan
        above, below = int((lo > 0).sum()), int((hi < 0).sum())
        sign = np.sign(study)
        rows.append(
            {
                "energy": energy,
                "measure": measure,
                "n_flows": len(g),
                "study_rho": study,
                "rho_mean": float(rho.mean()),
                "rho_sd": sd,
                "rho_min": float(rho.min()),
                "rho_max": float(rho.max()),
                "ci_half_width_mean": half,
                "sd_over_half_width": sd / half if half > 0 else np.nan,
                "n_positive": int((rho > 0).sum()),
                "n_negative": int((rho < 0).sum()),
                "n_above_zero": above,
                "n_below_zero": below,
                "sign_shared": bool(sign != 0 and (np.sign(rho) == sign).all()),
                "sign_established": bool(
                    (sign > 0 and above == len(g)) or (sign < 0 and below == len(g))
                ),
            }
        )
    return pd.DataFrame(rows)
