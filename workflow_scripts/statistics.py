"""Rule statistics: correlations with bootstrap intervals, KPE groups, quantile curves, summary."""

import pandas as pd
from _common import setup

from enfopath.io import read_json, read_parquet, write_csv, write_json
from enfopath.stats import correlations, group_comparison, quantile_curves
from enfopath.tables import ENERGIES, measure_columns

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.config
st = cfg["statistics"]
df = read_parquet(sm.input.table)
analysed = df[~df.nonfinite].reset_index(drop=True)
measures = measure_columns(analysed, cfg["density"]["spaces"])
energies = list(ENERGIES)
log.info("%d of %d samples analysed, %d measures", len(analysed), len(df), len(measures))
corr = correlations(
    analysed,
    energies,
    measures,
    n_boot=st["bootstrap"],
    seed=cfg["seed"],
    confidence=st["confidence"],
)
groups = group_comparison(analysed, energies, measures, st["group_quantile"])
curves = quantile_curves(analysed, "kpe", measures, st["bins"])
metrics = read_json(sm.input.classifier_metrics)
sc = cfg["sampling"]
summary = {
    "experiment": cfg["experiment"],
    "n_samples": len(df),
    "n_nonfinite_excluded": int(df.nonfinite.sum()),
    "n_analysed": len(analysed),
    "solver": sc["solver"],
    "solver_setting": (
        f"rtol={sc['rtol']}, atol={sc['atol']}"
        if sc["solver"] == "dopri5"
        else f"{sc['steps']} steps, {sc['grid']} grid"
    ),
    "batch_size": sc["batch_size"],
    "nfe_mean": float(df.nfe.mean()),
    "tau": sc["tau"],
    "kpe_mean": float(analysed.kpe.mean()),
    "kpe_per_dim_mean": float(analysed.kpe_per_dim.mean()),
    "straightness_mean": float(analysed.straightness.mean()),
    "classifier_test_accuracy": metrics["test_accuracy"],
    "class_used": "zero-shot argmax of the classifier (unconditional flow)",
    "bootstrap_resamples": st["bootstrap"],
    "confidence": st["confidence"],
    "group_quantile": st["group_quantile"],
    "seed": cfg["seed"],
}
write_csv(sm.output.correlations, corr)
write_csv(sm.output.groups, groups)
write_csv(sm.output.curves, curves)
write_csv(sm.output.summary, pd.DataFrame({"key": list(summary), "value": list(summary.values())}))
write_json(
    sm.output.json,
    {
        "summary": summary,
        "correlations": corr.to_dict(orient="records"),
        "groups": groups.to_dict(orient="records"),
        "quantile_curves": curves.to_dict(orient="records"),
    },
)
