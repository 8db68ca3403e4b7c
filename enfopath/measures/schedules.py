"""Which time grid buys the most accuracy per model evaluation: the schedules comparison.

For each setting (a fixed-grid solver, its NFE budget and its grid) the same samples (their own
noise) are integrated as under the tight reference (the robustness stage's, a dopri5). Per
setting (:func:`compare_schedules`): the mean endpoint RMS error against the reference's
endpoint, sqrt(mean over coordinates of (x₁ − x₁_ref)²) averaged over the samples, and the mean
relative KPE error |E − E_ref| / E_ref, each with a percentile interval over resamples of the
samples (the same resamples for every setting, so settings compare pairwise); the ratio of the
endpoint error to that of the uniform grid of the same solver and NFE (below 1: the grid
beats uniform); and in every density space where the study has the training set, the
distribution-level fidelity of the setting's samples there: the Fréchet distance
(:mod:`enfopath.measures.fidelity`) and PRDC's precision and recall
(:mod:`enfopath.measures.prdc`, at the smallest ``density.k``), beside the reference's own row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from enfopath.measures.fidelity import Reference, frechet_distance
from enfopath.measures.inference import percentile_interval
from enfopath.measures.prdc import RealSet, prdc
from enfopath.seeding import numpy_rng


def compare_schedules(
    runs: pd.DataFrame,
    grids: dict[str, str],
    features: dict[str, dict[str, np.ndarray]],
    references: dict[str, RealSet],
    *,
    n_boot: int,
    seed: int,
    confidence: float,
) -> pd.DataFrame:
    """One row per setting of ``runs`` (the robustness runs table: setting, reference, sample,
    kpe, nfe, x1_rms_error, nonfinite), the reference first.

    ``grids``: each setting's grid name (``uniform``, ``cosine``, ``energy (speed)``, …; the
    reference's ``adaptive``); ``features``: each setting's endpoints embedded in each density
    space (setting → space → (n, D), as the study embeds its own); ``references``: the training
    set in each of those spaces (empty: a study without one, whose table has no fidelity
    columns).

    Columns: setting, solver, steps, grid, nfe, n, x1_rms_error (with _ci_low / _ci_high),
    kpe_rel_error (with its interval), x1_error_vs_uniform (the setting's x1_rms_error over
    the uniform grid's at its solver and NFE; NaN for the reference), and per space of
    ``references`` fd_{space}, precision_{space}, recall_{space}.
    Samples non-finite under a setting or the reference are left out of the errors (``n``
    counts those kept; the resamples are drawn over all samples and the kept ones averaged).
    """
    ref = runs[runs.reference.astype(bool)].set_index("sample")
    n = len(ref)
    idx = numpy_rng(seed, f"schedules:{n}").integers(0, n, (n_boot, n))
    moments = {space: Reference.of(reals.features) for space, reals in references.items()}
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
        fidelity = {}
        for space, reals in references.items():
            fake = features[setting][space][ok]
            m = None
            if len(fake) > reals.k:
                m = prdc(reals.features, reals.index, reals.radii, fake, reals.k)
            fd = frechet_distance(fake, moments[space]) if len(fake) > 1 else np.nan
            fidelity |= {
                f"fd_{space}": fd,
                f"precision_{space}": m.precision if m else np.nan,
                f"recall_{space}": m.recall if m else np.nan,
            }
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
            }
            | fidelity
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
