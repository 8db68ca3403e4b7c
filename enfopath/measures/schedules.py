"""Which time grid buys the most accuracy per model evaluation: the schedules comparison.

For each setting (a fixed-grid solver, its NFE budget and its grid) the same samples (their own
noise) are integrated as under the tight reference (the robustness stage's, a dopri5). Per
setting (:func:`compare_schedules`): the mean endpoint RMS error against the reference's
endpoint, sqrt(mean over coordinates of (x₁ − x₁_ref)²) averaged over the samples, and the mean
relative KPE error |E − E_ref| / E_ref, each with a percentile interval over resamples of the
samples (the same resamples for every setting, so settings compare pairwise); the ratio of the
endpoint error to that of the uniform grid of the same solver and NFE (below 1: the grid
beats uniform); and, where the study has the training set in pixel space, the
distribution-level fidelity of the setting's samples there: the Fréchet distance
(:mod:`enfopath.measures.fidelity`) and PRDC's precision and recall
(:mod:`enfopath.measures.prdc`, at the smallest ``density.k``), beside the reference's own row.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
import pandas as pd

from enfopath.measures.fidelity import Reference, frechet_distance
from enfopath.measures.inference import percentile_interval
from enfopath.measures.prdc import prdc
from enfopath.seeding import numpy_rng


@dataclass(frozen=True)
class PixelReference:
    """The training set in pixel space: its features (N, D), exact index and NND_k radii."""

    features: np.ndarray
    index: faiss.Index
    radii: np.ndarray
    k: int


def compare_schedules(
    runs: pd.DataFrame,
    grids: dict[str, str],
    pixels: dict[str, np.ndarray],
    reference: PixelReference | None,
    *,
    n_boot: int,
    seed: int,
    confidence: float,
) -> pd.DataFrame:
    """One row per setting of ``runs`` (the robustness runs table: setting, reference, sample,
    kpe, nfe, x1_rms_error, nonfinite), the reference first.

    ``grids``: each setting's grid name (``uniform``, ``cosine``, ``energy (speed)``, …; the
    reference's ``adaptive``); ``pixels``: each setting's endpoints as pixel features (n, D),
    clamped images flattened as the pixels space embeds them; ``reference``: the training set
    in pixel space (None: a study without it, whose fd, precision and recall are NaN).

    Columns: setting, solver, steps, grid, nfe, n, x1_rms_error (with _ci_low / _ci_high),
    kpe_rel_error (with its interval), x1_error_vs_uniform (the setting's x1_rms_error over
    the uniform grid's at its solver and NFE; NaN for the reference), fd, precision, recall.
    Samples non-finite under a setting or the reference are left out of the errors (``n``
    counts those kept; the resamples are drawn over all samples and the kept ones averaged).
    """
    ref = runs[runs.reference.astype(bool)].set_index("sample")
    n = len(ref)
    idx = numpy_rng(seed, f"schedules:{n}").integers(0, n, (n_boot, n))
    moments = None if reference is None else Reference.of(reference.features)
    rows = []
    for setting, run in runs.groupby("setting", sort=False):
        run = run.set_index("sample").loc[ref.index]
        ok = ~(run.nonfinite.to_numpy(bool) | ref.nonfinite.to_numpy(bool))
        err = np.where(ok, run.x1_rms_error.to_numpy(float), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.abs(run.kpe.to_numpy(float) - ref.kpe.to_numpy(float)) / ref.kpe.to_numpy(
                float
            )
        rel = np.where(ok, rel, np.nan)
        fake = pixels[setting][ok]
        m = None
        if reference is not None and len(fake) > reference.k:
            m = prdc(reference.features, reference.index, reference.radii, fake, reference.k)
        first = run.iloc[0]
        rows.append(
            {
                "setting": setting,
                "solver": first.solver,
                "steps": first.steps,
                "grid": grids[setting],
                "nfe": float(run.nfe.mean()),
                "n": int(ok.sum()),
                "x1_rms_error": float(np.nanmean(err)),
                "x1_rms_error_ci_low": np.nan,
                "x1_rms_error_ci_high": np.nan,
                "kpe_rel_error": float(np.nanmean(rel)),
                "kpe_rel_error_ci_low": np.nan,
                "kpe_rel_error_ci_high": np.nan,
                "fd": frechet_distance(fake, moments) if moments and len(fake) > 1 else np.nan,
                "precision": m.precision if m else np.nan,
                "recall": m.recall if m else np.nan,
            }
        )
        if len(idx):
            with np.errstate(invalid="ignore"):
                for name, values in (("x1_rms_error", err), ("kpe_rel_error", rel)):
                    low, high = percentile_interval(np.nanmean(values[idx], axis=1), confidence)
                    rows[-1] |= {f"{name}_ci_low": low, f"{name}_ci_high": high}
    table = pd.DataFrame(rows)
    uniform = table[table.grid == "uniform"].set_index(["solver", "nfe"]).x1_rms_error
    key = pd.MultiIndex.from_frame(table[["solver", "nfe"]])
    table.insert(
        table.columns.get_loc("kpe_rel_error_ci_high") + 1,
        "x1_error_vs_uniform",
        table.x1_rms_error.to_numpy() / uniform.reindex(key).to_numpy(),
    )
    return table
