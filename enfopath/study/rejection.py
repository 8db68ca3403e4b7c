"""Early rejection, run: the study's first n samples (their own noise and labels) integrated to
each check time s, the share q of them predicted worst by the partial energy E(s) stopped
there, the rest integrated on to the end, and every model evaluation counted; beside, every
sample integrated through, the cost and the endpoints the stop is measured against.

Each leg is :func:`enfopath.energy.advance_with_energy` with the study's solver, tolerances,
shaping and t_end. A fixed-grid solver stops at the first node of the study's grid at or after
s (``check_node``), so a continued path is the path integrated through, bit for bit; dopri5
stops at s itself and starts afresh there, so a continued path may differ from the one
integrated through within the tolerances (``kept_x1_rms_max`` measures by how much). The run
through is the study's own integration (the same batches, aligned to the global index, the same
solver calls: its KPE is the study's, :mod:`enfopath.study.shards`).

Compute is counted in sample evaluations, the model evaluations of each leg times the samples
it carries (a batch's evaluations are shared by its samples): every sample to s, then the kept
samples from s to the end, in batches of the study's size in sample order, against every sample
integrated through. A sample that meets a non-finite value on the way is counted where it was
integrated and then left out: it is neither ranked nor continued.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from enfopath.energy import FIXED_SOLVERS, PathState, advance_with_energy, solver_nodes
from enfopath.measures.rejection import REJECT, rejected
from enfopath.study.shards import (
    SamplingConfig,
    batch_labels,
    batch_problem,
    batches,
    labels_velocity,
)
from enfopath.study.tables import QUALITY, analysed_samples, memorized_flags

if TYPE_CHECKING:
    from enfopath.models.flows import Flow

COMPUTE_COLUMNS = (
    "check_time",
    "check_node",
    "share",
    "n",
    "n_rejected",
    "evaluations_to_check",
    "evaluations_after",
    "evaluations",
    "evaluations_all",
    "nfe_share",
    "kept_x1_rms_max",
    "kept_kpe_rel_max",
)
"""The compute table of :func:`early_rejection_runs`, one row per (check time, share)."""


@dataclass(frozen=True)
class RejectionPlan:
    """Where to stop and how much (``early_rejection``): the check times s (each in (0,
    t_end)), the shares q stopped at each (each in (0, 1)), and which end of E(s) is stopped
    (:data:`enfopath.measures.rejection.REJECT`)."""

    check_times: tuple[float, ...]
    shares: tuple[float, ...]
    reject: str

    def __post_init__(self) -> None:
        if self.reject not in REJECT:
            raise ValueError(f"early_rejection.reject must be one of {REJECT}, not {self.reject!r}")
        for q in self.shares:
            if not 0.0 < q < 1.0:
                raise ValueError(f"early_rejection.shares: {q} is not in (0, 1)")

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> RejectionPlan:
        return cls(tuple(section["check_times"]), tuple(section["shares"]), section["reject"])


def study_nodes(sampling: SamplingConfig, flow: Flow) -> tuple[list[float] | None, float]:
    """The nodes the study's fixed-grid solver steps on (None for dopri5) and its t_end."""
    kw = sampling.flow_kwargs(flow)
    t_end = float(kw["t_end"])
    if sampling.solver not in FIXED_SOLVERS:
        return None, t_end
    return solver_nodes(int(kw["steps"]), kw["grid"], t_end), t_end


def check_nodes(check_times: Sequence[float], sampling: SamplingConfig, flow: Flow) -> dict:
    """Each check time's stop (s → the time the solver stops at): s itself for dopri5, the
    first node of the study's grid at or after s for a fixed-grid solver. Raises ValueError
    naming a check time at or after the last step's start (nothing would be left to stop)."""
    nodes, t_end = study_nodes(sampling, flow)
    out = {}
    for s in check_times:
        node = s if nodes is None else next(t for t in nodes if t >= s)
        if not 0.0 < node < t_end:
            raise ValueError(
                f"early_rejection.check_times: {s} stops the {sampling.solver} solver at "
                f"t = {node}, not before the end t = {t_end}: pick an earlier check time"
            )
        out[float(s)] = float(node)
    return out


def _leg(sampling: SamplingConfig, nodes: list[float] | None, t0: float, t1: float) -> dict:
    """:func:`advance_with_energy`'s solver arguments from t0 to t1 (a stretch of ``nodes``)."""
    kw: dict[str, Any] = {"solver": sampling.solver, "rtol": sampling.rtol, "atol": sampling.atol}
    if nodes is not None:
        kw["nodes"] = [t for t in nodes if t0 <= t <= t1]
    return kw


def _cat(states: list[PathState]) -> PathState:
    return PathState(
        states[0].t,
        torch.cat([s.x for s in states]),
        torch.cat([s.kpe for s in states]),
        torch.cat([s.path_length for s in states]),
        torch.cat([s.nonfinite for s in states]),
    )


def early_rejection_runs(
    flow: Flow,
    seed: int,
    n_samples: int,
    plan: RejectionPlan,
    sampling: SamplingConfig,
    device: torch.device,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Early rejection of the study's samples 0 … n_samples − 1 under ``plan`` (module
    docstring). ``progress(n)`` is called after each batch of each leg.

    Returns the partial energies, one row per (check time, sample): check_time, check_node,
    sample, partial_kpe (E at the stop), kpe (the final KPE integrated through), nonfinite (on
    either way); and the compute per (check time, share) (:data:`COMPUTE_COLUMNS`): the
    samples ranked (n, the finite ones) and stopped, the sample evaluations to the stop, after
    it and in all, those of integrating every sample through, their ratio ``nfe_share``, and
    the largest RMS distance of a kept sample's endpoint from the one integrated through
    (``kept_x1_rms_max``, 0 for a fixed grid) and of its KPE, relative (``kept_kpe_rel_max``).
    """
    stops = check_nodes(plan.check_times, sampling, flow)
    nodes, t_end = study_nodes(sampling, flow)
    parts = batches(range(n_samples), sampling.batch_size)
    labels = batch_labels(flow, seed, range(n_samples))

    def tick(n: int) -> None:
        if progress is not None:
            progress(n)

    through, at_stop = [], {s: [] for s in stops}
    cost_all = 0
    cost_to = dict.fromkeys(stops, 0)
    for batch in parts:
        x0, velocity = batch_problem(flow, seed, batch, device, sampling.kts)
        start = PathState.noise(x0)
        end, nfe = advance_with_energy(velocity, start, t_end, **_leg(sampling, nodes, 0.0, t_end))
        through.append(end)
        cost_all += nfe * len(batch)
        tick(len(batch))
        for s, node in stops.items():
            mid, nfe = advance_with_energy(
                velocity, start, node, **_leg(sampling, nodes, 0.0, node)
            )
            at_stop[s].append(mid)
            cost_to[s] += nfe * len(batch)
            tick(len(batch))
    full = _cat(through)
    kpe = full.kpe.double().cpu().numpy()
    partial_rows, compute_rows = [], []
    for s, node in stops.items():
        mid = _cat(at_stop[s])
        bad = (full.nonfinite | mid.nonfinite).cpu().numpy()
        ranked = np.flatnonzero(~bad)
        energy = mid.kpe.double().cpu().numpy()
        partial_rows.append(
            pd.DataFrame(
                {
                    "check_time": s,
                    "check_node": node,
                    "sample": np.arange(n_samples, dtype=np.int64),
                    "partial_kpe": energy,
                    "kpe": kpe,
                    "nonfinite": bad,
                }
            )
        )
        for q in plan.shares:
            kept = ranked[~rejected(energy[ranked], q, plan.reject)]
            cost_after, x1_err, kpe_err = 0, 0.0, 0.0
            for chunk in batches(range(len(kept)), sampling.batch_size):
                rows = kept[chunk.start : chunk.stop]
                idx = torch.from_numpy(rows).to(mid.x.device)
                velocity = sampling.kts.shape(labels_velocity(flow, labels[rows], device))
                end, nfe = advance_with_energy(
                    velocity, mid.rows(idx), t_end, **_leg(sampling, nodes, node, t_end)
                )
                cost_after += nfe * len(rows)
                ref_x, ref_e = full.x[idx], full.kpe[idx]
                rms = (end.x - ref_x).flatten(1).double().pow(2).mean(1).sqrt()
                x1_err = max(x1_err, float(rms.max()))
                rel = ((end.kpe - ref_e).abs() / ref_e.abs()).double()
                kpe_err = max(kpe_err, float(rel.max()))
                tick(len(rows))
            spent = cost_to[s] + cost_after
            compute_rows.append(
                {
                    "check_time": s,
                    "check_node": node,
                    "share": float(q),
                    "n": len(ranked),
                    "n_rejected": len(ranked) - len(kept),
                    "evaluations_to_check": cost_to[s],
                    "evaluations_after": cost_after,
                    "evaluations": spent,
                    "evaluations_all": cost_all,
                    "nfe_share": spent / cost_all,
                    "kept_x1_rms_max": x1_err,
                    "kept_kpe_rel_max": kpe_err,
                }
            )
    compute = pd.DataFrame(compute_rows, columns=list(COMPUTE_COLUMNS))
    return pd.concat(partial_rows, ignore_index=True), compute


def quality_table_inputs(
    partial: pd.DataFrame, table: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """What judging the kept sets reads, for the samples early rejection ranks (finite on
    every leg and analysed in the study's ``table``, ``samples.parquet``), in sample order:
    their rows of ``partial`` (:func:`early_rejection_runs`' partial energies) by check time,
    their final KPE (n,), and their per-sample quality measures (name → (n,)): the study's
    semantic quality (:data:`enfopath.study.tables.QUALITY`) and, with pixel space, the
    memorized indicator (``memorized``, whose mean is the memorized share)."""
    bad = partial.groupby("sample")["nonfinite"].any()
    analysed = analysed_samples(table).set_index("sample")
    good = bad.index[~bad.to_numpy()].intersection(analysed.index)
    ranked = partial[partial["sample"].isin(good)].sort_values(["check_time", "sample"])
    ranked = ranked.reset_index(drop=True)
    first = ranked[ranked["check_time"] == ranked["check_time"].min()]
    rows = analysed.loc[first["sample"].to_numpy()]
    per_sample = {c: rows[c].to_numpy(np.float64) for c in QUALITY if c in rows}
    memorized = memorized_flags(rows)
    if memorized is not None:
        per_sample["memorized"] = memorized.to_numpy()
    return ranked, first["kpe"].to_numpy(np.float64), per_sample
