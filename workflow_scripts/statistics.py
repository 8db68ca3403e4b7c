"""Rule statistics: correlations with bootstrap intervals, KPE groups, their class composition
and quantile curves; statistics.json gathers them with the summary."""

from _common import job_config, setup

from enfopath.columns import density_prefixes
from enfopath.io import read_json, read_parquet, write_csv, write_json
from enfopath.study.relations import relations

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
df = read_parquet(sm.input.table)
tables = relations(df, density_prefixes(cfg["density"]), cfg["statistics"], cfg["seed"])
log.info("%d of %d samples analysed, %d measures", tables.n_analysed, len(df), len(tables.measures))
write_csv(sm.output.correlations, tables.correlations)
write_csv(sm.output.groups, tables.groups)
write_csv(sm.output.composition, tables.composition)
c = tables.composition
for r in c[(c.test == "chi_square") & (c.energy == "kpe")].itertuples():
    log.info(
        "%s, %s KPE group: chi-square %.1f, p = %.2g (%s)",
        r.labels,
        r.group,
        r.statistic,
        r.p,
        r.p_method,
    )
write_csv(sm.output.curves, tables.curves)
write_json(sm.output.json, {"summary": read_json(sm.input.summary), **tables.records()})
