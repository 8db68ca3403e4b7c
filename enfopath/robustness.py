"""Does the KPE ranking survive the solver? The same noise re-integrated under several solver
settings, each compared with a tight reference.

The study's first n samples (their own x0 and labels, :func:`enfopath.trajectories.batch_problem`)
are integrated once per setting of ``robustness.settings`` and once with the reference (a tight
dopri5). Per setting and sample: the KPE carried in the state and the authors' left-Riemann sum
Σ_i ½‖v(x_i, t_i)‖² Δt_i at the same nodes (fixed grids only), the NFE, and the RMS distance of
the endpoint from the reference's. :func:`compare_settings` turns these into the accuracy and
the rank agreement of each setting: relative KPE errors, Spearman and Kendall of the KPE ranking,
the overlap of the low / high KPE groups, and the change of every headline correlation.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from enfopath.energy import ADAPTIVE_SOLVERS, EnergyResult, sample_with_energy
from enfopath.stats import kpe_groups
from enfopath.trajectories import batch_problem, batches

if TYPE_CHECKING:
    from enfopath.flows import Flow


@dataclass(frozen=True)
class SolverSetting:
    """One solver setting: a fixed-grid method with its steps, or dopri5 with its tolerances."""

    solver: str
    steps: int | None = None
    rtol: float | None = None
    atol: float | None = None

    @classmethod
    def from_config(cls, entry: dict[str, Any]) -> SolverSetting:
        """From one entry of ``robustness.settings`` (or ``robustness.reference``)."""
        return cls(**{k: entry[k] for k in ("solver", "steps", "rtol", "atol") if k in entry})

    @property
    def adaptive(self) -> bool:
        return self.solver in ADAPTIVE_SOLVERS

    @property
    def label(self) -> str:
        """``euler 10``, ``dopri5 rtol 1e-03 atol 1e-03``: the setting's name in the tables."""
        if self.adaptive:
            return f"{self.solver} rtol {self.rtol:.0e} atol {self.atol:.0e}"
        return f"{self.solver} {self.steps}"

    def solver_kwargs(self, common: dict[str, Any]) -> dict[str, Any]:
        """``sample_with_energy`` arguments: this solver with the study's ``common`` ones
        (grid, tau, profile_points)."""
        own = {k: v for k in ("steps", "rtol", "atol") if (v := getattr(self, k)) is not None}
        return {**common, "solver": self.solver, **own}


RUN_COLUMNS = (
    "setting",
    "solver",
    "steps",
    "rtol",
    "atol",
    "reference",
    "sample",
    "kpe",
    "kpe_left_riemann",
    "nfe",
    "x1_rms_error",
    "nonfinite",
)
"""Columns of the per-sample runs table (:func:`integrate_settings`)."""


def _rows(
    setting: SolverSetting, reference: bool, batch: range, res: EnergyResult, x1_ref: torch.Tensor
) -> pd.DataFrame:
    n = len(batch)
    err = (res.x1 - x1_ref).flatten(1).double().pow(2).mean(1).sqrt()
    return pd.DataFrame(
        {
            "setting": setting.label,
            "solver": setting.solver,
            "steps": np.nan if setting.steps is None else float(setting.steps),
            "rtol": np.nan if setting.rtol is None else setting.rtol,
            "atol": np.nan if setting.atol is None else setting.atol,
            "reference": reference,
            "sample": np.arange(batch.start, batch.stop, dtype=np.int64),
            "kpe": res.kpe.detach().double().cpu().numpy(),
            "kpe_left_riemann": res.kpe_left_riemann.detach().double().cpu().numpy(),
            "nfe": np.full(n, res.nfe, dtype=np.int64),
            "x1_rms_error": err.cpu().numpy(),
            "nonfinite": res.nonfinite.cpu().numpy(),
        }
    )


def rerun_batch(
    velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    batch: range,
    settings: Sequence[SolverSetting],
    reference: SolverSetting,
    common: dict[str, Any],
) -> pd.DataFrame:
    """One batch (global indices ``batch``, noise ``x0``) integrated with the reference, then
    with each setting: rows of :data:`RUN_COLUMNS`, the reference's first."""
    ref = sample_with_energy(velocity, x0, **reference.solver_kwargs(common))
    parts = [_rows(reference, True, batch, ref, ref.x1)]
    for setting in settings:
        res = sample_with_energy(velocity, x0, **setting.solver_kwargs(common))
        parts.append(_rows(setting, False, batch, res, ref.x1))
    return pd.concat(parts, ignore_index=True)


def integrate_settings(
    flow: Flow,
    seed: int,
    n_samples: int,
    settings: Sequence[SolverSetting],
    reference: SolverSetting,
    common: dict[str, Any],
    batch_size: int,
    device: torch.device,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """The study's samples 0 … n_samples − 1 re-integrated under the reference and every
    setting, in the study's batches (``batch_size``, aligned to the global index as in the
    study): the per-sample runs table (:data:`RUN_COLUMNS`). ``common``: the other arguments
    of ``sample_with_energy`` (grid, tau, profile_points). ``progress(n)`` is called after each
    batch."""
    parts = []
    for batch in batches(range(n_samples), batch_size):
        x0, velocity = batch_problem(flow, seed, batch, device)
        parts.append(rerun_batch(velocity, x0, batch, settings, reference, common))
        if progress is not None:
            progress(len(batch))
    return pd.concat(parts, ignore_index=True)


def _rel_error(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(x - ref) / np.abs(ref)


def _overlap(group: np.ndarray, ref_group: np.ndarray, name: str) -> float:
    """The share of the reference's ``name`` group that the setting puts in its own."""
    members = ref_group == name
    return float((group[members] == name).mean()) if members.any() else float("nan")


def compare_settings(
    runs: pd.DataFrame,
    measures: pd.DataFrame,
    *,
    quantile: float,
    stable_overlap: float,
    stable_delta_rho: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accuracy and rank agreement of every setting of ``runs`` against its reference.

    ``measures``: the semantic and density measures of the same samples (a ``sample`` column
    and one column per measure), from the study's table. Samples non-finite under a setting or
    the reference are left out of that setting's comparison (``n`` counts those kept).

    Returns (settings, correlations). settings: one row per setting, the reference first, with
    setting, solver, steps, rtol, atol, reference, nfe (mean per sample), n, n_nonfinite,
    kpe_rel_error_mean, kpe_rel_error_max (state-integrated KPE), left_riemann_rel_error_mean,
    left_riemann_rel_error_max (NaN for dopri5), x1_rms_error_mean, spearman, kendall (KPE
    ranking against the reference's), low_overlap, high_overlap (share of the reference's bottom
    / top ``quantile`` group in the setting's own), max_abs_delta_rho (largest change of a
    headline Spearman ρ of KPE with a measure) and stable (both overlaps ≥ ``stable_overlap``
    and every |Δρ| ≤ ``stable_delta_rho``). correlations: setting, nfe, measure, n,
    spearman_rho, reference_rho, delta_rho.
    """
    ref = runs[runs.reference].set_index("sample")
    rows, corr_rows = [], []
    for label, run in runs.groupby("setting", sort=False):
        run = run.set_index("sample").loc[ref.index]
        ok = ~(run.nonfinite.to_numpy() | ref.nonfinite.to_numpy())
        e, e_ref = run.kpe.to_numpy()[ok], ref.kpe.to_numpy()[ok]
        left = run.kpe_left_riemann.to_numpy()[ok]
        err, left_err = _rel_error(e, e_ref), _rel_error(left, e_ref)
        group = kpe_groups(pd.Series(e), quantile).to_numpy()
        ref_group = kpe_groups(pd.Series(e_ref), quantile).to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spearman = stats.spearmanr(e, e_ref)[0] if ok.sum() > 2 else np.nan
            kendall = stats.kendalltau(e, e_ref)[0] if ok.sum() > 2 else np.nan
        first = run.iloc[0]
        nfe = float(run.nfe.mean())
        deltas = []
        m = measures.set_index("sample").loc[ref.index[ok]]
        for measure in m.columns:
            y = m[measure].to_numpy(np.float64)
            fine = np.isfinite(y)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rho = stats.spearmanr(e[fine], y[fine])[0] if fine.sum() > 2 else np.nan
                rho_ref = stats.spearmanr(e_ref[fine], y[fine])[0] if fine.sum() > 2 else np.nan
            deltas.append(rho - rho_ref)
            corr_rows.append(
                {
                    "setting": label,
                    "nfe": nfe,
                    "measure": measure,
                    "n": int(fine.sum()),
                    "spearman_rho": rho,
                    "reference_rho": rho_ref,
                    "delta_rho": rho - rho_ref,
                }
            )
        max_delta = float(np.nanmax(np.abs(deltas))) if np.isfinite(deltas).any() else np.nan
        low, high = _overlap(group, ref_group, "low"), _overlap(group, ref_group, "high")
        rows.append(
            {
                "setting": label,
                "solver": first.solver,
                "steps": first.steps,
                "rtol": first.rtol,
                "atol": first.atol,
                "reference": bool(first.reference),
                "nfe": nfe,
                "n": int(ok.sum()),
                "n_nonfinite": int((~ok).sum()),
                "kpe_rel_error_mean": float(np.mean(err)),
                "kpe_rel_error_max": float(np.max(err)),
                "left_riemann_rel_error_mean": float(np.mean(left_err)),
                "left_riemann_rel_error_max": float(np.max(left_err)),
                "x1_rms_error_mean": float(run.x1_rms_error.to_numpy()[ok].mean()),
                "spearman": float(spearman),
                "kendall": float(kendall),
                "low_overlap": low,
                "high_overlap": high,
                "max_abs_delta_rho": max_delta,
                "stable": bool(
                    low >= stable_overlap
                    and high >= stable_overlap
                    and (not deltas or max_delta <= stable_delta_rho)
                ),
            }
        )
    table = pd.DataFrame(rows).sort_values(["reference", "nfe"], ascending=[False, True])
    return table.reset_index(drop=True), pd.DataFrame(corr_rows)


def smallest_stable(table: pd.DataFrame) -> pd.Series | None:
    """The setting of least NFE that is stable, and every setting of more NFE too (None if no
    non-reference setting is stable in that sense)."""
    runs = table[~table.reference].sort_values("nfe")
    for i in range(len(runs)):
        if runs.stable.iloc[i:].all():
            return runs.iloc[i]
    return None
