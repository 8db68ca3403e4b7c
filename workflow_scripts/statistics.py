"""Rule statistics: correlations with bootstrap intervals, KPE groups and quantile curves;
statistics.json gathers them with the summary."""

from _common import setup

from enfopath.io import read_json, read_parquet, write_csv, write_json
from enfopath.measures.stats import correlations, group_comparison, quantile_curves
from enfopath.study.tables import ENERGIES, analysed_samples, measure_columns

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.params.config
st = cfg["statistics"]
df = read_parquet(sm.input.table)
analysed = analysed_samples(df)
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
write_csv(sm.output.correlations, corr)
write_csv(sm.output.groups, groups)
write_csv(sm.output.curves, curves)
write_json(
    sm.output.json,
    {
        "summary": read_json(sm.input.summary),
        "correlations": corr.to_dict(orient="records"),
        "groups": groups.to_dict(orient="records"),
        "quantile_curves": curves.to_dict(orient="records"),
    },
)
