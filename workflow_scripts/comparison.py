"""Rule comparison: this study against a baseline study on the same samples (compare.baseline),
measure by measure and sample by sample."""

from _common import setup

from enfopath.io import read_json, read_parquet, write_csv, write_parquet
from enfopath.study.relations import check_same_samples, study_comparison

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.params.config
name = cfg["compare"]["baseline"]
check_same_samples(read_json(sm.input.baseline_summary), read_json(sm.input.summary), name)
table, per_sample = study_comparison(
    read_parquet(sm.input.baseline),
    read_parquet(sm.input.table),
    cfg["density"]["spaces"],
    cfg["statistics"],
    cfg["seed"],
)
for r in table.itertuples():
    log.info(
        "%s: %.4g -> %.4g, change %.4g [%.4g, %.4g], Wilcoxon q %.3g",
        r.measure,
        r.base_mean,
        r.mean,
        r.change_mean,
        r.change_ci_low,
        r.change_ci_high,
        r.wilcoxon_q,
    )
write_csv(sm.output.table, table)
write_parquet(sm.output.per_sample, per_sample)
